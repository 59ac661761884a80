# SPDX-License-Identifier: BSD-2-Clause
"""The MemGEN client: speaks the wire protocol of :mod:`hw.protocol` over any link that is a
:class:`host.link.Transport` (a pyserial port or URL, the simulator, a PCIe or USB FIFO)."""

import collections
import dataclasses
import logging
import secrets
import time

from hw import protocol
from hw.protocol import Command, Leveling, Memory, Mode, Reply, State, Status
from hw.sampler.addrgen_model import AddressGeneratorModel
from hw.transaction import Data, Echo, Exchange, Garbage, Response, Unmatched

from .link import LinkError, open_link

__all__ = ["MemGen", "DeviceInfo", "Reply", "MemGenError", "DeviceError", "DeviceTimeout",
           "EchoError", "LinkError", "VersionMismatch"]

_log = logging.getLogger(__name__)

_LEARN_CHUNK = protocol.MAX_PAYLOAD - protocol.fields_size(protocol.LEARN_FIELDS)
_BEGIN_ARGS_SIZE = protocol.fields_size(protocol.BEGIN_FIELDS)     # then the header
#: Bytes per SAMPLE request: what is fetched again if its CRC-32 fails.
_SAMPLE_BATCH_BYTES = 1 << 20
_LINK_ERRORS = (Status.HEADER_CRC, Status.FRAME_CRC, Status.TRUNCATED)
#: Commands that may be sent again when their reply is lost: doing them twice is doing them once.
#: SAMPLE is not (it would skip samples) and COMMIT is checked instead (see :meth:`commit`).
_IDEMPOTENT = frozenset({Command.INFO, Command.CLEAR, Command.BEGIN, Command.CHECKSUM,
                         Command.SEED, Command.READ, Command.ABORT})
#: The first OPEN waits at most this long (seconds) for its reply before the client lets the
#: line fall silent and sends it again: a client killed in the middle of a frame leaves the
#: device taking the next bytes as that frame's payload.
_FIRST_OPEN_WAIT = 0.5

_STATUS_TEXT = {
    Status.HEADER_CRC: "a frame header was corrupted on the link",
    Status.FRAME_CRC: "a frame was corrupted on the link",
    Status.TRUNCATED: "a frame was cut short on the link",
    Status.UNKNOWN_COMMAND: "the device does not know this command",
    Status.BAD_LENGTH: "the device refused the frame's length",
    Status.BAD_STATE: "the command is not allowed in the device's state",
    Status.OVERFLOW: "the data does not fit in the device's store",
    Status.OUT_OF_ORDER: "data arrived out of order",
    Status.CRC_MISMATCH: "the stored data does not match the data sent",
    Status.BAD_ARGUMENT: "an argument is out of range",
    Status.BUSY: "the device is streaming samples to another request",
    Status.ABORTED: "the stream was aborted",
    Status.NOT_QUIET: "the line was not silent before OPEN",
}



def _known(enum_type, value):
    """Return ``value`` as ``enum_type`` where it is one of its values, else as an int."""
    try:
        return enum_type(value)
    except ValueError:
        return value


class MemGenError(Exception):
    """Base class of the client's errors; messages are one line naming the fix."""


class _StreamCorrupted(MemGenError):
    """A SAMPLE or READ stream whose bytes do not match the CRC-32 in its reply."""


class DeviceTimeout(MemGenError):
    """The device did not answer in time."""


class EchoError(MemGenError):
    """The port sends back the client's own requests: it is looped back, not a MemGEN
    device."""


class VersionMismatch(MemGenError):
    """The device speaks another protocol version."""


class DeviceError(MemGenError):
    """The device refused a command.

    Attributes
    ----------
    status : Status
    reply : dict
        The decoded status fields of the reply.
    """

    def __init__(self, message, status, reply):
        super().__init__(message)
        self.status = status
        self.reply = reply


@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """What INFO reports."""
    version: int
    state: State
    mode: Mode
    capacity: int
    record_size: int
    count: int
    write_ptr: int
    index_bits: int
    max_payload: int
    clk_freq: int
    baud: int
    header: bytes
    counters: dict
    uptime: int = 0
    memory: Memory = Memory.ON_CHIP
    leveling: Leveling = Leveling.NONE

    @property
    def seconds(self):
        """The device's own time since reset, from its cycle counter (simulated time on the
        virtual board)."""
        return self.uptime / self.clk_freq if self.clk_freq else 0.0

    @property
    def learned(self):
        """Records completely learned so far."""
        return self.write_ptr // self.record_size if self.record_size else 0

    @property
    def total(self):
        """Bytes of the training session (N times the record size)."""
        return self.count * self.record_size


class MemGen:
    """Client of a MemGEN device.

    Parameters
    ----------
    port : str or None
        Serial device or pyserial URL (``/dev/ttyUSB1``, ``COM5``, or the virtual board's
        :data:`hw.boards.facts.VBOARD_URL`); default ``$MEMGEN_PORT``, then auto-detection.
    baud : int or None
        Baud rate (default: the board builds', :data:`hw.boards.facts.DEFAULT_BAUD`).
    timeout : float
        Seconds of wall-clock time any wait for the device lasts at most before raising
        :exc:`DeviceTimeout`: a wait for a reply ends ``timeout`` seconds after its request was
        sent or after the last DATA frame that answered it, whatever else arrives meanwhile
        (noise, a boot log, frames for other requests). Discarding what a device still sends
        after an error lasts at most as long.
    link : host.link.Transport or None
        An already open link (``read``, ``write``, ``in_waiting``, optionally ``rate``);
        replaces ``port`` and ``baud``, and stays open when the client closes.
    retries : int
        How many times a frame is sent again after a link error (or, for commands that can be
        repeated safely, after its reply was lost) before giving up with :exc:`MemGenError`.
    window : int
        Bytes of LEARN data in flight before the first is acknowledged.
    check_version : bool
        Start the connection with :meth:`open` (a fresh link key, any stream a previous client
        left running ended, the device's INFO and the one version check: the tools use the
        answer, :attr:`opened_info`, rather than ask again). Without it the client speaks with
        link key 0, as a device has after reset.
    level : bool
        With ``check_version``, level the reads of a DDR3 store that INFO says needs it
        (:func:`host.leveling.level_on_connect`, from the board's cached result when it still
        reads right).

    Attributes
    ----------
    opened_info : DeviceInfo or None
        What the device reported to :meth:`open` as the client opened, or :py:`None` without
        ``check_version``.
    leveled : list of host.leveling.LaneResult or None
        The DDR3 read leveling set as the client opened, or :py:`None` if none was needed.

    Raises
    ------
    host.leveling.LevelingError
        If the store needs leveling and no read window is found.
    """

    def __init__(self, port=None, baud=None, *, timeout=2.0, link=None, retries=5,
                 window=16 * _LEARN_CHUNK, check_version=True, level=True):
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a non-negative integer, not {retries!r}")
        self._link = link if link is not None else open_link(port, baud)
        self._owns_link = link is None
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self._answered = False      # the device has answered at least once
        self.window = max(window, 1)
        self._exchange = Exchange()
        self._events = collections.deque()      # received, not yet handled
        self._max_count = None
        self._model = None
        self.opened_info = None
        self.leveled = None
        if check_version:
            try:
                self.opened_info = self.open()
                if level:
                    self.leveled = self._level(self.opened_info)
            except BaseException:
                self.close()
                raise

    # Context manager and cleanup: the port is released on every exit path.

    def close(self):
        """Close the link (if the client opened it)."""
        if self._owns_link and self._link is not None:
            try:
                self._link.close()
            finally:
                self._link = None

    def __enter__(self):
        return self

    @property
    def rate(self):
        """Payload bytes per second the link carries (its :attr:`host.link.Transport.rate`), or
        :py:`None` when the link does not say (a socket such as the virtual board's)."""
        return getattr(self._link, "rate", None)

    def __exit__(self, *exc):
        self.close()

    # Frame I/O: the requests and replies are :class:`hw.transaction.Exchange`'s; this client
    # moves the bytes, keeps the time and decides what to send again.

    def _write(self, data):
        if self._link is None:
            raise LinkError("the link is closed")
        try:
            self._link.write(data)
        except Exception as exc:        # pyserial raises several types for a dead port
            raise LinkError(f"cannot write to the device: {exc}; check the cable or "
                            f"that the virtual board is still running") from exc

    def _send(self, cmd, payload=b""):
        """Send a request; return its :class:`~hw.transaction.Request`, now pending."""
        request = self._exchange.request(cmd, payload)
        _log.debug("-> %s tag %d, %d bytes: %s", Command(cmd).name, request.tag, len(payload),
                   request.payload[:32].hex())
        self._write(request.frame)
        return request

    def _receive(self, deadline):
        """Return the next event of the exchange other than garbage, or raise
        :exc:`DeviceTimeout` once the wall clock (:func:`time.monotonic`) passes ``deadline``.

        The deadline is checked before every read, so after every read whatever it brought:
        neither bytes that form no frame nor frames that answer no request (a port that never
        stops talking) can keep a caller's wait alive, however many calls it takes.
        """
        skipped = 0
        while not self._events:
            if time.monotonic() >= deadline:
                raise DeviceTimeout(self._silence(skipped))
            if self._link is None:
                raise LinkError("the link is closed")
            try:
                # Ask for what completes the next frame: one read per frame, not per byte
                # (pyserial's socket handler reports at most 1 byte waiting).
                waiting = self._link.in_waiting
                data = self._link.read(max(self._exchange.wanted, min(waiting, 1 << 16)))
            except Exception as exc:
                raise LinkError(f"cannot read from the device: {exc}; check the cable or "
                                f"that the virtual board is still running") from exc
            for event in self._exchange.feed(data) if data else ():
                if isinstance(event, Garbage):
                    _log.debug("skipped %d bytes that are no frame", event.skipped)
                    skipped += event.skipped
                    continue
                if isinstance(event, Echo):
                    raise EchoError(
                        "the port echoes what it is sent: a loopback, a TX-RX jumper, or a "
                        "board without the MemGEN bitstream; check --port, or program the "
                        "board with `make program BOARD=...`")
                self._answered = True
                self._events.append(event)
        event = self._events.popleft()
        _log.debug("<- %r", event)
        return event

    def _silence(self, skipped):
        """Return the message for a wait that ended with no frame, ``skipped`` bytes that were
        no frame having arrived meanwhile."""
        hint = getattr(self._link, "unanswered", None)
        reason = hint() if hint is not None and not skipped and not self._answered else None
        if reason:
            return f"the device did not answer within {self.timeout:g} s; {reason}"
        if skipped:
            return (f"the device did not answer within {self.timeout:g} s, but the port sent "
                    f"{skipped} bytes that are no MemGEN frame; check --baud (the board's "
                    f"build baud) and --port, and that the board has the MemGEN bitstream")
        return (f"the device did not answer within {self.timeout:g} s; check --port and "
                f"--baud (the board's build baud), and that the board is programmed")

    def _transact(self, cmd, payload=b"", *, on_data=None, check=True):
        """Send one command and return its :class:`~hw.transaction.Response`.

        A frame rejected because of a link error is sent again, and so is one whose reply never
        comes if the command can safely be repeated (:data:`_IDEMPOTENT`) and the device has
        answered before (one that never has is reported at once: wrong port or baud), at most
        :attr:`retries` times. ``on_data`` receives the payload of each DATA frame; after
        a lost reply it may have received part of the data already, so the streaming commands
        pass one that starts over when ``on_data(None)`` is called.
        """
        name = Command(cmd).name if cmd in Command._value2member_map_ else f"{cmd:#04x}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            request = self._send(cmd, payload)
            if on_data is not None and attempt:
                on_data(None)
            try:
                response = self._reply_to(request, on_data)
            except DeviceTimeout:
                if last or cmd not in _IDEMPOTENT or not self._answered:
                    if attempt:
                        raise DeviceTimeout(
                            f"{name} failed: the device did not answer within "
                            f"{self.timeout:g} s, {attempt + 1} times in a row; check the "
                            f"cable and --baud") from None
                    raise
                _log.warning("no reply to %s within %g s; sending it again", name,
                             self.timeout)
                self._drain()
                continue
            st = response.status
            if st["status"] in _LINK_ERRORS:
                if last:
                    times = "once" if attempt == 0 else f"{attempt + 1} times in a row"
                    raise MemGenError(
                        f"{name} failed: {_STATUS_TEXT[st['status']]}, {times}; check the "
                        f"cable, or lower --baud")
                _log.warning("%s; sending %s again", _STATUS_TEXT[st["status"]], name)
                self._drain()
                continue
            if check and st["status"] != Status.OK:
                raise self._error(cmd, st)
            return response
        raise AssertionError("unreachable")

    def _reply_to(self, request, on_data, timeout=None):
        """Return the reply to ``request`` (a :class:`~hw.transaction.Response`, or the
        :class:`~hw.transaction.Unmatched` reply to it when its header was unreadable), passing
        its DATA payloads to ``on_data``. The request is no longer pending afterwards.

        The wait ends :attr:`timeout` seconds after the request was sent or after its last DATA
        frame; other frames do not extend it.
        """
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        try:
            while True:
                event = self._receive(deadline)
                if isinstance(event, Response) and event.request is request:
                    return event
                if isinstance(event, Data) and event.request is request:
                    deadline = time.monotonic() + timeout
                    if on_data is not None:
                        on_data(event.payload)
                    continue
                if (isinstance(event, Unmatched) and event.unreliable and
                        self._dropped_ours(request)):
                    return event
                _log.debug("ignoring a stale frame with tag %d", event.tag)
        finally:
            self._exchange.forget(request)

    def _dropped_ours(self, request, quiet=0.2):
        """After a reply to a frame whose header was unreadable: return whether that frame
        was ``request``, i.e. no reply to it follows within ``quiet`` seconds. A reply that
        does is put back."""
        deadline = time.monotonic() + quiet
        try:
            while True:
                event = self._receive(deadline)
                if isinstance(event, (Data, Response)) and event.request is request:
                    self._events.appendleft(event)
                    return False
        except DeviceTimeout:
            return True

    def _drain(self, quiet=0.05, limit=None):
        """Forget the requests in flight and discard whatever the device still sends until no
        frame arrives for ``quiet`` seconds, or for at most :attr:`timeout` seconds (or until
        the :func:`time.monotonic` time ``limit``)."""
        self._exchange.forget()
        end = time.monotonic() + self.timeout if limit is None else limit
        try:
            while time.monotonic() < end:
                self._receive(min(time.monotonic() + quiet, end))
        except DeviceTimeout:
            pass
        finally:
            self._events.clear()

    def _barrier(self):
        """Return INFO once every frame sent before it has been processed (the device answers
        in order), discarding the replies in between. Each attempt waits at most
        :attr:`timeout` seconds."""
        for _ in range(self.retries + 1):
            request = self._send(Command.INFO)
            deadline = time.monotonic() + self.timeout
            try:
                while True:
                    event = self._receive(deadline)
                    if isinstance(event, Response) and event.request is request:
                        if event.ok:
                            return self._device_info(event)
                        break
            except DeviceTimeout:
                continue
            finally:
                self._exchange.forget(request)
        raise DeviceTimeout("the device stopped answering while recovering from link errors; "
                            "check the cable and --baud")

    def _error(self, cmd, st):
        status = Status(st["status"])
        name = Command(cmd).name if cmd in Command._value2member_map_ else f"{cmd:#04x}"
        state = State(st["state"]).name.lower()
        text = f"{name} refused: {_STATUS_TEXT.get(status, status.name)}"
        if status == Status.OVERFLOW:
            text += (f" ({st['value']} bytes of capacity); use fewer or smaller records")
        elif status == Status.BAD_STATE and cmd == Command.SAMPLE:
            text = (f"the device has no finished model (state: {state}); train it first "
                    f"with `python -m host.train`")
        elif status == Status.BAD_STATE and cmd == Command.CSR:
            text += (f" (state: {state}): control registers are written only while nothing is "
                     f"learned; clear the device first")
        elif status == Status.BAD_STATE:
            text += f" (state: {state})"
        elif status == Status.CRC_MISMATCH:
            text += f" (device CRC-32 {st['value']:#010x}); train again"
        elif status == Status.UNKNOWN_COMMAND and cmd == Command.CSR:
            text = "CSR refused: this device's store has no control registers"
        return DeviceError(text, status, st)

    # Commands.

    @staticmethod
    def _device_info(response):
        """Return the :class:`DeviceInfo` of an INFO reply of this protocol version."""
        info = response.info
        if info is None:
            raise MemGenError("the device's INFO reply is too short; is this a MemGEN board?")
        return DeviceInfo(
            version=info["version"], state=State(info["state"]), mode=Mode(info["mode"]),
            capacity=info["capacity"], record_size=info["record_size"], count=info["count"],
            write_ptr=info["write_ptr"], index_bits=info["index_bits"],
            max_payload=info["max_payload"], clk_freq=info["clk_freq"], baud=info["baud"],
            header=info["header"], counters=info["counters"], uptime=info["uptime"],
            memory=_known(Memory, info["memory"]), leveling=_known(Leveling, info["leveling"]))

    def _level(self, info):
        """Level a DDR3 store's reads if INFO says it needs it (see ``level``)."""
        if info.leveling == Leveling.NONE:
            return None
        from .leveling import level_on_connect  # it imports this module

        return level_on_connect(self, info, port=self.port)

    def _quiet_time(self):
        """Seconds of silence the device needs before it takes an OPEN: its frame timeout,
        :data:`hw.protocol.FRAME_TIMEOUT_BYTES` byte times, with a margin (a quarter second
        on a link that does not say its rate, such as the virtual board's socket)."""
        rate = self.rate
        return 1.25 * protocol.FRAME_TIMEOUT_BYTES / rate + 0.01 if rate else 0.25

    def open(self):
        """Start a connection and return the device's :class:`DeviceInfo`.

        Sends OPEN with a fresh random link key: the device ends any SAMPLE or READ a previous
        client left streaming, and from its reply on, every frame both ways is checked with
        the key, so that a frame inside another frame's data (or a previous client's late
        frames) passes with probability 2**-32. The device takes an OPEN only after the line was
        silent for its frame timeout: if it answers ``NOT_QUIET``, or not at all within
        half a second (it may be taking the bytes as the rest of a frame a killed client left
        unfinished), the client stays silent that long, discarding what arrives, and sends
        the OPEN again. The whole wait lasts at most :attr:`timeout` seconds.

        Raises
        ------
        DeviceTimeout
            If the device does not answer.
        VersionMismatch
            If it speaks another protocol version.
        """
        key = secrets.randbits(32) or 1
        payload = protocol.pack_fields(protocol.OPEN_FIELDS, key=key)
        end = time.monotonic() + self.timeout
        first, errors = True, 0
        while True:
            left = end - time.monotonic()
            request = self._send(Command.OPEN, payload)
            try:
                response = self._reply_to(
                    request, None, min(left, _FIRST_OPEN_WAIT) if first else left)
            except DeviceTimeout:
                if not first or left <= _FIRST_OPEN_WAIT:
                    raise
                response = None
            status = None if response is None else response.status["status"]
            if status == Status.OK and response.status["value"] == key:
                break
            if status == Status.OK:
                status = None   # an OPEN reply with another key: not this OPEN's, wait again
            if status in _LINK_ERRORS:
                errors += 1
                if errors > self.retries:
                    times = "once" if errors == 1 else f"{errors} times in a row"
                    raise MemGenError(f"OPEN failed: {_STATUS_TEXT[status]}, {times}; check "
                                      f"the cable, or lower --baud")
                _log.warning("%s; sending OPEN again", _STATUS_TEXT[status])
                end = time.monotonic() + self.timeout
            elif status not in (None, Status.NOT_QUIET):
                raise self._error(Command.OPEN, response.status)
            elif not first:
                raise DeviceTimeout(f"the line never fell silent for OPEN within "
                                    f"{self.timeout:g} s: another program may be writing to "
                                    f"the port; close it, or raise --timeout")
            else:
                first = False
            _log.info("waiting for a silent line before OPEN")
            self._drain(quiet=self._quiet_time(), limit=end)
        if response.version != protocol.VERSION:
            raise VersionMismatch(
                f"the device speaks protocol version {response.version}, this host "
                f"{protocol.VERSION}; rebuild the bitstream or update the host")
        self._exchange.key = key
        info = self._device_info(response)
        self._max_count = info.capacity
        return info

    def info(self):
        """Return a :class:`DeviceInfo`."""
        response = self._transact(Command.INFO)
        if response.version is None:
            raise MemGenError("the device's INFO reply is too short; is this a MemGEN board?")
        if response.version != protocol.VERSION:
            return DeviceInfo(version=response.version, state=State.EMPTY,
                              mode=Mode.RANDOM, capacity=0, record_size=0, count=0,
                              write_ptr=0, index_bits=0, max_payload=0, clk_freq=0, baud=0,
                              header=b"", counters={})
        info = self._device_info(response)
        self._max_count = info.capacity
        return info

    def csr_read(self, address):
        """Return the store's 32-bit control register at word ``address``.

        Raises
        ------
        DeviceError
            If the store has no control bus (``UNKNOWN_COMMAND``), the address is past it
            (``BAD_ARGUMENT``), or a SAMPLE or READ is streaming (``BUSY``).
        """
        payload = protocol.pack_fields(protocol.CSR_FIELDS, write=protocol.CSR_READ,
                                       address=address)
        return self._transact(Command.CSR, payload).status["value"]

    def csr_write(self, address, value):
        """Write ``value`` (32 bits) to the store's control register at word ``address``.

        Raises
        ------
        DeviceError
            As :meth:`csr_read`, and ``BAD_STATE`` unless the state is EMPTY: a register
            write could change how the memory reads back what was learned.
        """
        payload = protocol.pack_fields(protocol.CSR_FIELDS, write=protocol.CSR_WRITE,
                                       address=address, value=value)
        self._transact(Command.CSR, payload)

    def clear(self):
        """Forget the model."""
        self._transact(Command.CLEAR)

    def begin(self, record_size, count, header=b""):
        """Start a training session of ``count`` records of ``record_size`` bytes; the device
        refuses it (and keeps its current model) if it does not fit."""
        self._transact(Command.BEGIN, protocol.begin_request(record_size, count, header))

    def learn(self, data, offset=0, *, progress=None):
        """Send ``data`` to be stored from byte ``offset`` (the device's write pointer),
        pipelined: up to :attr:`window` bytes are in flight. Frames lost or corrupted on the link
        are sent again from the device's write pointer. Returns the new write pointer.

        ``progress`` is called with the number of bytes newly acknowledged.
        """
        data = memoryview(bytes(data))
        end = offset + len(data)
        base = offset
        acked = offset
        sent = offset
        # Requests left pending when this raises are forgotten when their tags come round again.
        inflight = collections.deque()      # (request, offset, length)
        failures = 0
        while acked < end:
            while sent < end and sent - acked < self.window:
                length = min(_LEARN_CHUNK, end - sent)
                payload = protocol.pack_fields(protocol.LEARN_FIELDS, offset=sent)
                request = self._send(Command.LEARN,
                                     payload + data[sent - base:sent - base + length])
                inflight.append((request, sent, length))
                sent += length
            request, frame_offset, length = inflight[0]
            try:
                event = self._receive(time.monotonic() + self.timeout)
            except DeviceTimeout:
                event = None    # lost without a trace (e.g. its sync marker was corrupted)
            # Replies carry a status, whichever request they answer; DATA frames do not.
            st = event.status if isinstance(event, (Response, Unmatched)) else None
            if (isinstance(event, Response) and event.request is request and
                    st["status"] == Status.OK):
                inflight.popleft()
                if progress is not None:
                    progress(st["write_ptr"] - acked)
                acked = st["write_ptr"]
                continue
            if st is not None and st["status"] in (Status.BAD_STATE, Status.OVERFLOW):
                raise self._error(Command.LEARN, st)
            # A lost, corrupted or out-of-order frame: wait until the device has seen everything
            # in flight, then go back to its write pointer.
            failures += 1
            if failures > self.retries * max(1, len(data) // _LEARN_CHUNK + 1):
                raise MemGenError("too many frames lost on the link; check the cable, or "
                                  "lower --baud")
            _log.warning("learn frame at offset %d not acknowledged (%s); resending from the "
                         "device's write pointer", frame_offset,
                         Status(st["status"]).name if st else "no reply")
            info = self._barrier()
            if info.state != State.LEARNING:
                raise MemGenError(f"the device left the training session (state: "
                                  f"{info.state.name.lower()}); train again")
            if not base <= info.write_ptr <= end:
                raise MemGenError(f"the device's write pointer {info.write_ptr} is outside "
                                  f"this data ({base}..{end}); train again")
            if progress is not None and info.write_ptr > acked:
                progress(info.write_ptr - acked)
            acked = sent = info.write_ptr
            for request, _, _ in inflight:
                self._exchange.forget(request)
            inflight.clear()
        return acked

    def commit(self, crc):
        """Finish training if the session's CRC-32 is ``crc`` (:func:`hw.protocol.session_crc`:
        over BEGIN's payload, then the learned bytes, so that a session whose BEGIN was
        replaced fails); return the device's.

        COMMIT cannot simply be sent again when its reply is lost: a second one is refused once
        the first has finished the model. The device is asked where it is instead: a finished
        model is confirmed by its checksum, an unfinished one gets the COMMIT again.
        """
        payload = protocol.pack_fields(protocol.COMMIT_FIELDS, crc32=crc)
        try:
            st = self._transact(Command.COMMIT, payload).status
        except DeviceTimeout:
            if not self._answered:
                raise
            _log.warning("no reply to COMMIT; asking the device whether it was applied")
            info = self._barrier()
            if info.state == State.READY:
                return self.checksum()[0]
            if info.state != State.LEARNING or info.write_ptr != info.total:
                raise
            st = self._transact(Command.COMMIT, payload).status
        return st["value"]

    def checksum(self):
        """Return ``(crc32, write_ptr)``: the session's CRC-32
        (:func:`hw.protocol.session_crc`) over the bytes learned so far, and their number."""
        st = self._transact(Command.CHECKSUM).status
        return st["value"], st["write_ptr"]

    def seed(self, mode, seed):
        """Restart the address generator with ``mode`` and a 64-bit ``seed``."""
        mode = Mode[mode.upper()] if isinstance(mode, str) else Mode(mode)
        if not 0 <= seed < 1 << 64:
            raise ValueError(f"seed must be from 0 to 2**64-1, not {seed}")
        self._transact(Command.SEED, protocol.pack_fields(protocol.SEED_FIELDS, mode=mode,
                                                          seed=seed))
        self._model = (mode, seed, 0)

    def abort(self):
        """End a SAMPLE or READ the device is streaming, and discard what it still sends.
        Returns once the device has answered, or after at most :attr:`timeout` seconds."""
        request = self._send(Command.ABORT)
        end = time.monotonic() + self.timeout
        try:
            self._reply_to(request, None)
        except (DeviceTimeout, LinkError):
            pass
        self._drain(limit=end)

    def _stream(self, cmd, payload, size, progress):
        """Send a SAMPLE or READ and return its bytes, checked against the CRC-32 in its
        reply (:exc:`_StreamCorrupted` if they differ). Interrupted (Ctrl-C), it aborts the
        stream before it passes the interrupt on, so the device is ready for the next
        client."""
        chunks = []

        def on_data(chunk):
            if chunk is None:       # the command is sent again: start over
                if progress is not None and chunks:
                    progress(-sum(len(c) for c in chunks))
                chunks.clear()
                return
            chunks.append(chunk)
            if progress is not None:
                progress(len(chunk))

        try:
            response = self._transact(cmd, payload, on_data=on_data)
        except KeyboardInterrupt:
            _log.info("interrupted: aborting the stream")
            self.abort()
            raise
        data = b"".join(chunks)
        if progress is not None and (len(data) != size or
                                     protocol.crc32(data) != response.status["value"]):
            progress(-len(data))
        if len(data) != size:
            raise _StreamCorrupted(f"expected {size} bytes from the device, got {len(data)} "
                                   f"(frames lost on the link); try again, or lower --baud")
        if protocol.crc32(data) != response.status["value"]:
            raise _StreamCorrupted(f"the {size} bytes received do not match the device's "
                                   f"CRC-32; check the cable, or lower --baud")
        return data

    def _checked(self, fetch, what):
        """Return ``fetch()``, called again (at most :attr:`retries` times) while its stream
        arrives damaged."""
        for attempt in range(self.retries + 1):
            try:
                return fetch()
            except _StreamCorrupted as exc:
                if attempt == self.retries:
                    raise MemGenError(f"{what} failed {attempt + 1} times: {exc}") from None
                _log.warning("%s arrived damaged (%s); asking again", what, exc)
        raise AssertionError("unreachable")

    def _read_indices(self, indices, record_size):
        """Return the records at ``indices``, read in runs of consecutive indices."""
        out = []
        start = 0
        for i in range(1, len(indices) + 1):
            if i == len(indices) or indices[i] != indices[i - 1] + 1:
                first, count = indices[start], i - start
                payload = protocol.pack_fields(protocol.READ_FIELDS, index=first, count=count)
                out.append(self._checked(
                    lambda payload=payload, count=count: self._stream(
                        Command.READ, payload, count * record_size, None), "READ"))
                start = i
        return b"".join(out)

    def sample(self, n, mode=None, seed=None, *, record_size=None, progress=None):
        """Return the next ``n`` samples as one bytes object (``n`` records back to back).

        With ``mode`` (and ``seed``, default 0) the address generator restarts first, so a run
        is reproducible; without, sampling continues the current sequence.
        """
        if mode is not None:
            self.seed(mode, 0 if seed is None else seed)
        if record_size is None:
            record_size = self.info().record_size
        out = []
        batch = max(1, min(n, (protocol.MAX_STREAM_BYTES - 1) // max(record_size, 1),
                           _SAMPLE_BATCH_BYTES // max(record_size, 1)))
        done = 0
        while done < n:
            k = min(batch, n - done)
            out.append(self._sample_batch(k, record_size, progress))
            done += k
        return b"".join(out)

    def _sample_batch(self, k, record_size, progress):
        """SAMPLE ``k`` records. A batch that arrives damaged is fetched again: by READ at the
        indices the address generator's model predicts, when the client knows its state (after
        :meth:`seed`), so that the sequence stays the device's; in random mode without, by a
        new SAMPLE (whether a batch is damaged does not depend on its records, so this keeps
        the samples uniform)."""
        payload = protocol.pack_fields(protocol.SAMPLE_FIELDS, count=k)
        try:
            data = self._stream(Command.SAMPLE, payload, k * record_size, progress)
        except _StreamCorrupted as exc:
            if self._model is not None:
                _log.warning("samples arrived damaged (%s); reading them again by index", exc)
                data = self._read_indices(self.predict(k, self.info().count), record_size)
            elif self.info().mode == Mode.RANDOM:
                _log.warning("samples arrived damaged (%s); sampling again", exc)
                data = self._checked(lambda: self._stream(
                    Command.SAMPLE, payload, k * record_size, None), "SAMPLE")
            else:
                raise MemGenError(f"{exc}; the sequence cannot be resumed (seed it to make "
                                  f"it repeatable)") from None
            if progress is not None:
                progress(len(data))
        if self._model is not None:
            self._model = (*self._model[:2], self._model[2] + k)
        return data

    def predict(self, n, count):
        """Return the indices the next ``n`` samples will have, from the software model of
        the address generator (after :meth:`seed`)."""
        if self._model is None:
            raise MemGenError("call seed() first: the generator's state is unknown")
        mode, seed, done = self._model
        model = AddressGeneratorModel(self._max_count or count)
        model.restart(mode, seed, count)
        for _ in range(done):
            model.next()
        return model.take(n)

    def read(self, index, count=1, *, record_size=None, progress=None):
        """Return records ``index .. index + count - 1`` back to back."""
        if record_size is None:
            record_size = self.info().record_size
        payload = protocol.pack_fields(protocol.READ_FIELDS, index=index, count=count)
        return self._checked(lambda: self._stream(Command.READ, payload, count * record_size,
                                                  progress), "READ")

    def train(self, records, record_size, header=b"", *, offset=0, progress=None):
        """Learn ``records`` (the concatenated bytes of ``len(records) // record_size``
        records) in one session and commit it after checking the device's CRC-32 against
        ours. Returns the session's CRC-32 (:func:`hw.protocol.session_crc`).

        The session is one pipeline: BEGIN, the LEARN frames (up to :attr:`window` bytes in
        flight) and COMMIT go out without waiting for each other's replies, so a session costs
        one round trip, not three. Should any reply be other than OK (a frame lost or damaged
        on the link), the client waits until the device has seen everything sent, and finishes
        the session step by step from where the device is (:meth:`begin`, :meth:`learn`,
        :meth:`commit`, each with its own recovery); nothing is committed that fails the
        session's CRC-32.

        ``offset``: resume an unfinished session of the same records whose first ``offset``
        bytes the device already holds (its :meth:`checksum` checked by the caller): no BEGIN,
        LEARN from ``offset``.

        Raises
        ------
        ValueError
            If ``records`` is not a whole number of records, or ``offset`` is outside it.
        DeviceError
            If the device refuses the session (it does not fit, or the CRC-32 differs).
        """
        records = bytes(records)
        if record_size < 1 or len(records) % record_size:
            raise ValueError(f"{len(records)} bytes are not a whole number of "
                             f"{record_size}-byte records")
        if not 0 <= offset <= len(records):
            raise ValueError(f"offset {offset} is outside the {len(records)} bytes")
        count = len(records) // record_size
        begin = protocol.begin_payload(record_size, count, header)
        crc = protocol.session_crc(begin, records)
        acked = [offset]

        def counted(n):
            acked[0] += n
            if progress is not None:
                progress(n)

        request = None if offset else protocol.begin_request(record_size, count, header)
        device_crc = self._pipelined_session(request, records, offset, crc, counted)
        if device_crc is not None:
            return device_crc
        # Something was lost on the way: go on from what the device holds.
        if progress is not None and acked[0] > offset:
            progress(offset - acked[0])
        self._drain()
        info = self._barrier()
        ours = (info.record_size, info.count, info.header) == (record_size, count,
                                                           begin[_BEGIN_ARGS_SIZE:])
        start = info.write_ptr if ours and info.write_ptr <= len(records) else None
        if start is not None and self.checksum() != (
                protocol.session_crc(begin, records[:start]), start):
            start = None
        if start is not None and info.state == State.READY:
            if start == len(records):
                if progress is not None:
                    progress(len(records) - offset)
                return crc      # the COMMIT went through; its reply was lost
            start = None
        if start is None or info.state != State.LEARNING:
            self.begin(record_size, count, header)
            start = 0
        if progress is not None:
            progress(start - offset)
        self.learn(records[start:], start, progress=progress)
        return self.commit(crc)

    def _pipelined_session(self, begin, records, offset, crc, progress):
        """Send BEGIN (unless ``begin`` is :py:`None`), LEARN ``records`` from ``offset`` and
        COMMIT ``crc`` without waiting between them; return the device's CRC-32 if every reply
        was OK, or :py:`None` at the first that was not (the requests still in flight are
        forgotten; the caller drains the link). Refusals that sending again cannot change
        (BEGIN's ``OVERFLOW``, COMMIT's ``CRC_MISMATCH`` after every frame was acknowledged)
        raise :exc:`DeviceError`."""
        data = memoryview(records)
        end = len(data)
        pending = collections.deque()       # (request, command)
        if begin is not None:
            pending.append((self._send(Command.BEGIN, begin), Command.BEGIN))
        sent = acked = offset
        committing = False
        try:
            while True:
                while sent < end and sent - acked < self.window:
                    length = min(_LEARN_CHUNK, end - sent)
                    payload = protocol.pack_fields(protocol.LEARN_FIELDS, offset=sent)
                    pending.append((self._send(Command.LEARN, payload + data[sent:sent + length]),
                                    Command.LEARN))
                    sent += length
                if sent == end and not committing:
                    payload = protocol.pack_fields(protocol.COMMIT_FIELDS, crc32=crc)
                    pending.append((self._send(Command.COMMIT, payload), Command.COMMIT))
                    committing = True
                request, cmd = pending[0]
                try:
                    event = self._receive(time.monotonic() + self.timeout)
                except DeviceTimeout:
                    if not self._answered:
                        raise
                    return None
                if not isinstance(event, Response) or event.request is not request:
                    _log.warning("%s not acknowledged; finishing the session step by step",
                                 cmd.name)
                    return None
                st = event.status
                if st["status"] != Status.OK:
                    final = (Status.OVERFLOW, Status.BAD_ARGUMENT, Status.BAD_LENGTH)
                    if ((cmd == Command.BEGIN and st["status"] in final) or
                            st["status"] == Status.CRC_MISMATCH):
                        self._drain()
                        raise self._error(cmd, st)
                    _log.warning("%s answered %s; finishing the session step by step",
                                 cmd.name, _STATUS_TEXT.get(st["status"], st["status"]))
                    return None
                pending.popleft()
                self._exchange.forget(request)
                if cmd == Command.LEARN:
                    progress(st["write_ptr"] - acked)
                    acked = st["write_ptr"]
                elif cmd == Command.COMMIT:
                    return st["value"]
        finally:
            for request, _ in pending:
                self._exchange.forget(request)
