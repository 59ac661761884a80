# SPDX-License-Identifier: BSD-2-Clause
import random
import re
import struct
from pathlib import Path

import pytest

from hw import protocol
from hw.protocol import Command, Reply, Status

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def _doc_examples():
    examples = {}
    for line in DOC.read_text().splitlines():
        match = re.fullmatch(r"([A-Z]+)\s+((?:[0-9a-f]{2} ?)+)", line.strip())
        if match:
            examples[match[1]] = bytes.fromhex(match[2])
    return examples


def doc_key():
    """The link key of the worked examples: the payload of their OPEN."""
    (frame,) = protocol.FrameDecoder().feed(_doc_examples()["OPEN"])
    return protocol.unpack_fields(protocol.OPEN_FIELDS, frame.payload)["key"]


def test_doc_examples_are_valid_frames():
    examples = _doc_examples()
    assert set(Command.__members__) <= set(examples)
    key = doc_key()
    assert key != 0
    for name, data in examples.items():
        if name in ("RESYNC", "OVERSIZE"):      # receive-rule examples: several frames
            continue
        frames = protocol.FrameDecoder(key).feed(data)
        assert len(frames) == 1, name
        # Checked with the key: no frame but OPEN passes without it.
        assert (protocol.FrameDecoder().feed(data) == frames) == (name == "OPEN"), name
        if name in Command.__members__:
            assert frames[0].cmd == Command[name]
            assert protocol.encode_frame(frames[0].cmd, frames[0].payload,
                                         tag=frames[0].tag, key=key) == data


def test_doc_field_tables_match_module():
    text = DOC.read_text()
    for name, _ in protocol.INFO_FIELDS + protocol.STATUS_FIELDS:
        assert name in text, name
    for status in protocol.Status:
        assert re.search(rf"\| 0x{status:02x} \| {status.name} \|", text, re.I), status


def test_encode_layout():
    frame = protocol.encode_frame(Command.SAMPLE, b"\x01\x02\x03\x04", tag=0x77)
    assert frame[:2] == protocol.SYNC
    assert frame[2:6] == bytes([Command.SAMPLE, 0x77, 4, 0])
    assert frame[6] == protocol.crc8(frame[2:6])
    assert protocol.crc8(frame[2:7]) == 0
    assert struct.unpack("<I", frame[-4:])[0] == protocol.crc32(frame[2:-4])
    assert len(frame) == 4 + protocol.FRAME_OVERHEAD
    # With a link key, the frame check is the CRC-32 XORed with it; OPEN frames use key 0.
    keyed = protocol.encode_frame(Command.SAMPLE, b"\x01\x02\x03\x04", tag=0x77, key=0x1234)
    assert keyed[:-4] == frame[:-4]
    assert struct.unpack("<I", keyed[-4:])[0] == protocol.crc32(frame[2:-4]) ^ 0x1234
    assert protocol.encode_frame(Command.OPEN, bytes(4), key=0x1234) == \
        protocol.encode_frame(Command.OPEN, bytes(4))
    assert protocol.encode_frame(protocol.reply_code(Command.OPEN), bytes(4), key=9) == \
        protocol.encode_frame(protocol.reply_code(Command.OPEN), bytes(4))


def test_encode_rejects_oversize():
    with pytest.raises(ValueError, match=r"payload of 4097 bytes exceeds MAX_PAYLOAD"):
        protocol.encode_frame(Command.LEARN, bytes(protocol.MAX_PAYLOAD + 1))


def test_decoder_resynchronises():
    rng = random.Random(7)
    frames = [protocol.encode_frame(Reply.DATA, rng.randbytes(rng.randrange(0, 300)), tag=i)
              for i in range(50)]
    stream = bytearray()
    damaged = set()
    for i, frame in enumerate(frames):
        stream += rng.randbytes(rng.randrange(0, 5)).replace(b"\xa5", b"")
        frame = bytearray(frame)
        if i % 7 == 3:
            frame[rng.randrange(2, len(frame))] ^= 1 << rng.randrange(8)
            damaged.add(i)
        stream += frame
    decoder = protocol.FrameDecoder()
    got = []
    for pos in range(0, len(stream), 13):        # arbitrary chunking
        got += decoder.feed(bytes(stream[pos:pos + 13]))
    assert [f.tag for f in got] == [i for i in range(50) if i not in damaged]
    assert decoder.errors >= len(damaged)


def test_pack_unpack_fields():
    data = protocol.pack_fields(protocol.SEED_FIELDS, mode=2, seed=0x0102030405060708)
    assert data == bytes([2, 8, 7, 6, 5, 4, 3, 2, 1])
    assert protocol.unpack_fields(protocol.SEED_FIELDS, data) == {
        "mode": 2, "seed": 0x0102030405060708}
    with pytest.raises(TypeError, match=r"unknown fields \['bogus'\]"):
        protocol.pack_fields(protocol.SEED_FIELDS, bogus=1)
    with pytest.raises(protocol.ProtocolError, match=r"shorter than the 9 expected"):
        protocol.unpack_fields(protocol.SEED_FIELDS, b"\x00")


def _outcomes(data):
    return [(r.status, r.cmd, r.tag) for r in protocol.ReceiveRules().feed(data)]


def test_doc_receive_rule_examples():
    examples = _doc_examples()
    # A stray sync marker: the header it starts fails, and the INFO among its bytes is found.
    assert _outcomes(examples["RESYNC"]) == [(Status.HEADER_CRC, 0xa5, 0x5a),
                                             (Status.OK, Command.INFO, 2)]
    # LEN over MAX_PAYLOAD with a valid HCRC: dropped at once, the reply behind it found.
    assert _outcomes(examples["OVERSIZE"]) == [
        (Status.BAD_LENGTH, protocol.reply_code(Command.INFO), 1),
        (Status.OK, protocol.reply_code(Command.CLEAR), 2)]


def test_decoder_passes_over_an_oversize_length():
    head = protocol.pack_fields(protocol.FRAME_HEADER_FIELDS[:-1], cmd=0x81, tag=1, length=5000)
    reply = protocol.encode_frame(protocol.reply_code(Command.CLEAR), bytes(16), tag=2)
    decoder = protocol.FrameDecoder()
    assert decoder.feed(protocol.SYNC + head + bytes([protocol.crc8(head)]) + reply) == [
        protocol.Frame(protocol.reply_code(Command.CLEAR), 2, bytes(16))]
    assert (decoder.errors, decoder.skipped, decoder.pending) == (1, 7, 0)


def test_decoder_finds_a_frame_inside_a_bad_header():
    info = protocol.encode_frame(Command.INFO, tag=2)
    decoder = protocol.FrameDecoder()
    assert decoder.feed(protocol.SYNC + info) == [protocol.Frame(Command.INFO, 2, b"")]
    assert (decoder.errors, decoder.skipped) == (1, 2)


def test_decoder_consumes_a_frame_whose_crc_fails():
    # A valid header is trusted: a frame inside the payload of a corrupted frame is not found.
    inner = protocol.encode_frame(Command.CLEAR, tag=5)
    outer = bytearray(protocol.encode_frame(Reply.DATA, inner, tag=4))
    outer[-1] ^= 0x01
    decoder = protocol.FrameDecoder()
    assert decoder.feed(bytes(outer)) == []
    assert (decoder.errors, decoder.skipped, decoder.pending) == (1, len(outer), 0)


def test_decoder_counts_and_wants():
    frame = protocol.encode_frame(Reply.DATA, bytes(range(10)), tag=3)
    decoder = protocol.FrameDecoder()
    assert (decoder.wanted, decoder.pending) == (11, 0)
    wanted = []
    for byte in b"\x00\xa5" + frame:
        wanted.append(decoder.wanted)
        decoder.feed(bytes([byte]))
    # A stray a5 is replaced by the frame's; each header byte brings the end closer, and the
    # header's length tells where it is.
    assert wanted == [11, 11, 10, 10, 9, 8, 7, 6, 5, *range(len(frame) - 7, 0, -1)]
    assert (decoder.skipped, decoder.pending, decoder.wanted) == (2, 0, 11)
    decoder.feed(b"\xa5\xa5")
    assert (decoder.skipped, decoder.pending) == (3, 1)


def test_rules_chunking_does_not_matter():
    rng = random.Random(11)
    data = b"".join(rng.choice([
        protocol.encode_frame(Reply.DATA, rng.randbytes(rng.randrange(40)), tag=1),
        protocol.SYNC, b"\xa5", rng.randbytes(3)]) for _ in range(300))
    whole = protocol.ReceiveRules().feed(data)
    rules = protocol.ReceiveRules()
    pieces = []
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 20)
        pieces += rules.feed(data[pos:pos + step])
        pos += step
    assert pieces == whole and len(whole) > 100


def test_rules_timeout():
    rules = protocol.ReceiveRules()
    assert rules.timeout() == []
    rules.feed(b"\xa5")
    assert rules.midframe and rules.timeout() == [] and not rules.midframe
    frame = protocol.encode_frame(Command.SAMPLE, bytes(4), tag=6)
    rules.feed(frame[:-5])
    (received,) = rules.timeout()
    assert (received.status, received.cmd, received.tag, received.length, received.payload) == \
        (Status.TRUNCATED, Command.SAMPLE, 6, 4, bytes(3))
    rules.feed(protocol.SYNC + b"\x01")
    (received,) = rules.timeout()
    assert (received.status, received.header_ok) == (Status.TRUNCATED, False)


def test_doc_csr_example():
    examples = _doc_examples()
    key = doc_key()
    (request,) = protocol.FrameDecoder(key).feed(examples["CSR"])
    args = protocol.unpack_fields(protocol.CSR_FIELDS, request.payload)
    assert args == {"write": protocol.CSR_READ, "address": 523, "value": 0}
    assert protocol.LEVELING_CSRS[protocol.Leveling.A7DDRPHY]["ddrphy_rdphase"] == 523
    (reply,) = protocol.FrameDecoder(key).feed(examples["REGISTER"])
    assert (reply.cmd, reply.tag) == (protocol.reply_code(Command.CSR), request.tag)
    st = protocol.parse_status(reply.payload)
    assert (st["status"], st["cmd"], st["state"], st["value"]) == (
        Status.OK, Command.CSR, protocol.State.EMPTY, 2)


def test_csr_request_length_and_memory_fields():
    assert protocol.REQUEST_LENGTHS[Command.CSR] == 7
    offset, size = protocol.field_offset(protocol.INFO_FIELDS, "memory")
    assert (offset, size) == (22, 1)
    assert protocol.field_offset(protocol.INFO_FIELDS, "leveling") == (23, 1)
    assert protocol.INFO_SIZE == 60


def test_begin_request_leaves_out_the_headers_trailing_zeros_only():
    fields = protocol.SHORT_REQUESTS[Command.BEGIN]
    for header in (b"", b"MG", b"M\0G", b"MG\0\0", bytes(32), b"\1" * 32):
        for count in (1, 256, 1 << 24):             # counts with zero bytes stay whole
            request = protocol.begin_request(4, count, header)
            full = protocol.begin_payload(4, count, header)
            assert len(request) == fields + len(header.rstrip(b"\0"))
            assert request.ljust(protocol.REQUEST_LENGTHS[Command.BEGIN], b"\0") == full
