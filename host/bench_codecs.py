# SPDX-License-Identifier: BSD-2-Clause
"""Throughput of the codecs, encode and decode, on large synthetic inputs.

Run ``python -m host.bench_codecs`` for a table. Rates are in MB/s (10^6 bytes per second) of
the data in its original form: the image array, the text file, the digits, the file bytes.
The design target is 50 MB/s or more in every row. Decoding a one-shot record that needs no
padding removed returns the stored bytes without a copy, hence its very high rate.
"""

import argparse
import logging
import time
import typing

import numpy as np

from host import codecs

__all__ = ["BenchRow", "bench_codecs", "format_rows", "main"]

_log = logging.getLogger(__name__)


class BenchRow(typing.NamedTuple):
    """One measured rate."""
    codec:     str
    direction: str
    mb_per_s:  float


def _best_time(function, repeat):
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def _text(rng, size):
    # Lines of 0 to 120 lowercase letters; about 61 bytes per line with its newline.
    data = rng.integers(ord("a"), ord("z") + 1, size, dtype=np.uint8)
    ends = np.cumsum(rng.integers(1, 122, size // 40 + 2))
    data[ends[ends < size]] = ord("\n")
    data[-1] = ord("\n")
    return data.tobytes()


def _cases(size, rng):
    """Yield (name, data size in bytes, encode function)."""
    side = 28
    images = rng.integers(0, 256, (max(1, size // (side * side)), side, side), dtype=np.uint8)
    yield "image 28x28", images.nbytes, lambda: codecs.encode_images(images)
    text = _text(rng, size)
    yield "text lines", len(text), lambda: codecs.encode_text(text)
    yield "text one-shot", len(text), lambda: codecs.encode_text(text, one_shot=True)
    # Random digits stand in for pi: computing 64 million digits would take hours.
    digits = (rng.integers(0, 10, size + 7, dtype=np.uint8) + ord("0")).tobytes()
    yield "pi chunks of 1000", len(digits), lambda: codecs.encode_pi(digits, 1000)
    data = rng.integers(0, 256, size + 123, dtype=np.uint8).tobytes()
    yield "bytes records of 4096", len(data), lambda: codecs.encode_bytes(data, 4096)


def bench_codecs(size=64_000_000, repeat=3, seed=0):
    """Measure encode and decode throughput of every codec.

    Parameters
    ----------
    size : int
        Approximate size of each input in bytes.
    repeat : int
        Runs per measurement; the fastest counts.
    seed : int
        Seed of the synthetic data.

    Returns
    -------
    list of BenchRow
        ``(codec, direction, MB/s)``, an encode and a decode row per codec.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for name, nbytes, encode in _cases(size, rng):
        seconds, dataset = _best_time(encode, repeat)
        rows.append(BenchRow(name, "encode", nbytes / seconds / 1e6))
        seconds, _ = _best_time(lambda d=dataset: codecs.decode(d.header, d.records, d.count),
                                repeat)
        rows.append(BenchRow(name, "decode", nbytes / seconds / 1e6))
        _log.debug("%s: %d bytes in %d records", name, nbytes, dataset.count)
    return rows


def format_rows(rows):
    """Return benchmark rows as an aligned text table."""
    width = max(len("codec"), *(len(row.codec) for row in rows))
    lines = [f"{'codec':<{width}}  direction  {'MB/s':>8}"]
    lines += [f"{row.codec:<{width}}  {row.direction:<9}  {row.mb_per_s:8.1f}" for row in rows]
    return "\n".join(lines)


def main(argv=None):
    """Print the codec throughput table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=64.0, metavar="MB",
                        help="input size per codec in MB (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, metavar="N",
                        help="runs per measurement, fastest counts (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.size <= 0 or args.repeat <= 0:
        parser.error("--size and --repeat must be positive")
    print(format_rows(bench_codecs(int(args.size * 1e6), args.repeat)))


if __name__ == "__main__":
    main()
