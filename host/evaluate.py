# SPDX-License-Identifier: BSD-2-Clause
"""Evaluation report: can any statistical test tell the samples from the training set?

:func:`evaluate` compares ``K`` samples with the ``N`` training examples, both as rows of
``D`` bytes, and returns a :class:`Report` of these tests, each passed, failed or skipped (with
the reason) at a significance level ``alpha``:

``exact-match rate``
    Fraction of samples byte-identical to some training example (by hashing); passes iff 1.
``nearest-neighbour distance``
    Euclidean distance in byte space from each sample to its nearest training example,
    computed exactly; passes iff the largest is 0.
``chi-square uniformity``
    Counts of samples per distinct training content against the expectation of uniform
    sampling of training *indices*: a content stored ``m`` times is expected ``K m / N`` times.
    Skipped when an expected count is under 5, where the chi-square approximation fails.
``shuffle-epoch completeness``
    Shuffle mode: every complete epoch of ``N`` samples holds each training example exactly
    once (each content as many times as it is stored), and the partial last epoch none more
    often. Recite mode: sample ``i`` equals training example ``i mod N``.
``KS per-feature marginals``
    Two-sample Kolmogorov-Smirnov test of each byte position, Holm-corrected across positions.
``birthday support size``
    The support size estimated from duplicates among samples (Arora & Zhang 2017), with a
    confidence interval that must contain the training set's support.

The tests above see only the multiset of samples. Four more see their order, on the training
index of each sample (when every training example is distinct, so that an index can be told
from its content); they are run for random and shuffle modes, where the null hypothesis is
independent uniform draws or independent uniform permutations of ``N``, one per epoch, and
skipped in recite mode:

``lag-k serial correlation``
    Ljung-Box: the autocorrelations of the index sequence at lags 1 to :data:`ORDER_LAGS`,
    each standardised (in shuffle mode, about its mean of ``-1 / (N - 1)`` for a pair within an
    epoch), summed in squares and compared with chi-square.
``class transitions``
    The training set cut into up to 10 classes of consecutive indices (a data set stored sorted
    by label), and the counts of class-to-next-class transitions compared with their
    expectation by chi-square.
``runs above/below median``
    Wald-Wolfowitz runs test of indices in the lower half against the upper half.
``GF(2) matrix rank``
    The low ``b = floor(log2 N)`` bits of the indices below ``2**b`` (uniform bits), cut into
    :data:`RANK_SIZE` x :data:`RANK_SIZE` matrices over GF(2), whose ranks are compared with
    those of random matrices by chi-square (NIST SP 800-22, 2.5, with larger matrices). A
    generator linear over GF(2) with a state of 64 bits, such as a bare LFSR, fails.

Each statistical test wrongly fails true samples with probability about ``alpha``, so a report on
true samples fails some test in up to (tests run) x ``alpha`` of runs. Row values are plain
numbers so that tools can check them; :meth:`Report.format` renders the table. Only NumPy and
SciPy are used.
"""

import dataclasses
import logging
import math

import numpy as np
from scipy import optimize, stats

from hw.protocol import Mode

__all__ = [
    "DEFAULT_ALPHA", "MIN_EXPECTED", "MIN_BATCHES", "ORDER_LAGS", "RANK_SIZE", "MIN_MATRICES",
    "Row", "Report", "evaluate", "as_matrix", "ks_pvalues", "p_duplicate", "support_from_rate",
    "order_rows", "gf2_ranks", "rank_probabilities",
]

_log = logging.getLogger(__name__)


#: Default significance level of every test.
DEFAULT_ALPHA = 0.01

#: Smallest expected count per category for which the chi-square test is run.
MIN_EXPECTED = 5

#: Fewest batches the birthday test needs.
MIN_BATCHES = 20

#: Lags of the serial-correlation test.
ORDER_LAGS = 8

#: Rows and columns of the matrices of the GF(2) rank test: more than 64, so that the output of
#: a 64-bit linear state (whose rows of bits all lie in one 64-dimensional space) shows.
RANK_SIZE = 128

#: Fewest matrices the rank test needs (NIST SP 800-22 asks for 38).
MIN_MATRICES = 38

# Elements per temporary array in chunked computations (32 MiB of float64).
_CHUNK = 1 << 22


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the report.

    Parameters
    ----------
    name : str
        The test.
    value : float or None
        The statistic the verdict is based on (None when skipped).
    threshold : str
        What the value must satisfy to pass.
    passed : bool or None
        The verdict; None when the test was skipped.
    detail : str
        Supporting numbers, or why the test was skipped.
    """
    name:      str
    value:     float | None
    threshold: str
    passed:    bool | None
    detail:    str = ""

    @property
    def result(self):
        """The verdict as a word: ``pass``, ``FAIL`` or ``skipped``."""
        return {True: "pass", False: "FAIL", None: "skipped"}[self.passed]


@dataclasses.dataclass(frozen=True)
class Report:
    """Result of :func:`evaluate`.

    Parameters
    ----------
    rows : list of Row
        The tests, in order.
    alpha : float
        Significance level.
    mode : str or None
        Sampling mode the tests assumed (``random``, ``shuffle``, ``recite``), or None.
    samples : int
        Number of samples, ``K``.
    training : int
        Number of training examples, ``N``.
    record_size : int
        Bytes per example, ``D``.
    """
    rows:        list
    alpha:       float
    mode:        str | None
    samples:     int
    training:    int
    record_size: int

    @property
    def passed(self):
        """Whether no test failed (skipped tests do not fail)."""
        return all(row.passed is not False for row in self.rows)

    def row(self, name):
        """Return the row of the test called ``name``."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def format(self):
        """Return the report as an aligned text table (ASCII only)."""
        table = [("test", "value", "threshold", "result", "detail")]
        for row in self.rows:
            value = "-" if row.value is None else _format_value(row.value)
            table.append((row.name, value, row.threshold, row.result, row.detail))
        widths = [max(len(line[i]) for line in table) for i in range(4)]
        lines = [(f"{self.samples} samples vs {self.training} training examples of "
                  f"{self.record_size} bytes, mode {self.mode or 'unknown'}, "
                  f"alpha {self.alpha:g}")]
        for line in table:
            cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
            lines.append("  ".join([*cells, line[4]]).rstrip())
        lines.append(f"overall: {'PASS' if self.passed else 'FAIL'}")
        return "\n".join(lines)


def _format_value(value):
    text = f"{value:.4g}"
    # Never let rounding show a failing 0.99995 as the passing 1.
    if math.isfinite(value) and float(text) != value and float(text) == round(float(text)):
        text = repr(float(value))
    return text


def as_matrix(data, what="data"):
    """Return ``data`` as a 2-D ``uint8`` array with one example per row.

    ``data`` is an array of shape ``(K, ...)`` (flattened per example), a list of equally long
    bytes records, or an object with an ``array()`` method such as :class:`host.codecs.Dataset`.

    Raises
    ------
    ValueError
        If there are no examples, records differ in length, or values are not bytes.
    """
    if callable(getattr(data, "array", None)):
        data = data.array()
    if isinstance(data, (list, tuple)) and data and isinstance(
            data[0], (bytes, bytearray, memoryview)):
        sizes = {len(record) for record in data}
        if len(sizes) != 1:
            raise ValueError(f"{what}: records have different lengths {sorted(sizes)[:4]}: "
                             f"give records of one size")
        return np.frombuffer(b"".join(data), np.uint8).reshape(len(data), sizes.pop())
    array = np.asarray(data)
    if array.ndim < 2 or len(array) == 0 or array[0].size == 0:
        raise ValueError(f"{what}: need a (count, ...) array of at least one non-empty "
                         f"example, got shape {array.shape}")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() > 255:
            raise ValueError(f"{what}: values of dtype {array.dtype} are not bytes: the tests "
                             f"compare bytes; pass uint8 data")
        array = array.astype(np.uint8)
    return np.ascontiguousarray(array.reshape(len(array), -1))


def _mode(mode):
    if mode is None:
        return None
    if isinstance(mode, str):
        name = mode.lower()
    else:
        name = Mode(mode).name.lower()
    if name not in ("random", "shuffle", "recite"):
        raise ValueError(f"unknown mode {mode!r}: choose random, shuffle or recite")
    return name


def _row_keys(array):
    data = array.tobytes()
    size = array.shape[1]
    return [data[i:i + size] for i in range(0, len(data), size)]


def _nearest_squared(queries, training):
    """Return the exact squared L2 distance from each query row to its nearest training row."""
    size = training.shape[1]
    best = np.full(len(queries), np.inf)
    if not len(queries):
        return best
    train_rows = max(1, min(len(training), _CHUNK // size))
    query_rows = max(1, min(len(queries), _CHUNK // train_rows, _CHUNK // size))
    # Integer-valued float64 products and sums are exact below 2**53: no rounding anywhere.
    for t in range(0, len(training), train_rows):
        y = training[t:t + train_rows].astype(np.float64)
        yy = np.einsum("ij,ij->i", y, y)
        for q in range(0, len(queries), query_rows):
            x = queries[q:q + query_rows].astype(np.float64)
            xx = np.einsum("ij,ij->i", x, x)
            d2 = xx[:, np.newaxis] + yy[np.newaxis, :] - 2 * (x @ y.T)
            np.minimum(best[q:q + query_rows], d2.min(axis=1), out=best[q:q + query_rows])
    return best


def _value_counts(array):
    """Return the ``(D, 256)`` counts of each byte value at each position."""
    rows, size = array.shape
    offsets = np.arange(size, dtype=np.int64) * 256
    counts = np.zeros(size * 256, np.int64)
    step = max(1, _CHUNK // size)
    for start in range(0, rows, step):
        index = array[start:start + step].astype(np.int64) + offsets
        counts += np.bincount(index.ravel(), minlength=size * 256)
    return counts.reshape(size, 256)


def ks_pvalues(samples, training):
    """Return per-position two-sample KS statistics and p-values, and a constant-position mask.

    The statistics and p-values equal ``scipy.stats.ks_2samp(s[:, j], t[:, j],
    method="asymp")`` for every position ``j``; they are computed from byte histograms, so the
    cost is linear in the data rather than a sort per position. The asymptotic method is
    conservative for discrete data and for samples drawn from the training set itself.

    Returns
    -------
    statistic, pvalue : numpy.ndarray
        Per position.
    constant : numpy.ndarray of bool
        Positions holding one and the same value in both sets.
    """
    samples, training = as_matrix(samples, "samples"), as_matrix(training, "training")
    k, n = len(samples), len(training)
    counts_s, counts_t = _value_counts(samples), _value_counts(training)
    cdf_s = np.cumsum(counts_s, axis=1) / k
    cdf_t = np.cumsum(counts_t, axis=1) / n
    statistic = np.abs(cdf_s - cdf_t).max(axis=1)
    big, small = max(k, n), min(k, n)
    effective = np.round(big * small / (big + small))
    pvalue = np.clip(stats.kstwo.sf(statistic, effective), 0, 1)
    constant = ((counts_s.max(axis=1) == k) & (counts_t.max(axis=1) == n) &
                (counts_s.argmax(axis=1) == counts_t.argmax(axis=1)))
    return statistic, pvalue, constant


def p_duplicate(batch, support):
    """Return the probability that ``batch`` uniform draws from ``support`` items repeat one.

    Exact for integer ``support``: ``1 - prod(1 - i / support for i in 1..batch-1)``, and
    continuous and decreasing in ``support`` for ``support >= batch - 1``.
    """
    if support <= batch - 1:
        return 1.0
    steps = np.arange(1, batch, dtype=np.float64)
    return float(-np.expm1(np.log1p(-steps / support).sum()))


def support_from_rate(rate, batch):
    """Return the support size at which batches of ``batch`` repeat with probability ``rate``.

    The inverse of :func:`p_duplicate` in ``support``: infinite for ``rate <= 0`` and
    ``batch - 1`` (the smallest support consistent with certain repeats) for ``rate >= 1``.
    """
    if rate <= 0:
        return math.inf
    if rate >= 1:
        return float(batch - 1)
    low = float(batch - 1)
    high = max(2.0 * low, 2.0)
    while p_duplicate(batch, high) > rate:
        low, high = high, 2 * high
    return optimize.brentq(lambda s: p_duplicate(batch, s) - rate, low, high, xtol=1e-9,
                           rtol=1e-12)


def _exact_rows(matched, distances, k):
    hits = int(matched.sum())
    rate = hits / k
    exact = Row("exact-match rate", rate, "= 1", rate == 1.0, f"{hits} of {k} samples")
    largest = float(distances.max())
    nearest = Row("nearest-neighbour distance", largest, "max = 0", largest == 0,
                  f"mean {distances.mean():.4g}, max {largest:.4g} (L2, bytes)")
    return [exact, nearest]


def _chi_square_row(sample_ids, matched, multiplicity, n, mode, alpha):
    name, threshold = "chi-square uniformity", f"p >= {alpha:g}"
    if mode == "recite":
        return Row(name, None, threshold, None, "recite mode is deterministic: see the epoch test")
    unique = len(multiplicity)
    if unique < 2:
        return Row(name, None, threshold, None, "one distinct training example: nothing to test")
    hits = int(matched.sum())
    if hits == 0:
        return Row(name, None, threshold, None, "no sample matches a training example")
    expected = hits * multiplicity / n
    if expected.min() < MIN_EXPECTED:
        need = math.ceil(MIN_EXPECTED * n / multiplicity.min())
        return Row(name, None, threshold, None,
                   f"expected count {expected.min():.3g} < {MIN_EXPECTED}: needs {need} samples")
    observed = np.bincount(sample_ids[matched], minlength=unique)
    result = stats.chisquare(observed, expected)
    detail = f"chi2 {result.statistic:.1f}, {unique - 1} dof"
    if hits < len(matched):
        detail += f", {len(matched) - hits} unmatched samples left out"
    pvalue = float(result.pvalue)
    return Row(name, pvalue, threshold, pvalue >= alpha, detail)


def _epoch_row(samples, training, sample_ids, multiplicity, mode):
    name, threshold = "shuffle-epoch completeness", "all epochs"
    k, n = len(samples), len(training)
    if mode not in ("shuffle", "recite"):
        reason = ("random mode draws with replacement: no epochs" if mode == "random" else
                  "mode unknown: pass mode='shuffle' to check epochs")
        return Row(name, None, threshold, None, reason)
    epochs, tail = divmod(k, n)
    if mode == "recite":
        good = [np.array_equal(samples[e * n:(e + 1) * n], training) for e in range(epochs)]
        tail_ok = np.array_equal(samples[epochs * n:], training[:tail])
        what = "in order"
    else:
        unique = len(multiplicity)
        blocks = sample_ids[:epochs * n].reshape(epochs, n)
        foreign = (blocks >= unique).any(axis=1)
        offsets = np.arange(epochs, dtype=np.int64)[:, np.newaxis] * unique
        counts = np.bincount((np.where(blocks < unique, blocks, 0) + offsets).ravel(),
                             minlength=epochs * unique).reshape(epochs, unique)
        good = list(~foreign & (counts == multiplicity).all(axis=1))
        rest = sample_ids[epochs * n:]
        # Within the partial epoch no content may come up more often than it is stored.
        tail_ok = bool((rest < unique).all() and
                       (np.bincount(rest, minlength=unique) <= multiplicity).all())
        what = "exactly once each"
    if epochs == 0:
        verdict = "consistent" if tail_ok else "INCONSISTENT"
        return Row(name, float(tail_ok), threshold, bool(tail_ok),
                   f"no complete epoch; partial epoch of {tail} of {n} {verdict}")
    passed = all(good) and bool(tail_ok)
    detail = f"{sum(good)} of {epochs} epochs {what}"
    if tail:
        detail += f"; partial epoch of {tail} {'consistent' if tail_ok else 'INCONSISTENT'}"
    return Row(name, sum(good) / epochs, threshold, passed, detail)


def _ks_row(samples, training, alpha):
    name, threshold = "KS per-feature marginals", f"Holm p >= {alpha:g}"
    k, n = len(samples), len(training)
    if np.round(k * n / (k + n)) < 1:
        return Row(name, None, threshold, None, "too few samples for the KS test")
    statistic, pvalue, constant = ks_pvalues(samples, training)
    tested = np.flatnonzero(~constant)
    if not tested.size:
        return Row(name, None, threshold, None,
                   "every byte position is one constant value in both sets")
    p = pvalue[tested]
    m = len(p)
    order = np.argsort(p)
    # Holm's step-down: reject while the i-th smallest p-value is below alpha / (m - i).
    below = p[order] < alpha / (m - np.arange(m))
    rejected = m if below.all() else int(np.argmin(below))
    worst = int(tested[order[0]])
    adjusted = min(1.0, float(p[order[0]]) * m)
    detail = (f"{m} positions tested, {rejected} rejected, {len(constant) - m} constant; "
              f"worst position {worst} (D {statistic[worst]:.3g})")
    return Row(name, adjusted, threshold, rejected == 0, detail)


def _support_row(sample_ids, multiplicity, n, mode, alpha):
    name = "birthday support size"
    support = n * n / float((multiplicity.astype(np.float64) ** 2).sum())
    threshold = f"{100 * (1 - alpha):g}% CI has {support:.6g}"
    if mode in ("shuffle", "recite"):
        return Row(name, None, threshold, None,
                   f"{mode} mode draws without replacement: needs random mode")
    k = len(sample_ids)
    batch = max(2, int(math.sqrt(2 * math.log(2) * support)))
    while p_duplicate(batch, support) < 0.5:
        batch += 1
    batch = min(batch, k // MIN_BATCHES)
    if batch < 2:
        return Row(name, None, threshold, None,
                   f"{k} samples: needs at least {2 * MIN_BATCHES}")
    batches = k // batch
    ids = np.sort(sample_ids[:batches * batch].reshape(batches, batch), axis=1)
    hits = int((np.diff(ids, axis=1) == 0).any(axis=1).sum())
    # Clopper-Pearson interval of the repeat rate, mapped through the decreasing rate->support.
    rate_low = stats.beta.ppf(alpha / 2, hits, batches - hits + 1) if hits else 0.0
    rate_high = stats.beta.ppf(1 - alpha / 2, hits + 1, batches - hits) if hits < batches else 1.0
    estimate = support_from_rate(hits / batches, batch)
    low, high = support_from_rate(rate_high, batch), support_from_rate(rate_low, batch)
    detail = (f"CI [{low:.4g}, {high:.4g}]; {hits} of {batches} batches of {batch} "
              f"repeat a sample")
    return Row(name, estimate, threshold, bool(low <= support <= high), detail)


def _within_epoch(k, n, lag, mode):
    # Which of the k - lag pairs (t, t + lag) lie in one shuffle epoch (samples start one).
    t = np.arange(k - lag)
    if mode != "shuffle":
        return np.zeros(k - lag, dtype=bool)
    return t // n == (t + lag) // n


def _serial_row(indices, n, mode, alpha):
    name, threshold = "lag-k serial correlation", f"p >= {alpha:g}"
    k = len(indices)
    lags = min(ORDER_LAGS, k // 10)
    if lags < 1 or n < 2:
        return Row(name, None, threshold, None, f"{k} samples of {n} indices: too few")
    # Centred and scaled by the null's own mean and variance (uniform on [0, N)).
    x = (indices - (n - 1) / 2) / math.sqrt((n * n - 1) / 12)
    z = []
    for lag in range(1, lags + 1):
        pairs = k - lag
        r = float(x[:-lag] @ x[lag:]) / pairs
        # Two distinct draws from one permutation have correlation -1 / (N - 1).
        expected = -_within_epoch(k, n, lag, mode).mean() / (n - 1)
        z.append((r - expected) * math.sqrt(pairs))
    q = float(np.square(z).sum())
    pvalue = float(stats.chi2.sf(q, lags))
    worst = int(np.argmax(np.abs(z)))
    detail = f"Q {q:.1f}, {lags} lags; worst lag {worst + 1} (z {z[worst]:+.2f})"
    return Row(name, pvalue, threshold, pvalue >= alpha, detail)


def _transition_row(indices, n, mode, alpha):
    name, threshold = "class transitions", f"p >= {alpha:g}"
    k = len(indices)
    for classes in range(min(10, n), 1, -1):
        sizes = np.bincount(np.arange(n) * classes // n, minlength=classes).astype(np.float64)
        within = int(_within_epoch(k, n, 1, mode).sum())
        across = (k - 1) - within
        p = sizes / n
        expected = across * np.outer(p, p)
        if within:
            expected += within * (np.outer(sizes, sizes) - np.diag(sizes)) / (n * (n - 1))
        if expected.min() >= MIN_EXPECTED:
            break
    else:
        return Row(name, None, threshold, None, f"{k} samples of {n} indices: too few")
    cls = indices * classes // n
    observed = np.bincount(cls[:-1] * classes + cls[1:], minlength=classes * classes)
    result = stats.chisquare(observed, expected.ravel() * observed.sum() / expected.sum())
    empty = int((observed == 0).sum())
    detail = (f"{classes} classes of consecutive indices, chi2 {result.statistic:.1f}, "
              f"{classes * classes - 1} dof, {empty} transitions never seen")
    pvalue = float(result.pvalue)
    return Row(name, pvalue, threshold, pvalue >= alpha, detail)


def _runs_row(indices, n, alpha):
    name, threshold = "runs above/below median", f"p >= {alpha:g}"
    # With N odd the middle index is neither above nor below.
    kept = indices[(2 * indices + 1 != n)]
    high = kept >= n / 2
    n1, n2 = int(high.sum()), int((~high).sum())
    total = n1 + n2
    if n1 < 10 or n2 < 10:
        return Row(name, None, threshold, None, f"{n1} above and {n2} below: too few")
    runs = 1 + int((high[1:] != high[:-1]).sum())
    mean = 2 * n1 * n2 / total + 1
    variance = 2 * n1 * n2 * (2 * n1 * n2 - total) / (total * total * (total - 1))
    z = (runs - mean) / math.sqrt(variance)
    pvalue = float(2 * stats.norm.sf(abs(z)))
    return Row(name, pvalue, threshold, pvalue >= alpha,
               f"{runs} runs, expected {mean:.1f} (z {z:+.2f})")


def rank_probabilities(size):
    """Return the probabilities that a random ``size`` x ``size`` matrix over GF(2) has rank
    ``size``, ``size - 1`` and at most ``size - 2``."""
    def p(r):
        log = (r * (2 * size - r) - size * size) * math.log(2)
        for i in range(r):
            log += 2 * math.log1p(-2.0 ** (i - size)) - math.log1p(-2.0 ** (i - r))
        return math.exp(log)
    full, one = p(size), p(size - 1)
    return np.array([full, one, 1 - full - one])


def gf2_ranks(bits):
    """Return the rank over GF(2) of each matrix of ``bits``, an array of 0 and 1 of shape
    ``(matrices, rows, columns)``, by Gaussian elimination on all the matrices at once."""
    bits = np.asarray(bits, dtype=np.uint8)
    count, rows, columns = bits.shape
    words = -(-columns // 64)
    padded = np.zeros((count, rows, words * 64), dtype=np.uint8)
    padded[:, :, :columns] = bits
    weights = np.uint64(1) << np.arange(64, dtype=np.uint64)
    packed = (padded.reshape(count, rows, words, 64).astype(np.uint64) * weights).sum(
        axis=3, dtype=np.uint64)
    used = np.zeros((count, rows), dtype=bool)
    rank = np.zeros(count, dtype=np.int64)
    everyone = np.arange(count)
    for column in range(columns):
        word, bit = divmod(column, 64)
        has = ((packed[:, :, word] >> np.uint64(bit)) & np.uint64(1)).astype(bool)
        candidates = has & ~used
        found = candidates.any(axis=1)
        pivot = np.argmax(candidates, axis=1)
        pivot_row = packed[everyone, pivot]                     # (count, words)
        clear = has & found[:, np.newaxis]
        clear[everyone, pivot] = False
        packed ^= np.where(clear[:, :, np.newaxis], pivot_row[:, np.newaxis, :], np.uint64(0))
        used[everyone[found], pivot[found]] = True
        rank += found
    return rank


def _rank_row(indices, n, mode, alpha):
    name, threshold = "GF(2) matrix rank", f"p >= {alpha:g}"
    b = n.bit_length() - 1
    if b == 0:
        return Row(name, None, threshold, None, "one index: no bits")
    if mode == "shuffle" and (1 << b) < RANK_SIZE * RANK_SIZE:
        # A whole epoch's values XOR to a constant: a linear relation of their bits.
        return Row(name, None, threshold, None,
                   f"shuffle of {1 << b} < {RANK_SIZE * RANK_SIZE} values: not random bits")
    kept = indices[indices < (1 << b)].astype(np.uint64)
    bits = ((kept[:, np.newaxis] >> np.arange(b - 1, -1, -1, dtype=np.uint64)) & np.uint64(1))
    bits = bits.astype(np.uint8).ravel()
    matrices = len(bits) // (RANK_SIZE * RANK_SIZE)
    if matrices < MIN_MATRICES:
        return Row(name, None, threshold, None,
                   f"{matrices} matrices of {RANK_SIZE} x {RANK_SIZE}: needs {MIN_MATRICES}")
    ranks = gf2_ranks(bits[:matrices * RANK_SIZE * RANK_SIZE].reshape(
        matrices, RANK_SIZE, RANK_SIZE))
    observed = np.array([(ranks == RANK_SIZE).sum(), (ranks == RANK_SIZE - 1).sum(),
                         (ranks < RANK_SIZE - 1).sum()])
    result = stats.chisquare(observed, rank_probabilities(RANK_SIZE) * matrices)
    detail = (f"{matrices} matrices from the low {b} bits; ranks {RANK_SIZE}/"
              f"{RANK_SIZE - 1}/less: {observed[0]}/{observed[1]}/{observed[2]}, "
              f"lowest {int(ranks.min())}")
    pvalue = float(result.pvalue)
    return Row(name, pvalue, threshold, pvalue >= alpha, detail)


def order_rows(indices, n, mode, alpha=DEFAULT_ALPHA):
    """Return the rows of the four tests on the order of ``indices``, training indices in
    ``[0, n)`` drawn in ``mode`` (see the module's description)."""
    names = ["lag-k serial correlation", "class transitions", "runs above/below median",
             "GF(2) matrix rank"]
    if mode not in ("random", "shuffle"):
        reason = ("recite mode is deterministic" if mode == "recite" else
                  "mode unknown: pass mode='random' or 'shuffle' to test the order")
        return [Row(name, None, f"p >= {alpha:g}", None, reason) for name in names]
    indices = np.asarray(indices, dtype=np.int64)
    return [_serial_row(indices, n, mode, alpha), _transition_row(indices, n, mode, alpha),
            _runs_row(indices, n, alpha), _rank_row(indices, n, mode, alpha)]


def _sample_order_rows(sample_ids, matched, multiplicity, n, mode, alpha):
    if len(multiplicity) != n or not matched.all():
        reason = ("training examples repeat: an index cannot be told from its content"
                  if len(multiplicity) != n else "some samples match no training example")
        rows = order_rows([], n, None, alpha)
        return [dataclasses.replace(row, detail=reason) for row in rows]
    # Contents are numbered in order of first appearance in training: with all distinct, the
    # content number is the training index.
    return order_rows(sample_ids, n, mode, alpha)


def evaluate(samples, training, mode=None, alpha=DEFAULT_ALPHA):
    """Test whether ``samples`` are indistinguishable from ``training``.

    Parameters
    ----------
    samples : array-like, list of bytes or Dataset
        ``K`` samples (see :func:`as_matrix`).
    training : array-like, list of bytes or Dataset
        The ``N`` training examples, in stored order.
    mode : str, hw.protocol.Mode or None
        How the samples were drawn: ``random`` (uniform with replacement), ``shuffle`` or
        ``recite``. None runs the tests of random mode and skips the epoch test.
    alpha : float
        Significance level of each statistical test.

    Returns
    -------
    Report

    Notes
    -----
    Duplicated training examples are handled by content: a content stored ``m`` times is one
    category of expected frequency ``m / N``.

    The birthday test follows Arora & Zhang (2017), "Do GANs actually learn the
    distribution?": samples are cut into disjoint batches of ``s`` consecutive samples and the
    fraction ``f`` of batches holding a repeat is counted. For uniform draws from ``S`` items a
    batch repeats with probability ``p(s, S) = 1 - prod(1 - i/S, i < s)``
    (:func:`p_duplicate`, about ``1 - exp(-s^2 / 2S)``), which is inverted to estimate ``S``
    (:func:`support_from_rate`). ``s`` is the smallest batch that repeats with probability
    1/2 under the training set's support, capped so that there are at least
    :data:`MIN_BATCHES` batches. The batches are independent, so the count of repeating
    batches is binomial: its exact (Clopper-Pearson) ``1 - alpha`` interval maps to an interval
    for ``S``, and the test passes iff that interval contains the training set's support
    ``N^2 / sum(m^2)`` (``N`` when all examples differ; the effective support of a non-uniform
    distribution with the same pair-collision rate otherwise).

    Raises
    ------
    ValueError
        If the data is empty or not bytes, sample and training sizes differ, or ``mode`` or
        ``alpha`` is invalid.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    mode = _mode(mode)
    samples, training = as_matrix(samples, "samples"), as_matrix(training, "training")
    if samples.shape[1] != training.shape[1]:
        raise ValueError(f"samples have {samples.shape[1]} bytes each but training examples "
                         f"{training.shape[1]}: compare records of one data set")
    k, n = len(samples), len(training)

    contents = {}
    train_ids = np.fromiter((contents.setdefault(key, len(contents))
                             for key in _row_keys(training)), np.int64, n)
    unique = len(contents)
    multiplicity = np.bincount(train_ids, minlength=unique)
    # Unmatched samples get fresh ids >= unique, so repeats among them still count.
    sample_ids = np.fromiter((contents.setdefault(key, len(contents))
                              for key in _row_keys(samples)), np.int64, k)
    matched = sample_ids < unique

    distances = np.zeros(k)
    distances[~matched] = np.sqrt(_nearest_squared(samples[~matched], training))

    rows = _exact_rows(matched, distances, k)
    rows.append(_chi_square_row(sample_ids, matched, multiplicity, n, mode, alpha))
    rows.append(_epoch_row(samples, training, sample_ids, multiplicity, mode))
    rows.append(_ks_row(samples, training, alpha))
    rows.append(_support_row(sample_ids, multiplicity, n, mode, alpha))
    rows += _sample_order_rows(sample_ids, matched, multiplicity, n, mode, alpha)
    report = Report(rows=rows, alpha=alpha, mode=mode, samples=k, training=n,
                    record_size=samples.shape[1])
    _log.debug("evaluation:\n%s", report.format())
    return report
