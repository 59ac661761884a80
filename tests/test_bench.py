# SPDX-License-Identifier: BSD-2-Clause
"""``make bench``'s command line: ``--only`` runs the sections named, and only those; and the
recorded session its instruction counts replay."""

import pytest

from sim import bench


def test_only_runs_the_sections_named(tmp_path, capsys):
    out = tmp_path / "bench.md"
    assert bench.main(["--quick", "--only", "codecs", "--out", str(out)]) == 0
    report = out.read_text()
    assert report.startswith("# MemGEN benchmarks\n\n## Host codecs\n")
    assert report.count("\n## ") == 1
    printed = capsys.readouterr().out
    assert printed.startswith("Host codecs\ncodec")
    for title in ("Link efficiency", "Virtual board", "KernelDensity"):
        assert title not in report and title not in printed


def test_an_unknown_section_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--only", "dramm"])
    assert exc.value.code == 2
    assert "invalid choice: 'dramm'" in capsys.readouterr().err


def test_a_replayed_session_repeats_exactly():
    # The instructions table divides by the busy cycles of a replayed session: they must be
    # the design's own, the same in every run, and the replay must get every reply byte.
    data = bench._records(4096)
    sent, expected = bench._session("stream", data)
    assert len(sent) > len(data) and expected > len(data)
    runs = [bench._replay("stream", (sent, expected)) for _ in range(2)]
    assert runs[0].bytes_out == runs[1].bytes_out == expected
    assert runs[0].busy_cycles == runs[1].busy_cycles > 2 * len(data)
