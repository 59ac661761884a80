# SPDX-License-Identifier: BSD-2-Clause
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from hw.protocol import Mode
from hw.sampler.addrgen import LATENCY, AddressGenerator, setup_cycles
from hw.sampler.addrgen_model import AddressGeneratorModel, scramble
from hw.sampler.feistel_model import ROUNDS
from sim import fastmodel
from tests.simutil import run

SEED = 0x0123_4567_89ab_cdef


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7, 8, 9, 100, 1000, 1797])
@pytest.mark.parametrize("mode", list(Mode))
def test_model_range(mode, count):
    model = AddressGeneratorModel(4096)
    model.restart(mode, SEED, count)
    assert all(0 <= i < count for i in model.take(3 * count + 10))


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 65, 100, 1797, 4096])
def test_model_shuffle_epochs_are_permutations(count):
    model = AddressGeneratorModel(4096)
    model.restart(Mode.SHUFFLE, SEED, count)
    epochs = [model.take(count) for _ in range(3)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(count))
    if count >= 8:
        # A new key each epoch: a different order, not a rotation of the same cycle.
        assert epochs[0] != epochs[1] != epochs[2]
        assert epochs[0] != list(range(count))


def test_model_shuffle_at_capacity():
    capacity = 196608
    model = AddressGeneratorModel(capacity)
    model.restart(Mode.SHUFFLE, 7, capacity)
    assert sorted(model.take(capacity)) == list(range(capacity))


@pytest.mark.parametrize("count", [1, 5, 1797])
def test_model_recite(count):
    model = AddressGeneratorModel(2048)
    model.restart(Mode.RECITE, SEED, count)
    assert model.take(2 * count) == list(range(count)) * 2


@pytest.mark.parametrize("count", [3, 10, 100, 1797])
def test_model_random_uniform(count):
    # Chi-square goodness of fit of the sample counts against uniform; with no modulo bias the
    # p-value is uniform, so a threshold of 1e-4 fails a correct generator 1 time in 10,000.
    model = AddressGeneratorModel(4096)
    model.restart(Mode.RANDOM, SEED, count)
    draws = 200 * count
    counts = Counter(model.take(draws))
    observed = [counts[i] for i in range(count)]
    assert stats.chisquare(observed).pvalue > 1e-4


def test_model_random_would_catch_modulo_bias():
    # The same test, fed a biased generator (modulo reduction of 11 random bits onto 1500),
    # must fail: this is what rejection sampling avoids.
    model = AddressGeneratorModel(4096)
    model.restart(Mode.RANDOM, SEED, 2048)
    draws = [model.next() % 1500 for _ in range(300_000)]
    counts = Counter(draws)
    assert stats.chisquare([counts[i] for i in range(1500)]).pvalue < 1e-6


def test_model_seeds_differ_and_repeat():
    model = AddressGeneratorModel(4096)
    model.restart(Mode.RANDOM, 1, 1000)
    a = model.take(50)
    model.restart(Mode.RANDOM, 2, 1000)
    b = model.take(50)
    model.restart(Mode.RANDOM, 1, 1000)
    assert model.take(50) == a != b


def test_bad_count():
    model = AddressGeneratorModel(16)
    with pytest.raises(ValueError, match=r"Record count must be an integer from 1 to 16, not 17"):
        model.restart(Mode.RANDOM, 0, 17)
    with pytest.raises(ValueError, match=r"Record count must be an integer from 1 to 16, not 0"):
        model.restart(Mode.RANDOM, 0, 0)


@pytest.mark.parametrize("max_count", [0, -1, 1 << 32, "8"])
def test_bad_max_count(max_count):
    with pytest.raises(ValueError, match=r"Maximum record count must be"):
        AddressGenerator(max_count)


@pytest.mark.parametrize("max_count,count,mode,seed", [
    (1, 1, Mode.RANDOM, 5),
    (2, 2, Mode.SHUFFLE, 0),
    (16, 5, Mode.SHUFFLE, SEED),
    (16, 16, Mode.SHUFFLE, 3),
    (300, 100, Mode.RANDOM, SEED),
    (300, 257, Mode.SHUFFLE, 0xffff_ffff_ffff_ffff),
    (300, 7, Mode.RECITE, SEED),
    (196608, 1797, Mode.RANDOM, 42),
    (196608, 1797, Mode.SHUFFLE, 42),
])
def test_gateware_matches_model(max_count, count, mode, seed):
    dut = AddressGenerator(max_count)
    model = AddressGeneratorModel(max_count)
    n = min(3 * count, 400)

    async def testbench(ctx):
        ctx.set(dut.mode, mode)
        ctx.set(dut.seed, seed)
        ctx.set(dut.count, count)
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        model.restart(mode, seed, count)
        expected = model.take(n)
        got = []
        cycles = 0
        while len(got) < n:
            # Exercise back-pressure: refuse some cycles.
            ready = cycles % 5 != 2
            ctx.set(dut.o_stream.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(dut.o_stream.valid):
                got.append(ctx.get(dut.o_stream.payload))
            await ctx.tick()
            cycles += 1
        assert got == expected
        # Candidates are one per free cycle once the seed is scrambled, but for the cycles
        # without one at the end of each shuffle epoch.
        issued = model.candidates + model.epochs * (ROUNDS - 1)
        assert cycles <= setup_cycles(max_count) + LATENCY + issued * 5 // 4 + 2

    run(dut, testbench, name=f"addrgen_{max_count}_{count}_{mode.name}")


@pytest.mark.parametrize("width", [18, 32])
def test_scramble_avalanche(width):
    # Each seed bit flips about half of the 64 bits of the scrambled value (binomial(64, 1/2):
    # 32 +- 4), and no seed bit is ignored.
    base = scramble(SEED, width)
    flips = [(scramble(SEED ^ (1 << bit), width) ^ base).bit_count() for bit in range(64)]
    assert min(flips) >= 16 and max(flips) <= 48
    assert 28 <= sum(flips) / 64 <= 36


def test_scramble_hides_the_seed():
    # The seed is not readable in the result (an LFSR loaded with it would start from it).
    for seed in (0, 1, 2, 42, SEED):
        assert (scramble(seed, 18) ^ seed).bit_count() > 16


@pytest.mark.parametrize("seed", [0, 1, 2, 42])
def test_small_seeds_are_not_biased(seed):
    # A sparse LFSR state gives biased output for hundreds of steps; the scrambled seed does not.
    model = AddressGeneratorModel(4096)
    model.restart(Mode.RANDOM, seed, 10)
    counts = Counter(model.take(200))
    assert stats.chisquare([counts[i] for i in range(10)]).pvalue > 1e-4


def test_neighbouring_seeds_give_different_runs():
    model = AddressGeneratorModel(4096)
    runs = []
    for seed in (0, 1, 2):
        model.restart(Mode.RANDOM, seed, 1000)
        runs.append(model.take(20))
    assert sum(a == b for a, b in zip(runs[0], runs[1], strict=True)) < 3
    assert runs[1] != runs[2]


def test_seeds_that_shared_an_epoch_no_longer_do():
    # With the first sampler, seeds 118694 and 178835 gave the same first epoch of 1797.
    model = AddressGeneratorModel(196608)
    epochs = []
    for seed in (118694, 178835):
        model.restart(Mode.SHUFFLE, seed, 1797)
        epochs.append(model.take(1797))
    assert epochs[0] != epochs[1]


def test_first_shuffle_index_is_uniform_over_seeds():
    # The first sampler favoured 1536-1796 as the first index of N = 1797 by 8.5%.
    first = fastmodel.first_shuffle_indices(196608, np.arange(100_000, dtype=np.uint64), 1797, 4)
    assert len(np.unique(first, axis=0)) == 100_000
    assert stats.chisquare(np.bincount(first[:, 0], minlength=1797)).pvalue > 1e-4
    high = (first[:, 0] >= 1536).mean()
    assert abs(high / (261 / 1797) - 1) < 0.05


def test_gateware_restart_mid_stream():
    # A restart while the cipher is full and the output stalled drops everything in flight.
    dut = AddressGenerator(300)
    model = AddressGeneratorModel(300)

    async def testbench(ctx):
        for mode, seed, count in ((Mode.SHUFFLE, 1, 257), (Mode.RANDOM, 2, 100),
                                  (Mode.SHUFFLE, 3, 5)):
            ctx.set(dut.o_stream.ready, 0)
            ctx.set(dut.mode, mode)
            ctx.set(dut.seed, seed)
            ctx.set(dut.count, count)
            ctx.set(dut.restart, 1)
            await ctx.tick()
            ctx.set(dut.restart, 0)
            model.restart(mode, seed, count)
            expected = model.take(40)
            got = []
            for cycle in range(200):
                ready = cycle % 3 != 0
                ctx.set(dut.o_stream.ready, ready)
                await ctx.delay(1e-9)
                if ready and ctx.get(dut.o_stream.valid):
                    got.append(ctx.get(dut.o_stream.payload))
                await ctx.tick()
            assert got[:40] == expected

    run(dut, testbench, name="addrgen_restart_mid_stream")
