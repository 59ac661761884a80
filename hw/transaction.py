# SPDX-License-Identifier: BSD-2-Clause
"""Requests and their replies over the wire protocol of :mod:`hw.protocol`, without I/O.

:class:`Exchange` is the host's side of a conversation with a device, kept apart from any link
(the "sans-IO" style of ``h11``): it encodes requests into frames for the caller to send, and
turns the bytes the caller received into events. It never reads, writes, sleeps or looks at a
clock, so the same code serves the host client over pyserial, the cocotb testbench on the pins,
and the tests::

    exchange = Exchange()
    request = exchange.request(Command.SAMPLE, payload)
    link.write(request.frame)
    while True:
        for event in exchange.feed(link.read(exchange.wanted)):
            if isinstance(event, Data):          # a chunk of records, before the reply
                ...
            elif isinstance(event, Response):    # the reply; the request is answered
                ...

Replies are matched to requests by command *and* tag (``protocol.reply_code``); DATA frames,
which carry no command, by tag. A copy of a pending request coming back (a port that echoes what
it is sent) is an :class:`Echo` event. A reply frame that answers no pending request (a stale
reply, or one to a frame whose header the device could not read) is an :class:`Unmatched`
event, and bytes that form no valid frame are reported as :class:`Garbage`. Deciding what to do
about either (wait, send again, give up) is the caller's, as is the time it waits.

Standard library only, like :mod:`hw.protocol`: the host imports it without Amaranth.
"""

from dataclasses import dataclass, field

from . import protocol
from .protocol import Command, Reply, Status

__all__ = ["Request", "Data", "Response", "Echo", "Unmatched", "Garbage", "Exchange",
           "UNRELIABLE"]

#: Reply statuses whose tag and command may not be the request's: the device could not read the
#: frame's header (:attr:`~hw.protocol.Status.HEADER_CRC`) or did not receive all of it
#: (:attr:`~hw.protocol.Status.TRUNCATED`).
UNRELIABLE = frozenset({Status.HEADER_CRC, Status.TRUNCATED})

_VERSION_OFFSET = protocol.STATUS_SIZE + protocol.field_offset(protocol.INFO_FIELDS, "version")[0]


@dataclass(frozen=True, eq=False)
class Request:
    """A request, encoded.

    Attributes
    ----------
    cmd : int
        Command code (a :class:`~hw.protocol.Command`, or any byte when testing the device's
        refusal of unknown commands).
    tag : int
        Tag, 0 to 255; the reply and the DATA frames before it echo it.
    payload : bytes
    frame : bytes
        The whole frame to send.
    """
    cmd: int
    tag: int
    payload: bytes = field(repr=False)
    frame: bytes = field(repr=False)

    @property
    def name(self):
        """The command's name, or its code in hex if it is no :class:`~hw.protocol.Command`."""
        try:
            return Command(self.cmd).name
        except ValueError:
            return f"{self.cmd:#04x}"


@dataclass(frozen=True)
class Data:
    """A DATA frame for a pending request: a chunk of the records it streams.

    Attributes
    ----------
    request : Request
    payload : bytes
    """
    request: Request
    payload: bytes = field(repr=False)

    @property
    def tag(self):
        """The frame's tag, the request's."""
        return self.request.tag


@dataclass(frozen=True)
class Response:
    """The reply to a pending request, which is no longer pending.

    Attributes
    ----------
    request : Request
    status : dict
        The reply's :data:`~hw.protocol.STATUS_FIELDS`, from :func:`~hw.protocol.parse_status`.
    payload : bytes
        The whole reply payload, status first.
    info : dict or None
        For an INFO or OPEN reply of this protocol version, everything it carries, from
        :func:`~hw.protocol.parse_info`; otherwise :py:`None` (a reply of another version may
        have another layout: read its version byte from :attr:`payload`).
    data : bytes
        The DATA payloads received for the request, back to back, if it was made with
        ``collect=True``; otherwise empty.
    """
    request: Request
    status: dict
    payload: bytes = field(repr=False)
    info: dict | None = field(default=None, repr=False)
    data: bytes = field(default=b"", repr=False)

    @property
    def tag(self):
        """The reply's tag, the request's."""
        return self.request.tag

    @property
    def cmd(self):
        """The command replied to, the request's."""
        return self.request.cmd

    @property
    def ok(self):
        """Whether the device carried out the request (:attr:`~hw.protocol.Status.OK`)."""
        return self.status["status"] == Status.OK

    @property
    def version(self):
        """The protocol version an INFO (or OPEN) reply reports, whatever the layout of the
        rest; or :py:`None` if this is no such reply or it is too short to say."""
        if (self.request.cmd not in (Command.INFO, Command.OPEN) or not self.ok or
                len(self.payload) <= _VERSION_OFFSET):
            return None
        return self.payload[_VERSION_OFFSET]


@dataclass(frozen=True)
class Echo:
    """A pending request's own frame, received back: the link echoes what it is sent (a
    loopback, a TX-RX jumper, a design that echoes). A device never sends a request frame.

    The request stays pending.

    Attributes
    ----------
    request : Request
    """
    request: Request

    @property
    def tag(self):
        """The frame's tag, the request's."""
        return self.request.tag


@dataclass(frozen=True)
class Unmatched:
    """A valid frame that answers no pending request.

    It is a reply to a request that was answered or forgotten already, a reply whose header the
    device could not read (:attr:`unreliable`), a DATA frame for no pending request, or a frame
    that is no reply at all.

    Attributes
    ----------
    frame : hw.protocol.Frame
    status : dict or None
        The reply's status fields, or :py:`None` for a frame that is no reply or too short to
        hold a status.
    """
    frame: protocol.Frame
    status: dict | None = field(default=None, repr=False)

    @property
    def tag(self):
        """The frame's tag."""
        return self.frame.tag

    @property
    def payload(self):
        """The frame's payload."""
        return self.frame.payload

    @property
    def unreliable(self):
        """Whether this is a reply to a frame the device could not read whole: its tag and
        command may not be those of the request it answers (:data:`UNRELIABLE`)."""
        return self.status is not None and self.status["status"] in UNRELIABLE


@dataclass(frozen=True)
class Garbage:
    """Bytes received that were not part of a valid frame.

    Attributes
    ----------
    skipped : int
        How many bytes were skipped.
    errors : int
        How many frames among them failed their header or frame CRC.
    """
    skipped: int
    errors: int = 0


class Exchange:
    """The host's side of the request/reply protocol, without I/O.

    :meth:`request` encodes a request and keeps it pending; :meth:`feed` takes received bytes
    and returns events: :class:`Data` and then a :class:`Response` for each pending request,
    :class:`Echo` for a pending request's own frame coming back, :class:`Unmatched` for frames
    that answer none, and :class:`Garbage` for bytes that are no frame. Several requests may be
    pending at once (pipelining); the device answers them in order, and one whose reply is lost
    stays pending until it is forgotten with :meth:`forget`.

    Parameters
    ----------
    first_tag : int
        Tag of the first request that does not choose its own; each later one takes the next,
        modulo 256.
    """

    def __init__(self, first_tag=1):
        if not isinstance(first_tag, int) or not 0 <= first_tag <= 0xff:
            raise ValueError(f"first_tag must be an integer from 0 to 255, not {first_tag!r}")
        self._decoder = protocol.FrameDecoder()
        self._key = 0
        self._pending = []          # requests in the order they were made
        self._collected = {}        # request -> bytearray, for those made with collect=True
        self._tag = (first_tag - 1) & 0xff
        self._skipped = 0
        self._errors = 0

    def request(self, cmd, payload=b"", *, tag=None, collect=False):
        """Encode a request and keep it pending until its reply arrives.

        A pending request with the same tag is forgotten: a tag is reused only once its
        request is given up.

        Parameters
        ----------
        cmd : int
            Command code.
        payload : bytes
        tag : int or None
            Tag, 0 to 255 (default: the one after the last tag chosen this way).
        collect : bool
            Gather the request's DATA payloads into :attr:`Response.data` (they are reported
            as :class:`Data` events as well).

        Returns
        -------
        Request
            Its :attr:`~Request.frame` is what to send.

        Raises
        ------
        ValueError
            If the payload exceeds :data:`~hw.protocol.MAX_PAYLOAD` or the tag is out of range.
        """
        if tag is None:
            self._tag = tag = (self._tag + 1) & 0xff
        elif not isinstance(tag, int) or not 0 <= tag <= 0xff:
            raise ValueError(f"tag must be an integer from 0 to 255, not {tag!r}")
        payload = bytes(payload)
        request = Request(cmd, tag, payload,
                          protocol.encode_frame(cmd, payload, tag=tag, key=self._key))
        for stale in [r for r in self._pending if r.tag == tag]:
            self.forget(stale)
        self._pending.append(request)
        if collect:
            self._collected[request] = bytearray()
        return request

    def forget(self, request=None):
        """Stop waiting for ``request``'s reply (for every pending request with :py:`None`).

        Its reply and DATA frames, should they arrive later, are :class:`Unmatched`. Forgetting
        a request that is not pending does nothing.
        """
        for r in list(self._pending) if request is None else [request]:
            if r in self._pending:
                self._pending.remove(r)
                self._collected.pop(r, None)

    @property
    def key(self):
        """The link key requests are sent and frames checked with (see
        :func:`hw.protocol.frame_key`): 0 until set, as a device's after reset. Set it to the key
        of an OPEN once the device has answered it."""
        return self._key

    @key.setter
    def key(self, key):
        if not isinstance(key, int) or not 0 <= key < 1 << 32:
            raise ValueError(f"key must be a 32-bit unsigned integer, not {key!r}")
        self._key = key
        self._decoder.key = key

    @property
    def pending(self):
        """The requests awaiting their reply, oldest first, as a tuple."""
        return tuple(self._pending)

    @property
    def wanted(self):
        """Number of bytes that could complete the next frame (at least 1): what a reader can
        ask for without waiting for bytes that are not coming."""
        return self._decoder.wanted

    @property
    def buffered(self):
        """Number of received bytes held back because they may start a frame."""
        return self._decoder.pending

    def feed(self, data):
        """Take received bytes; return the events they complete, in order.

        A :class:`Garbage` event, if any, comes first: it counts the bytes skipped while
        decoding ``data``, wherever they were among its frames.

        Parameters
        ----------
        data : bytes
            Any number of bytes, from any point of the stream: frames may be split across calls
            anywhere.

        Returns
        -------
        list
            :class:`Garbage`, :class:`Data`, :class:`Response`, :class:`Echo` and
            :class:`Unmatched` events.
        """
        frames = self._decoder.feed(data)
        events = []
        skipped = self._decoder.skipped - self._skipped
        errors = self._decoder.errors - self._errors
        if skipped or errors:
            self._skipped, self._errors = self._decoder.skipped, self._decoder.errors
            events.append(Garbage(skipped, errors))
        events.extend(self._event(frame) for frame in frames)
        return events

    def _event(self, frame):
        if frame.cmd == Reply.DATA:
            request = self._find(lambda r: r.tag == frame.tag)
            if request is None:
                return Unmatched(frame)
            if request in self._collected:
                self._collected[request] += frame.payload
            return Data(request, frame.payload)
        if protocol.request_code(frame.cmd) is None:
            echoed = self._find(lambda r: (r.cmd, r.tag, r.payload) ==
                                (frame.cmd, frame.tag, frame.payload))
            return Unmatched(frame) if echoed is None else Echo(echoed)
        if len(frame.payload) < protocol.STATUS_SIZE:
            return Unmatched(frame)
        status = protocol.parse_status(frame.payload)
        request = self._find(lambda r: r.tag == frame.tag and
                             protocol.reply_code(r.cmd) == frame.cmd)
        if request is None:
            return Unmatched(frame, status)
        data = bytes(self._collected.get(request, b""))
        self.forget(request)
        return Response(request, status, frame.payload, _info(request, frame.payload), data)

    def _find(self, match):
        return next((r for r in self._pending if match(r)), None)


def _info(request, payload):
    """Return the INFO (or OPEN) reply's contents, if it is one this protocol version can
    read."""
    if (request.cmd not in (Command.INFO, Command.OPEN) or
            len(payload) < protocol.STATUS_SIZE + protocol.INFO_SIZE or
            payload[_VERSION_OFFSET] != protocol.VERSION):
        return None
    return protocol.parse_info(payload)
