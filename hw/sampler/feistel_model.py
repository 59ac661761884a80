# SPDX-License-Identifier: BSD-2-Clause
"""Software model of the keyed Feistel permutation in :mod:`hw.sampler.feistel`, bit-exact.

Standard library only. The cipher permutes the ``m``-bit values ``[0, 2**m)`` for any ``m`` up to
its elaboration width ``width``, chosen at run time by two disjoint masks: ``lo`` (the low
``m // 2`` bits) and ``hi`` (the other ``m - m // 2`` bits of the value). Round ``j`` is a
Feistel round between the two halves::

    source, target = (lo, hi) if j is even else (hi, lo)
    x ^= F((x & source) ^ k[j]) & target

It only changes bits of ``target`` as a function of bits of ``source``, so it is undone by
applying it again and every round, and so the cipher, is a bijection of the ``m``-bit values
(bits outside ``lo | hi`` never change). With both masks zero it is the identity. No shifter by a
run-time amount is needed: the halves are picked by masks, and ``F`` mixes all ``width`` bits.

``F`` is add-rotate-xor on ``width`` bits with two additions, the non-linear part. The round
keys are ``width``-bit windows of the 64-bit key at :data:`KEY_STEP` bit steps, each XORed with
a constant so that no two rounds are the same function.
"""

__all__ = ["ROUNDS", "KEY_WIDTH", "KEY_STEP", "ROUND_CONSTANT_BITS", "rotations", "round_keys",
           "round_function", "encrypt", "half_masks"]

#: Feistel rounds: two more than the four after which a Feistel network of random round
#: functions is a pseudo-random permutation (Luby and Rackoff), as this round function is far
#: from random. Three leave consecutive outputs correlated (``tests/test_feistel.py``).
ROUNDS = 6

#: Width of the key.
KEY_WIDTH = 64

#: Bits between the starts of consecutive round keys' windows of the key: the windows of all
#: rounds but the last cover the key (for widths from 13 up), so that no key bit acts only in
#: the last round, where it would change only half of the output bits.
KEY_STEP = -(-KEY_WIDTH // (ROUNDS - 1))

#: Round ``j``'s constant is these bits shifted right by ``5 * j``: the fractional part of the
#: golden ratio, SplitMix64's increment.
ROUND_CONSTANT_BITS = 0x9E3779B97F4A7C15


def rotations(width):
    """Return the three rotation amounts of :func:`round_function` for ``width``-bit words."""
    return tuple(r % width for r in ((width + 2) // 3, width // 2 + 1, width * 3 // 4))


def _rotl(x, r, width):
    if r == 0:
        return x
    return ((x << r) | (x >> (width - r))) & ((1 << width) - 1)


def round_keys(key, width):
    """Return the ``width``-bit round keys for a 64-bit ``key``: window ``j`` of the key, read
    from bit ``j * ceil(64 / ROUNDS)`` upwards and wrapping around, XOR a round constant."""
    mask = (1 << width) - 1
    doubled = key | (key << KEY_WIDTH)
    return [((doubled >> (j * KEY_STEP)) ^ (ROUND_CONSTANT_BITS >> (5 * j))) & mask
            for j in range(ROUNDS)]


def round_function(u, width):
    """Return ``F(u)`` of one round: ``a = u + rotl(u, r0)``, ``b = a ^ rotl(a, r1)``,
    ``F = b + rotl(b, r2)``, all modulo ``2**width``."""
    mask = (1 << width) - 1
    r0, r1, r2 = rotations(width)
    a = (u + _rotl(u, r0, width)) & mask
    b = a ^ _rotl(a, r1, width)
    return (b + _rotl(b, r2, width)) & mask


def half_masks(bits):
    """Return the masks ``(lo, hi)`` of the two halves of a ``bits``-bit value."""
    lo = (1 << (bits // 2)) - 1
    return lo, ((1 << bits) - 1) ^ lo


def encrypt(x, keys, lo, hi, width):
    """Return the image of ``x`` under the cipher with round keys ``keys`` (see
    :func:`round_keys`) and half masks ``lo`` and ``hi``."""
    for j, k in enumerate(keys):
        source, target = (lo, hi) if j % 2 == 0 else (hi, lo)
        x ^= round_function((x & source) ^ k, width) & target
    return x
