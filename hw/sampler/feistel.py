# SPDX-License-Identifier: BSD-2-Clause
"""Keyed Feistel permutation of ``m``-bit values, one round per pipeline stage.

The cipher is specified by its software model, :mod:`hw.sampler.feistel_model`; the tests prove
the two bit-exact.
"""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .feistel_model import KEY_STEP, KEY_WIDTH, ROUND_CONSTANT_BITS, ROUNDS, rotations

__all__ = ["FeistelPipeline"]


def _rotl(value, amount):
    return value.rotate_left(amount) if amount else value


def _round_function(m, u, width, j):
    # Each step in a signal of its own, so that the adders keep their width.
    r0, r1, r2 = rotations(width)
    a = Signal(width, name=f"a{j}")
    b = Signal(width, name=f"b{j}")
    f = Signal(width, name=f"f{j}")
    m.d.comb += [
        a.eq(u + _rotl(u, r0)),
        b.eq(a ^ _rotl(a, r1)),
        f.eq(b + _rotl(b, r2)),
    ]
    return f


class FeistelPipeline(wiring.Component):
    """Keyed Feistel permutation (:func:`hw.sampler.feistel_model.encrypt`), one round per
    pipeline stage: one value in and one out per enabled cycle, :data:`ROUNDS` enabled cycles
    later.

    ``key``, ``lo`` and ``hi`` are read by every stage in every enabled cycle: a value is
    encrypted under one key only if the key holds while it is in the pipeline.

    Parameters
    ----------
    width : int
        Width of the values.

    Members
    -------
    key : :py:`In(64)`
        Key.
    lo, hi : :py:`In(width)`
        The two halves of the values (disjoint masks); both zero make the cipher the identity.
    en : :py:`In(1)`
        Advance the pipeline.
    clear : :py:`In(1)`
        Mark every stage empty (takes priority over ``en``).
    i_valid, i_value : :py:`In(1)`, :py:`In(width)`
        Value entering the pipeline in an enabled cycle, and whether there is one.
    o_valid, o_value : :py:`Out(1)`, :py:`Out(width)`
        Value leaving the pipeline, encrypted, and whether there is one.
    """
    def __init__(self, width):
        if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= 32:
            raise ValueError(f"Cipher width must be an integer from 1 to 32, not {width!r}")
        self._width = width
        super().__init__({
            "key":     In(KEY_WIDTH),
            "lo":      In(width),
            "hi":      In(width),
            "en":      In(1),
            "clear":   In(1),
            "i_valid": In(1),
            "i_value": In(width),
            "o_valid": Out(1),
            "o_value": Out(width),
        })

    @property
    def width(self):
        return self._width

    def elaborate(self, platform):
        m = Module()
        width = self._width
        doubled = Cat(self.key, self.key)
        value, valid = self.i_value, self.i_valid
        for j in range(ROUNDS):
            k = doubled[j * KEY_STEP:][:width] ^ ((ROUND_CONSTANT_BITS >> (5 * j))
                                                   & ((1 << width) - 1))
            source, target = (self.lo, self.hi) if j % 2 == 0 else (self.hi, self.lo)
            f = _round_function(m, (value & source) ^ k, width, j)
            next_value = Signal(width, name=f"stage{j}")
            next_valid = Signal(name=f"stage{j}_valid")
            with m.If(self.clear):
                m.d.sync += next_valid.eq(0)
            with m.Elif(self.en):
                m.d.sync += [
                    next_value.eq(value ^ (f & target)),
                    next_valid.eq(valid),
                ]
            value, valid = next_value, next_valid
        m.d.comb += [
            self.o_value.eq(value),
            self.o_valid.eq(valid),
        ]
        return m
