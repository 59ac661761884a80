# SPDX-License-Identifier: BSD-2-Clause
"""The virtual board: the MemGEN top level simulated by Verilator, its link on a TCP socket.

With no FPGA attached, ``python -m sim.board`` builds the top level with Verilator (once; the
build is cached under ``build/vboard/<hash>/`` and redone only when the gateware, the harness or
the flags change) and runs it, bridging its link to ``socket://127.0.0.1:PORT``, the URL that
every host tool takes in place of a serial port. The C++ harness, ``sim/vboard.cpp``, bridges
one of two links:

* the stream board (the default, :func:`hw.top.StreamSimTop`): the socket's bytes go straight
  into the engine's input stream, up to one per clock, through the stream transport
  (:class:`hw.transport.stream.StreamTransport`), and the output stream's bytes to the socket;
* the UART board (``--uart``, ``link="uart"``, :func:`hw.top.SimTop`): the UART pins driven
  and decoded bit by bit at the gateware's own bit rate, for the UART's own tests and the fault
  campaign.

Library use, as in the tests and ``make sim``::

    from sim.board import VirtualBoard

    with VirtualBoard(capacity=65536) as board:
        port = serial.serial_for_url(board.url)
        ...
    print(board.stats.cycles_per_s)

In fault mode (``VirtualBoard(faults=True)``, a UART board, for the campaign of :mod:`sim.fuzz`)
the socket
carries records instead of plain bytes: :class:`FaultPort` drives bytes with UART faults (a low
stop bit, a bit time 3% long or short), idle time and markers, and simulated time runs only
while there is work, in lockstep with the client.

:func:`build` takes any component with the ports of its link (:data:`TOP_PORTS`: ``clk``,
``rst``, ``leds``, ``idle`` and the ``rx`` and ``tx`` streams, or ``uart_rx`` and ``uart_tx``), or
a factory for one, so other designs can be run the same way.

This module is the command line; the parts live in :mod:`sim.vboard` (the Verilog, the build and
its cache, the process, the fault-mode client) and their public names are re-exported here.
"""

import argparse
import errno
import importlib
import importlib.util
import logging
import signal
import socket
import sys
from pathlib import Path

from hw.argtypes import port_number, positive_int
from hw.boards.facts import VBOARD_PORT, VBOARD_STORES, VBOARD_URL

from .vboard import BoardError
from .vboard.build import (
    DEFAULT_BAUD,
    DEFAULT_CLK_FREQ,
    MAKE_FLAGS,
    TRACE_FLAGS,
    VERILATOR_FLAGS,
    build,
    clocks_per_bit,
)
from .vboard.faults import FaultFlag, FaultPort, Marker
from .vboard.process import BoardStats, VirtualBoard
from .vboard.verilog import HARNESS_TOP, LINKS, TOP_NAME, TOP_PORTS

__all__ = [
    "DEFAULT_CLK_FREQ", "DEFAULT_BAUD", "DEFAULT_PORT", "LINKS", "TOP_NAME", "TOP_PORTS",
    "HARNESS_TOP",
    "VERILATOR_FLAGS", "MAKE_FLAGS", "TRACE_FLAGS",
    "BoardError", "BoardStats", "build", "clocks_per_bit", "VirtualBoard", "main",
    "FaultFlag", "Marker", "FaultPort",
]

#: TCP port the command line listens on unless told otherwise
#: (:data:`hw.boards.facts.VBOARD_PORT`).
DEFAULT_PORT = VBOARD_PORT


def _load_factory(spec):
    """Return the callable named by ``MODULE:NAME`` or ``path/to/file.py:NAME``."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise BoardError(f"--top must look like MODULE:NAME, not {spec!r}")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            mod_spec = importlib.util.spec_from_file_location(path.stem, path)
            if mod_spec is None:
                raise ImportError(f"no Python file at {path}")
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[path.stem] = module
            mod_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError, OSError) as exc:
        raise BoardError(f"cannot load the top level {spec!r}: {exc}") from exc


def _port_in_use(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sim.board",
        description="Run the MemGEN virtual board: the gateware's top level simulated by "
                    "Verilator, its byte streams (or with --uart its UART pins) bridged to a "
                    "TCP socket on 127.0.0.1. Point the host "
                    "tools at the printed socket:// URL instead of a serial port. The first "
                    "run builds the simulator (10 to 30 s); later runs reuse the build "
                    "until the gateware changes. Ctrl-C stops the board.",
        epilog=f"example: python -m sim.board --port {VBOARD_PORT}, then "
               f"memgen-train --port {VBOARD_URL} DATA")
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT, metavar="PORT",
                        help="TCP port to listen on, 0 for any free one (default: %(default)s)")
    parser.add_argument("--capacity", type=positive_int, default=None, metavar="BYTES",
                        help="example store capacity in bytes (default: the top level's)")
    parser.add_argument("--waves", type=Path, default=None, metavar="FILE",
                        help="dump a waveform to FILE, VCD if it ends in .vcd, else FST "
                             "(builds a traced variant; slow and large: for short debugging "
                             "sessions)")
    parser.add_argument("--rebuild", action="store_true",
                        help="rebuild the simulator even if a cached build matches")
    parser.add_argument("--clk-freq", type=positive_int, default=DEFAULT_CLK_FREQ,
                        metavar="HZ", help="simulated clock frequency (default: %(default)s)")
    parser.add_argument("--uart", action="store_true",
                        help="the UART board: drive and decode the UART pins bit by bit, as on "
                             "a real board (slower; default: the stream board, a byte per "
                             "clock)")
    parser.add_argument("--baud", type=positive_int, default=None, metavar="BAUD",
                        help=f"with --uart, the UART baud rate; HZ must be a multiple of it "
                             f"(default: {DEFAULT_BAUD})")
    parser.add_argument("--store", choices=VBOARD_STORES, default="bram",
                        help="the example store: block RAM, the ULX3S's 32 MB SDR SDRAM or "
                             "the Arty's 256 MB DDR3 behind LiteDRAM's simulation model (needs "
                             "the `dram` extra) (default: %(default)s)")
    parser.add_argument("--idle-rate", type=positive_int, default=None, metavar="CYCLES",
                        help="most simulated cycles per second while idle (default: 1000000)")
    parser.add_argument("--top", default=None, metavar="MODULE:NAME",
                        help="top-level design or factory to simulate (default: "
                             "hw.top:StreamSimTop, with --uart hw.top:SimTop)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return parser


def main(argv=None):
    """Run the virtual board from the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s")
    link = "uart" if args.uart else "stream"
    if args.uart:
        args.baud = DEFAULT_BAUD if args.baud is None else args.baud
        try:
            clocks_per_bit(args.clk_freq, args.baud)
        except ValueError as exc:
            parser.error(str(exc))
    elif args.baud is not None:
        parser.error("--baud needs --uart: the stream board has no baud rate")
    if args.store != "bram" and args.top:
        parser.error(f"--store {args.store} is a store of the default top levels, not of "
                     f"--top {args.top}")
    store = {"store": args.store} if args.store != "bram" else {}
    if args.port and _port_in_use(args.port):
        print(f"error: port {args.port} on 127.0.0.1 is already in use (is another virtual "
              f"board running?); choose another port with --port", file=sys.stderr)
        return 1

    # Turn SIGTERM into the same clean stop as Ctrl-C, so the harness never outlives us.
    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    board = None
    try:
        board = VirtualBoard(args.port, link=link, capacity=args.capacity, waves=args.waves,
                             top_factory=_load_factory(args.top) if args.top else None,
                             rebuild=args.rebuild, idle_rate=args.idle_rate,
                             clk_freq=args.clk_freq, baud=args.baud, **store)
        board.start()
        print(f"MemGEN virtual board ({link}) ready: use --port {board.url} with the host tools; "
              f"Ctrl-C stops it", flush=True)
        stats = board.wait()
    except (BoardError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        stats = board.stop() if board is not None else None
    if stats is not None:
        print(f"stopped after {stats.cycles} cycles in {stats.wall_s:.1f} s "
              f"({stats.busy_cycles_per_s / 1e6:.1f} M cycles/s while busy); "
              f"{stats.bytes_in} bytes in, {stats.bytes_out} out, "
              f"{stats.tx_framing_errors} TX framing errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
