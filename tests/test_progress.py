# SPDX-License-Identifier: BSD-2-Clause
"""Progress off a terminal: a line every few seconds, none for short work."""

import io

from host import cli
from host.progress import LineProgress


def test_a_line_every_interval():
    now = [0.0]
    stream = io.StringIO()
    bar = LineProgress(1000, "learning", stream=stream, interval=5, clock=lambda: now[0])
    with bar:
        bar.update(100)                 # at 0 s: nothing yet
        now[0] = 5.0
        bar.update(300)                 # at 5 s: a line
        now[0] = 7.0
        bar.update(100)                 # 2 s later: none
        now[0] = 10.5
        bar.update(500)
    assert stream.getvalue().splitlines() == ["learning: 40% (400 of 1000 bytes)",
                                              "learning: 100% (1000 of 1000 bytes)"]


def test_tools_use_lines_off_a_terminal(monkeypatch):
    stderr = io.StringIO()              # not a terminal
    monkeypatch.setattr("sys.stderr", stderr)
    bar, update = cli.progress_bar(10, "sampling")
    assert isinstance(bar, LineProgress)
    bar, update = cli.progress_bar(10, "sampling", quiet=True)
    assert not isinstance(bar, LineProgress)
    with bar:
        update(10)
    assert stderr.getvalue() == ""


def test_virtual_board_build_shows_it_is_alive(caplog):
    import logging
    import time

    from sim.vboard.build import heartbeat

    with caplog.at_level(logging.INFO, logger="sim.vboard.build"):
        with heartbeat("building the virtual board", 30, interval=0.05):
            time.sleep(0.18)
    beats = [r.getMessage() for r in caplog.records]
    assert len(beats) >= 2
    assert all(b.startswith("building the virtual board: ") and b.endswith("s of about 30 s")
               for b in beats)
