# SPDX-License-Identifier: BSD-2-Clause
"""8N1 UART with a fractional baud generator.

Written here rather than taken from amaranth-stdio: its receiver samples with an integer divisor
(rate error above 1% at 12 Mbaud from 100 MHz) and waits a whole stop bit before accepting the
next start bit, which drops back-to-back bytes from a sender running a few percent fast.
"""

from amaranth import *
from amaranth.lib import cdc, stream, wiring
from amaranth.lib.wiring import In, Out

from .slot import LinkErrors

__all__ = [
    "FRACTION_BITS", "MIN_CYCLES_PER_BIT", "BOARD_MIN_CYCLES_PER_BIT", "bit_period", "check_baud",
    "UARTReceiver", "UARTTransmitter", "UART",
]


#: Fractional bits of the bit-period accumulator: the rate error from rounding is below 2**-16
#: of a cycle per bit, so the achieved baud rate is exact to far better than 0.01%.
FRACTION_BITS = 16

#: Fewest clock cycles per bit the receiver's mid-bit sampling supports. At 2 the sender's
#: timing must be exact, as the virtual board's bridge is.
MIN_CYCLES_PER_BIT = 2

#: Fewest clock cycles per bit on a real link (see :mod:`hw.boards.registry`). With
#: whole-cycle sampling a sender 3% fast is received from 8 cycles per bit up; at 4 (3 Mbaud
#: from the iCEBreaker's 12 MHz) the sender must be within about 2%, which the boards' FTDI
#: bridges are.
BOARD_MIN_CYCLES_PER_BIT = 4


def check_baud(clk_freq, baud, *, min_cycles=MIN_CYCLES_PER_BIT):
    """Validate a clock and baud rate pair, raising :exc:`ValueError` naming the bad value."""
    if not isinstance(clk_freq, (int, float)) or clk_freq <= 0:
        raise ValueError(f"Clock frequency must be a positive number, not {clk_freq!r}")
    if not isinstance(baud, (int, float)) or baud <= 0:
        raise ValueError(f"Baud rate must be a positive number, not {baud!r}")
    if clk_freq / baud < min_cycles:
        raise ValueError(f"Baud rate {baud} is too high for a {clk_freq / 1e6:g} MHz clock: "
                         f"the UART needs at least {min_cycles} cycles per bit "
                         f"(at most {int(clk_freq // min_cycles)} baud)")


def bit_period(clk_freq, baud):
    """Return the bit period in clock cycles as a fixed-point integer with
    :data:`FRACTION_BITS` fractional bits."""
    check_baud(clk_freq, baud)
    return round(clk_freq * (1 << FRACTION_BITS) / baud)


#: The receiver's error strobes: a transport's :data:`~hw.transport.slot.LinkErrors`.
ReceiverErrors = LinkErrors


class _BitTimer(Elaboratable):
    """Fractional bit timer: ``tick`` pulses once every ``period / 2**FRACTION_BITS`` cycles on
    average, the first time after ``first`` (both fixed point). Loading with ``load`` restarts it.
    """
    def __init__(self, period):
        self._period = period
        self._one = 1 << FRACTION_BITS
        self.load = Signal()
        self.first = Signal(range(period + 1))
        self.tick = Signal()

    def elaborate(self, platform):
        m = Module()
        # Time left until the next tick, in fixed-point cycles; a tick happens in the cycle in
        # which less than one cycle is left, and the remainder carries into the next period so
        # that the error never accumulates.
        acc = Signal(range(self._period + self._one + 1))
        m.d.comb += self.tick.eq(acc < self._one)
        with m.If(self.load):
            m.d.sync += acc.eq(self.first)
        with m.Elif(self.tick):
            m.d.sync += acc.eq(acc + self._period - self._one)
        with m.Else():
            m.d.sync += acc.eq(acc - self._one)
        return m


class UARTReceiver(wiring.Component):
    """8N1 UART receiver.

    The line is synchronised with :class:`~amaranth.lib.cdc.FFSynchronizer` and sampled in the
    middle of each bit, timed from the falling edge of the start bit. The receiver is ready for
    the next start bit right after sampling the middle of the stop bit, so back-to-back bytes
    from a sender a few percent off the nominal rate are all received.

    Parameters
    ----------
    clk_freq : int
        Clock frequency in Hz.
    baud : int
        Baud rate.

    Members
    -------
    rx : :py:`In(1, init=1)`
        Serial input pin, idle high.
    o_stream : :py:`Out(stream.Signature(8))`
        Received bytes.
    err : :py:`Out(ReceiverErrors)`
        Error strobes, one cycle each.
    """
    rx:       In(1, init=1)
    o_stream: Out(stream.Signature(8))
    err:      Out(ReceiverErrors)

    def __init__(self, *, clk_freq, baud):
        self._period = bit_period(clk_freq, baud)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.rx_sync = cdc.FFSynchronizer(self.rx, rx, init=1)
        m.submodules.timer = timer = _BitTimer(self._period)

        shreg = Signal(8)
        bit = Signal(range(10))

        with m.If(self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)

        with m.FSM(name="fsm"):
            with m.State("Idle"):
                with m.If(~rx):
                    # The synchronised line lags the pin by a fixed delay; the samples are taken
                    # from the same delayed line, so waiting half a bit lands mid-bit.
                    m.d.comb += [
                        timer.load.eq(1),
                        timer.first.eq(self._period // 2 - (1 << FRACTION_BITS)),
                    ]
                    m.d.sync += bit.eq(0)
                    m.next = "Receive"
            with m.State("Receive"):
                with m.If(timer.tick):
                    m.d.sync += bit.eq(bit + 1)
                    with m.If(bit == 0):
                        with m.If(rx):
                            m.next = "Idle"     # a glitch, not a start bit
                    with m.Elif(bit < 9):
                        m.d.sync += shreg.eq(Cat(shreg[1:], rx))
                    with m.Else():
                        with m.If(rx):
                            with m.If(self.o_stream.valid & ~self.o_stream.ready):
                                m.d.comb += self.err.overrun.eq(1)
                            with m.Else():
                                m.d.sync += [
                                    self.o_stream.payload.eq(shreg),
                                    self.o_stream.valid.eq(1),
                                ]
                            m.next = "Idle"
                        with m.Else():
                            m.d.comb += self.err.framing.eq(1)
                            m.next = "Break"
            with m.State("Break"):
                # After a framing error, wait for the line to return high rather than reading a
                # held-low line as a stream of zero bytes.
                with m.If(rx):
                    m.next = "Idle"
        return m


class UARTTransmitter(wiring.Component):
    """8N1 UART transmitter; consecutive bytes go out back to back, one stop bit apart.

    Parameters
    ----------
    clk_freq : int
        Clock frequency in Hz.
    baud : int
        Baud rate.

    Members
    -------
    i_stream : :py:`In(stream.Signature(8))`
        Bytes to send.
    tx : :py:`Out(1, init=1)`
        Serial output pin, idle high.
    busy : :py:`Out(1)`
        A byte is being sent.
    """
    i_stream: In(stream.Signature(8))
    tx:       Out(1, init=1)
    busy:     Out(1)

    def __init__(self, *, clk_freq, baud):
        self._period = bit_period(clk_freq, baud)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.timer = timer = _BitTimer(self._period)

        shreg = Signal(10, init=0x3ff)      # stop, data[7:0], start; shifted out LSB first
        bits = Signal(range(11))
        last = Signal()                     # the final tick of the stop bit

        m.d.comb += [
            self.tx.eq(shreg[0]),
            self.busy.eq(bits != 0),
            last.eq((bits == 1) & timer.tick),
            self.i_stream.ready.eq((bits == 0) | last),
        ]
        with m.If(self.i_stream.valid & self.i_stream.ready):
            m.d.sync += [
                shreg.eq(Cat(C(0, 1), self.i_stream.payload, C(1, 1))),
                bits.eq(10),
            ]
            with m.If(bits == 0):
                # Starting from idle; back to back, the timer keeps its fraction instead.
                m.d.comb += [
                    timer.load.eq(1),
                    timer.first.eq(self._period - (1 << FRACTION_BITS)),
                ]
        with m.Elif(timer.tick & (bits != 0)):
            m.d.sync += [
                shreg.eq(Cat(shreg[1:], C(1, 1))),
                bits.eq(bits - 1),
            ]
        return m


class UART(wiring.Component):
    """8N1 UART: a :class:`UARTReceiver` and a :class:`UARTTransmitter` sharing a baud rate.

    Parameters
    ----------
    clk_freq : int
        Clock frequency in Hz.
    baud : int
        Baud rate.

    Members
    -------
    rx : :py:`In(1, init=1)`
        Serial input pin.
    tx : :py:`Out(1, init=1)`
        Serial output pin.
    o_stream : :py:`Out(stream.Signature(8))`
        Received bytes.
    i_stream : :py:`In(stream.Signature(8))`
        Bytes to send.
    rx_err : :py:`Out(ReceiverErrors)`
        Receiver error strobes.
    tx_busy : :py:`Out(1)`
        The transmitter is sending a byte.
    """
    o_stream: Out(stream.Signature(8))
    i_stream: In(stream.Signature(8))
    rx:       In(1, init=1)
    tx:       Out(1, init=1)
    rx_err:   Out(ReceiverErrors)
    tx_busy:  Out(1)

    def __init__(self, *, clk_freq, baud):
        check_baud(clk_freq, baud)
        self._clk_freq = clk_freq
        self._baud = baud
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTReceiver(clk_freq=self._clk_freq, baud=self._baud)
        m.submodules.tx = tx = UARTTransmitter(clk_freq=self._clk_freq, baud=self._baud)
        wiring.connect(m, wiring.flipped(self.o_stream), rx.o_stream)
        wiring.connect(m, wiring.flipped(self.i_stream), tx.i_stream)
        m.d.comb += [
            rx.rx.eq(self.rx),
            self.tx.eq(tx.tx),
            self.rx_err.eq(rx.err),
            self.tx_busy.eq(tx.busy),
        ]
        return m
