# SPDX-License-Identifier: BSD-2-Clause
"""The UART transport: the board's USB-UART, with the buffers a link without flow control
needs."""

from amaranth import *
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from .. import protocol
from .slot import TransportSignature
from .uart import UART, check_baud

__all__ = ["FIFO_DEPTH", "UARTTransport"]

#: Depth of the receive and transmit FIFOs. The receive FIFO absorbs the bytes that arrive while
#: the engine sends a reply; with no flow control on the link, it must never fill.
FIFO_DEPTH = 64


class UARTTransport(wiring.Component):
    """A :class:`~hw.transport.uart.UART` with a receive and a transmit FIFO, in the transport
    slot (:class:`~hw.transport.slot.TransportSignature`).

    Parameters
    ----------
    clk_freq : int
        Clock frequency in Hz.
    baud : int
        Baud rate.
    min_cycles : int or None
        Fewest clock cycles per bit allowed (default
        :data:`~hw.transport.uart.MIN_CYCLES_PER_BIT`).

    Members
    -------
    rx : :py:`In(1, init=1)`
        Serial input pin.
    tx : :py:`Out(1, init=1)`
        Serial output pin.
    o_stream, i_stream, errors, idle
        As :class:`~hw.transport.slot.TransportSignature`.

    Raises
    ------
    ValueError
        If ``baud`` is not a positive integer or too high for ``clk_freq``.
    """
    def __init__(self, *, clk_freq, baud, min_cycles=None):
        if min_cycles is None:
            check_baud(clk_freq, baud)
        else:
            check_baud(clk_freq, baud, min_cycles=min_cycles)
        self._clk_freq = clk_freq
        self._baud = baud
        super().__init__({
            **TransportSignature().members,
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
        })

    @property
    def link_rate(self):
        """The baud rate, in bits per second."""
        return self._baud

    @property
    def frame_timeout(self):
        """:data:`hw.protocol.FRAME_TIMEOUT_BYTES` UART byte times, in clock cycles."""
        return protocol.frame_timeout_cycles(self._clk_freq, self._baud)

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart = uart = UART(clk_freq=self._clk_freq, baud=self._baud)
        m.submodules.rx_fifo = rx_fifo = fifo.SyncFIFOBuffered(width=8, depth=FIFO_DEPTH)
        m.submodules.tx_fifo = tx_fifo = fifo.SyncFIFOBuffered(width=8, depth=FIFO_DEPTH)
        wiring.connect(m, uart.o_stream, rx_fifo.w_stream)
        wiring.connect(m, rx_fifo.r_stream, wiring.flipped(self.o_stream))
        wiring.connect(m, wiring.flipped(self.i_stream), tx_fifo.w_stream)
        wiring.connect(m, tx_fifo.r_stream, uart.i_stream)
        m.d.comb += [
            uart.rx.eq(self.rx),
            self.tx.eq(uart.tx),
            self.errors.eq(uart.rx_err),
            self.idle.eq(~rx_fifo.r_rdy & ~tx_fifo.r_rdy & ~uart.tx_busy),
        ]
        return m
