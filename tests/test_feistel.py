# SPDX-License-Identifier: BSD-2-Clause
import random

import numpy as np
import pytest
from scipy import stats

from hw.sampler.feistel import FeistelPipeline
from hw.sampler.feistel_model import ROUNDS, encrypt, half_masks, round_keys
from tests.simutil import run

KEYS = [0, 1, 0x0123_4567_89ab_cdef, 0xffff_ffff_ffff_ffff]


@pytest.mark.parametrize("width", [1, 2, 5, 11])
@pytest.mark.parametrize("key", KEYS)
def test_permutation_for_every_domain(width, key):
    # For every run-time width m up to the elaboration width, the cipher permutes [0, 2**m).
    keys = round_keys(key, width)
    for bits in range(width + 1):
        lo, hi = half_masks(bits)
        images = [encrypt(x, keys, lo, hi, width) for x in range(1 << bits)]
        assert sorted(images) == list(range(1 << bits))


def test_zero_masks_are_the_identity():
    keys = round_keys(KEYS[2], 18)
    assert [encrypt(x, keys, 0, 0, 18) for x in range(1000)] == list(range(1000))


def test_every_key_bit_matters():
    # Flipping any one of the 64 key bits changes most of the permutation of 11-bit values.
    rng = random.Random(1)
    key = rng.getrandbits(64)
    lo, hi = half_masks(11)

    def table(k):
        keys = round_keys(k, 18)
        return np.array([encrypt(x, keys, lo, hi, 18) for x in range(2048)])

    base = table(key)
    for bit in range(64):
        assert (table(key ^ (1 << bit)) != base).mean() > 0.9


def _lag1_correlation(rounds):
    # Largest correlation between a bit of E(x) and a bit of E(x + 1), over the 2048 images of
    # 11-bit values under 40 random keys, in units of its standard deviation under independence.
    rng = random.Random(2)
    lo, hi = half_masks(11)
    streams = []
    for _ in range(40):
        keys = round_keys(rng.getrandbits(64), 18)[:rounds]
        streams.append([encrypt(x, keys, lo, hi, 18) for x in range(2048)])
    e = np.array(streams).ravel()
    bits = ((e[:, None] >> np.arange(11)) & 1).astype(float)
    a, b = bits[:-1], bits[1:]
    corr = ((a - a.mean(0)).T @ (b - b.mean(0))) / len(a) / np.outer(a.std(0), b.std(0))
    return np.abs(corr).max() * np.sqrt(len(a))


def test_consecutive_inputs_give_unrelated_outputs():
    # 121 correlations, each about standard normal: beyond 5 is not chance.
    assert _lag1_correlation(ROUNDS) < 5


def test_three_rounds_would_fail():
    # The same check sees the dependence a three-round network leaves.
    assert _lag1_correlation(3) > 5


def test_uniform_over_keys():
    # The image of a fixed input over random keys is uniform.
    rng = random.Random(3)
    lo, hi = half_masks(8)
    images = [encrypt(5, round_keys(rng.getrandbits(64), 18), lo, hi, 18) for _ in range(25600)]
    assert stats.chisquare(np.bincount(images, minlength=256)).pvalue > 1e-4


@pytest.mark.parametrize("width", [0, 33, "8", True])
def test_bad_width(width):
    with pytest.raises(ValueError, match=r"Cipher width must be an integer from 1 to 32, not"):
        FeistelPipeline(width)


@pytest.mark.parametrize("width,bits", [(5, 5), (18, 11), (18, 18), (32, 32)])
def test_gateware_matches_model(width, bits):
    dut = FeistelPipeline(width)
    key = 0x0123_4567_89ab_cdef
    lo, hi = half_masks(bits)
    keys = round_keys(key, width)
    rng = random.Random(width)
    inputs = [rng.getrandbits(bits) for _ in range(60)]

    async def testbench(ctx):
        ctx.set(dut.key, key)
        ctx.set(dut.lo, lo)
        ctx.set(dut.hi, hi)
        got = []
        pending = list(inputs)
        for cycle in range(200):
            en = cycle % 4 != 1         # stalls hold the pipeline
            ctx.set(dut.en, en)
            ctx.set(dut.i_valid, bool(pending) and cycle % 7 != 3)
            ctx.set(dut.i_value, pending[0] if pending else 0)
            await ctx.delay(1e-9)
            if en and ctx.get(dut.o_valid):
                got.append(ctx.get(dut.o_value))
            if en and ctx.get(dut.i_valid):
                pending.pop(0)
            await ctx.tick()
        assert got == [encrypt(x, keys, lo, hi, width) for x in inputs]
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        for _ in range(ROUNDS):
            assert not ctx.get(dut.o_valid)
            await ctx.tick()

    run(dut, testbench, name=f"feistel_{width}_{bits}")
