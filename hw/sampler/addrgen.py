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
from .addrgen_model import RNG_WIDTH, index_bits, key_chunks
from .feistel import FeistelPipeline
from .feistel_model import ROUNDS, half_masks
from .lfsr import LFSR

__all__ = ["AddressGenerator", "LATENCY", "setup_cycles"]

#: Cycles from a candidate's issue to its appearance on ``o_stream``: the cipher's rounds, then
#: the range check. A shuffle epoch also ends with ``ROUNDS - 1`` cycles without a candidate,
#: while the last of its candidates leave the cipher before the key changes.
LATENCY = ROUNDS + 1

# The key changes in the last of the cycles without a candidate.
assert ROUNDS >= 2


def setup_cycles(max_count):
    """Return the cycles from ``restart`` until the first candidate is issued: the seed scrambled
    through the cipher (:func:`hw.sampler.addrgen_model.scramble`), and the count's masks
    grown one bit per cycle, whichever is longer."""
    width = index_bits(max_count)
    return max(key_chunks(width) + ROUNDS, width) + 1


class AddressGenerator(wiring.Component):
    """Address generator with ``random``, ``shuffle`` and ``recite`` modes.

    One candidate index per clock cycle, through the pipelined cipher
    (:class:`hw.sampler.feistel.FeistelPipeline`); in ``random`` and ``shuffle`` modes a
    candidate is rejected when it is not below ``count`` (at least half are accepted), and a
    shuffle epoch ends with ``ROUNDS - 1`` cycles without one. After ``restart`` the seed is
    scrambled through the same cipher, and the first candidate is issued :func:`setup_cycles`
    cycles later. The sequences are those of
    :class:`hw.sampler.addrgen_model.AddressGeneratorModel`.

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
        m.submodules.rng = rng = LFSR(RNG_WIDTH, leap=ib)
        m.submodules.cipher = cipher = FeistelPipeline(ib)

        r = SimpleNamespace(rng=rng, cipher=cipher)
        r.mode = Signal(Mode)
        r.count = Signal(ib + 1)
        r.mask = Signal(ib)             # 2**m - 1: the candidates' bits
        r.lo = Signal(ib)               # the low m // 2 of them
        r.key = Signal(RNG_WIDTH)
        r.counter = Signal(ib)          # recite's index, or shuffle's value to encrypt
        r.drain = Signal(range(ROUNDS)) # cycles left without a candidate at an epoch's end
        r.setup = Signal()              # scrambling the seed
        r.active = Signal()             # set up and producing candidates
        r.issued = Signal(range(key_chunks(ib) + 1))    # set-up values into the cipher
        r.received = Signal(range(key_chunks(ib) + 1))  # and out of it
        r.probe = Signal(ib)            # count - 1, shifted right until 0 to find m
        r.odd = Signal()                # lo grows on every other bit of mask
        r.advance = Signal()
        m.d.comb += [
            r.advance.eq(~self.o_stream.valid | self.o_stream.ready),
            cipher.key.eq(r.key),
            cipher.en.eq(r.advance & (r.active | r.setup)),
            cipher.clear.eq(self.restart),
        ]
        full_lo, full_hi = half_masks(ib)
        with m.If(r.setup):
            m.d.comb += [cipher.lo.eq(full_lo), cipher.hi.eq(full_hi)]
        with m.Elif(r.mode != Mode.RECITE):
            m.d.comb += [cipher.lo.eq(r.lo), cipher.hi.eq(r.mask ^ r.lo)]

        with m.If(self.restart):
            m.d.comb += [rng.seed.eq(self.seed), rng.load.eq(1)]
            m.d.sync += [
                r.mode.eq(self.mode),
                r.count.eq(self.count),
                r.key.eq(self.seed),
                r.counter.eq(0),
                r.drain.eq(0),
                r.issued.eq(0),
                r.received.eq(0),
                r.probe.eq(self.count - 1),
                r.mask.eq(0),
                r.lo.eq(0),
                r.odd.eq(0),
                r.setup.eq(1),
                r.active.eq(0),
                self.o_stream.valid.eq(0),
            ]
        with m.Elif(r.setup):
            self._setup(m, r)
        with m.Elif(r.advance & r.active):
            self._issue(m, r)
            m.d.sync += [
                self.o_stream.payload.eq(cipher.o_value),
                self.o_stream.valid.eq(cipher.o_valid & (cipher.o_value < r.count)),
            ]
        return m

    def _setup(self, m, r):
        """Scramble the seed, as :func:`hw.sampler.addrgen_model.scramble` does, and grow the
        masks for the count meanwhile; then load the first key."""
        ib = self._index_bits
        chunks = key_chunks(ib)
        issued, received, probe, odd = r.issued, r.received, r.probe, r.odd
        # bit_length() by shifting, one bit per cycle: no priority encoder. ``lo`` grows every
        # other cycle, to half the width.
        with m.If(probe != 0):
            m.d.sync += [
                probe.eq(probe >> 1),
                r.mask.eq(Cat(1, r.mask[:-1])),
                odd.eq(~odd),
            ]
            with m.If(odd):
                m.d.sync += r.lo.eq(Cat(1, r.lo[:-1]))
        # The stream is idle (not valid) during set-up, so the cipher advances every cycle.
        with m.If(issued != chunks):
            m.d.comb += [r.cipher.i_value.eq(issued), r.cipher.i_valid.eq(1)]
            m.d.sync += issued.eq(issued + 1)
        with m.If(r.cipher.o_valid):
            m.d.comb += [
                r.rng.seed.eq(Cat(r.cipher.o_value, r.rng.state)),
                r.rng.load.eq(1),
            ]
            m.d.sync += received.eq(received + 1)
        with m.If((received == chunks) & (probe == 0)):
            m.d.comb += r.rng.en.eq(1)
            m.d.sync += [
                r.key.eq(r.rng.next_state),
                r.setup.eq(0),
                r.active.eq(1),
            ]

    def _issue(self, m, r):
        """Feed the next candidate of the current mode into the cipher."""
        ib = self._index_bits
        with m.Switch(r.mode):
            with m.Case(Mode.RECITE):
                m.d.comb += [r.cipher.i_value.eq(r.counter), r.cipher.i_valid.eq(1)]
                m.d.sync += r.counter.eq(Mux(r.counter == r.count - 1, 0, r.counter + 1))
            with m.Case(Mode.RANDOM):
                m.d.comb += [
                    r.cipher.i_value.eq(r.rng.next_state[:ib] & r.mask),
                    r.cipher.i_valid.eq(1),
                    r.rng.en.eq(1),
                ]
            with m.Case(Mode.SHUFFLE):
                with m.If(r.drain != 0):
                    # The key holds until the epoch's last candidate has left the cipher, and
                    # changes in time for the next epoch's first, in the cycle it is issued.
                    m.d.sync += r.drain.eq(r.drain - 1)
                    with m.If(r.drain == 1):
                        m.d.comb += r.rng.en.eq(1)
                        m.d.sync += r.key.eq(r.rng.next_state)
                with m.Else():
                    m.d.comb += [r.cipher.i_value.eq(r.counter), r.cipher.i_valid.eq(1)]
                    m.d.sync += r.counter.eq((r.counter + 1) & r.mask)
                    with m.If(r.counter == r.mask):
                        m.d.sync += r.drain.eq(ROUNDS - 1)
