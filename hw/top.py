# SPDX-License-Identifier: BSD-2-Clause
"""Top level: UART, FIFOs, command processor, example store, LEDs."""

from amaranth import *
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from .engine.cmdproc import CommandProcessor
from .protocol import State
from .store.bram import ExampleStore
from .transport.uart import UART, check_baud

__all__ = ["MemGEN", "SimTop", "FIFO_DEPTH", "SIM_CAPACITY"]

#: Depth of the receive and transmit FIFOs. The receive FIFO absorbs the bytes that arrive while
#: the command processor sends a reply; with no flow control on the link, it must never fill.
FIFO_DEPTH = 64


class MemGEN(wiring.Component):
    """The whole device behind two UART pins.

    Parameters
    ----------
    clk_freq : int
        Clock frequency in Hz.
    baud : int
        UART baud rate.
    capacity : int
        Example store size in bytes (ignored when ``store`` is given).
    store : :class:`wiring.Component` or None
        An example store with :class:`hw.store.bram.StoreSignature`; default an
        :class:`hw.store.bram.ExampleStore` in block RAM.
    timeout : int or None
        Frame timeout in cycles (default from :func:`hw.engine.cmdproc.frame_timeout`).

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
    """
    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    leds:    Out(3)
    idle:    Out(1)

    def __init__(self, *, clk_freq, baud, capacity=None, store=None, timeout=None):
        check_baud(clk_freq, baud)
        self.store = ExampleStore(capacity) if store is None else store
        self._clk_freq = clk_freq
        self._baud = baud
        self._timeout = timeout
        super().__init__()

    @property
    def capacity(self):
        return self.store.signature.capacity

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart = uart = UART(clk_freq=self._clk_freq, baud=self._baud)
        m.submodules.rx_fifo = rx_fifo = fifo.SyncFIFOBuffered(width=8, depth=FIFO_DEPTH)
        m.submodules.tx_fifo = tx_fifo = fifo.SyncFIFOBuffered(width=8, depth=FIFO_DEPTH)
        m.submodules.store = store = self.store
        m.submodules.cmdproc = cmdproc = CommandProcessor(
            capacity=self.capacity, clk_freq=self._clk_freq, baud=self._baud,
            timeout=self._timeout)

        wiring.connect(m, uart.o_stream, rx_fifo.w_stream)
        wiring.connect(m, rx_fifo.r_stream, cmdproc.i_stream)
        wiring.connect(m, cmdproc.o_stream, tx_fifo.w_stream)
        wiring.connect(m, tx_fifo.r_stream, uart.i_stream)
        wiring.connect(m, cmdproc.store, store)
        m.d.comb += [
            uart.rx.eq(self.uart_rx),
            self.uart_tx.eq(uart.tx),
            cmdproc.rx_err.eq(uart.rx_err),
            self.leds[0].eq(cmdproc.state == State.LEARNING),
            self.leds[1].eq(cmdproc.state == State.READY),
            self.leds[2].eq(cmdproc.error),
            self.idle.eq(cmdproc.waiting & ~rx_fifo.r_rdy & ~tx_fifo.r_rdy & ~uart.tx_busy),
        ]
        return m


#: Store capacity of the simulated top level by default: the Arty A7-35T's (checked against
#: :mod:`hw.boards.registry` by the tests), so the virtual board holds what the first board
#: holds.
SIM_CAPACITY = 196608


def SimTop(*, clk_freq=100_000_000, baud=50_000_000, capacity=SIM_CAPACITY, timeout=None):
    """Return the top level for simulation: a plain clock and the UART pins as ports."""
    return MemGEN(clk_freq=clk_freq, baud=baud, capacity=capacity, timeout=timeout)
