# SPDX-License-Identifier: BSD-2-Clause
"""Maximal-length LFSR with leap-forward; its software model is :mod:`hw.sampler.lfsr_model`."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .lfsr_model import TAPS, check_width, matrix_power

__all__ = ["LFSR", "leap_forward"]


def leap_forward(width, leap, state):
    """Return an expression for ``state`` advanced by ``leap`` steps.

    In general one XOR tree per bit, from the transition matrix raised to the ``leap``-th power
    at elaboration time. When no tap is closer than ``leap`` (the usual case: the taps of wide
    registers sit near the top), none of the new bits depends on another new bit, and the same
    function is a few word-wide shifts and XORs: bit ``i`` of the new bits is the XOR of old
    bits ``i + t - leap`` over the taps ``t``. That form is much cheaper to simulate.
    """
    if leap <= width and min(TAPS[width]) >= leap:
        mask = (1 << leap) - 1
        feedback = 0
        for tap in TAPS[width]:
            feedback ^= (state >> (tap - leap)) & mask
        return Cat(feedback[:leap], state[:width - leap])
    rows = matrix_power(width, leap)
    bits = []
    for row in rows:
        terms = [state[j] for j in range(width) if (row >> j) & 1]
        acc = terms[0]
        for term in terms[1:]:
            acc = acc ^ term
        bits.append(acc)
    return Cat(*bits)


class LFSR(wiring.Component):
    """Maximal-length Fibonacci LFSR of any width in :data:`hw.sampler.lfsr_model.TAPS`.

    Each enabled cycle advances ``leap`` steps at once, so the low ``leap`` bits of the new
    state were never in an earlier state (consecutive outputs of a one-step LFSR are shifted
    copies of each other). The all-zero state, which would lock the register, cannot be loaded:
    a zero seed loads 1.

    Parameters
    ----------
    width : int
        Register width.
    leap : int
        Steps per enabled cycle.

    Members
    -------
    seed : :py:`In(width)`
        Seed, loaded when ``load`` is asserted.
    load : :py:`In(1)`
        Load the seed (takes priority over ``en``).
    en : :py:`In(1)`
        Advance ``leap`` steps.
    state : :py:`Out(width, init=1)`
        Current state.
    next_state : :py:`Out(width)`
        The state after the next enabled cycle (combinational).
    """
    def __init__(self, width, *, leap=1):
        check_width(width)
        if not isinstance(leap, int) or leap < 1:
            raise ValueError(f"LFSR leap must be a positive integer, not {leap!r}")
        self._width = width
        self._leap = leap
        super().__init__({
            "seed":  In(width),
            "load":  In(1),
            "en":    In(1),
            "state": Out(width, init=1),
            "next_state": Out(width),
        })

    @property
    def width(self):
        return self._width

    @property
    def leap(self):
        return self._leap

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.next_state.eq(leap_forward(self._width, self._leap, self.state))
        with m.If(self.load):
            m.d.sync += self.state.eq(Mux(self.seed == 0, 1, self.seed))
        with m.Elif(self.en):
            m.d.sync += self.state.eq(self.next_state)
        return m
