# SPDX-License-Identifier: BSD-2-Clause
"""The address generator's index streams at NumPy speed, for the statistical batteries.

Bit-exact with :class:`hw.sampler.addrgen_model.AddressGeneratorModel` (the tests compare them),
and some hundred times faster: the LFSR runs as many independent lanes started a fixed number
of leaps apart (jumped there with its transition matrix), and the cipher works on whole arrays.
"""

import math

import numpy as np

from hw.protocol import Mode
from hw.sampler.addrgen_model import (
    RNG_WIDTH,
    check_count,
    domain_bits,
    index_bits,
    key_chunks,
    scramble,
)
from hw.sampler.feistel_model import (
    KEY_STEP,
    ROUND_CONSTANT_BITS,
    ROUNDS,
    half_masks,
    rotations,
    round_keys,
)
from hw.sampler.lfsr_model import TAPS, LFSRModel, apply_matrix, matrix_power

__all__ = ["lfsr_states", "encrypt", "indices", "round_keys_many", "scramble_many",
           "first_shuffle_indices"]

_M64 = np.uint64((1 << 64) - 1)



def _leap(states, leap):
    # The word-wide form of hw.sampler.lfsr.leap_forward: no tap closer than the leap.
    low = np.uint64((1 << leap) - 1)
    feedback = np.zeros_like(states)
    for tap in TAPS[RNG_WIDTH]:
        feedback ^= (states >> np.uint64(tap - leap)) & low
    return ((states << np.uint64(leap)) & _M64) | feedback


def lfsr_states(state, leap, n, lanes=None):
    """Return the next ``n`` states of the 64-bit LFSR from ``state``, ``leap`` steps apart."""
    if not 1 <= leap <= min(TAPS[RNG_WIDTH]):
        raise ValueError(f"Leap must be from 1 to {min(TAPS[RNG_WIDTH])}, not {leap!r}")
    if lanes is None:
        # Jumping costs per lane in Python, stepping per step in NumPy: balance the two.
        lanes = max(64, min(1 << 16, 4 * math.isqrt(n)))
    steps = -(-n // lanes)
    jump = matrix_power(RNG_WIDTH, leap * steps)
    starts = []
    for _ in range(lanes):
        starts.append(state)
        state = apply_matrix(jump, state)
    lane = np.array(starts, dtype=np.uint64)
    out = np.empty((steps, lanes), dtype=np.uint64)
    for i in range(steps):
        lane = _leap(lane, leap)
        out[i] = lane
    return out.T.ravel()[:n]


def _rotl(x, r, width):
    if r == 0:
        return x.copy()
    out = x << np.uint32(r)
    if width < 32:
        out &= np.uint32((1 << width) - 1)
    out |= x >> np.uint32(width - r)
    return out


def _encrypt_block(x, keys, lo, hi, width):
    # uint32 arithmetic wraps modulo 2**32; narrower words are masked after each addition.
    mask = np.uint32((1 << width) - 1)
    r0, r1, r2 = rotations(width)
    for j, k in enumerate(keys):
        source, target = (lo, hi) if j % 2 == 0 else (hi, lo)
        u = x & source
        u ^= k
        a = _rotl(u, r0, width)
        a += u
        a &= mask
        b = _rotl(a, r1, width)
        b ^= a
        f = _rotl(b, r2, width)
        f += b
        f &= target
        x ^= f
    return x


def encrypt(x, keys, lo, hi, width, *, block=1 << 18):
    """Return :func:`hw.sampler.feistel_model.encrypt` of each element of ``x`` as ``uint64``;
    each of ``keys`` may be an array, one round key per element."""
    x = np.array(x, dtype=np.uint32)
    keys = [np.asarray(k).astype(np.uint32) for k in keys]
    lo, hi = np.uint32(lo), np.uint32(hi)
    for start in range(0, len(x), block):
        part = slice(start, start + block)
        x[part] = _encrypt_block(x[part], [k if k.ndim == 0 else k[part] for k in keys],
                                 lo, hi, width)
    return x.astype(np.uint64)


def _random(rng, count, width, leap, n):
    keys = round_keys(rng.state, width)
    lo, hi = half_masks(domain_bits(count))
    mask = np.uint64((1 << domain_bits(count)) - 1)
    out = []
    have = 0
    state = rng.state
    while have < n:
        # Enough candidates for the indices still wanted, at the expected acceptance rate.
        chunk = (n - have) * (int(mask) + 1) // count * 21 // 20 + 1024
        states = lfsr_states(state, leap, chunk)
        state = int(states[-1])
        values = encrypt(states & mask, keys, lo, hi, width)
        values = values[values < count]
        out.append(values)
        have += len(values)
    return np.concatenate(out)[:n]


def _shuffle(rng, count, width, n):
    bits = domain_bits(count)
    lo, hi = half_masks(bits)
    epochs = -(-n // count)
    # Epoch e's key is the LFSR's state after e + 1 leaps (the first from the set-up).
    states = [rng.state]
    for _ in range(epochs - 1):
        states.append(rng.next())
    # All epochs at once: each counter value with its epoch's round keys.
    per_epoch = 1 << bits
    total = np.empty(epochs * count, dtype=np.uint64)
    step = max(1, (1 << 22) // per_epoch)
    for first in range(0, epochs, step):
        group = states[first:first + step]
        keys = np.array([round_keys(s, width) for s in group], dtype=np.uint64)
        counter = np.tile(np.arange(per_epoch, dtype=np.uint64), len(group))
        keys = np.repeat(keys, per_epoch, axis=0).T
        values = encrypt(counter, keys, lo, hi, width)
        values = values[values < count]
        total[first * count:(first + len(group)) * count] = values
    return total[:n]


def indices(max_count, mode, seed, count, n):
    """Return the first ``n`` indices an ``AddressGenerator(max_count)`` emits after a restart
    with ``mode``, ``seed`` and ``count``, as a ``uint64`` array."""
    check_count(count, max_count)
    width = index_bits(max_count)
    rng = LFSRModel(RNG_WIDTH, seed=scramble(seed & ((1 << 64) - 1), width), leap=width)
    rng.next()      # the first key
    mode = Mode(mode)
    if mode == Mode.RECITE:
        return np.arange(n, dtype=np.uint64) % np.uint64(count)
    if mode == Mode.RANDOM:
        return _random(rng, count, width, width, n)
    return _shuffle(rng, count, width, n)


def round_keys_many(keys, width):
    """Return :func:`hw.sampler.feistel_model.round_keys` of each of ``keys`` (``uint64``), as
    one array per round."""
    keys = np.asarray(keys, dtype=np.uint64)
    mask = np.uint64((1 << width) - 1)
    out = []
    for j in range(ROUNDS):
        offset = (j * KEY_STEP) % 64
        window = keys
        if offset:
            window = (keys >> np.uint64(offset)) | (keys << np.uint64(64 - offset))
        constant = np.uint64((ROUND_CONSTANT_BITS >> (5 * j)) & int(mask))
        out.append((window & mask) ^ constant)
    return out


def _nonzero(states):
    return np.where(states == 0, np.uint64(1), states)


def scramble_many(seeds, width):
    """Return :func:`hw.sampler.addrgen_model.scramble` of each of ``seeds`` (``uint64``)."""
    seeds = np.asarray(seeds, dtype=np.uint64)
    keys = round_keys_many(seeds, width)
    lo, hi = half_masks(width)
    state = _nonzero(seeds)
    for i in range(key_chunks(width)):
        value = np.full(len(seeds), i & ((1 << width) - 1), dtype=np.uint64)
        chunk = encrypt(value, keys, lo, hi, width)
        state = _nonzero(((state << np.uint64(width)) & _M64) | chunk)
    return state


def first_shuffle_indices(max_count, seeds, count, k):
    """Return the first ``k`` shuffle-mode indices for each of ``seeds``, one row per seed
    (``k`` at most ``count``; values of -1 where the first 32 candidates give fewer)."""
    width = index_bits(max_count)
    key = _leap(scramble_many(seeds, width), width)
    bits = domain_bits(count)
    lo, hi = half_masks(bits)
    tries = min(1 << bits, max(32, k))
    keys = [np.repeat(r, tries) for r in round_keys_many(key, width)]
    counter = np.tile(np.arange(tries, dtype=np.uint64), len(key))
    values = encrypt(counter, keys, lo, hi, width).reshape(len(key), tries).astype(np.int64)
    accepted = values < count
    # Stable order of the accepted candidates first, then the rejected ones as -1.
    order = np.argsort(~accepted, axis=1, kind="stable")
    chosen = np.take_along_axis(np.where(accepted, values, -1), order, axis=1)
    return chosen[:, :k]
