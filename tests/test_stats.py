# SPDX-License-Identifier: BSD-2-Clause
import os
import stat

import numpy as np

from sim import stats


def test_index_bits_stream():
    # N = 6: b = 2, the indices 4 and 5 are left out, each other index gives 2 bits, MSB first.
    bits = stats.index_bits_stream(np.array([0, 5, 3, 4, 2, 1]), 6)
    assert bits.tolist() == [0, 0, 1, 1, 1, 0, 0, 1]
    assert stats.index_bits_stream(np.arange(1 << 16), 1 << 16).mean() == 0.5


def test_dieharder_reads_stdin_until_it_exits(tmp_path, monkeypatch):
    # A stand-in that reads 1 MB from stdin, as dieharder's raw-input generator does, then
    # reports.
    fake = tmp_path / "dieharder"
    fake.write_text("#!/bin/sh\nhead -c 1000000 > /dev/null\n"
                    "echo '   diehard_birthdays|   0|       100|     100|0.51|  PASSED'\n"
                    "echo 'no verdict on this line'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    chunks = []

    def make_bits(chunk):
        chunks.append(chunk)
        return np.ones(1 << 20, dtype=np.uint8)

    summary = stats._dieharder(make_bits)
    assert summary == ["   diehard_birthdays|   0|       100|     100|0.51|  PASSED"]
    assert len(chunks) >= 8             # 1 MB is eight chunks of 2**20 bits


def test_dieharder_missing(monkeypatch):
    monkeypatch.setenv("PATH", "")
    assert stats._dieharder(lambda chunk: np.zeros(8, dtype=np.uint8)) is None
    lines = []
    stats._dieharder_section(lines)
    assert "apt install dieharder" in lines[2]
