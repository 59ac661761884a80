# SPDX-License-Identifier: BSD-2-Clause
"""Reference model of the frame receiver (:mod:`hw.framing.receiver`) and the command processor
(:mod:`hw.engine.cmdproc`), written from ``docs/protocol.md``.

Standard library only, like the sampler's models beside their gateware: bytes in, the exact reply
frames out. The fault-injection campaign (:mod:`sim.fuzz`) checks every reply of the virtual
board against it, and ``tests/test_cmdproc_model.py`` checks it against the protocol's rules.
"""

import copy
import dataclasses

from .. import protocol
from ..protocol import Command, Counter, Leveling, Memory, Mode, Reply, State, Status
from ..sampler.addrgen_model import AddressGeneratorModel

__all__ = ["CommandProcessorModel", "ExpectedFrame", "describe_frame"]


def _payload_range(fields, name, base=0):
    offset, size = protocol.field_offset(fields, name)
    return (base + offset, base + offset + size)


#: Payload ranges of a reply that a comparison may leave out.
_VALUE = _payload_range(protocol.STATUS_FIELDS, "value")
_STATUS_CMD = _payload_range(protocol.STATUS_FIELDS, "cmd")
_UPTIME = _payload_range(protocol.INFO_FIELDS, "uptime", protocol.STATUS_SIZE)
#: Error replies whose ``value`` the protocol defines; the others' is left open.
_DEFINED_VALUES = {(Command.BEGIN, Status.OVERFLOW), (Command.COMMIT, Status.CRC_MISMATCH)}
#: The gateware's multiplier takes 31-bit operands: a READ of 2**31 records or more is refused.
_OPERAND_LIMIT = 1 << 31


@dataclasses.dataclass(frozen=True)
class ExpectedFrame:
    """A frame the model expects from the device.

    Attributes
    ----------
    cmd : int or None
        The frame's CMD byte; :py:`None` when it cannot be known (see below).
    tag : int or None
        The frame's TAG byte; :py:`None` when it cannot be known.
    payload : bytes
        The payload; for a reply, the status fields first.
    ignore : tuple of (int, int)
        ``(start, stop)`` payload ranges not compared: INFO's ``uptime``, and the ``value`` of
        error replies where the protocol does not define it.

    A frame dropped in its header is answered with whatever bytes the receiver's header register
    holds. After bytes the model could not follow (see
    :meth:`CommandProcessorModel.resynchronise`) those are unknown: ``cmd`` and ``tag`` are then
    :py:`None` and the status's ``cmd`` byte is in ``ignore``.
    """
    cmd: int | None
    tag: int | None
    payload: bytes
    ignore: tuple = ()

    def matches(self, frame):
        """Return whether a received :class:`hw.protocol.Frame` is this one."""
        if len(frame.payload) != len(self.payload):
            return False
        if self.cmd is None:
            if protocol.request_code(frame.cmd) is None:
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
    """Return a one-line description of a frame from the device, for error messages.

    ``cmd`` and ``tag`` may be :py:`None` (unknown), as in :class:`ExpectedFrame`.
    """
    if cmd == Reply.DATA:
        return f"DATA tag {tag}, {len(payload)} bytes"
    what = "?" if cmd is None else f"{cmd:#04x}"
    if len(payload) >= protocol.STATUS_SIZE:
        st = protocol.parse_status(payload)
        status = st["status"].name if isinstance(st["status"], Status) else \
            f"{st['status']:#04x}"
        return (f"reply {what} tag {tag}: {status} state {int(st['state'])} "
                f"count {st['count']} write_ptr {st['write_ptr']} value {st['value']:#x} "
                f"({len(payload)} bytes)")
    return f"frame {what} tag {tag}, {len(payload)} bytes"


class CommandProcessorModel:
    """Reference model of the device behind the UART: frame receiver and command processor.

    Feed it the bytes the UART receiver delivers (:meth:`feed`), and tell it when the line stayed
    idle for longer than the frame timeout (:meth:`timeout`) and when the UART saw a framing
    error (:meth:`framing_error`). It appends the frames the device must send to :attr:`out`, in
    order, and keeps the counters, state, store and header the device must have.

    What it models:

    * The receiver follows :class:`hw.protocol.ReceiveRules`, the receive rules the host's
      decoder follows too: it hunts ``a5 5a``, checks the header's CRC-8 before trusting the
      length and examines a failed header's bytes again, drops a frame longer than
      :data:`hw.protocol.MAX_PAYLOAD` at once, checks the frame check with the link key, and
      drops a frame left idle (``TRUNCATED``). A frame dropped before its header was valid is
      answered with the bytes in the header register as CMD and TAG, if it is the first such
      drop since the last valid header; later ones are only counted.
    * The command processor applies a frame only after its frame check passes: length checks,
      then the state and argument checks of each command, the store, the stored header, the
      session CRC-32 of COMMIT and CHECKSUM, SEED and the address generator
      (:class:`hw.sampler.addrgen_model.AddressGeneratorModel`), the DATA frames of SAMPLE
      and READ, :data:`hw.protocol.MAX_PAYLOAD` bytes each, and the link key of OPEN (taken
      only after silence: :meth:`timeout`, or reset).
    * Every reply increments one counter (:func:`hw.protocol.counter_for`).

    What it does not model:

    * Time: when replies leave, the frame timeout's length (the caller says when it expired),
      the receive FIFO and its overruns (``overrun_errors`` stays 0), and INFO's ``uptime``
      (left out of the comparison). A stream is sent whole at once: requests that arrive while
      the device streams (answered ``BUSY``, or ending it, between its DATA frames) are the
      caller's to check.
    * The UART's bits: a framing error is reported by the caller, not derived, and the bytes a
      receiver re-frames after a low stop bit followed at once by more bytes cannot be predicted
      (the caller then uses :meth:`resynchronise`).
    * Values the protocol leaves open: the ``value`` of most error replies is not compared.

    Parameters
    ----------
    capacity : int
        Store size in bytes.
    clk_freq : int
        Clock frequency in Hz, as INFO reports it.
    baud : int
        Baud rate, as INFO reports it.
    index_bits : int
        Width of record indices in the address generator, as INFO reports it.
    control : object or None
        The store's control bus, for CSR: an object with ``address_width`` (bits of a word
        address), ``read(address)`` returning a 32-bit register and ``write(address, value)``,
        such as :class:`hw.store.dram.leveling_model.PHYModel`; :py:`None` for a store without
        one (CSR is then an unknown command).
    memory : hw.protocol.Memory
    leveling : hw.protocol.Leveling
        What INFO reports of the store.

    Attributes
    ----------
    out : list of ExpectedFrame
        The frames the device must send, in order; the caller takes them out.
    accepted : list of tuple
        ``(cmd, tag, payload)`` of every frame that passed its frame check, applied or refused.
    counters : list of int
        The INFO counters, indexed by :class:`hw.protocol.Counter`.
    state : hw.protocol.State
    mode : hw.protocol.Mode
    seed : int
        Seed of the last SEED.
    record_size, count : int
        The training session's record size and record count (BEGIN).
    total : int
        The session's size in bytes, ``record_size * count``.
    write_ptr : int
        Bytes learned so far.
    store : bytearray
        The store's contents.
    header : bytes
        The header stored by the last successful BEGIN.
    """

    def __init__(self, *, capacity, clk_freq, baud, index_bits, control=None,
                 memory=Memory.ON_CHIP, leveling=Leveling.NONE):
        self.control = control
        self.memory = Memory(memory)
        self.leveling = Leveling(leveling)
        self.capacity = capacity
        self.clk_freq = clk_freq
        self.baud = baud
        self.index_bits = index_bits
        self._rx = protocol.ReceiveRules()
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
        self._gen = None
        self._cmd = 0
        self._tag = 0
        self._quiet = False
        self._drop_answered = False
        self.out = []
        self.accepted = []

    def clone(self):
        """Return an independent copy."""
        return copy.deepcopy(self)

    @property
    def midframe(self):
        """Whether the receiver is inside a frame (a timeout would end it)."""
        return self._rx.midframe

    # Receiver.

    def feed(self, data):
        """Process bytes delivered by the UART receiver."""
        for received in self._rx.feed(data):
            self._received(received)

    @property
    def key(self):
        """The link key (0 after reset; OPEN sets it)."""
        return self._rx.key

    def timeout(self):
        """The line stayed idle for longer than the frame timeout: drop a partly received
        frame, and let the next frame count as following silence (an OPEN is taken)."""
        for received in self._rx.timeout():
            self._received(received)

    def framing_error(self):
        """Count a framing error: the UART receiver saw a low stop bit and dropped the byte."""
        self.counters[Counter.FRAMING_ERRORS] += 1

    def resynchronise(self):
        """Continue after bytes the model could not follow, once the device is known to be
        hunting for a sync marker again (it answered a frame after them).

        The bytes that went through the receiver's header register are unknown, so a frame
        dropped in its header is then expected with any CMD and TAG (see
        :class:`ExpectedFrame`). The caller sets :attr:`counters` to the device's.
        """
        self._rx.resynchronise()

    # Command processor.

    def _received(self, received):
        if not received.header_ok:
            if self._drop_answered:
                self.counters[protocol.counter_for(received.status)] += 1
            else:
                self._drop_answered = True
                self._reply(received.status, header=(received.cmd, received.tag))
            return
        self._drop_answered = False
        self._cmd, self._tag, self._quiet = received.cmd, received.tag, received.quiet
        if received.status != Status.OK:
            self._reply(received.status)
            return
        self._execute(received.payload)

    def _execute(self, payload):
        self.accepted.append((self._cmd, self._tag, payload))
        if self._cmd not in Command._value2member_map_ or \
                (self._cmd == Command.CSR and self.control is None):
            self._reply(Status.UNKNOWN_COMMAND)
            return
        cmd = Command(self._cmd)
        size = protocol.REQUEST_LENGTHS[cmd]
        least = protocol.SHORT_REQUESTS.get(cmd, size)
        if len(payload) < least or (cmd != Command.LEARN and len(payload) > size):
            self._reply(Status.BAD_LENGTH)
            return
        payload = bytes(payload).ljust(size, b"\0")    # what a short request leaves out
        getattr(self, f"_do_{cmd.name.lower()}")(payload)

    def _reply(self, status, value=0, *, header=None, info=False):
        # A frame dropped before its header was valid is answered with the header register's
        # bytes; None where the model does not know them.
        if header is not None:
            self._cmd, self._tag = header
        self.counters[protocol.counter_for(status)] += 1
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
            # INFO and OPEN: the counters include this reply.
            ignore.append(_UPTIME)
            payload += protocol.pack_fields(
                protocol.INFO_FIELDS, version=protocol.VERSION, index_bits=self.index_bits,
                max_payload=protocol.MAX_PAYLOAD, capacity=self.capacity,
                record_size=self.record_size, clk_freq=self.clk_freq, baud=self.baud,
                header_size=protocol.HEADER_SIZE, memory=self.memory, leveling=self.leveling,
                **{f"counter_{c.name.lower()}": self.counters[c] for c in Counter})
            payload += self.header
        if unknown:
            self.out.append(ExpectedFrame(None, None, payload, tuple(ignore)))
        else:
            self.out.append(ExpectedFrame(protocol.reply_code(self._cmd), self._tag, payload,
                                          tuple(ignore)))

    def _stream(self, data):
        for i in range(0, len(data), protocol.MAX_PAYLOAD):
            self.out.append(ExpectedFrame(Reply.DATA, self._tag,
                                          bytes(data[i:i + protocol.MAX_PAYLOAD])))

    def _restart(self):
        if self.state == State.READY:
            self._gen = AddressGeneratorModel(self.capacity)
            self._gen.restart(self.mode, self.seed, self.count)

    def _do_info(self, payload):
        self._reply(Status.OK, info=True)

    def _do_open(self, payload):
        if not self._quiet:
            self._reply(Status.NOT_QUIET)
            return
        key = protocol.unpack_fields(protocol.OPEN_FIELDS, payload)["key"]
        self._rx.key = key
        self._reply(Status.OK, key, info=True)

    def _do_abort(self, payload):
        self._reply(Status.OK)        # no stream is running: streams are sent whole here

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
            start = protocol.fields_size(protocol.BEGIN_FIELDS)
            self.header = bytes(payload[start:start + protocol.HEADER_SIZE])
            self._reply(Status.OK)

    def _do_learn(self, payload):
        offset = protocol.unpack_fields(protocol.LEARN_FIELDS, payload)["offset"]
        data = payload[protocol.fields_size(protocol.LEARN_FIELDS):]
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
        begin = protocol.pack_fields(protocol.BEGIN_FIELDS, record_size=self.record_size,
                                     count=self.count) + self.header
        return protocol.session_crc(begin, bytes(self.store[:length]))

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
        elif count * self.record_size >= protocol.MAX_STREAM_BYTES:
            self._reply(Status.BAD_ARGUMENT, count)
        else:
            data = self._records(self._gen.take(count))
            self._stream(data)
            self._reply(Status.OK, protocol.crc32(data))

    def _do_read(self, payload):
        args = protocol.unpack_fields(protocol.READ_FIELDS, payload)
        index, count = args["index"], args["count"]
        if self.state == State.EMPTY:
            self._reply(Status.BAD_STATE)
        elif ((index + count) * self.record_size > self.write_ptr or
              index + count >= _OPERAND_LIMIT):
            self._reply(Status.BAD_ARGUMENT)
        else:
            data = self._records(range(index, index + count))
            self._stream(data)
            self._reply(Status.OK, protocol.crc32(data))

    def _do_csr(self, payload):
        args = protocol.unpack_fields(protocol.CSR_FIELDS, payload)
        write, address = args["write"], args["address"]
        if write > protocol.CSR_WRITE or address >> self.control.address_width:
            self._reply(Status.BAD_ARGUMENT)
        elif write == protocol.CSR_WRITE and self.state != State.EMPTY:
            self._reply(Status.BAD_STATE)
        elif write == protocol.CSR_WRITE:
            self.control.write(address, args["value"])
            self._reply(Status.OK, 0)
        else:
            self._reply(Status.OK, self.control.read(address) & 0xffff_ffff)
