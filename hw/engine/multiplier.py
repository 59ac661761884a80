# SPDX-License-Identifier: BSD-2-Clause
"""A small saturating multiplier for the command processor's size checks."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import protocol

__all__ = ["SerialMultiplier"]

#: Operand and product width: every product the protocol accepts is below
#: :data:`hw.protocol.MAX_STREAM_BYTES`.
WIDTH = (protocol.MAX_STREAM_BYTES - 1).bit_length()


class SerialMultiplier(wiring.Component):
    """Shift-and-add multiplier of two 31-bit operands, one bit of ``b`` per cycle, saturating:
    every product the protocol accepts is below 2**31 (:data:`hw.protocol.MAX_STREAM_BYTES`),
    so the product register needs 31 bits and ``overflow`` says when the true product is 2**31
    or more. Small, and used once per command: at most 32 cycles after ``start``.

    Members
    -------
    a, b : :py:`In(31)`
        Operands, taken when ``start`` is asserted.
    start : :py:`In(1)`
        Start a multiplication.
    product : :py:`Out(31)`
        ``a * b``, valid with ``done`` unless ``overflow``.
    overflow : :py:`Out(1)`
        ``a * b`` is 2**31 or more.
    done : :py:`Out(1)`
        No multiplication is running: ``product`` and ``overflow`` hold the last result.
    """
    a:        In(WIDTH)
    b:        In(WIDTH)
    start:    In(1)
    product:  Out(WIDTH)
    overflow: Out(1)
    done:     Out(1)

    def elaborate(self, platform):
        m = Module()
        a = Signal(WIDTH)
        a_over = Signal()           # `a` has been shifted to 2**31 or more
        b = Signal(WIDTH)
        busy = Signal()
        total = Signal(WIDTH + 1)
        m.d.comb += [
            self.done.eq(~busy),
            total.eq(self.product + a),
        ]
        with m.If(self.start):
            m.d.sync += [
                a.eq(self.a),
                a_over.eq(0),
                b.eq(self.b),
                self.product.eq(0),
                self.overflow.eq(0),
                busy.eq(1),
            ]
        with m.Elif(busy):
            with m.If(b[0]):
                m.d.sync += self.product.eq(total)
                with m.If(a_over | total[WIDTH]):
                    m.d.sync += self.overflow.eq(1)
            m.d.sync += [
                a.eq(a << 1),
                a_over.eq(a_over | a[-1]),
                b.eq(b >> 1),
            ]
            with m.If(b == 0):
                m.d.sync += busy.eq(0)
        return m
