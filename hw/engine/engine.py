# SPDX-License-Identifier: BSD-2-Clause
"""The engine: everything of MemGEN but the transport."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .. import protocol
from ..framing.receiver import FrameReceiver
from ..framing.transmitter import FrameTransmitter
from ..protocol import Leveling, Memory, State
from ..store.interface import StoreSignature, check_capacity
from ..transport.slot import LinkErrors
from .cmdproc import CommandProcessor
from .counters import UPTIME_BITS

__all__ = ["Engine", "COMPACT_UPTIME_BITS"]

#: Width of the uptime counter of a compact build: 2**48 cycles are 271 days at 12 MHz.
COMPACT_UPTIME_BITS = 48


class Engine(wiring.Component):
    """Framing, command processor and sampler, between the transport slot and the store
    interface.

    The engine knows nothing of bauds, pins, DMA, memory latency or bursts: a transport in the
    transport slot (:class:`~hw.transport.slot.TransportSignature`) feeds ``i_stream``, drains
    ``o_stream`` and gives the engine its frame timeout and the rate INFO reports; a store with
    :class:`~hw.store.interface.StoreSignature` is connected to ``store`` by the top level, so
    that a store with pads and clocks of its own (DRAM) stays outside the engine. All of it is
    in the ``sync`` domain.

    Parameters
    ----------
    capacity : int
        Size of the store in bytes.
    clk_freq : int
        Clock frequency in Hz, reported by INFO.
    link_rate : int
        The transport's rate in bits per second, reported by INFO in a 32-bit field (0 if it has
        none, or if it does not fit).
    timeout : int
        Idle cycles after which a partly received frame is dropped (the transport's
        ``frame_timeout``).
    serial_crc : bool
        Check and make frames a bit per cycle (:class:`~hw.framing.common.ByteCRC`): about a
        third of the logic of a byte per cycle, for a link slower than a byte every nine
        cycles (a UART), which it costs nothing.
    compact : bool
        Trade speed for logic where it costs little: INFO's counters 16 bits wide (they wrap
        at 65,536), its uptime :data:`COMPACT_UPTIME_BITS` (it wraps after 271 days at
        12 MHz), and the command processor's CRC-32 (COMMIT's pass over the store, the
        streams') a bit per cycle too, 9 cycles a byte (a COMMIT takes 9 times longer).
    control_width, memory, leveling
        The store's control bus width (:py:`None`: it has none) and what INFO reports of it, as
        for :class:`~hw.engine.cmdproc.CommandProcessor`.

    Members
    -------
    i_stream : :py:`In(stream.Signature(8))`
        Bytes from the host.
    o_stream : :py:`Out(stream.Signature(8))`
        Bytes to the host.
    link_errors : :py:`In(LinkErrors)`
        The transport's error strobes, counted for INFO.
    store : :py:`In(StoreSignature(capacity, control_width=control_width))`
        Drives the example store.
    state : :py:`Out(State)`
        What the device has learned.
    error : :py:`Out(1)`
        The last frame was rejected.
    waiting : :py:`Out(1)`
        Only waiting for input: nothing being received, executed or sent.

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer from 2 to 2**31 - 1 (one less than
        :data:`hw.protocol.MAX_STREAM_BYTES`: the largest session BEGIN accepts), or ``timeout``
        not a positive integer.
    """
    def __init__(self, *, capacity, clk_freq, link_rate, timeout, serial_crc=False,
                 compact=False, control_width=None, memory=Memory.ON_CHIP,
                 leveling=Leveling.NONE):
        check_capacity(capacity)
        if capacity >= protocol.MAX_STREAM_BYTES:
            # INFO's capacity field and the size checks' saturating multiplier would hold less:
            # a larger store would report a wrong capacity or refuse to be filled.
            raise ValueError(f"Store capacity {capacity} is more than the protocol's sessions "
                             f"hold: at most {protocol.MAX_STREAM_BYTES - 1} bytes")
        self._capacity = capacity
        self.receiver = FrameReceiver(timeout=timeout, serial_crc=serial_crc)
        self.transmitter = FrameTransmitter(serial_crc=serial_crc)
        self.cmdproc = CommandProcessor(
            capacity=capacity, clk_freq=clk_freq,
            link_rate=link_rate if link_rate < 1 << 32 else 0,
            serial_crc=serial_crc and compact, counter_bits=16 if compact else 32,
            control_width=control_width, memory=memory, leveling=leveling,
            uptime_bits=COMPACT_UPTIME_BITS if compact else UPTIME_BITS)
        super().__init__({
            "i_stream":    In(stream.Signature(8)),
            "o_stream":    Out(stream.Signature(8)),
            "link_errors": In(LinkErrors),
            "store":       In(StoreSignature(capacity, control_width=control_width)),
            "state":       Out(State),
            "error":       Out(1),
            "waiting":     Out(1),
        })

    @property
    def capacity(self):
        """Size of the store in bytes."""
        return self._capacity

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = self.receiver
        m.submodules.tx = tx = self.transmitter
        m.submodules.cmdproc = cmdproc = self.cmdproc
        wiring.connect(m, wiring.flipped(self.i_stream), rx.i_stream)
        wiring.connect(m, rx.o_stream, cmdproc.i_stream)
        wiring.connect(m, cmdproc.tx_header, tx.h_stream)
        wiring.connect(m, cmdproc.o_stream, tx.i_stream)
        wiring.connect(m, tx.o_stream, wiring.flipped(self.o_stream))
        wiring.connect(m, wiring.flipped(self.store), cmdproc.store)
        m.d.comb += [
            cmdproc.rx_waiting.eq(rx.waiting),
            cmdproc.tx_idle.eq(tx.idle),
            cmdproc.link_errors.eq(self.link_errors),
            rx.key.eq(cmdproc.key),
            tx.key.eq(cmdproc.key),
            self.state.eq(cmdproc.state),
            self.error.eq(cmdproc.error),
            self.waiting.eq(cmdproc.waiting),
        ]
        return m
