# SPDX-License-Identifier: BSD-2-Clause
"""Top level: a transport in the transport slot, the engine, LEDs."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .boards.facts import DEVICES, SIM_DEVICE, VBOARD_BAUD, VBOARD_CLK_FREQ
from .engine.engine import Engine
from .protocol import State
from .store.bram import ExampleStore
from .transport.slot import check_transport
from .transport.uart_transport import FIFO_DEPTH, UARTTransport

__all__ = ["MemGEN", "SimTop", "FIFO_DEPTH", "SIM_CAPACITY"]


class MemGEN(wiring.Component):
    """The whole device behind two UART pins: a :class:`~hw.transport.uart_transport.
    UARTTransport` in the transport slot, the :class:`~hw.engine.engine.Engine`, and the
    example store.

    Parameters
    ----------
    clk_freq : int
        Clock frequency in Hz.
    baud : int
        UART baud rate.
    capacity : int or None
        Size of a block-RAM store in bytes (only when ``store`` is not given).
    store : :class:`wiring.Component` or None
        An example store with :class:`hw.store.interface.StoreSignature`; default an
        :class:`hw.store.bram.ExampleStore` in block RAM.
    timeout : int or None
        Frame timeout in cycles (default the transport's: :data:`hw.protocol.
        FRAME_TIMEOUT_BYTES` byte times).

    Members
    -------
    uart_rx : :py:`In(1, init=1)`
        Receive pin.
    uart_tx : :py:`Out(1, init=1)`
        Transmit pin.
    leds : :py:`Out(3)`
        Learning, ready, error.
    idle : :py:`Out(1)`
        The device is only waiting for input (used by the virtual board to throttle).

    Raises
    ------
    ValueError
        If ``baud`` is too high for ``clk_freq``, or neither or both of ``capacity`` and
        ``store`` are given.
    """
    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    leds:    Out(3)
    idle:    Out(1)

    def __init__(self, *, clk_freq, baud, capacity=None, store=None, timeout=None):
        if (capacity is None) == (store is None):
            raise ValueError("MemGEN needs either a store or the capacity of a block-RAM store")
        self.transport = UARTTransport(clk_freq=clk_freq, baud=baud)
        check_transport(self.transport)
        self._store = ExampleStore(capacity) if store is None else store
        self.engine = Engine(
            capacity=self._store.signature.capacity, clk_freq=clk_freq,
            link_rate=self.transport.link_rate,
            timeout=self.transport.frame_timeout if timeout is None else timeout)
        super().__init__()

    @property
    def store(self):
        """The example store."""
        return self._store

    @property
    def capacity(self):
        """Size of the store in bytes."""
        return self.engine.capacity

    def elaborate(self, platform):
        m = Module()
        m.submodules.transport = transport = self.transport
        m.submodules.engine = engine = self.engine
        m.submodules.store = self._store
        wiring.connect(m, engine.store, self._store)
        wiring.connect(m, transport.o_stream, engine.i_stream)
        wiring.connect(m, engine.o_stream, transport.i_stream)
        m.d.comb += [
            transport.rx.eq(self.uart_rx),
            self.uart_tx.eq(transport.tx),
            engine.link_errors.eq(transport.errors),
            self.leds[0].eq(engine.state == State.LEARNING),
            self.leds[1].eq(engine.state == State.READY),
            self.leds[2].eq(engine.error),
            self.idle.eq(engine.waiting & transport.idle),
        ]
        return m


#: Store capacity of the simulated top level by default: the Arty A7-35T's, so the virtual board
#: holds what the first board holds.
SIM_CAPACITY = DEVICES[SIM_DEVICE].capacity


def SimTop(*, clk_freq=VBOARD_CLK_FREQ, baud=VBOARD_BAUD, capacity=SIM_CAPACITY, timeout=None):
    """Return the top level for simulation: a plain clock and the UART pins as ports."""
    return MemGEN(clk_freq=clk_freq, baud=baud, capacity=capacity, timeout=timeout)
