# SPDX-License-Identifier: BSD-2-Clause
"""The command processor: executes the wire protocol against the store and the sampler."""

from amaranth import *
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .. import protocol
from ..framing.common import crc_processor
from ..framing.receiver import FrameReceiver, TokenKind
from ..framing.transmitter import FrameTransmitter
from ..protocol import Command, Counter, Mode, Reply, State, Status
from ..sampler.addrgen import AddressGenerator
from ..store.bram import RecordReader, StoreSignature, check_capacity
from ..transport.uart import ReceiverErrors

__all__ = ["CommandProcessor", "frame_timeout"]


_STATUS_SIZE = protocol.fields_size(protocol.STATUS_FIELDS)
_INFO_SIZE = protocol.fields_size(protocol.INFO_FIELDS)

_LENGTHS = protocol.REQUEST_LENGTHS
_ARGS_SIZE = max(protocol.fields_size(f) for f in (
    protocol.BEGIN_FIELDS, protocol.LEARN_FIELDS, protocol.COMMIT_FIELDS, protocol.SEED_FIELDS,
    protocol.SAMPLE_FIELDS, protocol.READ_FIELDS))


def frame_timeout(clk_freq, baud):
    """Return the receiver's idle timeout in cycles: :data:`protocol.FRAME_TIMEOUT_BYTES`
    byte times."""
    return int(protocol.FRAME_TIMEOUT_BYTES * 10 * clk_freq // baud)


class _SerialMultiplier(Elaboratable):
    """Shift-and-add multiplier of two 31-bit operands, one bit of ``b`` per cycle, saturating:
    every product the protocol accepts is below 2**31, so the product register needs 31 bits
    and ``overflow`` says when the true product is 2**31 or more. Small, and used once per
    command."""

    WIDTH = 31

    def __init__(self):
        self.a = Signal(self.WIDTH)
        self.b = Signal(self.WIDTH)
        self.start = Signal()
        self.product = Signal(self.WIDTH)
        self.overflow = Signal()
        self.done = Signal()

    def elaborate(self, platform):
        m = Module()
        a = Signal(self.WIDTH)
        a_over = Signal()           # `a` has been shifted to 2**31 or more
        b = Signal(self.WIDTH)
        busy = Signal()
        total = Signal(self.WIDTH + 1)
        m.d.comb += [
            self.done.eq(~busy),
            total.eq(self.product + a),
        ]
        with m.If(self.start):
            m.d.sync += [
                a.eq(self.a),
                a_over.eq(0),
                b.eq(self.b),
                self.product.eq(0),
                self.overflow.eq(0),
                busy.eq(1),
            ]
        with m.Elif(busy):
            with m.If(b[0]):
                m.d.sync += self.product.eq(total)
                with m.If(a_over | total[self.WIDTH]):
                    m.d.sync += self.overflow.eq(1)
            m.d.sync += [
                a.eq(a << 1),
                a_over.eq(a_over | a[-1]),
                b.eq(b >> 1),
            ]
            with m.If(b == 0):
                m.d.sync += busy.eq(0)
        return m


class CommandProcessor(wiring.Component):
    """Parses frames, writes the store, reports status and streams samples back.

    Everything about the wire format comes from :mod:`hw.protocol`. A frame is applied only
    after its CRC passes: LEARN data is written past the learned bytes as it arrives and only
    counted as learned once the frame checks out, and a BEGIN header goes to a spare header
    bank that becomes current only then. Writes never reach past the training session's size,
    which BEGIN checked against the capacity.

    Parameters
    ----------
    capacity : int
        Size of the store in bytes.
    clk_freq : int
        Clock frequency in Hz, reported by INFO.
    baud : int
        Baud rate, reported by INFO.
    timeout : int
        Idle cycles after which a partly received frame is dropped (default
        :func:`frame_timeout`).

    Members
    -------
    i_stream : :py:`In(stream.Signature(8))`
        Bytes from the UART receiver.
    o_stream : :py:`Out(stream.Signature(8))`
        Bytes to the UART transmitter.
    store : :py:`In(StoreSignature(capacity))`
        Drives the example store's ports.
    rx_err : :py:`In(ReceiverErrors)`
        UART receiver error strobes, counted for INFO.
    state : :py:`Out(State)`
        What the device has learned.
    error : :py:`Out(1)`
        The last frame was rejected.
    waiting : :py:`Out(1)`
        Only waiting for input: nothing being executed or sent.
    """
    def __init__(self, *, capacity, clk_freq, baud, timeout=None):
        check_capacity(capacity)
        self._capacity = capacity
        self._clk_freq = int(clk_freq)
        self._baud = int(baud)
        self._timeout = frame_timeout(clk_freq, baud) if timeout is None else timeout
        super().__init__({
            "i_stream": In(stream.Signature(8)),
            "o_stream": Out(stream.Signature(8)),
            "store":    In(StoreSignature(capacity)),
            "rx_err":   In(ReceiverErrors),
            "state":    Out(State),
            "error":    Out(1),
            "waiting":  Out(1),
        })

    @property
    def capacity(self):
        return self._capacity

    def elaborate(self, platform):
        m = Module()
        cap = self._capacity
        aw = ceil_log2(cap)

        m.submodules.rx = rx = FrameReceiver(timeout=self._timeout)
        m.submodules.tx = tx = FrameTransmitter()
        m.submodules.addrgen = addrgen = AddressGenerator(cap)
        m.submodules.reader = reader = RecordReader(cap)
        m.submodules.crc32 = crc32 = crc_processor(protocol.CRC32_ALGORITHM)
        # Operands of 2**31 or more are refused before multiplying.
        m.submodules.mult = mult = _SerialMultiplier()
        m.submodules.header_mem = header_mem = memory.Memory(
            shape=8, depth=2 * protocol.HEADER_SIZE, init=[])
        header_wr = header_mem.write_port()
        header_rd = header_mem.read_port()

        wiring.connect(m, wiring.flipped(self.i_stream), rx.i_stream)
        wiring.connect(m, wiring.flipped(self.o_stream), tx.o_stream)
        wiring.connect(m, reader.read, wiring.flipped(self.store.read))

        # The model and the training session.
        state = Signal(State)
        record_size = Signal(32)
        count = Signal(32)          # N
        total = Signal(32)          # N * record_size
        write_ptr = Signal(32)      # bytes learned
        bank = Signal()             # current header bank
        mode = Signal(Mode)
        seed = Signal(64)
        m.d.comb += self.state.eq(state)

        counters = Array(Signal(32, name=f"counter_{c.name.lower()}") for c in Counter)
        uptime = Signal(63)         # 2900 years at 100 MHz; 63 bits keep the adder in a word
        m.d.sync += uptime.eq(uptime + 1)
        # What INFO reports: the counter as the reply starts. The serializer takes each byte as
        # it leaves, a UART byte time apart, so the running counter itself would be torn by a
        # carry between two of its bytes.
        uptime_at = Signal.like(uptime)

        for strobe, counter in ((self.rx_err.framing, Counter.FRAMING_ERRORS),
                                (self.rx_err.overrun, Counter.OVERRUN_ERRORS)):
            with m.If(strobe):
                m.d.sync += counters[counter].eq(counters[counter] + 1)

        # The request being processed.
        cmd = Signal(8)
        tag = Signal(8)
        length = Signal(16)
        index = Signal(16)          # payload byte index
        # Arguments: the first 8 payload bytes, and the 9th (SEED's seed ends there) apart, so
        # that no register is wider than a 64-bit word (cheaper to simulate).
        args = Signal(64)
        args_last = Signal(8 * (_ARGS_SIZE - 8))
        learn_ok = Signal()         # this LEARN frame's data is being written
        learn_status = Signal(Status)
        waddr = Signal(aw)

        # The reply.
        status = Signal(Status)
        value = Signal(32)
        # Every field of the status and INFO, by name; the serializer picks their bytes in the
        # order of the protocol's field tables.
        fields = {
            "status": status, "cmd": cmd, "state": state, "mode": mode, "count": count,
            "write_ptr": write_ptr, "value": value,
            "version": protocol.VERSION, "index_bits": len(addrgen.o_stream.payload),
            "max_payload": protocol.MAX_PAYLOAD, "capacity": cap, "record_size": record_size,
            "clk_freq": self._clk_freq, "baud": self._baud, "header_size": protocol.HEADER_SIZE,
            "reserved": 0,
            **{f"counter_{c.name.lower()}": counters[c] for c in Counter},
            "uptime": uptime_at,
        }
        fixed_bytes = []
        for name, size in protocol.STATUS_FIELDS + protocol.INFO_FIELDS:
            field = Value.cast(fields[name])
            for i in range(size):
                fixed_bytes.append(field[8 * i:8 * i + 8] if 8 * i < len(field) else C(0, 8))
        n_fixed = _STATUS_SIZE + _INFO_SIZE

        # Reply payload serializer: status (+ info + header for INFO), one cycle of latency
        # like the header memory's read port so both parts line up.
        ser_start = Signal()
        ser_length = Signal(range(n_fixed + protocol.HEADER_SIZE + 1))
        ser_index = Signal.like(ser_length)
        ser_valid = Signal()
        ser_byte = Signal(8)
        ser_from_mem = Signal()
        ser_ready = Signal()
        ser_advance = Signal()
        m.d.comb += [
            ser_advance.eq(~ser_valid | ser_ready),
            header_rd.en.eq(ser_advance),
            header_rd.addr.eq(Cat((ser_index - n_fixed)[:ceil_log2(protocol.HEADER_SIZE)],
                                  bank)),
        ]
        with m.If(ser_start):
            m.d.sync += [
                ser_index.eq(0),
                ser_valid.eq(0),
                uptime_at.eq(uptime),
            ]
        with m.Elif(ser_advance):
            with m.If(ser_index < ser_length):
                # A case per byte rather than a shift of one wide vector: far cheaper to
                # simulate, and the same multiplexer in hardware.
                with m.Switch(ser_index):
                    for i, byte in enumerate(fixed_bytes):
                        with m.Case(i):
                            m.d.sync += ser_byte.eq(byte)
                m.d.sync += [
                    ser_from_mem.eq(ser_index >= n_fixed),
                    ser_index.eq(ser_index + 1),
                    ser_valid.eq(1),
                ]
            with m.Else():
                m.d.sync += ser_valid.eq(0)

        # Reader index sources: the address generator (SAMPLE) or a counter (READ, CRC pass).
        from_addrgen = Signal()
        indices_left = Signal(33)
        read_index = Signal(32)
        crc_pass = Signal()
        crc_length = Signal(32)
        m.d.comb += [
            reader.record_size.eq(Mux(crc_pass, crc_length, record_size)),
            reader.i_stream.payload.eq(Mux(from_addrgen, addrgen.o_stream.payload, read_index)),
            reader.i_stream.valid.eq((indices_left != 0) &
                                     Mux(from_addrgen, addrgen.o_stream.valid, 1)),
            addrgen.o_stream.ready.eq(from_addrgen & (indices_left != 0) &
                                      reader.i_stream.ready),
        ]
        with m.If(reader.i_stream.valid & reader.i_stream.ready):
            m.d.sync += [
                indices_left.eq(indices_left - 1),
                read_index.eq(read_index + 1),
            ]

        # CRC-32 over the reader's bytes during a CRC pass.
        m.d.comb += [
            crc32.data.eq(reader.o_stream.payload),
            crc32.valid.eq(crc_pass & reader.o_stream.valid),
        ]

        # Transmitter payload: the serializer (replies) or the reader (DATA frames).
        send_data = Signal()
        m.d.comb += [
            tx.i_stream.payload.eq(Mux(send_data, reader.o_stream.payload,
                                       Mux(ser_from_mem, header_rd.data, ser_byte))),
            tx.i_stream.valid.eq(Mux(send_data, reader.o_stream.valid, ser_valid)),
            ser_ready.eq(~send_data & tx.i_stream.ready),
            reader.o_stream.ready.eq(crc_pass | (send_data & tx.i_stream.ready)),
        ]

        stream_left = Signal(32)    # bytes of sample/read data still to send
        frame_length = Signal(16)

        token = rx.o_stream.payload
        header_size = protocol.fields_size(protocol.BEGIN_FIELDS)
        offset_size = protocol.fields_size(protocol.LEARN_FIELDS)

        # The first two 32-bit arguments (BEGIN, SAMPLE, READ, COMMIT).
        a32 = args[:32]
        b32 = args[32:64]

        def multiply(a, b):
            # Start the serial multiplier; its result is ready when `mult.done`.
            m.d.comb += [
                mult.a.eq(a),
                mult.b.eq(b),
                mult.start.eq(1),
            ]

        def reply(status_, value_=None):
            m.d.sync += status.eq(status_)
            if value_ is not None:
                m.d.sync += value.eq(value_)
            m.next = "Reply"

        # 'Known command with the right payload length', from the latched header.
        length_ok = Signal()
        known = Signal()
        with m.Switch(cmd):
            for command, size in _LENGTHS.items():
                with m.Case(command):
                    m.d.comb += known.eq(1)
                    if command == Command.LEARN:
                        m.d.comb += length_ok.eq(length >= size)
                    else:
                        m.d.comb += length_ok.eq(length == size)

        with m.FSM(name="fsm"):
            with m.State("Idle"):
                m.d.comb += [
                    rx.o_stream.ready.eq(1),
                    self.waiting.eq(rx.waiting),
                ]
                with m.If(rx.o_stream.valid):
                    m.d.sync += [
                        cmd.eq(token.cmd),
                        tag.eq(token.tag),
                        length.eq(token.length),
                        index.eq(0),
                        args.eq(0),
                        args_last.eq(0),
                        value.eq(0),
                        learn_ok.eq(0),
                        learn_status.eq(Status.OK),
                        waddr.eq(write_ptr),
                    ]
                    with m.Switch(token.kind):
                        with m.Case(TokenKind.HEADER):
                            m.next = "Payload"
                        with m.Case(TokenKind.DROP):
                            reply(token.status)

            with m.State("Payload"):
                m.d.comb += [
                    rx.o_stream.ready.eq(1),
                    self.waiting.eq(rx.waiting),
                ]
                byte = token.data
                with m.If(rx.o_stream.valid & (token.kind == TokenKind.PAYLOAD)):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index < _ARGS_SIZE):
                        with m.If(index < 8):
                            m.d.sync += args.word_select(index[:3], 8).eq(byte)
                        with m.Else():
                            m.d.sync += args_last.word_select(
                                (index - 8)[:max(1, ceil_log2(_ARGS_SIZE - 8))], 8).eq(byte)
                    with m.If((cmd == Command.LEARN) & length_ok):
                        with m.If(index == offset_size - 1):
                            # The offset is complete: decide whether this frame's data is
                            # written. Sizes are compared in 33 bits: no wrap-around.
                            offset = Cat(args[:8 * (offset_size - 1)], byte)
                            data_length = length - offset_size
                            with m.If(state != State.LEARNING):
                                m.d.sync += learn_status.eq(Status.BAD_STATE)
                            with m.Elif(offset != write_ptr):
                                m.d.sync += learn_status.eq(Status.OUT_OF_ORDER)
                            with m.Elif(write_ptr + data_length > total):
                                m.d.sync += learn_status.eq(Status.OVERFLOW)
                            with m.Else():
                                m.d.sync += learn_ok.eq(1)
                        with m.If(learn_ok):
                            m.d.comb += [
                                self.store.write.addr.eq(waddr),
                                self.store.write.data.eq(byte),
                                self.store.write.en.eq(1),
                            ]
                            m.d.sync += waddr.eq(waddr + 1)
                    with m.If((cmd == Command.BEGIN) & length_ok & (index >= header_size)):
                        # Staged in the spare bank; it becomes current only if BEGIN succeeds.
                        m.d.comb += [
                            header_wr.addr.eq(Cat((index - header_size)[:ceil_log2(
                                protocol.HEADER_SIZE)], ~bank)),
                            header_wr.data.eq(byte),
                            header_wr.en.eq(1),
                        ]
                with m.If(rx.o_stream.valid & (token.kind == TokenKind.END)):
                    with m.If(token.status != Status.OK):
                        reply(token.status)
                    with m.Elif(~known):
                        reply(Status.UNKNOWN_COMMAND)
                    with m.Elif(~length_ok):
                        reply(Status.BAD_LENGTH)
                    with m.Else():
                        m.next = "Execute"
                with m.If(rx.o_stream.valid & (token.kind != TokenKind.PAYLOAD) &
                          (token.kind != TokenKind.END)):
                    # A new frame without an END for this one cannot happen; stay safe.
                    reply(Status.TRUNCATED)

            with m.State("Execute"):
                with m.Switch(cmd):
                    with m.Case(Command.INFO):
                        reply(Status.OK)
                    with m.Case(Command.CLEAR):
                        m.d.sync += [
                            state.eq(State.EMPTY),
                            record_size.eq(0),
                            count.eq(0),
                            total.eq(0),
                            write_ptr.eq(0),
                        ]
                        reply(Status.OK)
                    with m.Case(Command.BEGIN):
                        with m.If((a32 == 0) | (b32 == 0)):
                            reply(Status.BAD_ARGUMENT)
                        with m.Elif(a32[31] | b32[31]):
                            reply(Status.OVERFLOW, cap)
                        with m.Else():
                            m.next = "Begin"
                        multiply(a32, b32)
                    with m.Case(Command.LEARN):
                        with m.If(learn_ok):
                            m.d.sync += write_ptr.eq(write_ptr + length - offset_size)
                        reply(learn_status, write_ptr + Mux(learn_ok, length - offset_size, 0))
                    with m.Case(Command.COMMIT):
                        with m.If((state != State.LEARNING) | (write_ptr != total)):
                            reply(Status.BAD_STATE)
                        with m.Else():
                            m.d.sync += crc_length.eq(total)
                            m.next = "CRC-Start"
                    with m.Case(Command.CHECKSUM):
                        m.d.sync += crc_length.eq(write_ptr)
                        m.next = "CRC-Start"
                    with m.Case(Command.SEED):
                        with m.If(args[:8] > max(Mode)):
                            reply(Status.BAD_ARGUMENT)
                        with m.Else():
                            m.d.sync += [
                                mode.eq(args[:8]),
                                seed.eq(Cat(args[8:64], args_last)),
                            ]
                            m.next = "Restart"
                    with m.Case(Command.SAMPLE):
                        with m.If(state != State.READY):
                            reply(Status.BAD_STATE)
                        with m.Elif(a32[31]):
                            reply(Status.BAD_ARGUMENT)      # 2**31 records or more in one go
                        with m.Else():
                            multiply(a32, record_size)
                            m.d.sync += [
                                from_addrgen.eq(1),
                                value.eq(a32),
                            ]
                            m.next = "Stream-Size"
                    with m.Case(Command.READ):
                        with m.If(state == State.EMPTY):
                            reply(Status.BAD_STATE)
                        with m.Elif((a32 + b32)[31:] != 0):
                            reply(Status.BAD_ARGUMENT)      # past any possible store
                        with m.Else():
                            multiply(a32 + b32, record_size)
                            m.next = "Read-Check"

            with m.State("Begin"):
                with m.If(mult.done):
                    with m.If(mult.overflow | (mult.product > cap)):
                        reply(Status.OVERFLOW, cap)
                    with m.Else():
                        m.d.sync += [
                            state.eq(State.LEARNING),
                            record_size.eq(a32),
                            count.eq(b32),
                            total.eq(mult.product),
                            write_ptr.eq(0),
                            bank.eq(~bank),
                        ]
                        reply(Status.OK)

            with m.State("Restart"):
                # Restart the address generator with the session's count, if there is one.
                m.d.comb += [
                    addrgen.mode.eq(mode),
                    addrgen.seed.eq(seed),
                    addrgen.count.eq(count),
                    addrgen.restart.eq(state == State.READY),
                ]
                reply(Status.OK)

            with m.State("CRC-Start"):
                m.d.comb += crc32.start.eq(1)
                m.d.sync += [
                    crc_pass.eq(crc_length != 0),
                    from_addrgen.eq(0),
                    read_index.eq(0),
                    indices_left.eq(crc_length != 0),
                    stream_left.eq(crc_length),
                ]
                m.next = "CRC-Pass"

            with m.State("CRC-Pass"):
                with m.If(reader.o_stream.valid):
                    m.d.sync += stream_left.eq(stream_left - 1)
                with m.If(stream_left == 0):
                    # The CRC is read once, into `value`, and compared from there: its output
                    # bit reversal then costs nothing in the cycles it is not needed.
                    m.d.sync += [
                        crc_pass.eq(0),
                        value.eq(crc32.crc),
                    ]
                    m.next = "CRC-Done"

            with m.State("CRC-Done"):
                with m.If(cmd == Command.COMMIT):
                    with m.If(value == a32):
                        m.d.sync += state.eq(State.READY)
                        m.next = "Restart"
                    with m.Else():
                        reply(Status.CRC_MISMATCH)
                with m.Else():
                    reply(Status.OK)

            with m.State("Read-Check"):
                with m.If(mult.done):
                    with m.If(mult.overflow | (mult.product > write_ptr)):
                        reply(Status.BAD_ARGUMENT)
                    with m.Else():
                        multiply(b32, record_size)
                        m.d.sync += [
                            from_addrgen.eq(0),
                            read_index.eq(a32),
                            value.eq(b32),
                        ]
                        m.next = "Stream-Size"

            with m.State("Stream-Size"):
                with m.If(mult.done):
                    with m.If(mult.overflow):
                        reply(Status.BAD_ARGUMENT)      # 2**31 bytes or more in one go
                    with m.Else():
                        m.d.sync += [
                            stream_left.eq(mult.product),
                            indices_left.eq(value),
                        ]
                        m.next = "Data-Header"

            with m.State("Data-Header"):
                with m.If(stream_left == 0):
                    reply(Status.OK)
                with m.Elif(tx.idle):
                    length_now = Mux(stream_left > protocol.MAX_PAYLOAD,
                                     protocol.MAX_PAYLOAD, stream_left)
                    m.d.comb += [
                        tx.start.eq(1),
                        tx.cmd.eq(Reply.DATA),
                        tx.tag.eq(tag),
                        tx.length.eq(length_now),
                    ]
                    m.d.sync += [
                        frame_length.eq(length_now),
                        send_data.eq(1),
                    ]
                    m.next = "Data"

            with m.State("Data"):
                with m.If(tx.idle):
                    m.d.sync += [
                        stream_left.eq(stream_left - frame_length),
                        send_data.eq(0),
                    ]
                    m.next = "Data-Header"

            with m.State("Reply"):
                with m.If(tx.idle):
                    is_info = (cmd == Command.INFO) & (status == Status.OK)
                    reply_length = Mux(is_info, n_fixed + protocol.HEADER_SIZE, _STATUS_SIZE)
                    m.d.comb += [
                        tx.start.eq(1),
                        tx.cmd.eq(Reply.REPLY | cmd[:7]),
                        tx.tag.eq(tag),
                        tx.length.eq(reply_length),
                        ser_start.eq(1),
                    ]
                    m.d.sync += ser_length.eq(reply_length)
                    # Count the frame by its outcome.
                    with m.Switch(status):
                        for st, counter in ((Status.OK, Counter.FRAMES_OK),
                                            (Status.HEADER_CRC, Counter.HEADER_ERRORS),
                                            (Status.FRAME_CRC, Counter.CRC_ERRORS),
                                            (Status.TRUNCATED, Counter.TIMEOUT_ERRORS)):
                            with m.Case(st):
                                m.d.sync += counters[counter].eq(counters[counter] + 1)
                        with m.Default():
                            m.d.sync += counters[Counter.REJECTED].eq(
                                counters[Counter.REJECTED] + 1)
                    m.d.sync += self.error.eq(status != Status.OK)
                    m.next = "Reply-Wait"

            with m.State("Reply-Wait"):
                with m.If(tx.idle):
                    m.next = "Idle"

        return m
