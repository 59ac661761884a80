# SPDX-License-Identifier: BSD-2-Clause
"""Software model of the address generator in :mod:`hw.sampler.addrgen`, bit-exact.

Standard library only: the host predicts the device's samples with it, and the tests compare it
with the gateware. The generator emits record indices in ``[0, count)``:

The 64-bit seed is first scrambled with :func:`splitmix64`; the LFSRs start from the result.

``RANDOM``
    Uniform with replacement: a 64-bit LFSR leaps ``index_bits`` steps per candidate, the low
    ``(count - 1).bit_length()`` bits form the candidate, and candidates ``>= count`` are
    rejected (rejection sampling, so no modulo bias; at least half the candidates are accepted).
``SHUFFLE``
    Each index exactly once per epoch. A walker LFSR of ``m = max(3, count.bit_length())`` bits
    visits every non-zero ``m``-bit state; XORed with an epoch key ``k`` those states cover every
    ``m``-bit value except ``k``, which is emitted last. Values ``>= count`` are skipped. A new
    key from the 64-bit LFSR starts each epoch, so consecutive epochs are different permutations.
``RECITE``
    ``0, 1, ..., count - 1``, then again from 0.
"""

from ..protocol import Mode
from .lfsr_model import LFSRModel, seed_state, taps_mask

__all__ = ["RNG_WIDTH", "AddressGeneratorModel", "index_bits", "walk_width", "check_count",
           "splitmix64", "SPLITMIX_GAMMA", "SPLITMIX_ROUNDS", "SPLITMIX_FINAL_SHIFT"]

#: Width of the LFSR behind random mode and the shuffle epoch keys.
RNG_WIDTH = 64

_MASK64 = (1 << 64) - 1

#: SplitMix64's constants, shared with the gateware (:class:`hw.sampler.addrgen.SplitMix64`): the
#: increment added to the state, then two rounds of xor-shift and multiply, then a last
#: xor-shift.
SPLITMIX_GAMMA = 0x9E3779B97F4A7C15
SPLITMIX_ROUNDS = ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB))
SPLITMIX_FINAL_SHIFT = 31


def splitmix64(seed):
    """Return SplitMix64's output for state ``seed`` (Steele, Lea and Flood, 2014).

    The generator scrambles the 64-bit seed with it before loading its LFSRs: an LFSR loaded with
    a sparse state such as 1 or 42 gives visibly biased output for hundreds of steps, and seeds
    that differ in one bit would give nearly the same run. The function is a bijection.
    """
    z = (seed + SPLITMIX_GAMMA) & _MASK64
    for shift, multiplier in SPLITMIX_ROUNDS:
        z = ((z ^ (z >> shift)) * multiplier) & _MASK64
    return z ^ (z >> SPLITMIX_FINAL_SHIFT)


def index_bits(max_count):
    """Return the width of an index for up to ``max_count`` records."""
    return max(1, max_count.bit_length())


def walk_width(count):
    """Return the width of the shuffle walker for ``count`` records."""
    return max(3, count.bit_length())


def check_count(count, max_count):
    """Validate a record count, raising :exc:`ValueError` naming the bad value."""
    if not isinstance(count, int) or not 1 <= count <= max_count:
        raise ValueError(f"Record count must be an integer from 1 to {max_count}, not {count!r}")


class AddressGeneratorModel:
    """Bit-exact model of :class:`hw.sampler.addrgen.AddressGenerator`.

    Parameters
    ----------
    max_count : int
        Largest record count the generator supports (the gateware's elaboration parameter).
    """

    def __init__(self, max_count):
        if not isinstance(max_count, int) or max_count < 1:
            raise ValueError(f"Maximum record count must be a positive integer, "
                             f"not {max_count!r}")
        self.max_count = max_count
        self.index_bits = index_bits(max_count)
        self.rng = LFSRModel(RNG_WIDTH, leap=self.index_bits)
        self.restart(Mode.RECITE, 0, 1)

    def restart(self, mode, seed, count):
        """Restart with a mode, a 64-bit seed and a record count, as the SEED command does."""
        check_count(count, self.max_count)
        self.mode = Mode(mode)
        self.count = count
        mixed = splitmix64(seed & _MASK64)
        self.rng.seed(mixed)
        m = walk_width(count)
        self._walk_mask = (1 << m) - 1
        self._walk_taps = taps_mask(m)
        self.walk = seed_state(mixed, m)
        self._walk_start = self.walk
        self.key = (mixed >> 32) & self._walk_mask
        self._last = False
        self._random_mask = (1 << (count - 1).bit_length()) - 1
        self.recite = 0
        self.candidates = 0

    def candidate(self):
        """Advance one clock cycle; return the candidate index, or :py:`None` if rejected."""
        self.candidates += 1
        if self.mode == Mode.RECITE:
            value = self.recite
            self.recite = 0 if value == self.count - 1 else value + 1
            return value
        if self.mode == Mode.RANDOM:
            value = self.rng.next() & self._random_mask
        elif self._last:
            value = self.key
            self.key = self.rng.next() & self._walk_mask
            self._last = False
        else:
            value = self.walk ^ self.key
            fb = (self.walk & self._walk_taps).bit_count() & 1
            self.walk = ((self.walk << 1) | fb) & self._walk_mask
            self._last = self.walk == self._walk_start
        return value if value < self.count else None

    def next(self):
        """Return the next index the generator emits."""
        while True:
            value = self.candidate()
            if value is not None:
                return value

    def take(self, k):
        """Return the next ``k`` indices."""
        return [self.next() for _ in range(k)]
