# SPDX-License-Identifier: BSD-2-Clause
import numpy as np
import pytest

from hw.protocol import Mode
from hw.sampler.addrgen_model import AddressGeneratorModel
from hw.sampler.lfsr_model import LFSRModel
from sim import fastmodel


@pytest.mark.parametrize("leap", [1, 18, 32])
def test_lfsr_states_match_the_model(leap):
    model = LFSRModel(64, seed=0x0123_4567_89ab_cdef, leap=leap)
    expected = [model.next() for _ in range(5000)]
    got = fastmodel.lfsr_states(0x0123_4567_89ab_cdef, leap, 5000, lanes=64)
    assert got.tolist() == expected


@pytest.mark.parametrize("max_count,count,mode,seed", [
    (196608, 1797, Mode.RANDOM, 42),
    (196608, 1797, Mode.SHUFFLE, 42),
    (196608, 65536, Mode.RANDOM, 7),
    (196608, 50000, Mode.SHUFFLE, 7),
    ((1 << 32) - 1, (1 << 32) - 1, Mode.RANDOM, 1),
    (16, 5, Mode.SHUFFLE, 3),
    (16, 1, Mode.SHUFFLE, 3),
    (16, 16, Mode.RANDOM, 3),
    (300, 7, Mode.RECITE, 3),
])
def test_indices_match_the_model(max_count, count, mode, seed):
    n = min(3 * count + 11, 20000)
    model = AddressGeneratorModel(max_count)
    model.restart(mode, seed, count)
    got = fastmodel.indices(max_count, mode, seed, count, n)
    assert got.dtype == np.uint64
    assert got.tolist() == model.take(n)


def test_first_shuffle_indices_match_the_model():
    seeds = [0, 1, 2, 42, 0xffff_ffff_ffff_ffff, 118694, 178835]
    got = fastmodel.first_shuffle_indices(196608, np.array(seeds, dtype=np.uint64), 1797, 8)
    model = AddressGeneratorModel(196608)
    for seed, row in zip(seeds, got, strict=True):
        model.restart(Mode.SHUFFLE, seed, 1797)
        assert row.tolist() == model.take(8)
