# SPDX-License-Identifier: BSD-2-Clause
import random
import re
import struct
from pathlib import Path

import pytest

from hw import protocol
from hw.protocol import Command, Reply

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def _doc_examples():
    examples = {}
    for line in DOC.read_text().splitlines():
        match = re.fullmatch(r"([A-Z]+)\s+((?:[0-9a-f]{2} ?)+)", line.strip())
        if match:
            examples[match[1]] = bytes.fromhex(match[2])
    return examples


def test_doc_examples_are_valid_frames():
    examples = _doc_examples()
    assert set(Command.__members__) <= set(examples)
    for name, data in examples.items():
        frames = protocol.FrameDecoder().feed(data)
        assert len(frames) == 1, name
        if name in Command.__members__:
            assert frames[0].cmd == Command[name]
            assert protocol.encode_frame(frames[0].cmd, frames[0].payload,
                                         tag=frames[0].tag) == data


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
    assert protocol.crc16(frame[2:]) == 0          # residue: the gateware's check
    assert struct.unpack(">H", frame[-2:])[0] == protocol.crc16(frame[2:-2])
    assert len(frame) == 4 + protocol.FRAME_OVERHEAD


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
