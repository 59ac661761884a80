# SPDX-License-Identifier: BSD-2-Clause
"""The ``memgen`` command: subcommands delegating to the tools, version, log levels, exit
codes; and the console script declared for it."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import host
from host import __main__ as memgen
from host import ports

ROOT = Path(__file__).resolve().parent.parent


def run(*argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MEMGEN_PORT", None)
    return subprocess.run([sys.executable, "-m", "host", *argv], capture_output=True,
                          text=True, env=env, timeout=120)


def test_console_script_and_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["memgen"] == "host.__main__:main"
    assert "version" in project["dynamic"]
    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"memgen {host.__version__}\n")
    assert run("-V").stdout == result.stdout


def test_usage_and_exit_codes():
    result = run()
    assert result.returncode == 2 and "train     teach the device" in result.stdout
    result = run("bogus")
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown command 'bogus' (commands: train, sample")
    result = run("--frobnicate")
    assert (result.returncode, result.stderr) == (
        2, "error: unknown option --frobnicate; see memgen --help\n")
    result = run("train", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: memgen train [-h]")
    result = run("info", "--port", str(ROOT / "no-such-tty"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot open ")


def test_subcommands_run_the_tools(device, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    assert memgen.main(["train", str(tmp_path / "x.npy"), "--timeout", "60"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("learned 2 examples in 2 steps")
    assert "learning 2 images of 4x3 L from" in err
    # -q: errors only; the loader's notes are gone too.
    assert memgen.main(["-q", "train", str(tmp_path / "x.npy"), "--timeout", "60"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("learned 2 examples") and err == ""
    assert memgen.main(["info", "--json", "--timeout", "60"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "ready"
    assert memgen.main(["clear", "--timeout", "60"]) == 0
    assert capsys.readouterr().out.startswith("cleared: the device holds no model (state: "
                                              "empty")
    assert memgen.main(["sample", "--timeout", "60"]) == 1
    assert "the device holds no model (state: empty)" in capsys.readouterr().err


def test_ports_lists_usb_ids(monkeypatch, capsys):
    from serial.tools import list_ports

    fake = [SimpleNamespace(device="/dev/ttyUSB1", vid=0x0403, pid=0x6010, serial_number="A1",
                            description="Digilent USB Device"),
            SimpleNamespace(device="/dev/ttyS0", vid=None, pid=None, serial_number=None,
                            description="n/a")]
    monkeypatch.setattr(list_ports, "comports", lambda: fake)
    assert memgen.main(["ports"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["/dev/ttyS0", "-", "n/a"]
    assert lines[1].startswith("/dev/ttyUSB1     0403:6010  Digilent USB Device")
    assert lines[1].endswith("(FTDI: a board?)")
    assert memgen.main(["ports", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["ports"]
    assert [p["ftdi"] for p in listed] == [False, True]
    assert ports.FTDI_VID == 0x0403


def test_hardware_commands_delegate():
    board = run("board", "--help")
    assert board.returncode == 0, board.stderr
    assert "--port" in board.stdout and "--uart" in board.stdout
    build = run("build", "--help")
    assert build.returncode == 0, build.stderr
    assert "{bitstream,synth,program}" in build.stdout and "--board NAME" in build.stdout
    unknown = run("build", "--board", "no-such-board")
    assert unknown.returncode == 2
    assert "no-such-board" in unknown.stderr
