# SPDX-License-Identifier: BSD-2-Clause
"""The engine: everything of MemGEN but the transport."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..framing.receiver import FrameReceiver
from ..framing.transmitter import FrameTransmitter
from ..protocol import State
from ..store.bram import ExampleStore
from ..transport.slot import LinkErrors
from .cmdproc import CommandProcessor

__all__ = ["Engine"]


class Engine(wiring.Component):
    """Framing, command processor, sampler and store, between two byte streams.

    The engine knows nothing of bauds, pins or DMA: a transport in the transport slot
    (:class:`~hw.transport.slot.TransportSignature`) feeds ``i_stream`` and drains
    ``o_stream``, and gives the engine its frame timeout and the rate INFO reports.

    Parameters
    ----------
    clk_freq : int
        Clock frequency in Hz, reported by INFO.
    link_rate : int
        The transport's rate in bits per second, reported by INFO (0 if it has none).
    timeout : int
        Idle cycles after which a partly received frame is dropped (the transport's
        ``frame_timeout``).
    capacity : int or None
        Size of a block-RAM store in bytes (ignored when ``store`` is given).
    store : :class:`wiring.Component` or None
        An example store with :class:`~hw.store.interface.StoreSignature`; default an
        :class:`~hw.store.bram.ExampleStore` of ``capacity`` bytes.

    Members
    -------
    i_stream : :py:`In(stream.Signature(8))`
        Bytes from the host.
    o_stream : :py:`Out(stream.Signature(8))`
        Bytes to the host.
    link_errors : :py:`In(LinkErrors)`
        The transport's error strobes, counted for INFO.
    state : :py:`Out(State)`
        What the device has learned.
    error : :py:`Out(1)`
        The last frame was rejected.
    waiting : :py:`Out(1)`
        Only waiting for input: nothing being received, executed or sent.

    Raises
    ------
    ValueError
        If neither ``capacity`` nor ``store`` is given, or the timeout is not a positive
        integer.
    """
    i_stream:    In(stream.Signature(8))
    o_stream:    Out(stream.Signature(8))
    link_errors: In(LinkErrors)
    state:       Out(State)
    error:       Out(1)
    waiting:     Out(1)

    def __init__(self, *, clk_freq, link_rate, timeout, capacity=None, store=None):
        if store is None:
            if capacity is None:
                raise ValueError("Engine needs a store or a capacity")
            store = ExampleStore(capacity)
        self.store = store
        self.receiver = FrameReceiver(timeout=timeout)
        self.transmitter = FrameTransmitter()
        self.cmdproc = CommandProcessor(capacity=store.signature.capacity, clk_freq=clk_freq,
                                        link_rate=link_rate)
        super().__init__()

    @property
    def capacity(self):
        """Size of the store in bytes."""
        return self.store.signature.capacity

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = self.receiver
        m.submodules.tx = tx = self.transmitter
        m.submodules.cmdproc = cmdproc = self.cmdproc
        m.submodules.store = self.store
        wiring.connect(m, wiring.flipped(self.i_stream), rx.i_stream)
        wiring.connect(m, rx.o_stream, cmdproc.i_stream)
        wiring.connect(m, cmdproc.tx_header, tx.h_stream)
        wiring.connect(m, cmdproc.o_stream, tx.i_stream)
        wiring.connect(m, tx.o_stream, wiring.flipped(self.o_stream))
        wiring.connect(m, cmdproc.store, self.store)
        m.d.comb += [
            cmdproc.rx_waiting.eq(rx.waiting),
            cmdproc.tx_idle.eq(tx.idle),
            cmdproc.link_errors.eq(self.link_errors),
            self.state.eq(cmdproc.state),
            self.error.eq(cmdproc.error),
            self.waiting.eq(cmdproc.waiting),
        ]
        return m
