# SPDX-License-Identifier: BSD-2-Clause
import math
import random

import numpy as np
import pytest
from scipy import stats

from host import codecs, evaluate
from host.evaluate import Report, Row
from hw.protocol import Mode
from hw.sampler.lfsr_model import LFSRModel, taps_mask
from sim import fastmodel

EXACT = "exact-match rate"
NEAREST = "nearest-neighbour distance"
CHI = "chi-square uniformity"
EPOCH = "shuffle-epoch completeness"
KS = "KS per-feature marginals"
SUPPORT = "birthday support size"
SERIAL = "lag-k serial correlation"
TRANSITIONS = "class transitions"
RUNS = "runs above/below median"
RANK = "GF(2) matrix rank"
ORDER = (SERIAL, TRANSITIONS, RUNS, RANK)


@pytest.fixture(scope="module")
def training():
    return codecs.digits_images().reshape(1797, 64)


def results(report):
    return {row.name: row.passed for row in report.rows}


# True samples pass --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_samples_pass(training, seed):
    rng = np.random.default_rng(seed)
    samples = training[rng.integers(0, len(training), 20000)]
    report = evaluate.evaluate(samples, training, mode="random")
    assert report.passed, report.format()
    assert results(report) == {EXACT: True, NEAREST: True, CHI: True, EPOCH: None, KS: True,
                               SUPPORT: True, **dict.fromkeys(ORDER, True), RANK: None}
    assert report.row(EXACT).value == 1.0 and report.row(NEAREST).value == 0.0
    assert 0.75 < report.row(SUPPORT).value / 1797 < 1.33


def test_shuffle_epochs_pass(training):
    rng = np.random.default_rng(4)
    order = np.concatenate([rng.permutation(len(training)) for _ in range(6)] +
                           [rng.permutation(len(training))[:500]])
    report = evaluate.evaluate(training[order], training, mode=Mode.SHUFFLE)
    assert report.passed, report.format()
    assert results(report) == {EXACT: True, NEAREST: True, CHI: True, EPOCH: True, KS: True,
                               SUPPORT: None, **dict.fromkeys(ORDER, True), RANK: None}
    assert report.row(EPOCH).value == 1.0
    assert "6 of 6 epochs" in report.row(EPOCH).detail
    assert "partial epoch of 500 consistent" in report.row(EPOCH).detail


def test_single_shuffle_epoch_pass(training):
    order = np.random.default_rng(5).permutation(len(training))
    report = evaluate.evaluate(training[order], training, mode="shuffle")
    assert report.passed, report.format()
    assert report.row(EPOCH).passed and report.row(CHI).passed is None
    assert report.row(KS).value == 1.0


def test_recite_passes(training):
    samples = np.concatenate([training, training[:10]])
    report = evaluate.evaluate(samples, training, mode="recite")
    assert report.passed, report.format()
    assert results(report) == {EXACT: True, NEAREST: True, CHI: None, EPOCH: True, KS: True,
                               SUPPORT: None, **dict.fromkeys(ORDER, None)}


# Anything else fails ------------------------------------------------------------------------

def test_noise_fails(training):
    noise = np.random.default_rng(6).integers(0, 256, (20000, 64), dtype=np.uint8)
    report = evaluate.evaluate(noise, training, mode="random")
    assert not report.passed
    assert results(report) == {EXACT: False, NEAREST: False, CHI: None, EPOCH: None, KS: False,
                               SUPPORT: False, **dict.fromkeys(ORDER, None)}
    assert report.row(EXACT).value == 0.0
    assert report.row(NEAREST).value > 100
    assert report.row(SUPPORT).value == math.inf
    assert "no sample matches" in report.row(CHI).detail


@pytest.mark.parametrize("delta", [1, 200])
def test_one_pixel_changed_fails(training, delta):
    rng = np.random.default_rng(7)
    samples = training[rng.integers(0, len(training), 20000)]
    old = int(samples[123, 17])
    samples[123, 17] = (old + delta) % 256
    report = evaluate.evaluate(samples, training, mode="random")
    assert not report.passed
    assert report.row(EXACT).passed is False and report.row(EXACT).value == 19999 / 20000
    assert report.row(NEAREST).passed is False
    assert 0 < report.row(NEAREST).value <= abs(int(samples[123, 17]) - old)
    assert "19999 of 20000" in report.row(EXACT).detail
    assert "0.99995" in report.format()


def test_half_the_training_set_fails(training):
    rng = np.random.default_rng(8)
    samples = training[rng.integers(0, len(training) // 2, 20000)]
    report = evaluate.evaluate(samples, training, mode="random")
    assert not report.passed
    assert report.row(EXACT).passed and report.row(NEAREST).passed
    assert report.row(CHI).passed is False and report.row(CHI).value < 1e-10
    assert report.row(SUPPORT).passed is False
    assert report.row(SUPPORT).value < 1300


def test_broken_shuffle_fails(training):
    rng = np.random.default_rng(9)
    order = np.concatenate([rng.permutation(len(training)) for _ in range(3)])
    order[2000] = order[2001]              # epoch 2 shows one example twice, another never
    report = evaluate.evaluate(training[order], training, mode="shuffle")
    assert not report.passed
    assert report.row(EPOCH).passed is False
    assert report.row(EPOCH).value == pytest.approx(2 / 3)
    assert "2 of 3 epochs" in report.row(EPOCH).detail


def test_repeat_in_partial_epoch_fails(training):
    order = np.random.default_rng(10).permutation(len(training))[:300]
    order[299] = order[0]
    report = evaluate.evaluate(training[order], training, mode="shuffle")
    assert report.row(EPOCH).passed is False
    assert "INCONSISTENT" in report.row(EPOCH).detail


def test_recite_out_of_order_fails(training):
    samples = training.copy()
    samples[[5, 6]] = samples[[6, 5]]
    report = evaluate.evaluate(samples, training, mode="recite")
    assert report.row(EPOCH).passed is False
    assert report.row(EXACT).passed


def test_random_mode_sampling_is_not_shuffle(training):
    samples = training[np.random.default_rng(11).integers(0, len(training), 2 * len(training))]
    report = evaluate.evaluate(samples, training, mode="shuffle")
    assert report.row(EPOCH).passed is False


# Duplicated training examples ---------------------------------------------------------------

@pytest.fixture(scope="module")
def duplicated():
    rng = np.random.default_rng(12)
    unique = rng.integers(0, 256, (40, 16), dtype=np.uint8)
    # Contents 0..19 once, 20..39 four times each: N = 100 indices, 40 contents.
    rows = np.concatenate([np.arange(20), np.repeat(np.arange(20, 40), 4)])
    return unique, unique[rng.permutation(rows)]


def test_duplicates_counted_by_multiplicity(duplicated):
    unique, training = duplicated
    rng = np.random.default_rng(13)
    samples = training[rng.integers(0, len(training), 5000)]
    report = evaluate.evaluate(samples, training, mode="random")
    assert report.passed, report.format()
    assert "39 dof" in report.row(CHI).detail
    # Support of the duplicated set: N^2 / sum(m^2) = 10000 / (20 + 20 * 16).
    assert "99% CI has 29.4118" in report.row(SUPPORT).threshold


def test_sampling_contents_uniformly_fails_with_duplicates(duplicated):
    unique, training = duplicated
    samples = unique[np.random.default_rng(14).integers(0, len(unique), 5000)]
    report = evaluate.evaluate(samples, training, mode="random")
    assert report.row(EXACT).passed
    assert report.row(CHI).passed is False


def test_duplicates_in_shuffle_epochs(duplicated):
    unique, training = duplicated
    rng = np.random.default_rng(15)
    samples = training[np.concatenate([rng.permutation(len(training)) for _ in range(5)])]
    report = evaluate.evaluate(samples, training, mode="shuffle")
    assert report.passed, report.format()
    assert report.row(EPOCH).value == 1.0


# Skipped tests ------------------------------------------------------------------------------

def test_skips_with_reasons(training):
    samples = training[np.random.default_rng(16).integers(0, len(training), 30)]
    report = evaluate.evaluate(samples, training)
    assert report.mode is None
    assert report.row(CHI).passed is None
    assert "expected count 0.0167 < 5: needs 8985 samples" in report.row(CHI).detail
    assert report.row(EPOCH).passed is None and "mode unknown" in report.row(EPOCH).detail
    assert report.row(SUPPORT).passed is None and "needs at least 40" in report.row(SUPPORT).detail
    assert report.passed
    assert "skipped" in report.format()


def test_single_example_training():
    training = np.full((1, 4), 7, np.uint8)
    report = evaluate.evaluate(np.repeat(training, 50, axis=0), training, mode="random")
    assert report.row(CHI).passed is None and "one distinct" in report.row(CHI).detail
    assert report.row(KS).passed is None and "constant" in report.row(KS).detail
    assert report.row(SUPPORT).passed
    assert report.passed


# Building blocks ----------------------------------------------------------------------------

def test_ks_matches_scipy():
    rng = np.random.default_rng(17)
    samples = rng.integers(0, 6, (300, 5), dtype=np.uint8)
    training = rng.integers(1, 8, (117, 5), dtype=np.uint8)
    training[:, 4] = 3
    statistic, pvalue, constant = evaluate.ks_pvalues(samples, training)
    for j in range(5):
        expected = stats.ks_2samp(samples[:, j], training[:, j], method="asymp")
        assert statistic[j] == pytest.approx(expected.statistic, abs=1e-12)
        assert pvalue[j] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert not constant.any()


def test_ks_constant_features():
    training = np.zeros((200, 3), np.uint8)
    training[:, 1] = np.arange(200) % 7
    samples = training[np.random.default_rng(18).integers(0, 200, 400)]
    report = evaluate.evaluate(samples, training)
    assert report.row(KS).passed and "1 positions tested, 0 rejected, 2 constant" in (
        report.row(KS).detail)
    shifted = samples.copy()
    shifted[:, 0] = 9                       # a constant position with the wrong value
    report = evaluate.evaluate(shifted, training)
    assert report.row(KS).passed is False and "worst position 0 (D 1)" in report.row(KS).detail


def test_nearest_neighbour_exact_and_chunked(monkeypatch):
    rng = np.random.default_rng(19)
    training = rng.integers(0, 256, (50, 7), dtype=np.uint8)
    queries = rng.integers(0, 256, (33, 7), dtype=np.uint8)
    brute = ((queries[:, None, :].astype(np.int64) - training[None].astype(np.int64)) ** 2
             ).sum(axis=2).min(axis=1)
    np.testing.assert_array_equal(evaluate._nearest_squared(queries, training), brute)
    monkeypatch.setattr(evaluate, "_CHUNK", 20)
    np.testing.assert_array_equal(evaluate._nearest_squared(queries, training), brute)
    samples = training[:3].copy()
    samples[1, :2] = training[1, :2].astype(np.int64) + np.where(training[1, :2] < 128, 3, -3)
    samples[1, 2] = training[1, 2] + (4 if training[1, 2] < 128 else -4)
    report = evaluate.evaluate(samples, training)
    assert report.row(NEAREST).value <= math.sqrt(3 * 3 + 3 * 3 + 4 * 4)
    assert report.row(NEAREST).passed is False


def test_birthday_formulas():
    assert evaluate.p_duplicate(2, 10) == pytest.approx(0.1)
    assert evaluate.p_duplicate(3, 2) == 1.0
    assert evaluate.p_duplicate(23, 365) == pytest.approx(0.5073, abs=1e-4)
    assert evaluate.p_duplicate(1000, 1e9) == pytest.approx(1 - math.exp(-1000 ** 2 / 2e9),
                                                            rel=1e-3)
    for batch, support in [(2, 10.0), (23, 365.0), (50, 1797.0), (5, 4.5)]:
        rate = evaluate.p_duplicate(batch, support)
        assert evaluate.support_from_rate(rate, batch) == pytest.approx(support, rel=1e-9)
    assert evaluate.support_from_rate(0.0, 10) == math.inf
    assert evaluate.support_from_rate(1.0, 10) == 9.0


def test_inputs():
    training = codecs.encode_bytes(bytes(range(40)), 4)
    records = [training.record(i) for i in (3, 1, 3)]
    report = evaluate.evaluate(records, training, mode="random")
    assert report.samples == 3 and report.training == 10 and report.record_size == 4
    assert report.row(EXACT).value == 1.0
    assert evaluate.as_matrix(np.arange(8, dtype=np.int32).reshape(2, 2, 2)).shape == (2, 4)
    with pytest.raises(ValueError, match=r"records have different lengths \[1, 2\]"):
        evaluate.as_matrix([b"a", b"bc"])
    with pytest.raises(ValueError, match=r"dtype float64 are not bytes"):
        evaluate.as_matrix(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"dtype int64 are not bytes"):
        evaluate.as_matrix(np.full((2, 2), 256))
    with pytest.raises(ValueError, match=r"samples: need a \(count, \.\.\.\) array"):
        evaluate.evaluate(np.zeros((0, 4), np.uint8), training)
    with pytest.raises(ValueError, match=r"samples have 3 bytes each but training examples 4"):
        evaluate.evaluate(np.zeros((2, 3), np.uint8), training)
    with pytest.raises(ValueError, match=r"unknown mode 'sorted'"):
        evaluate.evaluate(records, training, mode="sorted")
    with pytest.raises(ValueError, match=r"alpha must be between 0 and 1, got 1.5"):
        evaluate.evaluate(records, training, alpha=1.5)
    assert evaluate.evaluate(records, training, mode=0).mode == "random"


def test_report_format(training):
    samples = training[np.random.default_rng(20).integers(0, len(training), 10000)]
    report = evaluate.evaluate(samples, training, mode="random", alpha=0.05)
    text = report.format()
    assert text.isascii()
    lines = text.splitlines()
    assert lines[0] == ("10000 samples vs 1797 training examples of 64 bytes, mode random, "
                        "alpha 0.05")
    assert lines[1].split() == ["test", "value", "threshold", "result", "detail"]
    # Ten tests at 5% each: true samples fail one of them now and then.
    assert len(lines) == 2 + 10 + 1
    assert lines[-1] == f"overall: {'PASS' if report.passed else 'FAIL'}"
    column = lines[1].index("result")
    for line, row in zip(lines[2:-1], report.rows, strict=True):
        assert line.startswith(row.name) and line[column:].startswith(row.result)
    assert "p >= 0.05" in text and "95% CI has 1797" in text
    failing = Report([Row("x", 0.5, "= 1", False), Row("y", None, "-", None, "why")], 0.01,
                     None, 1, 1, 1)
    assert not failing.passed and failing.format().endswith("overall: FAIL")
    with pytest.raises(KeyError):
        report.row("missing")


# Tests on the order of the samples -----------------------------------------------------------



def _order(indices, n, mode):
    return {row.name: row for row in evaluate.order_rows(np.asarray(indices), n, mode)}


def _lfsr_walk(n, seed, epochs):
    # The shuffle of the first sampler: a maximal-length LFSR walk of m bits XOR a key per
    # epoch, values >= N skipped; consecutive values share m - 1 bits.
    m = max(3, n.bit_length())
    taps, mask = taps_mask(m), (1 << m) - 1
    rng = random.Random(seed)
    out = []
    for _ in range(epochs):
        key, walk = rng.getrandbits(m), rng.getrandbits(m) or 1
        start = walk
        while True:
            out.append(walk ^ key)
            walk = ((walk << 1) | ((walk & taps).bit_count() & 1)) & mask
            if walk == start:
                break
        out.append(key)
    return np.array([v for v in out if v < n])


def _lfsr_random(n, seed, k):
    # The random mode of the first sampler: low bits of a leaping 64-bit LFSR, rejection.
    lfsr = LFSRModel(64, seed=seed, leap=18)
    mask = (1 << (n - 1).bit_length()) - 1
    out = []
    while len(out) < k:
        value = lfsr.next() & mask
        if value < n:
            out.append(value)
    return np.array(out)


def test_rank_probabilities_are_nist_s():
    # NIST SP 800-22, 2.5.4: 0.2888, 0.5776, 0.1336 for 32 x 32 matrices.
    assert np.allclose(evaluate.rank_probabilities(32), [0.2888, 0.5776, 0.1336], atol=1e-4)
    assert math.isclose(evaluate.rank_probabilities(6).sum(), 1.0)


def test_gf2_ranks():
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, (50, 8, 70))
    bits[0] = 0
    bits[1, 3] = bits[1, 0] ^ bits[1, 1]          # one dependent row
    bits[2, :, :] = np.eye(8, 70, dtype=np.int64)

    def reference(matrix):
        rows = [int("".join(map(str, row)), 2) for row in matrix]
        rank = 0
        for bit in reversed(range(matrix.shape[1])):
            pivot = next((r for r in rows if (r >> bit) & 1), None)
            if pivot is None:
                continue
            rows = [r ^ pivot if (r >> bit) & 1 else r for r in rows if r is not pivot]
            rank += 1
        return rank

    ranks = evaluate.gf2_ranks(bits)
    assert ranks.tolist() == [reference(matrix) for matrix in bits]
    assert ranks[0] == 0 and ranks[1] <= 7 and ranks[2] == 8


@pytest.mark.parametrize("n", [1797, 50000, 65536])
def test_order_passes_numpy_draws_and_permutations(n):
    rng = np.random.default_rng(n)
    draws = rng.integers(0, n, 200_000)
    for row in _order(draws, n, "random").values():
        assert row.passed, row
    epochs = np.concatenate([rng.permutation(n) for _ in range(-(-200_000 // n))])
    rows = _order(epochs, n, "shuffle")
    for name in (SERIAL, TRANSITIONS, RUNS):
        assert rows[name].passed, rows[name]
    small = (1 << (n.bit_length() - 1)) < evaluate.RANK_SIZE ** 2
    assert rows[RANK].passed is (None if small else True)


@pytest.mark.parametrize("n", [1797, 50000, 65536])
def test_order_fails_an_lfsr_walk(n):
    rows = _order(_lfsr_walk(n, 1, max(2, 200_000 // n)), n, "shuffle")
    assert rows[TRANSITIONS].passed is False, rows[TRANSITIONS]
    assert not all(rows[name].passed for name in ORDER)


def test_order_fails_a_bare_lfsr():
    # With N = 2**16 no candidate is rejected, and every row of 128 bits lies in the
    # 64-dimensional space of the LFSR's state.
    rows = _order(_lfsr_random(65536, 1, 200_000), 65536, "random")
    assert rows[RANK].passed is False, rows[RANK]
    assert "lowest 64" in rows[RANK].detail


@pytest.mark.parametrize("mode", [Mode.RANDOM, Mode.SHUFFLE])
@pytest.mark.parametrize("n", [1797, 65536])
def test_order_passes_the_sampler(mode, n):
    indices = fastmodel.indices(196608, mode, 7, n, 200_000)
    rows = _order(indices.astype(np.int64), n, mode.name.lower())
    for row in rows.values():
        assert row.passed is not False, row


def test_order_in_the_report(training):
    rng = np.random.default_rng(8)
    report = evaluate.evaluate(training[rng.integers(0, len(training), 20000)], training,
                               mode="random")
    assert all(report.row(name).passed for name in (SERIAL, TRANSITIONS, RUNS)), report.format()
    assert "needs 38" in report.row(RANK).detail
    sorted_order = np.concatenate([np.sort(rng.permutation(len(training))) for _ in range(5)])
    report = evaluate.evaluate(training[sorted_order], training, mode="shuffle")
    assert report.row(TRANSITIONS).passed is False
    report = evaluate.evaluate(training[:100], training, mode="recite")
    assert all(report.row(name).passed is None for name in ORDER)
