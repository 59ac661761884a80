# SPDX-License-Identifier: BSD-2-Clause
"""``make bench``'s command line: ``--only`` runs the sections named, and only those."""

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
