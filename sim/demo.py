# SPDX-License-Identifier: BSD-2-Clause
"""``make sim``: MemGEN end to end on the virtual board, through the real command-line tools.

Builds the virtual board (the stream board, :func:`hw.top.StreamSimTop`; once, cached), starts
it, trains the built-in handwritten digits, samples 64 of them into ``build/samples.png`` with the
evaluation report, learns the project's README in one shot and recites it back byte for byte,
stops the board and prints a summary.

With a DRAM store (``--store sdram``, ``make sim STORE=dram``; or ``ddr3``) the job is at scale:
the board learns an image data set of several MB (``--data``: Fashion-MNIST's IDX files where
Debian's ``dataset-fashion-mnist`` package puts them, :data:`FASHION_MNIST`, else
:data:`SYNTHETIC_COUNT` images of :func:`host.loaders.synthetic_images` written as an IDX file),
its first records if the data set is larger than the store; samples 64 into
``build/dram-samples.png`` with the evaluation report; recites the whole set into
``build/dram-recited.npy`` and checks it byte for byte; and prints the wall time and MB/s of
each step.
"""

import argparse
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from host import loaders
from host.codecs import DataError
from host.device import MemGen
from hw.boards.facts import VBOARD_CLK_FREQ, VBOARD_STORES
from sim.board import BoardError, VirtualBoard

__all__ = ["FASHION_MNIST", "SYNTHETIC", "SYNTHETIC_COUNT", "main", "run_tool", "scale_source"]

_log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent

#: Fashion-MNIST's 10,000 test images (7.8 MB) where Debian's ``dataset-fashion-mnist`` package
#: installs them; its 60,000 training images (47 MB) are ``train-images-idx3-ubyte.gz`` beside it.
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")

#: Images of 28x28 in the synthetic data set learned when there is no Fashion-MNIST: 7.8 MB, as
#: many as Fashion-MNIST's test images.
SYNTHETIC_COUNT = 10_000

#: ``--data`` that asks for the synthetic images even where Fashion-MNIST is installed.
SYNTHETIC = "synthetic"

#: Seconds a tool waits for the device at most: COMMIT reads back tens of MB at a byte per clock.
SCALE_TIMEOUT = 300


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


def _timed_tool(module, *args, port):
    """Run a tool as :func:`run_tool` does; return its output and its wall seconds."""
    start = time.monotonic()
    output = run_tool(module, *args, "--timeout", SCALE_TIMEOUT, port=port)
    return output, time.monotonic() - start


def scale_source(data, out_dir, count=SYNTHETIC_COUNT):
    """Return the path of the data set the DRAM demo learns and a description of it: ``data``
    if given, else :data:`FASHION_MNIST` if it exists, else (or if ``data`` is
    :data:`SYNTHETIC`) ``count`` synthetic images written as an IDX file into ``out_dir``.

    Raises
    ------
    DemoError
        If ``data`` is given but does not exist.
    """
    if data is not None and os.fspath(data) != SYNTHETIC:
        if not Path(data).exists():
            raise DemoError(f"{data} does not exist: give DATA= the path of an image data set, "
                            f"e.g. {FASHION_MNIST}, or leave it out for a synthetic one")
        return Path(data), str(data)
    if data is None and FASHION_MNIST.exists():
        return FASHION_MNIST, "Fashion-MNIST's test images (Debian's dataset-fashion-mnist)"
    path = out_dir / f"synthetic-{count}-images-idx3-ubyte"
    loaders.write_idx(loaders.synthetic_images(count), path)
    why = "asked for" if data is not None else f"Fashion-MNIST not found at {FASHION_MNIST}"
    return path, f"{count} synthetic images of 28x28 (host.loaders.synthetic_images; {why})"


def _scale_demo(board, out_dir, samples, data):
    url = board.url
    out_dir.mkdir(parents=True, exist_ok=True)
    source, described = scale_source(data, out_dir)
    print(f"data set: {described}" + (f", {source}" if described != str(source) else ""),
          flush=True)
    try:
        dataset = loaders.load(source)
    except DataError as exc:
        raise DemoError(str(exc)) from None
    with MemGen(url, timeout=30) as client:
        capacity = client.info().capacity
    first = []
    count, size = dataset.count, dataset.record_size
    if dataset.nbytes > capacity:
        count = capacity // size
        first = ["--first", count]
        print(f"{dataset.count} records of {size} bytes take {dataset.nbytes} bytes, the store "
              f"holds {capacity}: learning the first {count}", flush=True)
    nbytes = count * size
    summary = {"source": source, "described": described, "count": count, "record_size": size,
               "bytes": nbytes, "capacity": capacity}

    trained, summary["train_s"] = _timed_tool("host.train", source, *first, "--quiet", port=url)
    match = re.search(r"learned (\d+) examples? in (\d+) steps?", trained)
    efficiency = re.search(r"([\d.]+) s of device time: link efficiency ([\d.]+)%", trained)
    if not match or not efficiency:
        raise DemoError(f"unexpected output from host.train: {trained!r}")
    if int(match[1]) != count or int(match[2]) != count:
        raise DemoError(f"host.train learned {match[1]} examples in {match[2]} steps, not "
                        f"{count} in {count}")
    summary["train_device_s"], summary["efficiency"] = float(efficiency[1]), float(efficiency[2])

    sheet = out_dir / "dram-samples.png"
    _, summary["sample_s"] = _timed_tool(
        "host.sample", "-n", samples, "--seed", 1, "--out", sheet, "--evaluate", source, *first,
        "--quiet", port=url)
    summary["sheet"] = sheet

    recited = out_dir / "dram-recited.npy"
    _, summary["recite_s"] = _timed_tool(
        "host.sample", "--mode", "recite", "-n", count, "--out", recited, "--quiet", port=url)
    array = np.load(recited)
    if array.dtype != np.uint8 or array.tobytes() != dataset.records[:nbytes]:
        raise DemoError(f"{recited} differs from the first {count} records of {source}")
    summary["recited"] = recited
    print(f"recited all {count} records byte for byte into {recited} ({array.shape})")
    return summary


def _print_scale_summary(summary, args, stats, wall):
    mb = summary["bytes"] / 1e6
    print()
    print(f"MemGEN at scale on the virtual board with the {args.store.upper()} store")
    print(f"  data set              {summary['described']}")
    print(f"  learned               {summary['count']} records of {summary['record_size']} bytes "
          f"= {mb:.2f} MB ({summary['bytes'] / summary['capacity']:.1%} of the "
          f"{summary['capacity'] >> 20} MB store), in {summary['count']} steps")
    print(f"  training              {summary['train_s']:.1f} s wall, {mb / summary['train_s']:.2f} "
          f"MB/s (the tool, loading included); {summary['train_device_s']:.3f} s simulated, "
          f"link efficiency {summary['efficiency']:.1f}% of a byte per clock")
    print(f"  samples               {args.samples} in {summary['sheet']} (evaluation above), "
          f"{summary['sample_s']:.1f} s wall")
    print(f"  recital               all {summary['count']} records, byte for byte, "
          f"{summary['recite_s']:.1f} s wall, {mb / summary['recite_s']:.2f} MB/s")
    if stats is not None:
        print(f"  simulated time        {stats.cycles / VBOARD_CLK_FREQ:.3f} s ({stats.cycles} "
              f"cycles at {VBOARD_CLK_FREQ / 1e6:g} MHz), "
              f"{stats.busy_cycles_per_s / 1e6:.1f} M cycles/s while busy")
    print(f"  wall time             {wall:.1f} s, including the build if there was one")


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sim.demo",
        description="MemGEN end to end on the virtual board: train the built-in digits, sample "
                    "and evaluate them, recite the README learned in one shot; with a DRAM "
                    "store, learn, sample, evaluate and recite an image data set of several MB.")
    parser.add_argument("--samples", type=int, default=64, metavar="K",
                        help="images to sample into the contact sheet (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "build", metavar="DIR",
                        help="output folder (default: build)")
    parser.add_argument("--store", choices=VBOARD_STORES, default="bram",
                        help="the virtual board's example store: block RAM, or the ULX3S's "
                             "SDRAM or the Arty's DDR3 behind LiteDRAM's model; with a DRAM store "
                             "the demo learns a data set of several MB (default: %(default)s)")
    parser.add_argument("--data", type=str, default=None, metavar="PATH",
                        help=f"with a DRAM store: the image data set to learn, anything "
                             f"host.train reads, its first records if it is larger than the "
                             f"store; `{SYNTHETIC}` for {SYNTHETIC_COUNT} synthetic images of "
                             f"28x28 (default: {FASHION_MNIST} if it exists, else "
                             f"`{SYNTHETIC}`)")
    return parser


def main(argv=None):
    """Run the demonstration; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.data is not None and args.store == "bram":
        parser.error("--data is learned at scale with a DRAM store: add --store sdram")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.monotonic()
    scale = args.store != "bram"
    try:
        with VirtualBoard(**({"store": args.store, "startup_timeout": 300} if scale else {})) \
                as board:
            print(f"virtual board listening on {board.url}", flush=True)
            if scale:
                summary = _scale_demo(board, args.out, args.samples, args.data)
            else:
                summary = _demo(board, args.out, args.samples)
    except (BoardError, DemoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    stats = board.stats
    wall = time.monotonic() - start
    if scale:
        _print_scale_summary(summary, args, stats, wall)
        return 0
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
