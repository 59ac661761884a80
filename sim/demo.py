# SPDX-License-Identifier: BSD-2-Clause
"""``make sim``: MemGEN end to end on the virtual board, through the real command-line tools.

Builds the virtual board (the stream board, :func:`hw.top.StreamSimTop`; once, cached), starts
it, trains the built-in handwritten digits, samples 64 of them into ``build/samples.png`` with the
evaluation report, learns the project's README in one shot and recites it back byte for byte,
stops the board and prints a summary.
"""

import argparse
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from hw.boards.facts import VBOARD_CLK_FREQ, VBOARD_STORES
from sim.board import BoardError, VirtualBoard

__all__ = ["main", "run_tool"]

_log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


class DemoError(Exception):
    """A step of the demonstration failed."""


def run_tool(module, *args, port, echo=True):
    """Run ``python -m module args --port port``; echo and return its standard output."""
    cmd = [sys.executable, "-m", module, *map(str, args), "--port", port]
    print(f"$ {' '.join(cmd[1:])}", flush=True)
    result = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    if echo and result.stdout:
        print(result.stdout, end="", flush=True)
    if result.returncode != 0:
        raise DemoError(f"`{' '.join(cmd[1:])}` failed with exit status {result.returncode}")
    return result.stdout


def _demo(board, out_dir, samples):
    url = board.url
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {}

    trained = run_tool("host.train", "digits", "--quiet", port=url)
    match = re.search(r"learned (\d+) examples? in (\d+) steps?", trained)
    efficiency = re.search(r"([\d.]+) s of device time: link efficiency ([\d.]+)%", trained)
    if not match or not efficiency:
        raise DemoError(f"unexpected output from host.train: {trained!r}")
    summary["examples"], summary["steps"] = int(match[1]), int(match[2])
    summary["train_device_s"], summary["efficiency"] = float(efficiency[1]), float(efficiency[2])

    sheet = out_dir / "samples.png"
    run_tool("host.sample", "-n", samples, "--seed", 1, "--out", sheet, "--evaluate", "digits",
             "--quiet", port=url)
    summary["sheet"] = sheet

    readme = ROOT / "README.md"
    recited = out_dir / "readme.recited.md"
    run_tool("host.train", readme, "--one-shot", "--quiet", port=url)
    run_tool("host.sample", "--mode", "recite", "-n", 1, "--out", recited, "--quiet", port=url)
    if recited.read_bytes() != readme.read_bytes():
        raise DemoError(f"{recited} differs from {readme}")
    print(f"recited README.md byte for byte ({readme.stat().st_size} bytes)")
    return summary


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sim.demo",
        description="MemGEN end to end on the virtual board: train the built-in digits, sample "
                    "and evaluate them, recite the README learned in one shot.")
    parser.add_argument("--samples", type=int, default=64, metavar="K",
                        help="digits to sample into the contact sheet (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "build", metavar="DIR",
                        help="output folder (default: build)")
    parser.add_argument("--store", choices=VBOARD_STORES, default="bram",
                        help="the virtual board's example store: block RAM, or the ULX3S's "
                             "SDRAM behind LiteDRAM's model (default: %(default)s)")
    return parser


def main(argv=None):
    """Run the demonstration; return the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.monotonic()
    try:
        with VirtualBoard(**({"store": args.store} if args.store != "bram" else {})) as board:
            print(f"virtual board listening on {board.url}", flush=True)
            summary = _demo(board, args.out, args.samples)
    except (BoardError, DemoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    stats = board.stats
    wall = time.monotonic() - start
    print()
    print("MemGEN on the virtual board")
    print(f"  examples learned      {summary['examples']} handwritten digits, in "
          f"{summary['steps']} steps")
    print(f"  training              {summary['train_device_s']:.3f} s simulated, link "
          f"efficiency {summary['efficiency']:.1f}% of the stream board's byte per clock (the "
          f"store's read-back weighs more there; make bench measures 3 Mbaud)")
    print(f"  samples               {args.samples} in {summary['sheet']} (evaluation above)")
    print("  recital               README.md, byte for byte")
    if stats is not None:
        print(f"  simulated time        {stats.cycles / VBOARD_CLK_FREQ:.3f} s ({stats.cycles} "
              f"cycles at {VBOARD_CLK_FREQ / 1e6:g} MHz), "
              f"{stats.busy_cycles_per_s / 1e6:.1f} M cycles/s while busy")
    print(f"  wall time             {wall:.1f} s, including the build if there was one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
