# SPDX-License-Identifier: BSD-2-Clause
"""The command processor: executes the wire protocol against the store and the sampler."""

from types import SimpleNamespace

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .. import protocol
from ..framing.common import ByteCRC, FrameStart
from ..framing.receiver import RxToken, TokenKind
from ..protocol import Command, Leveling, Memory, Mode, Reply, State, Status
from ..sampler.addrgen import AddressGenerator
from ..store.interface import StoreSignature, check_capacity
from ..store.reader import RecordReader
from ..transport.slot import LinkErrors
from .args import ArgumentCapture
from .counters import UPTIME_BITS, Counters, CounterValues
from .headers import HeaderBanks
from .multiplier import SerialMultiplier
from .reply import ReplySerializer

__all__ = ["CommandProcessor"]

_BEGIN_ARGS_SIZE = protocol.fields_size(protocol.BEGIN_FIELDS)     # then the header
_BEGIN_SIZE = protocol.REQUEST_LENGTHS[Command.BEGIN]
_OFFSET_SIZE = protocol.fields_size(protocol.LEARN_FIELDS)         # then the data


def _between(value, least, most):
    """Return whether ``value`` is from ``least`` to ``most``, both multiples of 8 or one
    less, compared a slice at a time rather than with carry chains: a few LUTs, which the
    iCEBreaker's nearly full iCE40 has room for."""
    assert least % 8 == 0 and ((most + 1) % 8 == 0 or most % 8 == 0), (least, most)
    top = value[(most.bit_length()):] == 0 if len(value) > most.bit_length() else C(1)
    eighths = value[3:most.bit_length()]
    inside = eighths.matches(*range(least // 8, (most + 1) // 8))
    if most % 8 == 0:
        inside |= (eighths == most // 8) & (value[:3] == 0)
    return top & inside


class CommandProcessor(wiring.Component):
    """Executes the requests that the frame receiver finds, and answers each with a reply.

    Everything about the wire format comes from :mod:`hw.protocol`. A frame is applied only
    after its CRC passes: LEARN data is written past the learned bytes as it arrives and only
    counted as learned once the frame checks out, and a BEGIN header goes to a spare header
    bank that becomes current only then. Writes never reach past the training session's size,
    which BEGIN checked against the capacity. The store is used only through its streams
    (:class:`~hw.store.interface.StoreSignature`), so the processor is correct whatever the
    store's latency; while a store stalls a LEARN write, the tokens wait (the transport buffers
    what arrives meanwhile).

    While a SAMPLE or READ streams, the requests that arrive are taken between its DATA frames
    and answered at once: ABORT ends the stream (its reply then has status ``ABORTED``), an
    OPEN ends it without a reply (its client is gone), and any other request is answered
    ``BUSY`` and not applied. A frame dropped
    before its header was valid is answered only if it is the first since the last valid
    header; the others are only counted, so that no noise can make the replies outrun the
    requests.

    Parameters
    ----------
    capacity : int
        Size of the store in bytes.
    clk_freq : int
        Clock frequency in Hz, reported by INFO.
    link_rate : int
        The transport's rate in bits per second, reported by INFO (0 if it has none).
    serial_crc : bool
        Compute the CRC-32 of COMMIT, CHECKSUM and the streams a bit per cycle
        (:class:`~hw.framing.common.ByteCRC`), for a link slower than a byte every nine cycles.
    counter_bits : int
        Width of INFO's counters (:class:`~.counters.Counters`), 32 or fewer on a small FPGA.
    control_width : int or None
        Word address width of the store's control bus; :py:`None` (a store without one, such
        as block RAM) leaves the CSR command unknown to the processor, which then has no logic
        for it.
    memory : hw.protocol.Memory
        What the store is, reported by INFO.
    leveling : hw.protocol.Leveling
        The calibration the host runs through CSR, reported by INFO.
    uptime_bits : int
        Width of INFO's uptime counter (:class:`~.counters.Counters`), fewer on a small FPGA.

    Members
    -------
    i_stream : :py:`In(stream.Signature(RxToken))`
        Tokens from a :class:`~hw.framing.receiver.FrameReceiver`.
    rx_waiting : :py:`In(1)`
        The receiver is waiting for input.
    tx_header : :py:`Out(stream.Signature(FrameStart))`
        Frame headers, to a :class:`~hw.framing.transmitter.FrameTransmitter`.
    tx_idle : :py:`In(1)`
        The transmitter has sent every frame.
    o_stream : :py:`Out(stream.Signature(8))`
        Payload bytes of the frames, to the transmitter.
    store : :py:`In(StoreSignature(capacity, control_width=control_width))`
        Drives the example store (and its control bus: one access per CSR request, a write
        only while the state is EMPTY, so that nothing learned depends on it).
    link_errors : :py:`In(LinkErrors)`
        The transport's error strobes, counted for INFO.
    key : :py:`Out(32)`
        The link key, to the receiver and the transmitter: 0 after reset, set by OPEN.
    state : :py:`Out(State)`
        What the device has learned.
    error : :py:`Out(1)`
        The last frame was rejected.
    waiting : :py:`Out(1)`
        Only waiting for input: nothing being executed or sent.

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer of at least 2.
    """
    def __init__(self, *, capacity, clk_freq, link_rate, serial_crc=False, counter_bits=32,
                 control_width=None, memory=Memory.ON_CHIP, leveling=Leveling.NONE,
                 uptime_bits=UPTIME_BITS):
        check_capacity(capacity)
        self._control_width = control_width
        self._memory = Memory(memory)
        self._leveling = Leveling(leveling)
        self._serial_crc = bool(serial_crc)
        self._counter_bits = counter_bits
        self._uptime_bits = uptime_bits
        self._capacity = capacity
        self._clk_freq = int(clk_freq)
        self._link_rate = int(link_rate)
        super().__init__({
            "i_stream":    In(stream.Signature(RxToken)),
            "rx_waiting":  In(1),
            "tx_header":   Out(stream.Signature(FrameStart)),
            "tx_idle":     In(1),
            "o_stream":    Out(stream.Signature(8)),
            "store":       In(StoreSignature(capacity, control_width=control_width)),
            "link_errors": In(LinkErrors),
            "key":         Out(32),
            "state":       Out(State),
            "error":       Out(1),
            "waiting":     Out(1),
        })

    @property
    def capacity(self):
        """Size of the store in bytes."""
        return self._capacity

    def elaborate(self, platform):
        m = Module()
        r = self._blocks(m)
        self._wire_reply(m, r)
        self._wire_reader(m, r)
        self._wire_store(m, r)
        r.known, r.length_ok = self._request_checks(m, r)
        m.d.comb += r.take.eq(self.i_stream.valid & self.i_stream.ready)
        with m.FSM(name="fsm"):
            self._receive_states(m, r)
            self._execute_state(m, r)
            self._session_states(m, r)
            self._stream_states(m, r)
            self._reply_states(m, r)
        return m

    def _blocks(self, m):
        """Add the sub-blocks and the registers that the states share; return them by name."""
        cap = self._capacity
        r = SimpleNamespace()
        m.submodules.addrgen = r.addrgen = AddressGenerator(cap)
        m.submodules.reader = r.reader = RecordReader(cap)
        m.submodules.crc32 = r.crc32 = ByteCRC(protocol.CRC32_ALGORITHM,
                                               serial=self._serial_crc)
        # Operands of 2**31 or more are refused before multiplying.
        m.submodules.mult = r.mult = SerialMultiplier()
        m.submodules.headers = r.headers = HeaderBanks()
        m.submodules.capture = r.capture = ArgumentCapture()
        m.submodules.counters = r.counters = Counters(self._counter_bits,
                                                      uptime_bits=self._uptime_bits)
        m.submodules.serializer = r.serializer = ReplySerializer(snapshot=("uptime",))
        r.args = r.capture.args
        r.token = self.i_stream.payload
        r.take = Signal()           # a token is consumed this cycle
        r.fill = Signal()           # a short BEGIN's missing header byte is taken as a zero

        # The model and the training session.
        r.state = self.state
        r.record_size = Signal(32)
        r.count = Signal(32)        # N
        r.total = Signal(32)        # N * record_size
        r.write_ptr = Signal(32)    # bytes learned
        r.mode = Signal(Mode)
        r.seed = Signal(64)

        # The request being processed.
        r.cmd = Signal(8)
        r.tag = Signal(8)
        r.length = Signal(16)
        r.index = Signal(16)        # payload byte index
        r.learn_ok = Signal()       # this LEARN frame's data goes to the store
        r.learn_status = Signal(Status)
        r.quiet = Signal()          # the frame followed silence (an OPEN is taken)
        r.drop_answered = Signal()  # a header drop was answered since the last valid header
        r.wcmd_valid = Signal()     # the LEARN write command waits for the store
        # Bytes the LEARN write still owes the store; while its command waits, its length.
        r.wleft = Signal.like(r.length)

        # The reply and the record streams.
        r.status = Signal(Status)
        r.value = Signal(32)
        r.from_addrgen = Signal()
        r.indices_left = Signal(33)
        r.read_index = Signal(32)
        r.crc_pass = Signal()
        r.crc_length = Signal(32)
        r.send_data = Signal()
        r.stream_left = Signal(32)  # bytes of sample/read data still to send
        r.frame_length = Signal(16)
        r.streaming = Signal()      # a SAMPLE or READ is streaming (requests are answered BUSY)
        r.aborting = Signal()       # ... and ends at the next DATA frame boundary
        r.silent_end = Signal()     # ... without its reply (OPEN ended it)
        r.phase = Signal()          # CRC-Session: a header byte read, to be fed
        r.s_cmd = Signal(8)         # the streaming request's command and tag
        r.s_tag = Signal(8)
        return r

    def _wire_reply(self, m, r):
        """Reply fields, counters, and the transmitter's payload: the serializer (replies) or
        the record reader (DATA frames)."""
        ser, reader = r.serializer, r.reader
        fields = {
            "status": r.status, "cmd": r.cmd, "state": r.state, "mode": r.mode,
            "count": r.count, "write_ptr": r.write_ptr, "value": r.value,
            "version": protocol.VERSION, "index_bits": len(r.addrgen.o_stream.payload),
            "max_payload": protocol.MAX_PAYLOAD, "capacity": self._capacity,
            "record_size": r.record_size, "clk_freq": self._clk_freq, "baud": self._link_rate,
            "header_size": protocol.HEADER_SIZE, "memory": self._memory,
            "leveling": self._leveling,
            **{f"counter_{name}": r.counters.values[name] for name in CounterValues.members},
            "uptime": r.counters.uptime,
        }
        m.d.comb += [ser.fields[name].eq(value) for name, value in fields.items()]
        m.d.comb += [
            r.counters.link_errors.eq(self.link_errors),
            r.counters.status.eq(r.status),
            r.headers.r_en.eq(ser.header_en),
            r.headers.r_index.eq(ser.header_index),
            ser.header_data.eq(r.headers.r_data),
            self.o_stream.payload.eq(Mux(r.send_data, reader.o_stream.payload,
                                         ser.o_stream.payload)),
            # Every byte of a stream goes into the CRC-32 as it leaves.
            self.o_stream.valid.eq(Mux(r.send_data, reader.o_stream.valid & r.crc32.ready,
                                       ser.o_stream.valid)),
            ser.o_stream.ready.eq(~r.send_data & self.o_stream.ready),
            reader.o_stream.ready.eq(r.crc32.ready & (r.crc_pass |
                                                      (r.send_data & self.o_stream.ready))),
        ]

    def _wire_reader(self, m, r):
        """Record indices from the address generator (SAMPLE) or a counter (READ, the CRC
        pass), and the CRC-32 of the reader's bytes during a CRC pass."""
        reader, addrgen = r.reader, r.addrgen
        m.d.comb += [
            reader.record_size.eq(Mux(r.crc_pass, r.crc_length, r.record_size)),
            reader.i_stream.payload.eq(Mux(r.from_addrgen, addrgen.o_stream.payload,
                                           r.read_index)),
            reader.i_stream.valid.eq((r.indices_left != 0) & ~r.aborting &
                                     Mux(r.from_addrgen, addrgen.o_stream.valid, 1)),
            addrgen.o_stream.ready.eq(r.from_addrgen & (r.indices_left != 0) & ~r.aborting &
                                      reader.i_stream.ready),
            r.crc32.data.eq(reader.o_stream.payload),
            # The CRC pass, or the bytes a stream sends in its DATA frames.
            r.crc32.valid.eq(Mux(r.crc_pass, reader.o_stream.valid,
                                 r.send_data & self.o_stream.valid & self.o_stream.ready)),
        ]
        with m.If(reader.i_stream.valid & reader.i_stream.ready):
            m.d.sync += [
                r.indices_left.eq(r.indices_left - 1),
                r.read_index.eq(r.read_index + 1),
            ]

    def _wire_store(self, m, r):
        """The store's commands: a LEARN frame's write, or else the reader's reads."""
        cmd = self.store.cmd
        with m.If(r.wcmd_valid):
            m.d.comb += [
                cmd.payload.write.eq(1),
                cmd.payload.addr.eq(r.write_ptr),
                cmd.payload.length.eq(r.wleft),
                cmd.valid.eq(1),
            ]
            with m.If(cmd.ready):
                m.d.sync += r.wcmd_valid.eq(0)
        with m.Else():
            wiring.connect(m, r.reader.cmd, wiring.flipped(cmd))
        wiring.connect(m, wiring.flipped(self.store.r_stream), r.reader.r_stream)

    def _reply(self, m, r, status, value=None):
        m.d.sync += r.status.eq(status)
        if value is not None:
            m.d.sync += r.value.eq(value)
        m.next = "Reply"

    def _multiply(self, m, r, a, b):
        """Start the serial multiplier; its result is ready when ``mult.done``."""
        m.d.comb += [
            r.mult.a.eq(a),
            r.mult.b.eq(b),
            r.mult.start.eq(1),
        ]

    def _request_checks(self, m, r):
        """Return 'a known command' and 'with the right payload length', from the latched
        header."""
        known = Signal()
        length_ok = Signal()
        with m.Switch(r.cmd):
            for command, size in protocol.REQUEST_LENGTHS.items():
                if command == Command.CSR and self._control_width is None:
                    continue        # unknown: no logic for it
                with m.Case(command):
                    m.d.comb += known.eq(1)
                    if command == Command.LEARN:
                        m.d.comb += length_ok.eq(r.length >= size)
                    elif command in protocol.SHORT_REQUESTS:
                        m.d.comb += length_ok.eq(_between(r.length,
                                                          protocol.SHORT_REQUESTS[command], size))
                    else:
                        m.d.comb += length_ok.eq(r.length == size)
        return known, length_ok

    def _receive_states(self, m, r):
        known, length_ok = r.known, r.length_ok
        token = r.token
        with m.State("Idle"):
            m.d.comb += [
                self.i_stream.ready.eq(1),
                self.waiting.eq(self.rx_waiting & ~r.streaming),
                r.capture.clear.eq(self.i_stream.valid),
            ]
            with m.If(self.i_stream.valid):
                m.d.sync += [
                    r.cmd.eq(token.cmd),
                    r.tag.eq(token.tag),
                    r.length.eq(token.length),
                    r.quiet.eq(token.quiet),
                    r.index.eq(0),
                    r.value.eq(0),
                    r.learn_ok.eq(0),
                    r.learn_status.eq(Status.OK),
                ]
                with m.Switch(token.kind):
                    with m.Case(TokenKind.HEADER):
                        m.d.sync += r.drop_answered.eq(0)
                        m.next = "Payload"
                    with m.Case(TokenKind.DROP):
                        with m.If(r.drop_answered):
                            m.d.comb += [               # counted, not answered
                                r.counters.status.eq(token.status),
                                r.counters.count.eq(1),
                            ]
                        with m.Else():
                            m.d.sync += r.drop_answered.eq(1)
                            self._reply(m, r, token.status)
            with m.Elif(r.streaming):
                m.next = "Data-Header"

        with m.State("Payload"):
            m.d.comb += self.waiting.eq(self.rx_waiting & ~r.streaming)
            payload = self.i_stream.valid & (token.kind == TokenKind.PAYLOAD)
            self._payload_byte(m, r, length_ok)
            with m.If(r.fill):
                pass                # the END waits while a short BEGIN's header is filled
            with m.Elif(self.i_stream.valid & ~payload & (r.wleft != 0)):
                # The frame ended before all its data came: the store gets the rest of the
                # write it was promised (past the learned bytes, so it changes nothing learned).
                m.d.comb += [
                    self.store.w_stream.payload.eq(0),
                    self.store.w_stream.valid.eq(~r.wcmd_valid),
                ]
                with m.If(self.store.w_stream.valid & self.store.w_stream.ready):
                    m.d.sync += r.wleft.eq(r.wleft - 1)
            with m.Elif(self.i_stream.valid & ~payload):
                m.d.comb += self.i_stream.ready.eq(1)
                with m.If(token.kind == TokenKind.END):
                    with m.If(token.status != Status.OK):
                        self._reply(m, r, token.status)
                    with m.Elif(~known):
                        self._reply(m, r, Status.UNKNOWN_COMMAND)
                    with m.Elif(~length_ok):
                        self._reply(m, r, Status.BAD_LENGTH)
                    with m.Else():
                        m.next = "Execute"
                with m.Else():
                    # A new frame without an END for this one cannot happen; stay safe.
                    self._reply(m, r, Status.TRUNCATED)

    def _payload_byte(self, m, r, length_ok):
        """One payload byte: capture arguments, stage a BEGIN header, write LEARN data."""
        token = r.token
        payload = self.i_stream.valid & (token.kind == TokenKind.PAYLOAD)
        to_store = r.learn_ok & (r.index >= _OFFSET_SIZE)
        # Data follows its write command: no byte is offered before the store has it.
        writable = ~r.wcmd_valid & self.store.w_stream.ready
        with m.If(payload):
            m.d.comb += self.i_stream.ready.eq(~to_store | writable)
        taken = Signal()
        # A BEGIN whose header was cut short: at its END (whose data byte is 0), the missing
        # header bytes are taken as zeros, a byte a cycle, before the END itself.
        m.d.comb += [
            r.fill.eq(self.i_stream.valid & (token.kind == TokenKind.END) &
                      (r.cmd == Command.BEGIN) & _between(r.index, 0, _BEGIN_SIZE - 1)),
            taken.eq((r.take & (token.kind == TokenKind.PAYLOAD)) | r.fill),
        ]
        m.d.comb += [
            r.capture.en.eq(taken),
            r.capture.index.eq(r.index),
            r.capture.byte.eq(token.data),
            # Staged in the spare bank; it becomes current only if BEGIN succeeds.
            r.headers.w_en.eq(taken & (r.cmd == Command.BEGIN) & length_ok &
                              (r.index >= _BEGIN_ARGS_SIZE)),
            r.headers.w_index.eq((r.index - _BEGIN_ARGS_SIZE)[:len(r.headers.w_index)]),
            r.headers.w_data.eq(token.data),
        ]
        with m.If(payload & to_store):
            m.d.comb += [
                self.store.w_stream.payload.eq(token.data),
                self.store.w_stream.valid.eq(~r.wcmd_valid),
            ]
        with m.If(taken):
            m.d.sync += r.index.eq(r.index + 1)
            with m.If(to_store):
                m.d.sync += r.wleft.eq(r.wleft - 1)
            with m.If((r.cmd == Command.LEARN) & length_ok & (r.index == _OFFSET_SIZE - 1)):
                self._learn_decision(m, r)

    def _learn_decision(self, m, r):
        """The LEARN offset is complete: decide whether this frame's data is written. Sizes are
        compared in 33 bits: no wrap-around."""
        offset = Cat(r.args.learn.offset[:8 * (_OFFSET_SIZE - 1)], r.token.data)
        data_length = r.length - _OFFSET_SIZE
        with m.If(r.streaming):
            m.d.sync += r.learn_status.eq(Status.BUSY)     # the store is streaming
        with m.Elif(r.state != State.LEARNING):
            m.d.sync += r.learn_status.eq(Status.BAD_STATE)
        with m.Elif(offset != r.write_ptr):
            m.d.sync += r.learn_status.eq(Status.OUT_OF_ORDER)
        with m.Elif(r.write_ptr + data_length > r.total):
            m.d.sync += r.learn_status.eq(Status.OVERFLOW)
        with m.Else():
            m.d.sync += [
                r.learn_ok.eq(1),
                r.wcmd_valid.eq(data_length != 0),
                r.wleft.eq(data_length),
            ]

    def _execute_state(self, m, r):
        args = r.args
        with m.State("Execute"):
            with m.If(r.streaming & (r.cmd != Command.ABORT) & (r.cmd != Command.OPEN)):
                self._reply(m, r, Status.BUSY)
            with m.Else():
                self._execute(m, r, args)

    def _execute(self, m, r, args):
        with m.Switch(r.cmd):
            with m.Case(Command.INFO):
                self._reply(m, r, Status.OK)
            with m.Case(Command.CLEAR):
                m.d.sync += [
                    r.state.eq(State.EMPTY),
                    r.record_size.eq(0),
                    r.count.eq(0),
                    r.total.eq(0),
                    r.write_ptr.eq(0),
                ]
                self._reply(m, r, Status.OK)
            with m.Case(Command.BEGIN):
                size, count = args.begin.record_size, args.begin.count
                with m.If((size == 0) | (count == 0)):
                    self._reply(m, r, Status.BAD_ARGUMENT)
                with m.Elif(size[31] | count[31]):
                    self._reply(m, r, Status.OVERFLOW, self._capacity)
                with m.Else():
                    m.next = "Begin"
                self._multiply(m, r, size, count)
            with m.Case(Command.LEARN):
                learned = r.length - _OFFSET_SIZE
                with m.If(r.learn_ok):
                    m.d.sync += r.write_ptr.eq(r.write_ptr + learned)
                self._reply(m, r, r.learn_status,
                            r.write_ptr + Mux(r.learn_ok, learned, 0))
            with m.Case(Command.COMMIT):
                with m.If((r.state != State.LEARNING) | (r.write_ptr != r.total)):
                    self._reply(m, r, Status.BAD_STATE)
                with m.Else():
                    m.d.sync += r.crc_length.eq(r.total)
                    m.next = "CRC-Start"
            with m.Case(Command.CHECKSUM):
                m.d.sync += r.crc_length.eq(r.write_ptr)
                m.next = "CRC-Start"
            with m.Case(Command.SEED):
                with m.If(args.seed.mode > max(Mode)):
                    self._reply(m, r, Status.BAD_ARGUMENT)
                with m.Else():
                    m.d.sync += [
                        r.mode.eq(args.seed.mode),
                        r.seed.eq(args.seed.seed),
                    ]
                    m.next = "Restart"
            with m.Case(Command.SAMPLE):
                self._execute_sample(m, r)
            with m.Case(Command.READ):
                self._execute_read(m, r)
            with m.Case(Command.OPEN):
                self._execute_open(m, r)
            with m.Case(Command.ABORT):
                m.d.sync += r.aborting.eq(r.streaming)
                self._reply(m, r, Status.OK)
            if self._control_width is not None:
                with m.Case(Command.CSR):
                    self._execute_csr(m, r)

    def _execute_csr(self, m, r):
        """One access to the store's control bus. A write could change how the memory reads
        back (its delays, its commands), so it is taken only while nothing is learned."""
        csr = r.args.csr
        with m.If(csr.write > protocol.CSR_WRITE):
            self._reply(m, r, Status.BAD_ARGUMENT)
        with m.Elif(csr.address >= 1 << min(self._control_width, len(csr.address))):
            self._reply(m, r, Status.BAD_ARGUMENT)      # past the control bus
        with m.Elif((csr.write == protocol.CSR_WRITE) & (r.state != State.EMPTY)):
            self._reply(m, r, Status.BAD_STATE)
        with m.Else():
            m.next = "CSR-Access"

    def _execute_read(self, m, r):
        index, count = r.args.read.index, r.args.read.count
        with m.If(r.state == State.EMPTY):
            self._reply(m, r, Status.BAD_STATE)
        with m.Elif((index + count)[31:] != 0):
            self._reply(m, r, Status.BAD_ARGUMENT)      # past any possible store
        with m.Else():
            self._multiply(m, r, index + count, r.record_size)
            m.next = "Read-Check"

    def _execute_open(self, m, r):
        """A new link key, taken only after silence; a stream still running ends without its
        reply (its client is gone)."""
        with m.If(~r.quiet):
            self._reply(m, r, Status.NOT_QUIET)
        with m.Else():
            m.d.sync += [
                self.key.eq(r.args.open.key),
                r.aborting.eq(r.streaming),
                r.silent_end.eq(r.streaming),
            ]
            self._reply(m, r, Status.OK, r.args.open.key)

    def _execute_sample(self, m, r):
        count = r.args.sample.count
        with m.If(r.state != State.READY):
            self._reply(m, r, Status.BAD_STATE)
        with m.Elif(count[31]):
            self._reply(m, r, Status.BAD_ARGUMENT)      # 2**31 records or more in one go
        with m.Else():
            self._multiply(m, r, count, r.record_size)
            m.d.sync += [
                r.from_addrgen.eq(1),
                r.value.eq(count),
            ]
            m.next = "Stream-Size"

    def _session_states(self, m, r):
        """BEGIN's size check, the address generator's restart, and the CRC pass of COMMIT and
        CHECKSUM."""
        args = r.args
        with m.State("Begin"):
            with m.If(r.mult.done):
                with m.If(r.mult.overflow | (r.mult.product > self._capacity)):
                    self._reply(m, r, Status.OVERFLOW, self._capacity)
                with m.Else():
                    m.d.comb += r.headers.swap.eq(1)
                    m.d.sync += [
                        r.state.eq(State.LEARNING),
                        r.record_size.eq(args.begin.record_size),
                        r.count.eq(args.begin.count),
                        r.total.eq(r.mult.product),
                        r.write_ptr.eq(0),
                    ]
                    self._reply(m, r, Status.OK)

        with m.State("Restart"):
            # Restart the address generator with the session's count, if there is one.
            m.d.comb += [
                r.addrgen.mode.eq(r.mode),
                r.addrgen.seed.eq(r.seed),
                r.addrgen.count.eq(r.count),
                r.addrgen.restart.eq(r.state == State.READY),
            ]
            self._reply(m, r, Status.OK)

        with m.State("CRC-Start"):
            m.d.comb += r.crc32.start.eq(1)
            m.d.sync += [
                r.from_addrgen.eq(0),
                r.read_index.eq(0),
                r.index.eq(0),
                r.phase.eq(0),
            ]
            m.next = "CRC-Session"

        self._crc_session_state(m, r)

        with m.State("CRC-Pass"):
            with m.If(r.reader.o_stream.valid & r.reader.o_stream.ready):
                m.d.sync += r.stream_left.eq(r.stream_left - 1)
            with m.If((r.stream_left == 0) & r.crc32.ready):
                # The CRC is read once, into `value`, and compared from there: its output bit
                # reversal then costs nothing in the cycles it is not needed.
                m.d.sync += [
                    r.crc_pass.eq(0),
                    r.value.eq(r.crc32.crc),
                ]
                m.next = "CRC-Done"

        with m.State("CRC-Done"):
            with m.If(r.cmd == Command.COMMIT):
                with m.If(r.value == args.commit.crc32):
                    m.d.sync += r.state.eq(State.READY)
                    m.next = "Restart"
                with m.Else():
                    self._reply(m, r, Status.CRC_MISMATCH)
            with m.Else():
                self._reply(m, r, Status.OK)

    def _crc_session_state(self, m, r):
        """The session's BEGIN payload into the CRC before the learned bytes: record size and
        count from their registers, then the header from the current bank. Two steps a byte:
        read it (a header byte shows a cycle later, and holds), then feed it."""
        sizes = Cat(r.record_size, r.count)
        sizes_len = len(sizes) // 8
        last = sizes_len + protocol.HEADER_SIZE - 1
        with m.State("CRC-Session"):
            at = r.index
            m.d.comb += [
                r.headers.r_en.eq(~r.phase),
                r.headers.r_index.eq((at - sizes_len)[:len(r.headers.r_index)]),
            ]
            with m.If(~r.phase):
                m.d.sync += r.phase.eq(1)
            with m.Else():
                m.d.comb += [
                    r.crc32.valid.eq(1),
                    r.crc32.data.eq(Mux(at < sizes_len, sizes.word_select(at[:3], 8),
                                        r.headers.r_data)),
                ]
                with m.If(r.crc32.ready):
                    m.d.sync += [
                        r.index.eq(at + 1),
                        r.phase.eq(0),
                    ]
                    with m.If(at == last):
                        m.d.sync += [
                            r.crc_pass.eq(r.crc_length != 0),
                            r.indices_left.eq(r.crc_length != 0),
                            r.stream_left.eq(r.crc_length),
                        ]
                        m.next = "CRC-Pass"

    def _stream_states(self, m, r):
        """SAMPLE and READ: the size checks, then DATA frames of at most MAX_PAYLOAD bytes, with
        the requests that arrive meanwhile taken between them."""
        args = r.args
        with m.State("Read-Check"):
            with m.If(r.mult.done):
                with m.If(r.mult.overflow | (r.mult.product > r.write_ptr)):
                    self._reply(m, r, Status.BAD_ARGUMENT)
                with m.Else():
                    self._multiply(m, r, args.read.count, r.record_size)
                    m.d.sync += [
                        r.from_addrgen.eq(0),
                        r.read_index.eq(args.read.index),
                        r.value.eq(args.read.count),
                    ]
                    m.next = "Stream-Size"

        with m.State("Stream-Size"):
            with m.If(r.mult.done):
                with m.If(r.mult.overflow):
                    self._reply(m, r, Status.BAD_ARGUMENT)      # 2**31 bytes or more in one go
                with m.Else():
                    m.d.comb += r.crc32.start.eq(1)
                    m.d.sync += [
                        r.stream_left.eq(r.mult.product),
                        r.indices_left.eq(r.value),
                        r.streaming.eq(1),
                        r.s_cmd.eq(r.cmd),
                        r.s_tag.eq(r.tag),
                    ]
                    m.next = "Data-Header"

        with m.State("Data-Header"):
            with m.If(r.aborting):
                m.d.sync += r.send_data.eq(0)
                # Bytes the reader still owes: the stream's, less those of records not read.
                self._multiply(m, r, r.indices_left[:31], r.record_size)
                m.next = "Abort-Size"
            with m.Elif(r.stream_left == 0):
                with m.If(r.crc32.ready):           # its last byte is in
                    self._end_stream(m, r, Status.OK)
            with m.Elif(self.i_stream.valid):
                m.d.sync += r.send_data.eq(0)
                m.next = "Idle"                 # a request while streaming
            with m.Else():
                length_now = Mux(r.stream_left > protocol.MAX_PAYLOAD, protocol.MAX_PAYLOAD,
                                 r.stream_left)
                m.d.comb += [
                    self.tx_header.payload.cmd.eq(Reply.DATA),
                    self.tx_header.payload.tag.eq(r.s_tag),
                    self.tx_header.payload.length.eq(length_now),
                    self.tx_header.valid.eq(1),
                ]
                with m.If(self.tx_header.ready):
                    m.d.sync += [
                        r.frame_length.eq(length_now),
                        r.send_data.eq(1),
                    ]
                    m.next = "Data"

        with m.State("Data"):
            # `send_data` stays set between the DATA frames of one stream, so the reader's byte
            # waiting for the next frame stays offered (a stream's valid never drops).
            with m.If(self.tx_idle):
                m.d.sync += r.stream_left.eq(r.stream_left - r.frame_length)
                m.next = "Data-Header"

        with m.State("Abort-Size"):
            with m.If(r.mult.done):
                m.d.sync += r.stream_left.eq(r.stream_left - r.mult.product)
                m.next = "Abort-Flush"

        with m.State("Abort-Flush"):
            # The bytes of records already asked of the store are taken and dropped.
            m.d.comb += r.reader.o_stream.ready.eq(1)
            with m.If(r.stream_left == 0):
                self._end_stream(m, r, Status.ABORTED)
            with m.Elif(r.reader.o_stream.valid):
                m.d.sync += r.stream_left.eq(r.stream_left - 1)

    def _end_stream(self, m, r, status):
        """The stream's reply, with the CRC-32 of the bytes its DATA frames carried; none after
        an OPEN."""
        m.d.sync += [
            r.cmd.eq(r.s_cmd),
            r.tag.eq(r.s_tag),
            r.send_data.eq(0),
            r.streaming.eq(0),
            r.aborting.eq(0),
            r.silent_end.eq(0),
            r.indices_left.eq(0),
        ]
        with m.If(r.silent_end):
            m.next = "Idle"
        with m.Else():
            self._reply(m, r, status, r.crc32.crc)

    def _csr_state(self, m, r):
        if self._control_width is None:
            return
        csr, bus = r.args.csr, self.store.control
        with m.State("CSR-Access"):
            m.d.comb += [
                bus.stb.eq(1),
                bus.we.eq(csr.write == protocol.CSR_WRITE),
                bus.adr.eq(csr.address),
                bus.dat_w.eq(csr.value),
            ]
            with m.If(bus.ack):
                self._reply(m, r, Status.OK, Mux(bus.we, 0, bus.dat_r))

    def _reply_states(self, m, r):
        self._csr_state(m, r)
        with m.State("Reply"):
            m.d.comb += [
                r.serializer.info.eq(((r.cmd == Command.INFO) | (r.cmd == Command.OPEN)) &
                                     (r.status == Status.OK)),
                self.tx_header.payload.cmd.eq(Reply.REPLY | r.cmd[:7]),
                self.tx_header.payload.tag.eq(r.tag),
                self.tx_header.payload.length.eq(r.serializer.length),
                self.tx_header.valid.eq(1),
            ]
            with m.If(self.tx_header.ready):
                m.d.comb += [
                    r.serializer.start.eq(1),
                    r.counters.count.eq(1),         # the frame, by its outcome
                ]
                m.d.sync += self.error.eq(r.status != Status.OK)
                m.next = "Reply-Wait"

        with m.State("Reply-Wait"):
            with m.If(self.tx_idle):
                m.next = "Idle"
