# SPDX-License-Identifier: BSD-2-Clause
"""The host level: the client, :class:`host.device.MemGen`, timed against ports that are no
free MemGEN device."""

import dataclasses
import logging
import socket
import threading
import time

from host.device import EchoError, MemGen, MemGenError
from hw import protocol
from hw.protocol import Command

from .kinds import _BOOT_LOG, CampaignError, Kind

_log = logging.getLogger(__name__)


#: Seconds of ``timeout`` the client gets in :func:`host_cases`.
HOST_TIMEOUT = 1.0

#: Seconds past its time-out after which a call counts as a tool that outlived it.
HOST_MARGIN = 0.5

@dataclasses.dataclass(frozen=True)
class HostCase:
    """One call of the host client in :func:`host_cases`.

    Attributes
    ----------
    kind : Kind
    note : str
        What the port did and what was called.
    outcome : str
        The error the call ended with (its class and message).
    wall_s : float
        Wall-clock seconds the call took.
    """
    kind: Kind
    note: str
    outcome: str
    wall_s: float

    @property
    def outlived(self):
        """Whether the call outlived its time-out by more than :data:`HOST_MARGIN`."""
        return self.wall_s > HOST_TIMEOUT + HOST_MARGIN

class _EchoingLink:
    """A :class:`host.link.Transport` that sends back what it is sent, a frame at a time in two
    pieces, as a TX-RX jumper does."""

    def __init__(self):
        self._buffer = bytearray()

    @property
    def in_waiting(self):
        """Bytes :meth:`read` returns at once."""
        return len(self._buffer) // 2 or len(self._buffer)

    def read(self, size=1):
        """Return up to ``size`` of the bytes written."""
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def write(self, data):
        """Take bytes, to be read back."""
        self._buffer += data
        return len(data)

class _ChattyServer:
    """A TCP server on 127.0.0.1 that sends ``chunk`` every ``interval`` seconds to one client
    and discards what it sends: a port that never stops talking. A context manager."""

    def __init__(self, chunk, *, interval=0.005):
        self.chunk = bytes(chunk)
        self.interval = interval
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"socket://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.setblocking(False)
            with conn:
                while not self._stop.wait(self.interval):
                    try:
                        conn.sendall(self.chunk)
                        while conn.recv(4096):
                            pass
                    except BlockingIOError:
                        continue
                    except OSError:
                        break

def _chatter(rng):
    """Return ``{name: bytes}``: what a port that never stops talking sends."""
    bad = b"".join(protocol.SYNC + bytes(h[:-1]) + bytes([h[-1] ^ 1 if not protocol.crc8(h)
                                                          else h[-1]])
                   for h in (rng.randbytes(protocol.FRAME_HEADER_SIZE) for _ in range(8)))
    return {
        "boot log": "".join(line % rng.randrange(1 << 16) for line in _BOOT_LOG).encode(),
        "noise": rng.randbytes(256),
        "a5 5a and bad headers": bad,
        "replies to no request": protocol.encode_frame(
            protocol.reply_code(Command.INFO), bytes(protocol.STATUS_SIZE), tag=200),
    }

def _call(kind, note, expected, connect):
    """Time ``connect()`` (which opens a client and calls it) and return its
    :class:`HostCase`; it must fail with ``expected``."""
    start = time.monotonic()
    try:
        with connect():
            outcome = None
    except MemGenError as exc:
        outcome = exc
    wall = time.monotonic() - start
    if not isinstance(outcome, expected):
        raise CampaignError(f"{kind.value}, {note}: the client ended with {outcome!r}, not "
                            f"{expected.__name__}")
    text = f"{type(outcome).__name__}: {outcome}"
    _log.debug("%s, %s: %.2f s, %s", kind.value, note, wall, text)
    return HostCase(kind, note, text, wall)

def host_cases(rng, board_address):
    """Run the host client, :class:`host.device.MemGen` with a time-out of
    :data:`HOST_TIMEOUT` and no retries, against an echoing port, a board that serves another
    client (at ``board_address``, while the campaign holds it) and ports that never stop
    talking; return a :class:`HostCase` for each call. Each must end with an error naming the
    problem, within its time-out (the report counts those that outlived it)."""
    # The client's own progress messages would only interleave with the campaign's.
    quiet = logging.getLogger("host")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        return _host_cases(rng, board_address)
    finally:
        quiet.setLevel(level)

def _host_cases(rng, board_address):
    cases = []

    def client(**kwargs):
        return MemGen(timeout=HOST_TIMEOUT, retries=0, **kwargs)

    def info(**kwargs):
        c = client(check_version=False, **kwargs)
        try:
            c.info()
        finally:
            c.close()
        return c

    cases.append(_call(Kind.ECHOING_PORT, "open", EchoError,
                       lambda: client(link=_EchoingLink())))
    cases.append(_call(Kind.ECHOING_PORT, "INFO without OPEN", EchoError,
                       lambda: info(link=_EchoingLink())))
    url = f"socket://{board_address[0]}:{board_address[1]}"
    cases.append(_call(Kind.SECOND_CLIENT, "open", MemGenError, lambda: client(port=url)))
    cases.append(_call(Kind.SECOND_CLIENT, "INFO without OPEN", MemGenError,
                       lambda: info(port=url)))
    for name, chunk in _chatter(rng).items():
        with _ChattyServer(chunk) as server:
            cases.append(_call(Kind.CHATTY_PORT, f"{name}, open", MemGenError,
                               lambda server=server: client(port=server.url)))
        if name == "a5 5a and bad headers":
            with _ChattyServer(chunk) as server:
                cases.append(_call(Kind.CHATTY_PORT, f"{name}, INFO without OPEN", MemGenError,
                                   lambda server=server: info(port=server.url)))
    return cases
