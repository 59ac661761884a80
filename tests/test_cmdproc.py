# SPDX-License-Identifier: BSD-2-Clause
import os
import random

import pytest

from hw import protocol
from hw.protocol import Command, Mode, State, Status
from hw.sampler.addrgen_model import AddressGeneratorModel
from sim.pysim_link import SimulatedLink
from tests.helpers import RawClient

CAPACITY = 4096
HEADER = bytes(range(protocol.HEADER_SIZE))


class Talker:
    """Just enough host to poke the command processor frame by frame."""

    def __init__(self, **kwargs):
        self.link = SimulatedLink(capacity=CAPACITY, **kwargs)
        self.client = RawClient(self.link)

    @property
    def dropped(self):
        """Replies to garbage that looked like a frame header, which :meth:`call` passed over."""
        return len(self.client.skipped)

    def reply(self):
        """Return the next reply (to a request, or to bytes written to the link) and its
        status."""
        event = self.client.receive()
        assert event is not None, "no reply"
        assert event.status is not None, event
        return event, event.status

    def call(self, cmd, payload=b""):
        response = self.client.call(cmd, payload, skip={Status.HEADER_CRC})
        return response.status, response.data, response.payload

    def info(self):
        st, _, payload = self.call(Command.INFO)
        assert st["status"] == Status.OK
        return st, protocol.parse_info(payload)

    def begin(self, record_size, count, header=HEADER):
        st = self.call(Command.BEGIN, protocol.begin_payload(record_size, count, header))[0]
        if st["status"] == Status.OK:
            self.session = protocol.begin_payload(record_size, count, header)
        return st

    def crc(self, data):
        """The session CRC-32 of ``data`` learned after the last successful BEGIN."""
        return protocol.session_crc(self.session, data)

    def learn(self, offset, data):
        return self.call(Command.LEARN,
                         protocol.pack_fields(protocol.LEARN_FIELDS, offset=offset) + data)[0]

    def commit(self, crc):
        return self.call(Command.COMMIT, protocol.pack_fields(protocol.COMMIT_FIELDS, crc32=crc))[0]

    def train(self, records, record_size, chunk=1000):
        data = b"".join(records)
        assert self.begin(record_size, len(records))["status"] == Status.OK
        for offset in range(0, len(data), chunk):
            st = self.learn(offset, data[offset:offset + chunk])
            assert st["status"] == Status.OK, st
        st = self.commit(self.crc(data))
        assert st["status"] == Status.OK, st
        return st

    def seed(self, mode, seed):
        return self.call(Command.SEED, protocol.pack_fields(protocol.SEED_FIELDS, mode=mode,
                                                            seed=seed))[0]

    def sample(self, k):
        st, data, _ = self.call(Command.SAMPLE, protocol.pack_fields(protocol.SAMPLE_FIELDS,
                                                                     count=k))
        return st, data

    def read(self, index, count):
        st, data, _ = self.call(Command.READ, protocol.pack_fields(protocol.READ_FIELDS,
                                                                   index=index, count=count))
        return st, data


def _records(n, size, seed=1):
    rng = random.Random(seed)
    return [bytes(rng.randrange(256) for _ in range(size)) for _ in range(n)]


def test_info_after_reset():
    t = Talker()
    st, info = t.info()
    assert st["state"] == State.EMPTY
    assert st["count"] == 0 and st["write_ptr"] == 0
    assert info["version"] == protocol.VERSION
    assert info["capacity"] == CAPACITY
    assert info["max_payload"] == protocol.MAX_PAYLOAD
    assert info["clk_freq"] == 100_000_000 and info["baud"] == 3_000_000
    assert info["header_size"] == protocol.HEADER_SIZE
    assert info["counters"]["frames_ok"] == 1     # this INFO


def test_train_sample_modes():
    t = Talker()
    records = _records(37, 24)
    st = t.train(records, 24)
    assert st["value"] == t.crc(b"".join(records))
    st, info = t.info()
    assert st["state"] == State.READY and st["count"] == 37
    assert st["write_ptr"] == 37 * 24
    assert info["record_size"] == 24
    assert info["header"] == HEADER
    model = AddressGeneratorModel(CAPACITY)
    for mode in Mode:
        seed = 0x1234_5678_9abc_def0 + mode
        assert t.seed(mode, seed)["status"] == Status.OK
        model.restart(mode, seed, 37)
        for k in (5, 0, 70):
            st, data = t.sample(k)
            expected = b"".join(records[i] for i in model.take(k))
            assert data == expected
            # The reply carries the CRC-32 of the stream: end to end.
            assert st["status"] == Status.OK and st["value"] == protocol.crc32(expected)


def test_sample_spans_several_frames():
    t = Talker()
    records = _records(2, 1500)
    t.train(records, 1500)
    t.seed(Mode.RECITE, 0)
    st, data = t.sample(7)     # 10500 bytes: three DATA frames
    assert data == b"".join(records[i % 2] for i in range(7))


def test_read_records_and_bounds():
    t = Talker()
    records = _records(10, 7)
    t.train(records, 7)
    st, data = t.read(3, 4)
    assert st["status"] == Status.OK and data == b"".join(records[3:7])
    st, data = t.read(9, 2)
    assert st["status"] == Status.BAD_ARGUMENT and data == b""
    st, data = t.read(0xffff_ffff, 2)
    assert st["status"] == Status.BAD_ARGUMENT
    st, data = t.read(0x7fff_fff0, 1)
    assert st["status"] == Status.BAD_ARGUMENT


def test_sample_too_much_at_once():
    t = Talker()
    t.train(_records(3, 24), 24)
    # MAX_STREAM_BYTES bytes or more.
    for k in (0x8000_0000, 0x7fff_ffff, protocol.MAX_STREAM_BYTES // 24 + 1):
        st, data = t.sample(k)
        assert st["status"] == Status.BAD_ARGUMENT and data == b""
    st, data = t.sample(2)
    assert st["status"] == Status.OK and len(data) == 48


def test_status_values_and_empty_streams_as_documented():
    """docs/protocol.md: OVERFLOW's value is the capacity for BEGIN and the unchanged write_ptr
    for LEARN; a SAMPLE or READ of 0 records sends no DATA frame and answers OK."""
    t = Talker()
    st = t.begin(CAPACITY + 1, 1)
    assert st["status"] == Status.OVERFLOW and st["value"] == CAPACITY
    assert t.begin(10, 2)["status"] == Status.OK
    assert t.learn(0, bytes(8))["status"] == Status.OK
    st = t.learn(8, bytes(13))                  # 21 bytes into a 20-byte session
    assert st["status"] == Status.OVERFLOW and st["value"] == 8 == st["write_ptr"]
    assert t.learn(8, bytes(12))["status"] == Status.OK
    assert t.commit(t.crc(bytes(20)))["status"] == Status.OK
    for st, data in (t.sample(0), t.read(1, 0)):
        assert st["status"] == Status.OK and st["value"] == 0 and data == b""


def test_one_record_holds_everything():
    t = Talker()
    paper = bytes(random.Random(5).randrange(256) for _ in range(CAPACITY))
    t.train([paper], CAPACITY, chunk=protocol.MAX_PAYLOAD - 4)
    t.seed(Mode.RECITE, 0)
    assert t.sample(1)[1] == paper


def test_capacity_exact_and_one_over():
    t = Talker()
    records = _records(4, CAPACITY // 4)
    t.train(records, CAPACITY // 4)
    st = t.begin(CAPACITY // 4 + 1, 4)
    assert st["status"] == Status.OVERFLOW and st["value"] == CAPACITY
    st = t.begin(1, CAPACITY + 1)
    assert st["status"] == Status.OVERFLOW
    st = t.begin(0x8000_0000, 0x8000_0000)      # product overflows 32 bits
    assert st["status"] == Status.OVERFLOW
    # The refused BEGINs left the model alone.
    st, info = t.info()
    assert st["state"] == State.READY and info["header"] == HEADER
    assert t.read(0, 4)[1] == b"".join(records)


def test_unfinished_training_refuses_sampling():
    t = Talker()
    records = _records(8, 16)
    data = b"".join(records)
    assert t.begin(16, 8)["status"] == Status.OK
    assert t.learn(0, data[:64])["status"] == Status.OK
    st, _ = t.sample(1)
    assert st["status"] == Status.BAD_STATE and st["state"] == State.LEARNING
    st = t.commit(t.crc(data))
    assert st["status"] == Status.BAD_STATE and st["write_ptr"] == 64
    # CHECKSUM covers what is there so far (for resuming).
    st, _, _ = t.call(Command.CHECKSUM)
    assert st["status"] == Status.OK and st["value"] == t.crc(data[:64])
    assert t.learn(64, data[64:])["status"] == Status.OK
    st = t.commit(t.crc(data) ^ 1)
    assert st["status"] == Status.CRC_MISMATCH and st["value"] == t.crc(data)
    assert st["state"] == State.LEARNING
    assert t.commit(t.crc(data))["status"] == Status.OK


def test_learn_rules():
    t = Talker()
    assert t.learn(0, b"abcd")["status"] == Status.BAD_STATE
    assert t.begin(4, 2)["status"] == Status.OK
    assert t.learn(4, b"abcd")["status"] == Status.OUT_OF_ORDER
    st = t.learn(0, b"abcd")
    assert st["status"] == Status.OK and st["write_ptr"] == 4
    assert t.learn(0, b"abcd")["status"] == Status.OUT_OF_ORDER     # a duplicate
    assert t.learn(4, b"efghi")["status"] == Status.OVERFLOW
    st, _ = t.read(0, 1)
    assert st["status"] == Status.OK
    assert t.read(0, 2)[0]["status"] == Status.BAD_ARGUMENT        # not learned yet
    assert t.learn(4, b"efgh")["status"] == Status.OK
    assert t.commit(t.crc(b"abcdefgh"))["status"] == Status.OK
    assert t.learn(8, b"x")["status"] == Status.BAD_STATE           # learn after commit
    assert t.call(Command.CLEAR)[0]["state"] == State.EMPTY
    assert t.sample(1)[0]["status"] == Status.BAD_STATE


def test_bad_arguments_and_lengths():
    t = Talker()
    assert t.begin(0, 5)["status"] == Status.BAD_ARGUMENT
    assert t.begin(5, 0)["status"] == Status.BAD_ARGUMENT
    assert t.seed(3, 0)["status"] == Status.BAD_ARGUMENT
    assert t.call(Command.INFO, b"x")[0]["status"] == Status.BAD_LENGTH
    assert t.call(Command.LEARN, b"abc")[0]["status"] == Status.BAD_LENGTH
    assert t.call(0x3f)[0]["status"] == Status.UNKNOWN_COMMAND
    st, info = t.info()
    assert info["counters"]["rejected"] == 6
    assert info["counters"]["frames_ok"] == 1     # this INFO


@pytest.mark.parametrize("header_size", [0, 1, 17, protocol.HEADER_SIZE - 1])
def test_begin_with_a_short_header(header_size):
    """BEGIN may cut its header short: the device fills the rest with zeros, whatever its
    header banks held before, and the session CRC covers the full 40 bytes. One byte fewer
    than the arguments, or more than the full header, is refused."""
    t = Talker()
    full = bytes(range(0x80, 0x80 + protocol.HEADER_SIZE))
    for _ in range(2):              # both banks hold a full header
        assert t.begin(4, 2, full)["status"] == Status.OK
    header = bytes(range(1, header_size + 1))
    request = protocol.begin_request(4, 3, header)
    assert len(request) == protocol.SHORT_REQUESTS[Command.BEGIN] + header_size
    assert t.call(Command.BEGIN, request)[0]["status"] == Status.OK
    t.session = protocol.begin_payload(4, 3, header)
    _, info = t.info()
    assert info["header"] == header.ljust(protocol.HEADER_SIZE, b"\0")
    data = bytes(range(12))
    assert t.learn(0, data)["status"] == Status.OK
    assert t.commit(t.crc(data))["status"] == Status.OK
    _, info = t.info()
    assert (info["state"], info["header"]) == (State.READY, header.ljust(protocol.HEADER_SIZE,
                                                                       b"\0"))
    for length in (protocol.SHORT_REQUESTS[Command.BEGIN] - 1,
                   protocol.REQUEST_LENGTHS[Command.BEGIN] + 1):
        assert t.call(Command.BEGIN, (request + bytes(40))[:length])[0]["status"] == \
            Status.BAD_LENGTH
    assert t.info()[0]["state"] == State.READY


@pytest.mark.parametrize(("least", "most"), [(8, 40), (0, 39), (16, 23)])
def test_between_compares_slices(least, most):
    from amaranth import Module, Signal
    from amaranth.sim import Simulator

    from hw.engine.cmdproc import _between
    value, inside = Signal(16), Signal()
    m = Module()
    m.d.comb += inside.eq(_between(value, least, most))
    wrong = []

    async def testbench(ctx):
        for x in [*range(300), 4095, 4096, 65535, 64 + least, 128 + most]:
            ctx.set(value, x)
            if ctx.get(inside) != (least <= x <= most):
                wrong.append(x)

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert wrong == []


def test_corrupted_frames_are_rejected_and_counted():
    t = Talker()
    records = _records(6, 10)
    t.train(records, 10)
    _, before = t.info()
    good = protocol.encode_frame(Command.BEGIN, protocol.pack_fields(
        protocol.BEGIN_FIELDS, record_size=1, count=1) + bytes(protocol.HEADER_SIZE), tag=9)
    # A payload bit error: CRC-16 fails; nothing applied, and the spare header bank too.
    bad = bytearray(good)
    bad[12] ^= 0x10
    t.link.write(bytes(bad))
    frame, st = t.reply()
    assert st["status"] == Status.FRAME_CRC and frame.tag == 9
    # A header bit error: CRC-8 fails.
    bad = bytearray(good)
    bad[4] ^= 0x01
    t.link.write(bytes(bad))
    _, st = t.reply()
    assert st["status"] == Status.HEADER_CRC
    # Garbage, including fake sync markers, then a good frame: resynchronised.
    garbage = random.Random(3).randbytes(200)
    t.link.write(bytes([0xa5, 0x5a, 0xff, 0x00, 0xa5, 0x13, 0x37]) + garbage)
    st, info = t.info()
    assert st["state"] == State.READY
    assert info["header"] == HEADER
    assert info["counters"]["crc_errors"] == before["counters"]["crc_errors"] + 1
    # Every drop is counted; only the first after each valid header is answered.
    assert info["counters"]["header_errors"] >= before["counters"]["header_errors"] + 1 + t.dropped
    assert t.read(0, 6)[1] == b"".join(records)


def test_frame_inside_a_bad_header_is_answered():
    # a5 5a right before INFO: the header it starts fails, and its bytes are examined again.
    t = Talker()
    t.link.write(protocol.SYNC + protocol.encode_frame(Command.INFO, tag=2))
    _, st = t.reply()
    assert st["status"] == Status.HEADER_CRC
    frame, st = t.reply()
    assert st["status"] == Status.OK and frame.tag == 2
    assert protocol.parse_info(frame.payload)["counters"]["header_errors"] == 1


def test_truncated_frame_times_out():
    t = Talker(frame_timeout=500)
    frame = protocol.encode_frame(Command.SEED, bytes(9), tag=3)
    t.link.write(frame[:-3])
    f, st = t.reply()
    assert st["status"] == Status.TRUNCATED and f.tag == 3
    st, info = t.info()
    assert info["counters"]["timeout_errors"] == 1


def test_oversize_length_is_refused():
    t = Talker()
    head = bytes([Command.LEARN, 4]) + (protocol.MAX_PAYLOAD + 1).to_bytes(2, "little")
    t.link.write(protocol.SYNC + head + bytes([protocol.crc8(head)]))
    _, st = t.reply()
    assert st["status"] == Status.BAD_LENGTH
    assert t.info()[0]["status"] == Status.OK


@pytest.mark.parametrize("size", [0, 1, 300])
def test_protocol_crcs_match_amaranth_catalog(size):
    from amaranth.lib.crc import catalog
    data = os.urandom(size)
    assert protocol.crc8(data) == getattr(catalog, protocol.CRC8_ALGORITHM)().compute(data)
    assert protocol.crc32(data) == getattr(catalog, protocol.CRC32_ALGORITHM)().compute(data)


def test_info_uptime_is_one_snapshot():
    """INFO's uptime is read at one instant, not byte by byte as the reply goes out.

    Regression: the serializer took each byte of the running cycle counter when that byte left,
    one UART byte time apart, so a carry between two bytes tore the value (the fault campaign of
    sim/fuzz.py saw an uptime 2**16 cycles ahead of the simulation). A slow receiver here spreads
    the reply over thousands of cycles, across carries out of the low bytes.
    """
    from sim.pysim_link import Device
    from tests.simutil import run, stream_put

    dut = Device(capacity=CAPACITY)
    # Where the uptime is in the reply frame.
    offset, size = protocol.field_offset(protocol.INFO_FIELDS, "uptime")
    start = protocol.PAYLOAD_OFFSET + protocol.STATUS_SIZE + offset
    reply = bytearray()
    first_uptime_byte_at = []

    async def host(ctx):
        for byte in protocol.encode_frame(Command.INFO, tag=1):
            await stream_put(ctx, dut.i_stream, byte)

    async def slow_receiver(ctx):
        o_stream = dut.o_stream
        cycle = 0
        async for _, _, ready, valid, payload in ctx.tick().sample(
                o_stream.ready, o_stream.valid, o_stream.payload):
            if ready and valid:
                reply.append(payload)
                if len(reply) == start + 1:
                    first_uptime_byte_at.append(cycle)
            if len(reply) == start + size:
                return
            cycle += 1
            ctx.set(o_stream.ready, cycle % 300 == 0)

    run(dut, host, slow_receiver, name="test_info_uptime_is_one_snapshot")
    uptime = int.from_bytes(reply[start:start + size], "little")
    # The counter runs from reset, as the testbench's cycle count does: a snapshot taken when
    # the reply starts is older than the moment its first byte leaves.
    assert 0 < uptime <= first_uptime_byte_at[0]


def _csr(write, address, value=0):
    return protocol.pack_fields(protocol.CSR_FIELDS, write=write, address=address, value=value)


def test_csr_reaches_the_store_control_bus():
    from sim.pysim_link import ControlledStore

    talker = Talker(store="control")
    st, info = talker.info()
    assert (info["memory"], info["leveling"]) == (protocol.Memory.DDR3, protocol.Leveling.NONE)
    st = talker.call(Command.CSR, _csr(protocol.CSR_READ, 0))[0]
    assert (st["status"], st["value"]) == (Status.OK, ControlledStore.ID)
    st = talker.call(Command.CSR, _csr(protocol.CSR_WRITE, 2, 0xDEADBEEF))[0]
    assert (st["status"], st["value"]) == (Status.OK, 0)
    assert talker.call(Command.CSR, _csr(protocol.CSR_READ, 2))[0]["value"] == 0xDEADBEEF
    assert talker.call(Command.CSR, _csr(protocol.CSR_READ, 3))[0]["value"] == 0
    # Register 0 is read-only in this store: the write reaches it and changes nothing.
    talker.call(Command.CSR, _csr(protocol.CSR_WRITE, 0, 1))
    assert talker.call(Command.CSR, _csr(protocol.CSR_READ, 0))[0]["value"] == ControlledStore.ID
    # Past the bus (3 address bits), a bad write flag, a short payload.
    assert talker.call(Command.CSR, _csr(protocol.CSR_READ, 8))[0]["status"] == \
        Status.BAD_ARGUMENT
    assert talker.call(Command.CSR, _csr(2, 1))[0]["status"] == Status.BAD_ARGUMENT
    assert talker.call(Command.CSR, _csr(protocol.CSR_READ, 1)[:-1])[0]["status"] == \
        Status.BAD_LENGTH


def test_csr_writes_only_while_nothing_is_learned():
    talker = Talker(store="control")
    talker.call(Command.CSR, _csr(protocol.CSR_WRITE, 1, 7))
    records = _records(4, 8)
    assert talker.begin(8, 4)["status"] == Status.OK
    # LEARNING: reads go on, writes are refused and change nothing.
    st = talker.call(Command.CSR, _csr(protocol.CSR_WRITE, 1, 9))[0]
    assert (st["status"], st["state"]) == (Status.BAD_STATE, State.LEARNING)
    assert talker.call(Command.CSR, _csr(protocol.CSR_READ, 1))[0]["value"] == 7
    talker.call(Command.CLEAR)
    talker.train(records, 8)
    assert talker.call(Command.CSR, _csr(protocol.CSR_WRITE, 1, 9))[0]["status"] == \
        Status.BAD_STATE
    assert talker.call(Command.CSR, _csr(protocol.CSR_READ, 1))[0]["value"] == 7
    # What was learned is untouched.
    st, data, _ = talker.call(Command.READ, protocol.pack_fields(protocol.READ_FIELDS,
                                                                 index=0, count=4))
    assert data == b"".join(records)
    talker.call(Command.CLEAR)
    assert talker.call(Command.CSR, _csr(protocol.CSR_WRITE, 1, 9))[0]["status"] == Status.OK
    assert talker.call(Command.CSR, _csr(protocol.CSR_READ, 1))[0]["value"] == 9


def test_csr_is_unknown_without_a_control_bus():
    talker = Talker()
    _, info = talker.info()
    assert (info["memory"], info["leveling"]) == (protocol.Memory.ON_CHIP,
                                                  protocol.Leveling.NONE)
    assert talker.call(Command.CSR, _csr(protocol.CSR_READ, 0))[0]["status"] == \
        Status.UNKNOWN_COMMAND
