# SPDX-License-Identifier: BSD-2-Clause
"""Software model of the address generator in :mod:`hw.sampler.addrgen`, bit-exact.

Standard library only: the host predicts the device's samples with it, and the tests compare it
with the gateware. The generator emits record indices in ``[0, count)``.

The 64-bit seed is first scrambled (:func:`scramble`) into the 64-bit LFSR's state; the LFSR then
leaps once and its state is the first key of the Feistel cipher (:mod:`hw.sampler.feistel_model`).
Candidates are ``m = (count - 1).bit_length()``-bit values, so at least half of them are below
``count``; those that are not are skipped.

``RANDOM``
    Uniform with replacement: the LFSR leaps ``index_bits`` steps per candidate and the cipher,
    keyed by the first key, maps the low ``m`` bits of its state to the candidate. The LFSR
    alone is F2-linear (consecutive states are shifted copies, bits are XORs of earlier bits);
    the cipher's additions hide that, and being a bijection it keeps the candidates uniform, so
    skipping those ``>= count`` is rejection sampling with no modulo bias.
``SHUFFLE``
    Each index exactly once per epoch: the candidates of an epoch are the images of the counter
    values ``0, 1, ..., 2**m - 1`` under the cipher keyed by the epoch key, a pseudo-random
    permutation of ``[0, 2**m)``; those ``>= count`` are skipped, leaving a permutation of
    ``[0, count)``. This is cycle walking (Black and Rogaway, 2002) unrolled over the counter: a
    candidate out of range moves on to the next counter value instead of being encrypted again,
    so there is one candidate per clock and no loop. Each epoch's key is the next state of the
    LFSR, so the orders come from 2**64 - 1 keys.
``RECITE``
    ``0, 1, ..., count - 1``, then again from 0.
"""

from ..protocol import Mode
from .feistel_model import encrypt, half_masks, round_keys
from .lfsr_model import LFSRModel, seed_state

__all__ = ["RNG_WIDTH", "AddressGeneratorModel", "index_bits", "domain_bits", "check_count",
           "key_chunks", "scramble"]

#: Width of the LFSR behind random mode and the shuffle epoch keys, and of the cipher's key.
RNG_WIDTH = 64

_MASK64 = (1 << 64) - 1


def key_chunks(width):
    """Return how many ``width``-bit cipher outputs :func:`scramble` shifts into 64 bits."""
    return -(-RNG_WIDTH // width)


def scramble(seed, width):
    """Return the 64-bit value a ``width``-bit generator derives from ``seed``: the LFSR's state
    after loading ``seed``, then shifting in, ``width`` bits at a time from the bottom, the
    images of ``0, 1, ..., key_chunks(width) - 1`` (modulo ``2**width``) under the cipher keyed
    by ``seed`` on full ``width``-bit values. Each load, like any LFSR load, turns zero into 1.

    The generator starts its LFSR and keys its cipher from this value, not the seed: an LFSR
    loaded with a sparse state such as 1 or 42 gives visibly biased output for hundreds of
    steps, and seeds that differ in one bit would give nearly the same run; here each bit of the
    seed changes about half the bits of the result, and the seed is not readable from it. The
    cipher is the one the generator has anyway, so this costs no extra logic.
    """
    keys = round_keys(seed, width)
    lo, hi = half_masks(width)
    mask = (1 << width) - 1
    state = seed_state(seed, RNG_WIDTH)
    for i in range(key_chunks(width)):
        chunk = encrypt(i & mask, keys, lo, hi, width)
        state = seed_state(((state << width) | chunk) & _MASK64, RNG_WIDTH)
    return state


def index_bits(max_count):
    """Return the width of an index for up to ``max_count`` records."""
    return max(1, max_count.bit_length())


def domain_bits(count):
    """Return the width ``m`` of the candidates for ``count`` records: ``2**m >= count``."""
    return (count - 1).bit_length()


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
        self.rng.seed(scramble(seed & _MASK64, self.index_bits))
        bits = domain_bits(count)
        self._mask = (1 << bits) - 1
        self._halves = half_masks(bits) if self.mode != Mode.RECITE else (0, 0)
        self._keys = round_keys(self.rng.next(), self.index_bits)
        self.counter = 0
        self.epochs = 0
        self.candidates = 0

    def _encrypt(self, x):
        return encrypt(x, self._keys, *self._halves, self.index_bits)

    def candidate(self):
        """Advance one candidate; return the candidate index, or :py:`None` if rejected."""
        self.candidates += 1
        if self.mode == Mode.RECITE:
            value = self.counter
            self.counter = 0 if value == self.count - 1 else value + 1
            return value
        if self.mode == Mode.RANDOM:
            value = self._encrypt(self.rng.next() & self._mask)
        else:
            value = self._encrypt(self.counter)
            if self.counter == self._mask:
                self.counter = 0
                self.epochs += 1
                self._keys = round_keys(self.rng.next(), self.index_bits)
            else:
                self.counter += 1
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
