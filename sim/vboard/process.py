# SPDX-License-Identifier: BSD-2-Clause
"""The virtual board's process: start the harness, learn its port, stop it, read its summary."""

import collections
import dataclasses
import json
import logging
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from . import BoardError
from .build import MANIFEST_NAME, build
from .verilog import LINKS

__all__ = ["BoardStats", "VirtualBoard"]

_log = logging.getLogger(__name__)

_LISTENING_RE = re.compile(r"^memgen virtual board listening on socket://([\d.]+):(\d+)$")
_SUMMARY_PREFIX = "memgen virtual board stopped:"


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
    busy_cycles : int
        Cycles run flat out, with bytes in flight or the design not idle; the others ran
        throttled, with the design idle.
    busy_cycles_per_s : float
        Simulation speed while running flat out.
    bytes_in : int
        Bytes driven onto ``uart_rx`` (or taken by the ``rx`` stream).
    bytes_out : int
        Bytes decoded from ``uart_tx`` (or taken from the ``tx`` stream) and sent to a client.
    bytes_dropped : int
        Bytes received from clients that left before they reached the design.
    bytes_discarded : int
        Bytes from the design while no client was there to take them.
    tx_framing_errors : int
        Bytes from ``uart_tx`` whose stop bit was low (always 0 on the stream board).
    clients : int
        Client connections served.
    eval_mode : str
        How the harness evaluated the model: ``fast`` (one internal evaluation per cycle),
        ``single`` (one ``eval()`` per cycle) or ``standard`` (two, as when tracing).
    """
    cycles: int
    wall_s: float
    cycles_per_s: float
    busy_cycles: int
    busy_cycles_per_s: float
    bytes_in: int
    bytes_out: int
    bytes_dropped: int
    bytes_discarded: int
    tx_framing_errors: int
    clients: int
    eval_mode: str

    @classmethod
    def parse(cls, line):
        """Parse the harness's summary line, or return :py:`None` if it is not one."""
        if not line.startswith(_SUMMARY_PREFIX):
            return None
        values = dict(item.split("=", 1) for item in line[len(_SUMMARY_PREFIX):].split())
        return cls(**{field.name: field.type(values[field.name])
                      for field in dataclasses.fields(cls)})


class VirtualBoard:
    """A running virtual board, as a context manager.

    Entering it builds the design if needed (see :func:`build`), starts the harness and waits
    until it listens; leaving it stops the harness (SIGTERM, then SIGKILL) and sets
    :attr:`stats`.

    Parameters
    ----------
    port : int
        TCP port on 127.0.0.1; 0 lets the harness pick a free one (see :attr:`port`).
    link : str or None
        ``"stream"`` (the engine's byte streams fed a byte per clock) or ``"uart"`` (the UART
        pins driven bit by bit, as on a real board); :py:`None` picks the UART in fault mode,
        the only link that has one, and the stream otherwise. With ``binary``, the link it was
        built for.
    capacity : int or None
        Store capacity in bytes, passed to the design; :py:`None` keeps its default.
    waves : path-like or None
        Dump a waveform there, VCD if its name ends in ``.vcd`` and FST otherwise (builds and
        runs the slower traced variant).
    top_factory : callable or None
        Design to build, as for :func:`build`; ignored when ``binary`` is given.
    binary : path-like or None
        A harness binary from :func:`build`, to skip the build step.
    rebuild : bool
        Rebuild even if the cache holds a binary.
    idle_rate : int or None
        Most clock cycles per wall second while the board is idle (harness default: 1 M).
    faults : bool
        Run in fault mode (UART board only): the socket carries :class:`FaultPort` records and
        simulated time runs in lockstep with the client.
    watchdog : int or None
        Fault mode: cycles the design may stay busy with no byte in or out before a marker is
        answered as hung (harness default: four frame timeouts).
    skew : int or None
        Fault mode: bit time change of :attr:`FaultFlag.SLOW` and :attr:`FaultFlag.FAST`, per
        mille (harness default: 30).
    startup_timeout : float
        Seconds to wait for the harness to listen, after the build.
    wrapper : sequence of str
        A command the harness runs under, such as ``["valgrind", "--tool=callgrind"]`` (the
        benchmark's instruction counts); empty: none.
    **params
        Design parameters for :func:`build` (``clk_freq``, ``baud`` on the UART board, ...).

    Attributes
    ----------
    link : str
        The board's link, ``"stream"`` or ``"uart"`` (known once started if ``binary`` was
        given).
    clocks_per_bit : int or None
        Clock cycles per UART bit, :py:`None` on the stream board (known once started).
    url : str
        ``socket://127.0.0.1:PORT``, for :func:`serial.serial_for_url` and the host tools.
    port : int
        The port listened on, known once started.
    stats : BoardStats or None
        What the harness reported when it stopped.

    Raises
    ------
    BoardError
        On entry, if the board cannot be built or started (for example, the port is in use),
        or if fault mode is asked of a stream board.
    ValueError
        If ``port`` or ``link`` is invalid, or fault mode is asked of the stream link.
    """

    def __init__(self, port=0, *, link=None, capacity=None, waves=None, top_factory=None,
                 binary=None, rebuild=False, idle_rate=None, faults=False, watchdog=None,
                 skew=None, startup_timeout=30.0, wrapper=(), **params):
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer from 0 to 65535, not {port!r}")
        if link is None:
            link = "uart" if faults else "stream"
        if link not in LINKS:
            raise ValueError(f"link must be one of {LINKS}, not {link!r}")
        if faults and link != "uart":
            raise ValueError("fault mode drives the UART pins: it needs link='uart'")
        self.link = link
        self.clocks_per_bit = None
        self._port = port
        self._waves = Path(waves) if waves is not None else None
        self._top_factory = top_factory
        self._binary = Path(binary) if binary is not None else None
        self._rebuild = rebuild
        self._idle_rate = idle_rate
        self._faults = faults
        self._watchdog = watchdog
        self._skew = skew
        self._startup_timeout = startup_timeout
        self._wrapper = [str(part) for part in wrapper]
        self._params = {"capacity": capacity, **params}
        self._process = None
        self._threads = []
        self._listening = queue.Queue()
        self._stderr_lines = collections.deque(maxlen=20)
        self._summary = None
        self.stats = None
        self.host = "127.0.0.1"

    @property
    def port(self):
        """The TCP port the board listens on (known once started)."""
        return self._port

    @property
    def address(self):
        """``(host, port)`` of the board, for :class:`FaultPort`."""
        return (self.host, self._port)

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
        waves_format = None
        if self._waves is not None:
            waves_format = "vcd" if self._waves.suffix.lower() == ".vcd" else "fst"
        binary = self._binary
        if binary is None:
            binary = build(self._top_factory, link=self.link, waves=waves_format,
                           rebuild=self._rebuild, **self._params)
        cmd = self._command(binary, waves_format)
        _log.debug("starting %s", " ".join(cmd))
        self._process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, bufsize=1)
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(self._process.stdout,),
                             daemon=True),
            threading.Thread(target=self._read_stderr, args=(self._process.stderr,),
                             daemon=True),
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
            exited = self._process.poll() is not None
            if exited or time.monotonic() > deadline:
                self._finish(timeout=1.0)
                message = "\n".join(self._stderr_lines).strip().removeprefix("error: ") or \
                    f"the harness exited with code {self._process.returncode}"
                if not exited:
                    message = f"the harness did not listen within {self._startup_timeout} s"
                self._process = None
                raise BoardError(f"the virtual board did not start: {message}")
        _log.debug("virtual board listening on %s", self.url)
        return self

    def _command(self, binary, waves_format):
        """Return the harness's command line, from the options and the build's manifest."""
        manifest_path = binary.parent.parent / MANIFEST_NAME
        try:
            manifest = json.loads(manifest_path.read_text())
            link = manifest["link"]
            cpb, timeout = manifest["clocks_per_bit"], manifest["frame_timeout_cycles"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BoardError(f"{binary} has no readable {MANIFEST_NAME} of this version; build "
                             f"it with sim.board.build()") from exc
        if self._faults and link != "uart":
            raise BoardError(f"{binary} is a {link} board; fault mode needs a UART board "
                             f"(build(link='uart'))")
        self.link = link
        if waves_format is not None and manifest.get("waves") != waves_format:
            raise BoardError(f"{binary} cannot dump {waves_format.upper()} waveforms; "
                             f"build(waves={waves_format!r}) makes one that can")
        # The quiet gap after a client leaves: twice the gateware's frame timeout, so a frame
        # that client left unfinished is dropped before the next client's bytes arrive.
        gap = 2 * timeout
        cmd = [*self._wrapper, str(binary), *(["--cpb", str(cpb)] if link == "uart" else []),
               "--port", str(self._port), "--gap", str(gap), "--exit-with-parent"]
        if self._idle_rate is not None:
            cmd += ["--idle-rate", str(self._idle_rate)]
        if self._faults:
            cmd += ["--faults"]
            if self._watchdog is not None:
                cmd += ["--watchdog", str(self._watchdog)]
            if self._skew is not None:
                cmd += ["--skew", str(self._skew)]
        self.clocks_per_bit = cpb
        if self._waves is not None:
            cmd += ["--waves", str(self._waves)]
        return cmd

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

    def _read_stdout(self, stream):
        for line in stream:
            line = line.rstrip("\n")
            match = _LISTENING_RE.match(line)
            if match:
                self._listening.put(int(match.group(2)))
                continue
            stats = BoardStats.parse(line)
            if stats is not None:
                self._summary = stats
                _log.debug("%s", line)
            else:
                _log.info("vboard: %s", line)

    def _read_stderr(self, stream):
        for line in stream:
            line = line.rstrip("\n")
            self._stderr_lines.append(line)
            if line.startswith("memgen virtual board: client"):
                _log.debug("%s", line)      # connection chatter
            elif not line.startswith("error:"):
                _log.info("%s", line)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
