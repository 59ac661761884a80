# SPDX-License-Identifier: BSD-2-Clause
"""Helpers shared by the tests: a fault-injecting link to the simulated command processor, the
simulated device behind the tools' port, running a tool, and requests on a raw link.

The fixtures built from them are in ``conftest.py``; the Amaranth-simulator drivers are in
:mod:`tests.simutil`.
"""

import collections
import random

import serial

import host.device
from hw import protocol
from hw.protocol import Command
from hw.transaction import Data, Exchange, Garbage, Response
from sim.fakeports import TricklingServer
from sim.pysim_link import CLOCK_PERIOD, SimulatedLink

__all__ = [
    "CAPACITY", "EVERY", "HEADER_BYTE", "FaultLink", "simulated_link", "newer_version",
    "SimulatedPort", "call", "error_line", "interrupt_training", "RawClient", "TricklingServer",
    "CHATTER",
]

#: Store size of the simulated device behind the tools' port.
CAPACITY = 8192

#: Offset of a header byte in a frame (the length's low byte): flipping a bit there makes the
#: device reject the frame with :attr:`~hw.protocol.Status.HEADER_CRC`.
HEADER_BYTE = protocol.SYNC_SIZE + protocol.field_offset(protocol.FRAME_HEADER_FIELDS, "length")[0]


class _Every:
    """Contains every frame index."""

    def __contains__(self, index):
        return True

    def __repr__(self):
        return "EVERY"


#: Every frame of a command, for :class:`FaultLink`'s fault tables.
EVERY = _Every()


class FaultLink:
    """A :class:`host.link.Transport` to a simulated device that records the requests the client
    sends, and loses, corrupts or rewrites chosen frames in either direction.

    Faults are chosen per command by the index of the frame among that command's frames since
    the link was made (0 is the first); a table maps a command to a container of indices, such
    as ``{0}``, ``range(3)`` or :data:`EVERY`. The tables are attributes and may be changed
    between requests.

    Parameters
    ----------
    link : sim.pysim_link.SimulatedLink
    drop : dict
        Requests lost on the way to the device.
    corrupt : dict
        Requests with a bit flipped in byte ``corrupt_at``.
    corrupt_at : int
        Offset of the corrupted byte in a frame: by default the last, so that the frame fails
        its frame check and the device answers :attr:`~hw.protocol.Status.FRAME_CRC` with the
        request's tag; :data:`HEADER_BYTE` makes it fail its header CRC instead.
    drop_replies : dict
        Replies lost on the way back, by the command they answer.
    rewrite : callable or None
        Called with each :class:`~hw.protocol.Frame` the device sends; returns the frame to
        deliver in its place.
    key : int
        The link key in use when the link is put between a client and its device (it follows
        the OPENs sent through it).
    """

    def __init__(self, link, *, drop=None, corrupt=None, corrupt_at=-1, drop_replies=None,
                 rewrite=None, key=0):
        self.link = link
        self.drop = dict(drop or {})
        self.corrupt = dict(corrupt or {})
        self.corrupt_at = corrupt_at
        self.drop_replies = dict(drop_replies or {})
        self.rewrite = rewrite
        self.sent = []              # (command, payload) of every request frame
        self.closed = False
        self._requests = collections.Counter()
        self._replies = collections.Counter()
        self._decoder = protocol.FrameDecoder(key)
        self._opening = None        # the key of the last OPEN sent, until its reply
        self._out = bytearray()

    @property
    def commands(self):
        """The commands of the requests sent, in order."""
        return [cmd for cmd, _ in self.sent]

    def payloads(self, cmd):
        """Return the payloads of the ``cmd`` requests sent, in order."""
        return [payload for sent, payload in self.sent if sent == cmd]

    @property
    def rate(self):
        """The simulated link's rate."""
        return self.link.rate

    def write(self, data):
        """Pass one request frame to the device, unless it is lost; corrupt it if chosen."""
        if self.closed:
            raise OSError("link closed")
        cmd = data[protocol.SYNC_SIZE]
        cmd = Command(cmd) if cmd in Command._value2member_map_ else cmd
        payload = bytes(data[protocol.PAYLOAD_OFFSET:-protocol.FCS_SIZE])
        self.sent.append((cmd, payload))
        if cmd == Command.OPEN:
            self._opening = protocol.unpack_fields(protocol.OPEN_FIELDS, payload)["key"]
        index = self._requests[cmd]
        self._requests[cmd] += 1
        if index in self.drop.get(cmd, ()):
            return len(data)
        if index in self.corrupt.get(cmd, ()):
            data = bytearray(data)
            data[self.corrupt_at] ^= 0x01
        return self.link.write(bytes(data))

    def read(self, size=1):
        """Return up to ``size`` bytes of the frames the device sent that are not lost."""
        if self.closed:
            raise OSError("link closed")
        if len(self._out) < size:
            # Ask the link only for what it has (at least a byte): asking for more would wait
            # for bytes the device never sends.
            for frame in self._decoder.feed(self.link.read(max(1, self.link.in_waiting))):
                answers = protocol.request_code(frame.cmd)
                if answers is not None:
                    index = self._replies[answers]
                    self._replies[answers] += 1
                    if index in self.drop_replies.get(answers, ()):
                        continue
                if answers == Command.OPEN and frame.payload[0] == protocol.Status.OK:
                    self._decoder.key = self._opening     # the link key from now on
                if self.rewrite is not None:
                    frame = self.rewrite(frame)
                self._out += protocol.encode_frame(frame.cmd, frame.payload, tag=frame.tag,
                                                   key=self._decoder.key)
        data = bytes(self._out[:size])
        del self._out[:size]
        return data

    @property
    def in_waiting(self):
        """Bytes :meth:`read` returns at once."""
        return len(self._out)

    def close(self):
        """Close the port as a socket client leaves the virtual board: bytes not yet sent are
        lost, and the device drops a frame left unfinished after its time-out."""
        if not self.closed:
            self.closed = True
            # The byte the simulated stream is offering stays; the rest never leaves.
            pending = self.link._tx
            while len(pending) > 1:
                pending.pop()
            self.link.run(3000 * CLOCK_PERIOD)
            self.link.reset_input_buffer()
            self._out.clear()
            self._decoder = protocol.FrameDecoder()


def simulated_link(capacity=CAPACITY, **faults):
    """Return a :class:`FaultLink` to a fresh simulated device of ``capacity`` bytes (frame
    time-out 2000 cycles)."""
    return FaultLink(SimulatedLink(capacity=capacity, timeout=2e-4, frame_timeout=2000),
                     **faults)


def newer_version(frame):
    """Return ``frame``, with the version of an INFO or OPEN reply one more than this host's: a
    :class:`FaultLink` ``rewrite`` that makes a device with a future bitstream."""
    offset = protocol.STATUS_SIZE + protocol.field_offset(protocol.INFO_FIELDS, "version")[0]
    replies = (protocol.reply_code(Command.INFO), protocol.reply_code(Command.OPEN))
    if frame.cmd not in replies or len(frame.payload) <= offset:
        return frame
    payload = bytearray(frame.payload)
    payload[offset] = protocol.VERSION + 1
    return protocol.Frame(frame.cmd, frame.tag, bytes(payload))


class SimulatedPort:
    """One simulated device behind every tool run of a test, reached through a fake pyserial
    port named by ``$MEMGEN_PORT``, so that the tools open and close it as they would a real
    one.

    Attributes
    ----------
    link : FaultLink
        What :func:`serial.serial_for_url` returns, whatever the URL.
    opened : list
        The URLs opened, in order.
    """

    URL = "socket://simulated:1"

    def __init__(self, monkeypatch, capacity=CAPACITY):
        self.link = simulated_link(capacity)
        self.opened = []

        def serial_for_url(url, **kwargs):
            self.link.closed = False
            self.opened.append(url)
            return self.link

        monkeypatch.setattr(serial, "serial_for_url", serial_for_url)
        monkeypatch.setenv("MEMGEN_PORT", self.URL)


def call(main, capsys, *argv, timeout=60):
    """Run a tool's ``main`` with ``argv`` and ``--timeout``; return its exit status, stdout
    and stderr. The default time-out is generous: the simulator runs far slower than a board."""
    status = main([str(arg) for arg in argv] + ["--timeout", str(timeout)])
    out, err = capsys.readouterr()
    return status, out, err


def error_line(err):
    """Return the one error line of a failed run's stderr: its last line. Lines before it may
    only be notes of what the data loader inferred (``learning ... from ...``), never another
    error or a traceback."""
    lines = err.splitlines()
    assert lines and lines[-1].startswith("error: "), err
    assert not any(line.startswith(("error", "Traceback")) for line in lines[:-1]), err
    return lines[-1]


def interrupt_training(monkeypatch, before=Command.LEARN, index=1):
    """Make the next trainings stop with Ctrl-C just before the client sends its ``index``-th
    ``before`` frame (counted from 0): the frames sent until then reach the device, the rest
    never leave. Return the real :meth:`~host.device.MemGen._send` to put back."""
    send = host.device.MemGen._send
    sent = collections.Counter()

    def interrupted_send(self, cmd, payload=b""):
        if cmd == before:
            sent[cmd] += 1
            if sent[cmd] > index:
                raise KeyboardInterrupt
        return send(self, cmd, payload)

    monkeypatch.setattr(host.device.MemGen, "_send", interrupted_send)
    return send


class RawClient:
    """Requests sent one at a time on a pyserial-like link, for the tests that poke a device
    frame by frame (the host client, :class:`host.device.MemGen`, does much more).

    Parameters
    ----------
    link : host.link.Transport
        Its read time-out bounds how long :meth:`receive` waits.

    Attributes
    ----------
    exchange : hw.transaction.Exchange
    skipped : list
        The events :meth:`call` let pass because their status was in its ``skip``.
    """

    def __init__(self, link):
        self.link = link
        self.exchange = Exchange()
        self.skipped = []
        self._events = collections.deque()

    def send(self, cmd, payload=b"", *, tag=None):
        """Send a request; return its :class:`~hw.transaction.Request`."""
        request = self.exchange.request(cmd, payload, tag=tag, collect=True)
        self.link.write(request.frame)
        return request

    def receive(self):
        """Return the next event other than garbage, or :py:`None` if two reads in a row (two
        of the link's time-outs) bring nothing."""
        silent = 0
        while not self._events:
            data = self.link.read(max(1, self.link.in_waiting))
            if not data:
                silent += 1
                if silent == 2:
                    return None
                continue
            self._events += [event for event in self.exchange.feed(data)
                             if not isinstance(event, Garbage)]
        return self._events.popleft()

    def call(self, cmd, payload=b"", *, tag=None, skip=()):
        """Send a request and return its :class:`~hw.transaction.Response`, with the DATA it
        streamed in ``data``.

        Any other frame fails the test, except replies whose status is in ``skip``, which are
        added to :attr:`skipped`.
        """
        request = self.send(cmd, payload, tag=tag)
        while True:
            event = self.receive()
            assert event is not None, f"no reply to {request.name}"
            if isinstance(event, Response) and event.request is request:
                return event
            if isinstance(event, Data) and event.request is request:
                continue
            assert event.status is not None and event.status["status"] in skip, event
            self.skipped.append(event)


def _bad_headers():
    """Sync markers, each followed by a header whose CRC-8 fails."""
    frame = bytearray(protocol.encode_frame(Command.INFO, tag=7))
    frame[protocol.PAYLOAD_OFFSET - 1] ^= 0xff
    return bytes(frame[:protocol.PAYLOAD_OFFSET]) * 3


#: What a port that never stops talking may send: none of it answers a request.
CHATTER = {
    "noise": random.Random(1).randbytes(64),
    "boot log": b"U-Boot 2024.01\r\nDRAM:  512 MiB\r\nLoading kernel...\r\n",
    "bad headers": _bad_headers(),
    "replies to no request": protocol.encode_frame(
        protocol.reply_code(Command.INFO), bytes(protocol.STATUS_SIZE), tag=200),
}


def session_crc(data, record_size, *, count=None, header=b""):
    """Return the session CRC-32 that COMMIT and CHECKSUM compare, for ``data`` learned in a
    session of ``count`` (default: as many as ``data`` holds) records of ``record_size`` bytes
    with ``header``."""
    count = len(data) // record_size if count is None else count
    return protocol.session_crc(protocol.begin_payload(record_size, count, header), data)
