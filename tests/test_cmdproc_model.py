# SPDX-License-Identifier: BSD-2-Clause
"""The reference model of the receiver and command processor (:mod:`hw.engine.cmdproc_model`),
checked against the rules and worked examples of ``docs/protocol.md``: frames in, reply frames
out. No simulator."""

import random

from hw import protocol
from hw.engine.cmdproc_model import CommandProcessorModel, ExpectedFrame
from hw.protocol import Command, Counter, Mode, Reply, State, Status

CAPACITY = 4096
CLK_FREQ = 100_000_000
BAUD = 12_500_000
INDEX_BITS = 13


def _model():
    return CommandProcessorModel(capacity=CAPACITY, clk_freq=CLK_FREQ, baud=BAUD,
                                 index_bits=INDEX_BITS)


def _wire(frame, key=0):
    """Return the bytes of an expected frame on the wire."""
    return protocol.encode_frame(frame.cmd, frame.payload, frame.tag, key)


def _statuses(model):
    return [frame.payload[0] for frame in model.out if frame.cmd != Reply.DATA]


def _request(model, cmd, tag, key=0, **fields):
    """Feed one request with its fields packed from the protocol's table; return the frames
    it drew."""
    tables = {Command.BEGIN: protocol.BEGIN_FIELDS, Command.COMMIT: protocol.COMMIT_FIELDS,
              Command.SEED: protocol.SEED_FIELDS, Command.SAMPLE: protocol.SAMPLE_FIELDS,
              Command.READ: protocol.READ_FIELDS}
    header = fields.pop("header", bytes(protocol.HEADER_SIZE)) if cmd == Command.BEGIN else b""
    payload = protocol.pack_fields(tables[cmd], **fields) + header if cmd in tables else b""
    return _feed(model, protocol.encode_frame(cmd, payload, tag=tag, key=key))


def _feed(model, data):
    model.out.clear()
    model.feed(data)
    return list(model.out)


def _learn(model, offset, data, tag):
    payload = protocol.pack_fields(protocol.LEARN_FIELDS, offset=offset) + data
    return _feed(model, protocol.encode_frame(Command.LEARN, payload, tag=tag))


def _train(model, records, record_size):
    """Run BEGIN, one LEARN and COMMIT; return the COMMIT's frames."""
    _request(model, Command.BEGIN, 1, record_size=record_size, count=len(records) // record_size)
    _learn(model, 0, records, 2)
    begin = protocol.begin_payload(record_size, len(records) // record_size)
    return _request(model, Command.COMMIT, 3, crc32=protocol.session_crc(begin, records))


def test_info_after_reset():
    (reply,) = _request(_model(), Command.INFO, 1)
    assert (reply.cmd, reply.tag) == (protocol.reply_code(Command.INFO), 1)
    info = protocol.parse_info(reply.payload)
    assert (info["status"], info["cmd"], info["state"], info["mode"]) == \
        (Status.OK, Command.INFO, State.EMPTY, Mode.RANDOM)
    assert (info["count"], info["write_ptr"], info["value"], info["record_size"]) == (0, 0, 0, 0)
    assert (info["version"], info["max_payload"], info["header_size"]) == \
        (protocol.VERSION, protocol.MAX_PAYLOAD, protocol.HEADER_SIZE)
    assert (info["capacity"], info["clk_freq"], info["baud"], info["index_bits"]) == \
        (CAPACITY, CLK_FREQ, BAUD, INDEX_BITS)
    # The INFO counts itself; the header is all zeros until a BEGIN.
    assert info["counters"] == {c.name.lower(): int(c == Counter.FRAMES_OK) for c in Counter}
    assert info["header"] == bytes(protocol.HEADER_SIZE)
    # The device's own clock is not modelled: any uptime matches, nothing else does.
    offset, size = protocol.field_offset(protocol.INFO_FIELDS, "uptime")
    at = protocol.STATUS_SIZE + offset
    uptime = bytearray(reply.payload)
    uptime[at:at + size] = (12345).to_bytes(size, "little")
    assert reply.matches(protocol.Frame(reply.cmd, 1, bytes(uptime)))
    uptime[at - 1] ^= 1
    assert not reply.matches(protocol.Frame(reply.cmd, 1, bytes(uptime)))


def test_learn_worked_examples():
    """The OK and REFUSED replies of docs/protocol.md, byte for byte."""
    from tests.test_protocol import _doc_examples, doc_key

    doc, key = _doc_examples(), doc_key()
    model = _model()
    (opened,) = _feed(model, doc["OPEN"])
    assert opened.payload[0] == Status.OK and model.key == key
    (begin,) = _request(model, Command.BEGIN, 3, record_size=2, count=2, key=key)
    assert begin.payload[0] == Status.OK and model.state == State.LEARNING
    assert [_wire(f, key) for f in _feed(model, doc["LEARN"])] == [doc["OK"]]
    assert [_wire(f, key) for f in _feed(model, doc["LEARN"])] == [doc["REFUSED"]]
    assert model.write_ptr == 4 and bytes(model.store[:4]) == bytes.fromhex("00102030")


def test_doc_worked_examples_are_one_session():
    """docs/protocol.md's worked examples are one connection: its OPEN, BEGIN, LEARN, the same
    LEARN again, COMMIT, SEED and SAMPLE, fed to the model in order, draw its OK, REFUSED,
    DATA and SAMPLED frames byte for byte."""
    from tests.test_protocol import _doc_examples, doc_key

    doc, key = _doc_examples(), doc_key()
    model = _model()

    def ok(name):
        (reply,) = _feed(model, doc[name])
        assert reply.payload[0] == Status.OK, name
        return protocol.parse_status(reply.payload)

    assert ok("OPEN")["value"] == key
    ok("BEGIN")
    assert [_wire(f, key) for f in _feed(model, doc["LEARN"])] == [doc["OK"]]
    assert [_wire(f, key) for f in _feed(model, doc["LEARN"])] == [doc["REFUSED"]]
    begin = protocol.begin_payload(2, 2, b"MG")
    assert ok("COMMIT")["value"] == protocol.session_crc(begin, bytes(model.store[:4]))
    assert model.state == State.READY
    ok("SEED")
    data, reply = _feed(model, doc["SAMPLE"])
    assert [_wire(data, key), _wire(reply, key)] == [doc["DATA"], doc["SAMPLED"]]
    assert protocol.parse_status(reply.payload)["value"] == protocol.crc32(data.payload)


def test_begin_learn_commit():
    model = _model()
    data = random.Random(1).randbytes(40)
    header = b"H".ljust(protocol.HEADER_SIZE, b"\0")
    (begin,) = _request(model, Command.BEGIN, 1, record_size=8, count=5, header=header)
    assert begin.payload[0] == Status.OK
    (learn,) = _learn(model, 0, data[:24], 2)
    status = protocol.parse_status(learn.payload)
    assert (status["status"], status["write_ptr"], status["value"], status["count"]) == \
        (Status.OK, 24, 24, 5)
    # COMMIT before the last LEARN is refused; the session goes on.
    crc = protocol.session_crc(protocol.begin_payload(8, 5, header), data)
    (early,) = _request(model, Command.COMMIT, 3, crc32=crc)
    assert early.payload[0] == Status.BAD_STATE and model.state == State.LEARNING
    _learn(model, 24, data[24:], 4)
    # A wrong CRC is refused with the device's CRC in `value`, which is compared.
    (wrong,) = _request(model, Command.COMMIT, 5, crc32=crc ^ 1)
    assert protocol.parse_status(wrong.payload)["value"] == crc
    assert wrong.payload[0] == Status.CRC_MISMATCH and not wrong.ignore
    (commit,) = _request(model, Command.COMMIT, 6, crc32=crc)
    assert commit.payload[0] == Status.OK and model.state == State.READY
    assert protocol.parse_status(commit.payload)["value"] == crc
    assert model.header == header
    frames = _request(model, Command.READ, 7, index=1, count=2)
    assert frames[0] == ExpectedFrame(Reply.DATA, 7, data[8:24])
    assert model.counters[Counter.FRAMES_OK] == 5
    assert model.counters[Counter.REJECTED] == 2


def test_begin_with_a_short_header():
    model = _model()
    _request(model, Command.BEGIN, 1, record_size=2, count=2, header=b"\xff" * 32)
    for size, status in ((7, Status.BAD_LENGTH), (8, Status.OK), (9, Status.OK),
                         (40, Status.OK), (41, Status.BAD_LENGTH)):
        payload = (protocol.begin_request(2, 3, b"\x01") + bytes(range(1, 40)))[:size]
        (reply,) = _feed(model, protocol.encode_frame(Command.BEGIN, payload, tag=size))
        assert reply.payload[0] == status, size
        if status == Status.OK:
            assert model.header == payload[8:].ljust(protocol.HEADER_SIZE, b"\0")
            assert model.count == 3


def test_bad_crc_is_rejected_whole():
    model = _model()
    _request(model, Command.BEGIN, 1, record_size=4, count=2)
    model.accepted.clear()
    frame = bytearray(protocol.encode_frame(
        Command.LEARN, protocol.pack_fields(protocol.LEARN_FIELDS, offset=0) + b"abcd", tag=2))
    frame[protocol.PAYLOAD_OFFSET + 5] ^= 0x04
    (reply,) = _feed(model, bytes(frame))
    # Answered with the frame's command and tag, and nothing applied.
    assert (reply.cmd, reply.tag, reply.payload[0]) == \
        (protocol.reply_code(Command.LEARN), 2, Status.FRAME_CRC)
    assert model.write_ptr == 0 and model.accepted == []
    assert model.counters[Counter.CRC_ERRORS] == 1
    # A corrupted header is dropped at once: the frame right behind it is found.
    frame = bytearray(protocol.encode_frame(Command.CHECKSUM, tag=8))
    frame[3] ^= 0x10
    frames = _feed(model, bytes(frame) + protocol.encode_frame(Command.INFO, tag=9))
    assert [(f.cmd, f.tag, f.payload[0]) for f in frames] == [
        (protocol.reply_code(Command.CHECKSUM), 8 ^ 0x10, Status.HEADER_CRC),
        (protocol.reply_code(Command.INFO), 9, Status.OK)]
    assert model.counters[Counter.HEADER_ERRORS] == 1


def test_out_of_order_learn():
    model = _model()
    (outside,) = _learn(model, 0, b"xy", 1)
    assert outside.payload[0] == Status.BAD_STATE
    _request(model, Command.BEGIN, 2, record_size=2, count=4)
    _learn(model, 0, b"ab", 3)
    for offset in (0, 1, 4):
        (reply,) = _learn(model, offset, b"cd", 4)
        status = protocol.parse_status(reply.payload)
        # OUT_OF_ORDER tells the host where to resend from.
        assert (status["status"], status["write_ptr"], status["value"]) == \
            (Status.OUT_OF_ORDER, 2, 2)
    (past,) = _learn(model, 2, bytes(7), 5)
    assert past.payload[0] == Status.OVERFLOW
    assert model.write_ptr == 2 and bytes(model.store[:2]) == b"ab"


def test_sample_in_recite_mode():
    model = _model()
    (refused,) = _request(model, Command.SAMPLE, 1, count=1)
    assert refused.payload[0] == Status.BAD_STATE
    records = b"aabbcc"
    _train(model, records, 2)
    (seed,) = _request(model, Command.SEED, 4, mode=Mode.RECITE, seed=0)
    assert seed.payload[0] == Status.OK and model.mode == Mode.RECITE
    *data, reply = _request(model, Command.SAMPLE, 5, count=5)
    assert data == [ExpectedFrame(Reply.DATA, 5, b"aabbccaabb")]
    status = protocol.parse_status(reply.payload)
    assert (status["status"], status["mode"], status["value"]) == \
        (Status.OK, Mode.RECITE, protocol.crc32(b"aabbccaabb"))
    # Consecutive SAMPLEs continue the sequence; DATA frames carry MAX_PAYLOAD bytes at most.
    *data, reply = _request(model, Command.SAMPLE, 6, count=2500)
    stream = b"".join(f.payload for f in data)
    assert [len(f.payload) for f in data] == [protocol.MAX_PAYLOAD, 5000 - protocol.MAX_PAYLOAD]
    assert stream[:6] == b"ccaabb" and len(stream) == 5000
    # A SAMPLE of 2**31 bytes or more is refused.
    (big,) = _request(model, Command.SAMPLE, 7, count=protocol.MAX_STREAM_BYTES // 2)
    assert big.payload[0] == Status.BAD_ARGUMENT


def test_truncated_frame():
    model = _model()
    info = protocol.encode_frame(Command.INFO, tag=7)
    # Cut after the header: nothing until the line stays idle, then one TRUNCATED.
    frame = protocol.encode_frame(Command.SAMPLE, bytes(4), tag=6)
    assert _feed(model, frame[:-1]) == [] and model.midframe
    model.timeout()
    assert [(f.cmd, f.tag, f.payload[0]) for f in model.out] == \
        [(protocol.reply_code(Command.SAMPLE), 6, Status.TRUNCATED)]
    assert model.accepted == [] and model.counters[Counter.TIMEOUT_ERRORS] == 1
    # Idle between frames, or after a lone a5, says nothing.
    model.out.clear()
    model.timeout()
    model.feed(protocol.SYNC[:1])
    model.timeout()
    assert model.out == []
    # A header cut short is answered with what the header register holds.
    _feed(model, info)
    _feed(model, info[:4])
    model.timeout()
    (reply,) = model.out
    assert (reply.cmd, reply.tag, reply.payload[0]) == \
        (protocol.reply_code(info[4]), info[5], Status.TRUNCATED)


def test_oversize_length():
    """LEN > MAX_PAYLOAD: BAD_LENGTH at once, and the bytes behind are hunted for frames."""
    model = _model()
    head = protocol.pack_fields(protocol.FRAME_HEADER_FIELDS[:-1], cmd=Command.LEARN, tag=10,
                                length=protocol.MAX_PAYLOAD + 1)
    info = protocol.encode_frame(Command.INFO, tag=11)
    _feed(model, protocol.SYNC + head + bytes([protocol.crc8(head)]) + info)
    assert _statuses(model) == [Status.BAD_LENGTH, Status.OK]
    assert model.counters[Counter.REJECTED] == 1


def test_refusals():
    model = _model()
    frames = [
        (Command.SAMPLE, protocol.pack_fields(protocol.SAMPLE_FIELDS, count=1)),
        (Command.LEARN, bytes(5)),
        (Command.READ, bytes(8)),
        (Command.BEGIN, protocol.pack_fields(protocol.BEGIN_FIELDS, record_size=4097, count=1) +
         bytes(protocol.HEADER_SIZE)),
        (Command.BEGIN, protocol.pack_fields(protocol.BEGIN_FIELDS, record_size=0, count=1) +
         bytes(protocol.HEADER_SIZE)),
        (Command.INFO, b"x"),
        (0x33, b""),
        (Command.SEED, bytes([3]) + bytes(8)),
    ]
    for tag, (cmd, payload) in enumerate(frames):
        model.feed(protocol.encode_frame(cmd, payload, tag=tag))
    assert _statuses(model) == [Status.BAD_STATE, Status.BAD_STATE, Status.BAD_STATE,
                                Status.OVERFLOW, Status.BAD_ARGUMENT, Status.BAD_LENGTH,
                                Status.UNKNOWN_COMMAND, Status.BAD_ARGUMENT]
    overflow = protocol.parse_status(model.out[3].payload)
    assert overflow["value"] == CAPACITY
    # Values the protocol leaves open are not compared; defined ones are.
    assert model.out[0].ignore and not model.out[3].ignore
    assert model.counters[Counter.REJECTED] == len(frames)


def test_resynchronise_leaves_the_header_bytes_open():
    model = _model()
    model.resynchronise()
    model.feed(protocol.SYNC + b"\x01\x02")
    model.timeout()
    (expected,) = model.out
    assert expected.cmd is None and expected.tag is None
    reply = protocol.Frame(0x9a, 77, expected.payload[:1] + b"\x1a" + expected.payload[2:])
    assert expected.matches(reply)
    assert not expected.matches(protocol.Frame(Reply.DATA, 77, reply.payload))


def test_clone_is_independent():
    model = _model()
    copy = model.clone()
    _request(copy, Command.BEGIN, 1, record_size=1, count=1)
    assert copy.state == State.LEARNING and model.state == State.EMPTY
    assert model.out == [] and model.counters[Counter.FRAMES_OK] == 0
