# SPDX-License-Identifier: BSD-2-Clause
"""LFSR-driven address generator: which record to sample next.

The modes and their exact sequences are specified by the software model,
:mod:`hw.sampler.addrgen_model`; the tests prove the two bit-exact.
"""

from types import SimpleNamespace

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..protocol import Mode
from .addrgen_model import (
    RNG_WIDTH,
    SPLITMIX_FINAL_SHIFT,
    SPLITMIX_GAMMA,
    SPLITMIX_ROUNDS,
    index_bits,
)
from .lfsr import LFSR
from .lfsr_model import taps_mask

__all__ = ["AddressGenerator", "SplitMix64", "MIX_CYCLES"]

#: Cycles from ``restart`` until the first candidate: the seed scrambler's two multiplications.
MIX_CYCLES = 2 * 64 + 2


def _add64(a, b):
    # A 64-bit sum modulo 2**64 built from 32-bit halves: the same carry chain in hardware, and
    # no 65-bit intermediate, which Verilator would evaluate as a multi-word value every cycle.
    low = a[:32] + b[:32]
    high = a[32:64] + b[32:64] + low[32]
    return Cat(low[:32], high[:32])


class SplitMix64(Elaboratable):
    """SplitMix64 of a 64-bit seed (:func:`hw.sampler.addrgen_model.splitmix64`), computed with one
    adder by shift-and-add over :data:`MIX_CYCLES` cycles: it runs once per restart, so a
    pair of 64-bit multipliers would be wasted area."""

    def __init__(self):
        self.seed = Signal(64)
        self.start = Signal()
        self.busy = Signal()
        self.done = Signal()        # one cycle, with ``result`` valid
        self.result = Signal(64)

    def elaborate(self, platform):
        m = Module()
        x = Signal(64)              # multiplicand, shifted left each cycle; then the result
        acc = Signal(64)
        step = Signal(6)            # bit of the multiplier being added
        second = Signal()           # second multiplication
        (first_shift, first_mul), (second_shift, second_mul) = SPLITMIX_ROUNDS
        multiplier = Mux(second, C(second_mul, 64), C(first_mul, 64))
        acc_next = Signal(64)
        m.d.comb += [
            acc_next.eq(_add64(acc, Mux(multiplier.bit_select(step, 1), x, 0))),
            self.result.eq(x),
        ]
        with m.If(self.start):
            s = Signal(64)
            m.d.comb += s.eq(_add64(self.seed, C(SPLITMIX_GAMMA, 64)))
            m.d.sync += [
                x.eq(s ^ (s >> first_shift)),
                acc.eq(0),
                step.eq(0),
                second.eq(0),
                self.busy.eq(1),
            ]
        with m.Elif(self.busy):
            m.d.sync += [
                acc.eq(acc_next),
                x.eq(x << 1),
                step.eq(step + 1),
            ]
            with m.If(step == 63):
                m.d.sync += acc.eq(0)
                with m.If(~second):
                    m.d.sync += [
                        x.eq(acc_next ^ (acc_next >> second_shift)),
                        second.eq(1),
                    ]
                with m.Else():
                    m.d.sync += [
                        x.eq(acc_next ^ (acc_next >> SPLITMIX_FINAL_SHIFT)),
                        self.busy.eq(0),
                    ]
        m.d.sync += self.done.eq(self.busy & second & (step == 63) & ~self.start)
        return m


class AddressGenerator(wiring.Component):
    """Address generator with ``random``, ``shuffle`` and ``recite`` modes.

    One candidate index per clock cycle; in ``random`` and ``shuffle`` modes a candidate is
    rejected when it is not below ``count`` (at least half are accepted).

    Parameters
    ----------
    max_count : int
        Largest record count supported at run time.

    Members
    -------
    mode : :py:`In(Mode)`
        Mode, latched by ``restart``.
    seed : :py:`In(64)`
        Seed, latched by ``restart``.
    count : :py:`In(range(max_count + 1))`
        Number of records N (at least 1), latched by ``restart``.
    restart : :py:`In(1)`
        Restart the sequence with ``mode``, ``seed`` and ``count``; drops a pending index.
    o_stream : :py:`Out(stream.Signature(range(max_count)))`
        Record indices.
    """
    def __init__(self, max_count):
        if not isinstance(max_count, int) or max_count < 1:
            raise ValueError(f"Maximum record count must be a positive integer, "
                             f"not {max_count!r}")
        self._max_count = max_count
        self._index_bits = index_bits(max_count)
        if max_count >= 1 << 32:
            raise ValueError(f"Maximum record count must be below 2**32, not {max_count!r}")
        super().__init__({
            "mode":     In(Mode),
            "seed":     In(RNG_WIDTH),
            "count":    In(range(max_count + 1)),
            "restart":  In(1),
            "o_stream": Out(stream.Signature(range(max_count))),
        })

    @property
    def max_count(self):
        return self._max_count

    def elaborate(self, platform):
        m = Module()
        ib = self._index_bits
        ww = max(3, ib)     # widest walker

        m.submodules.rng = rng = LFSR(RNG_WIDTH, leap=ib)

        mode = Signal(Mode)
        count = Signal(ib + 1)
        random_mask = Signal(ib)
        walk_mask = Signal(ww)
        walk_width = Signal(range(ww + 1))
        walk_taps = Signal(ww)
        walk = Signal(ww, init=1)
        walk_start = Signal(ww)
        key = Signal(ww)
        last = Signal()
        recite = Signal(ib)
        active = Signal()           # restarted, seeded and producing indices

        value = Signal(ib + 1 if ww <= ib else ww)
        advance = Signal()
        m.d.comb += advance.eq(~self.o_stream.valid | self.o_stream.ready)

        m.submodules.mix = mix = SplitMix64()
        m.d.comb += mix.seed.eq(self.seed)

        # While the seed is scrambled, the masks for the count are grown one bit per cycle
        # (bit_length() by shifting, at most index_bits + 1 cycles): no priority encoders.
        probe_walk = Signal(ib + 1)
        probe_random = Signal(ib)

        with m.If(self.restart):
            m.d.comb += mix.start.eq(1)
            m.d.sync += [
                mode.eq(self.mode),
                count.eq(self.count),
                probe_walk.eq(self.count),
                probe_random.eq(self.count - 1),
                random_mask.eq(0),
                walk_mask.eq(0),
                walk_width.eq(0),
                last.eq(0),
                recite.eq(0),
                active.eq(0),
                self.o_stream.valid.eq(0),
            ]
        with m.Elif(mix.busy):
            with m.If(probe_walk != 0):
                m.d.sync += [
                    probe_walk.eq(probe_walk >> 1),
                    walk_mask.eq(Cat(1, walk_mask[:-1])),
                    walk_width.eq(walk_width + 1),
                ]
            with m.If(probe_random != 0):
                m.d.sync += [
                    probe_random.eq(probe_random >> 1),
                    random_mask.eq(Cat(1, random_mask[:-1])),
                ]
        with m.Elif(mix.done):
            # The scrambled seed is ready: load the LFSRs from it. The walker is at least
            # 3 bits wide, the narrowest LFSR.
            mixed = mix.result
            full_mask = Signal(ww)
            masked = Signal(ww)
            seeded = Signal(ww)
            m.d.comb += [
                full_mask.eq(walk_mask | 0b111),
                masked.eq(mixed[:ww] & full_mask),
                seeded.eq(Mux(masked == 0, 1, masked)),
                rng.seed.eq(mixed),
                rng.load.eq(1),
            ]
            with m.Switch(walk_width):
                for width in range(0, ww + 1):
                    with m.Case(width):
                        m.d.sync += walk_taps.eq(taps_mask(max(3, width)))
            m.d.sync += [
                walk_mask.eq(full_mask),
                walk.eq(seeded),
                walk_start.eq(seeded),
                key.eq(mixed[32:32 + ww] & full_mask),
                active.eq(1),
            ]
        with m.Elif(advance & active):
            r = SimpleNamespace(rng=rng, mode=mode, count=count, recite=recite, value=value,
                                random_mask=random_mask, walk_mask=walk_mask, walk=walk,
                                walk_taps=walk_taps, walk_start=walk_start, key=key, last=last)
            self._next_index(m, r)
        return m

    def _next_index(self, m, r):
        """Produce the next candidate index of the current mode."""
        ib = self._index_bits
        ww = max(3, ib)
        with m.Switch(r.mode):
            with m.Case(Mode.RECITE):
                m.d.comb += r.value.eq(r.recite)
                m.d.sync += r.recite.eq(Mux(r.recite == r.count - 1, 0, r.recite + 1))
            with m.Case(Mode.RANDOM):
                m.d.comb += [
                    r.value.eq(r.rng.next_state[:ib] & r.random_mask),
                    r.rng.en.eq(1),
                ]
            with m.Case(Mode.SHUFFLE):
                with m.If(r.last):
                    m.d.comb += [
                        r.value.eq(r.key),
                        r.rng.en.eq(1),
                    ]
                    m.d.sync += [
                        r.key.eq(r.rng.next_state[:ww] & r.walk_mask),
                        r.last.eq(0),
                    ]
                with m.Else():
                    feedback = (r.walk & r.walk_taps).xor()
                    next_walk = Cat(feedback, r.walk[:-1]) & r.walk_mask
                    m.d.comb += r.value.eq(r.walk ^ r.key)
                    m.d.sync += [
                        r.walk.eq(next_walk),
                        r.last.eq(next_walk == r.walk_start),
                    ]
        m.d.sync += [
            self.o_stream.payload.eq(r.value),
            self.o_stream.valid.eq(r.value < r.count),
        ]
