# SPDX-License-Identifier: BSD-2-Clause
"""Reference model of the frame receiver and the command processor (:mod:`hw.engine.cmdproc`).

Standard library only.
"""

import copy
import dataclasses
import enum

from .. import protocol
from ..protocol import Command, Counter, Mode, Reply, State, Status
from ..sampler.addrgen_model import AddressGeneratorModel

__all__ = ["ExpectedFrame", "DeviceModel", "describe_frame"]

_STATUS_SIZE = protocol.fields_size(protocol.STATUS_FIELDS)
_LENGTHS = protocol.REQUEST_LENGTHS


def _field_range(fields, name, base=0):
    offset = base
    for field, size in fields:
        if field == name:
            return (offset, offset + size)
        offset += size
    raise KeyError(name)


_VALUE = _field_range(protocol.STATUS_FIELDS, "value")
_STATUS_CMD = _field_range(protocol.STATUS_FIELDS, "cmd")
_UPTIME = _field_range(protocol.INFO_FIELDS, "uptime", _STATUS_SIZE)
#: Error replies whose ``value`` the protocol defines.
_DEFINED_VALUES = {(Command.BEGIN, Status.OVERFLOW), (Command.COMMIT, Status.CRC_MISMATCH)}


@dataclasses.dataclass(frozen=True)
class ExpectedFrame:
    """A frame the model expects from the device.

    ``cmd`` and ``tag`` are :py:`None` when they cannot be known: a frame dropped in its header
    is answered with whatever bytes the receiver's header register holds, and after a case the
    model could not follow those are unknown (the status's ``cmd`` byte is then in ``ignore``).
    ``ignore`` lists ``(start, stop)`` payload ranges not compared: INFO's ``uptime``, and the
    ``value`` of error replies where the protocol does not define it.
    """
    cmd: int | None
    tag: int | None
    payload: bytes
    ignore: tuple = ()

    def matches(self, frame):
        """Return whether a received :class:`protocol.Frame` is this one."""
        if len(frame.payload) != len(self.payload):
            return False
        if self.cmd is None:
            if not frame.cmd & Reply.REPLY:
                return False
        elif (frame.cmd, frame.tag) != (self.cmd, self.tag):
            return False
        got, want = bytearray(frame.payload), bytearray(self.payload)
        for start, stop in self.ignore:
            got[start:stop] = want[start:stop]
        return got == want

    def describe(self):
        """Return a one-line description."""
        return describe_frame(self.cmd, self.tag, self.payload)


def describe_frame(cmd, tag, payload):
    if cmd == Reply.DATA:
        return f"DATA tag {tag}, {len(payload)} bytes"
    what = "?" if cmd is None else f"{cmd:#04x}"
    if len(payload) >= _STATUS_SIZE:
        st = protocol.unpack_fields(protocol.STATUS_FIELDS, payload)
        status = Status(st["status"]).name if st["status"] in Status._value2member_map_ \
            else f"{st['status']:#04x}"
        return (f"reply {what} tag {tag}: {status} state {st['state']} count {st['count']} "
                f"write_ptr {st['write_ptr']} value {st['value']:#x} "
                f"({len(payload)} bytes)")
    return f"frame {what} tag {tag}, {len(payload)} bytes"


class _Rx(enum.Enum):
    SYNC_0  = 0
    SYNC_1  = 1
    HEADER  = 2
    PAYLOAD = 3
    TRAILER = 4


class DeviceModel:
    """Reference model of the device behind the UART, from ``docs/protocol.md``.

    Feed it the bytes the UART receiver delivers (:meth:`feed`), tell it when the line stayed
    idle for longer than the frame timeout (:meth:`timeout`) and when the UART saw a framing
    error (:meth:`framing_error`); it appends the frames the device must send to :attr:`out`
    and keeps the counters, state, store and header the device must have.

    The receiver hunts ``a5 5a`` (a repeated ``a5`` keeps it armed), checks the header's CRC-8
    before trusting the length, drops a frame longer than ``MAX_PAYLOAD`` at once (its payload
    is then hunted for the next sync marker), checks the CRC-16, and drops a frame left idle.
    The command processor applies a frame only after its CRC passes.

    Parameters
    ----------
    capacity : int
        Store size in bytes.
    clk_freq, baud, index_bits : int
        What INFO reports.
    """

    def __init__(self, *, capacity, clk_freq, baud, index_bits):
        self.capacity = capacity
        self.clk_freq = clk_freq
        self.baud = baud
        self.index_bits = index_bits
        # Receiver.
        self.rx = _Rx.SYNC_0
        self.hdr = [0] * 5          # the receiver's header shift register; None: unknown
        self._index = 0
        self._frame = bytearray()   # bytes after the sync marker, for the CRC-16
        self._length = 0
        # Command processor.
        self.state = State.EMPTY
        self.mode = Mode.RANDOM
        self.seed = 0
        self.record_size = 0
        self.count = 0
        self.total = 0
        self.write_ptr = 0
        self.store = bytearray(capacity)
        self.header = bytes(protocol.HEADER_SIZE)
        self.counters = [0] * len(Counter)
        self.gen = None
        self._cmd = 0
        self._tag = 0
        #: Frames the device must send, in order.
        self.out = []
        #: ``(cmd, tag, payload)`` of every frame that passed its CRC-16.
        self.accepted = []

    def clone(self):
        """Return an independent copy."""
        return copy.deepcopy(self)

    @property
    def midframe(self):
        """Whether the receiver is inside a frame (a timeout would end it)."""
        return self.rx != _Rx.SYNC_0

    # Receiver.

    def feed(self, data):
        """Process bytes delivered by the UART receiver."""
        for byte in data:
            self._byte(byte)

    def _byte(self, byte):
        rx = self.rx
        if rx == _Rx.SYNC_0:
            if byte == protocol.SYNC[0]:
                self.rx = _Rx.SYNC_1
        elif rx == _Rx.SYNC_1:
            if byte == protocol.SYNC[1]:
                self.rx = _Rx.HEADER
                self._index = 0
                self._frame = bytearray()
            elif byte != protocol.SYNC[0]:
                self.rx = _Rx.SYNC_0
        elif rx == _Rx.HEADER:
            self.hdr = [*self.hdr[1:], byte]
            self._frame.append(byte)
            self._index += 1
            if self._index == 5:
                self._check_header()
        elif rx == _Rx.PAYLOAD:
            self._frame.append(byte)
            self._index += 1
            if self._index == self._length:
                self.rx = _Rx.TRAILER
                self._index = 0
        else:
            self._frame.append(byte)
            self._index += 1
            if self._index == 2:
                self.rx = _Rx.SYNC_0
                ok = protocol.crc16(bytes(self._frame)) == 0
                self._end(Status.OK if ok else Status.FRAME_CRC)

    def _check_header(self):
        head = bytes(self.hdr)
        self.rx = _Rx.SYNC_0
        if protocol.crc8(head) != 0:
            self._reply(Status.HEADER_CRC, header=(head[0], head[1]))
            return
        self._cmd, self._tag = head[0], head[1]
        self._length = head[2] | head[3] << 8
        self._index = 0
        if self._length > protocol.MAX_PAYLOAD:
            self._reply(Status.BAD_LENGTH)
        elif self._length == 0:
            self.rx = _Rx.TRAILER
        else:
            self.rx = _Rx.PAYLOAD

    def timeout(self):
        """The line stayed idle for longer than the frame timeout."""
        rx, self.rx = self.rx, _Rx.SYNC_0
        if rx == _Rx.HEADER:
            self._reply(Status.TRUNCATED, header=(self.hdr[0], self.hdr[1]))
        elif rx in (_Rx.PAYLOAD, _Rx.TRAILER):
            self._reply(Status.TRUNCATED)

    def framing_error(self):
        """The UART receiver saw a low stop bit (and dropped the byte)."""
        self.counters[Counter.FRAMING_ERRORS] += 1

    def forget_header_register(self):
        """Bytes the model did not see went through the receiver's header register."""
        self.hdr = [None] * 5

    # Command processor.

    def _end(self, status):
        payload = bytes(self._frame[5:5 + self._length])
        if status != Status.OK:
            self._reply(status)
            return
        self.accepted.append((self._cmd, self._tag, payload))
        if self._cmd not in Command._value2member_map_:
            self._reply(Status.UNKNOWN_COMMAND)
            return
        cmd = Command(self._cmd)
        size = _LENGTHS[cmd]
        if len(payload) < size or (cmd != Command.LEARN and len(payload) != size):
            self._reply(Status.BAD_LENGTH)
            return
        getattr(self, f"_do_{cmd.name.lower()}")(payload)

    def _reply(self, status, value=0, *, header=None, info=False):
        # A frame dropped before its header was valid is answered with the header register's
        # bytes; None where the model does not know them.
        if header is not None:
            self._cmd, self._tag = header
        counter = {Status.OK: Counter.FRAMES_OK, Status.HEADER_CRC: Counter.HEADER_ERRORS,
                   Status.FRAME_CRC: Counter.CRC_ERRORS,
                   Status.TRUNCATED: Counter.TIMEOUT_ERRORS}.get(status, Counter.REJECTED)
        self.counters[counter] += 1
        unknown = self._cmd is None or self._tag is None
        payload = protocol.pack_fields(
            protocol.STATUS_FIELDS, status=status, cmd=0 if unknown else self._cmd,
            state=self.state, mode=self.mode, count=self.count, write_ptr=self.write_ptr,
            value=value)
        ignore = []
        if status != Status.OK and self._cmd != Command.LEARN and \
                (self._cmd, status) not in _DEFINED_VALUES:
            ignore.append(_VALUE)
        if unknown:
            ignore.append(_STATUS_CMD)
        if info:
            ignore.append(_UPTIME)
            payload += protocol.pack_fields(
                protocol.INFO_FIELDS, version=protocol.VERSION, index_bits=self.index_bits,
                max_payload=protocol.MAX_PAYLOAD, capacity=self.capacity,
                record_size=self.record_size, clk_freq=self.clk_freq, baud=self.baud,
                header_size=protocol.HEADER_SIZE,
                **{f"counter_{c.name.lower()}": self.counters[c] for c in Counter})
            payload += self.header
        if unknown:
            self.out.append(ExpectedFrame(None, None, payload, tuple(ignore)))
        else:
            self.out.append(ExpectedFrame(Reply.REPLY | (self._cmd & 0x7f), self._tag, payload,
                                          tuple(ignore)))

    def _stream(self, data):
        for i in range(0, len(data), protocol.MAX_PAYLOAD):
            self.out.append(ExpectedFrame(Reply.DATA, self._tag,
                                          bytes(data[i:i + protocol.MAX_PAYLOAD])))

    def _restart(self):
        if self.state == State.READY:
            self.gen = AddressGeneratorModel(self.capacity)
            self.gen.restart(self.mode, self.seed, self.count)

    def _do_info(self, payload):
        self._reply(Status.OK, info=True)

    def _do_clear(self, payload):
        self.state = State.EMPTY
        self.record_size = self.count = self.total = self.write_ptr = 0
        self._reply(Status.OK)

    def _do_begin(self, payload):
        args = protocol.unpack_fields(protocol.BEGIN_FIELDS, payload)
        size, count = args["record_size"], args["count"]
        if size == 0 or count == 0:
            self._reply(Status.BAD_ARGUMENT)
        elif size * count > self.capacity:
            self._reply(Status.OVERFLOW, self.capacity)
        else:
            self.state = State.LEARNING
            self.record_size, self.count, self.total = size, count, size * count
            self.write_ptr = 0
            self.header = bytes(payload[8:8 + protocol.HEADER_SIZE])
            self._reply(Status.OK)

    def _do_learn(self, payload):
        offset = protocol.unpack_fields(protocol.LEARN_FIELDS, payload)["offset"]
        data = payload[4:]
        if self.state != State.LEARNING:
            status = Status.BAD_STATE
        elif offset != self.write_ptr:
            status = Status.OUT_OF_ORDER
        elif self.write_ptr + len(data) > self.total:
            status = Status.OVERFLOW
        else:
            status = Status.OK
            self.store[self.write_ptr:self.write_ptr + len(data)] = data
            self.write_ptr += len(data)
        self._reply(status, self.write_ptr)

    def _crc(self, length):
        return protocol.crc32(bytes(self.store[:length]))

    def _do_commit(self, payload):
        crc = protocol.unpack_fields(protocol.COMMIT_FIELDS, payload)["crc32"]
        if self.state != State.LEARNING or self.write_ptr != self.total:
            self._reply(Status.BAD_STATE)
            return
        device_crc = self._crc(self.total)
        if device_crc != crc:
            self._reply(Status.CRC_MISMATCH, device_crc)
            return
        self.state = State.READY
        self._restart()
        self._reply(Status.OK, device_crc)

    def _do_checksum(self, payload):
        self._reply(Status.OK, self._crc(self.write_ptr))

    def _do_seed(self, payload):
        args = protocol.unpack_fields(protocol.SEED_FIELDS, payload)
        if args["mode"] > max(Mode):
            self._reply(Status.BAD_ARGUMENT)
            return
        self.mode, self.seed = Mode(args["mode"]), args["seed"]
        self._restart()
        self._reply(Status.OK)

    def _records(self, indices):
        size = self.record_size
        return b"".join(bytes(self.store[i * size:(i + 1) * size]) for i in indices)

    def _do_sample(self, payload):
        count = protocol.unpack_fields(protocol.SAMPLE_FIELDS, payload)["count"]
        if self.state != State.READY:
            self._reply(Status.BAD_STATE)
        elif count * self.record_size >> 31:
            # One SAMPLE streams less than 2**31 bytes (docs/protocol.md).
            self._reply(Status.BAD_ARGUMENT, count)
        else:
            self._stream(self._records(self.gen.take(count)))
            self._reply(Status.OK, count)

    def _do_read(self, payload):
        args = protocol.unpack_fields(protocol.READ_FIELDS, payload)
        index, count = args["index"], args["count"]
        if self.state == State.EMPTY:
            self._reply(Status.BAD_STATE)
        elif (index + count) * self.record_size > self.write_ptr or index + count >> 31:
            self._reply(Status.BAD_ARGUMENT)
        else:
            self._stream(self._records(range(index, index + count)))
            self._reply(Status.OK, count)
