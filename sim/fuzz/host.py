# SPDX-License-Identifier: BSD-2-Clause
"""The host level: the client, :class:`host.device.MemGen`, timed against ports that are no
free MemGEN device."""

import dataclasses
import logging
import time

from host.device import EchoError, MemGen, MemGenError
from hw import protocol
from hw.protocol import Command

from ..fakeports import EchoingLink, TricklingServer
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
                       lambda: client(link=EchoingLink())))
    cases.append(_call(Kind.ECHOING_PORT, "INFO without OPEN", EchoError,
                       lambda: info(link=EchoingLink())))
    url = f"socket://{board_address[0]}:{board_address[1]}"
    cases.append(_call(Kind.SECOND_CLIENT, "open", MemGenError, lambda: client(port=url)))
    cases.append(_call(Kind.SECOND_CLIENT, "INFO without OPEN", MemGenError,
                       lambda: info(port=url)))
    for name, chunk in _chatter(rng).items():
        with TricklingServer(chunk, interval=0.005) as server:
            cases.append(_call(Kind.CHATTY_PORT, f"{name}, open", MemGenError,
                               lambda server=server: client(port=server.url)))
        if name == "a5 5a and bad headers":
            with TricklingServer(chunk, interval=0.005) as server:
                cases.append(_call(Kind.CHATTY_PORT, f"{name}, INFO without OPEN", MemGenError,
                                   lambda server=server: info(port=server.url)))
    return cases
