# SPDX-License-Identifier: BSD-2-Clause
"""The gateware frame receiver (:mod:`hw.framing.receiver`) against the receive rules
(:class:`hw.protocol.ReceiveRules`), which the host's decoder and the device's reference model
follow: the same bytes, with the same idle gaps, give the same tokens."""

import random

import pytest
from amaranth.lib import data

from hw import protocol
from hw.framing.receiver import FrameReceiver, RxToken, TokenKind
from hw.protocol import Command, Status

from .simutil import run, stream_put

#: The receiver's idle timeout in these tests, in cycles.
TIMEOUT = 12
#: A gap long enough for the idle timeout and the tokens it draws.
IDLE = object()
_IDLE_CYCLES = TIMEOUT + 24


def _expected_tokens(outcomes):
    """Return the tokens the gateware must emit for :class:`hw.protocol.Received` outcomes."""
    tokens = []
    for received in outcomes:
        if not received.header_ok:
            tokens.append(("DROP", received.status, received.cmd, received.tag))
            continue
        ids = (received.cmd, received.tag, received.length)
        tokens.append(("HEADER", *ids, received.quiet))
        tokens += [("PAYLOAD", byte) for byte in received.payload]
        tokens.append(("END", received.status, *ids))
    return tokens


def _token(token):
    kind = TokenKind(token.kind)
    if kind == TokenKind.PAYLOAD:
        return ("PAYLOAD", token.data)
    if kind == TokenKind.DROP:
        return ("DROP", Status(token.status), token.cmd, token.tag)
    ids = (token.cmd, token.tag, token.length)
    if kind == TokenKind.HEADER:
        return ("HEADER", *ids, bool(token.quiet))
    return ("END", Status(token.status), *ids)


def _predict(cases, key):
    """Return, per case, the tokens the receive rules say the bytes draw."""
    rules = protocol.ReceiveRules(key)
    expected = []
    for case in cases:
        outcomes = []
        for part in [*case, IDLE]:
            outcomes += rules.timeout() if part is IDLE else rules.feed(part)
        expected.append(_expected_tokens(outcomes))
    return expected


def _simulate(cases, seed, key, serial_crc):
    """Drive the cases through the gateware with link key ``key``, each followed by an idle
    gap; return the tokens received during each."""
    dut = FrameReceiver(timeout=TIMEOUT, serial_crc=serial_crc)
    rng = random.Random(seed)
    got = [[] for _ in cases]
    current = [0]

    async def sender(ctx):
        ctx.set(dut.key, key)
        for i, case in enumerate(cases):
            current[0] = i
            for part in [*case, IDLE]:
                if part is IDLE:
                    await ctx.tick().repeat(_IDLE_CYCLES)
                    continue
                for byte in part:
                    await stream_put(ctx, dut.i_stream, byte)
                    if rng.random() < 0.2:      # short gaps, well inside the timeout
                        await ctx.tick().repeat(rng.randint(1, TIMEOUT // 2))

    async def receiver(ctx):
        while True:
            ready = rng.random() < 0.75
            ctx.set(dut.o_stream.ready, ready)
            *_, valid, payload = await ctx.tick().sample(dut.o_stream.valid,
                                                         dut.o_stream.payload.as_value())
            if ready and valid:
                got[current[0]].append(_token(data.Const(RxToken, payload)))

    run(dut, sender, background=[receiver], name=f"receiver_rules_{seed}")
    return got


# Byte sequences: valid frames, and the faults the rules are about.

#: The link key of the frames :func:`_frame` makes (most of them; the others use key 0).
_KEY = 0x5eed1234


def _frame(rng, payload=None):
    if payload is None:
        payload = rng.randbytes(rng.choice([0, 0, 1, 4, rng.randint(0, 40)]))
    return protocol.encode_frame(rng.choice([*Command, 0x84, 0x40, rng.randrange(256)]),
                                 payload, tag=rng.randrange(256),
                                 key=rng.choice([_KEY, _KEY, 0]))


def _header(cmd, tag, length):
    head = protocol.pack_fields(protocol.FRAME_HEADER_FIELDS[:-1], cmd=cmd, tag=tag,
                                length=length)
    return protocol.SYNC + head + bytes([protocol.crc8(head)])


def _sync_heavy(rng, n):
    return bytes(rng.choice([0xa5, 0x5a, 0xa5, rng.randrange(256)]) for _ in range(n))


def _case(rng):
    """Return one case: a list of byte strings and :data:`IDLE` gaps."""
    frame = _frame(rng)
    kind = rng.randrange(12)
    if kind == 0:       # frames back to back
        return [frame + _frame(rng) + _frame(rng)]
    if kind == 1:       # a stray sync marker, and up to four bytes, right before a frame
        return [protocol.SYNC + rng.randbytes(rng.randint(0, 4)) + frame]
    if kind == 2:       # a header that fails its CRC-8, then a frame
        bad = bytearray(frame)
        bad[rng.randrange(2, 7)] ^= 1 << rng.randrange(8)
        return [bytes(bad) + frame]
    if kind == 3:       # an oversize length with a valid CRC-8, then bytes and a frame
        head = _header(rng.randrange(256), rng.randrange(256),
                       rng.randint(protocol.MAX_PAYLOAD + 1, 0xffff))
        return [head + rng.randbytes(rng.randint(0, 8)) + frame]
    if kind == 4:       # repeated and lone sync bytes
        return [rng.choice([b"\xa5", b"\x5a", b"\xa5\xa5", b"\xa5\xa5\x5a", b"\x5a\xa5"]) +
                frame, rng.choice([b"\xa5", b"\xa5\x5a", b""]), IDLE, frame]
    if kind == 5:       # a frame cut anywhere, left idle, then a frame
        return [frame[:rng.randrange(1, len(frame))], IDLE, _frame(rng)]
    if kind == 6:       # a payload or CRC error: the frame is consumed whole
        bad = bytearray(frame)
        bad[rng.randrange(7, len(bad))] ^= 1 << rng.randrange(8)
        return [bytes(bad) + _frame(rng)]
    if kind == 7:       # a frame inside another's payload
        inner = _frame(rng)
        return [_frame(rng, rng.randbytes(rng.randint(0, 3)) + inner) + frame]
    if kind == 8:       # sync markers chained through failing headers
        return [protocol.SYNC * rng.randint(1, 4) + _sync_heavy(rng, rng.randint(0, 6)) + frame]
    if kind == 9:       # bytes rich in sync bytes, then a frame
        return [_sync_heavy(rng, rng.randint(1, 60)), frame]
    if kind == 10:      # random bytes
        return [rng.randbytes(rng.randint(1, 60)) + frame]
    return [frame]


def _cases(seed, n):
    rng = random.Random(seed)
    cases = [_case(rng) for _ in range(n)]
    # The worked examples of docs/protocol.md's receive rules, and the longest frame.
    info = protocol.encode_frame(Command.INFO, tag=2)
    reply = protocol.encode_frame(protocol.reply_code(Command.INFO), bytes(16), tag=1)
    cases += [
        [protocol.SYNC + info],
        [_header(0x81, 1, 5000) + reply],
        [protocol.encode_frame(Command.LEARN, rng.randbytes(protocol.MAX_PAYLOAD), tag=3)],
        [_header(Command.LEARN, 4, protocol.MAX_PAYLOAD + 1) + info],
    ]
    return cases


@pytest.mark.parametrize("seed, key, serial_crc", [(1, 0, False), (2, _KEY, False),
                                                   (3, _KEY, True)])
def test_gateware_follows_the_rules(seed, key, serial_crc):
    """Frames with the receiver's key or another, OPEN frames (always key 0), and quiet frames
    (after an idle gap) among others; with the frame check a byte or a bit per cycle."""
    cases = _cases(seed, 150)
    expected = _predict(cases, key)
    got = _simulate(cases, seed, key, serial_crc)
    for i, (case, want, have) in enumerate(zip(cases, expected, got, strict=True)):
        sent = " | ".join("idle" if part is IDLE else part.hex(" ") for part in case)
        assert have == want, f"case {i}: {sent}"


def test_rules_resync_finds_a_frame_inside_a_bad_header():
    # a5 5a, then a good INFO: the INFO's own marker is inside the bad header, and is found.
    info = protocol.encode_frame(Command.INFO, tag=2)
    outcomes = protocol.ReceiveRules().feed(protocol.SYNC + info)
    assert [(r.status, r.header_ok) for r in outcomes] == [(Status.HEADER_CRC, False),
                                                           (Status.OK, True)]
    assert (outcomes[1].cmd, outcomes[1].tag) == (Command.INFO, 2)


def test_rules_quiet_and_key():
    """Only a frame whose sync marker follows silence (or reset) is quiet; the frame check uses
    the key, but OPEN's always key 0."""
    rules = protocol.ReceiveRules(key=7)
    info = protocol.encode_frame(Command.INFO, tag=1, key=7)
    opening = protocol.encode_frame(Command.OPEN, bytes(4), tag=2, key=7)
    assert opening == protocol.encode_frame(Command.OPEN, bytes(4), tag=2)
    first, second = rules.feed(info + info)
    assert (first.status, first.quiet, second.status, second.quiet) == \
        (Status.OK, True, Status.OK, False)
    rules.timeout()
    (late,) = rules.feed(b"\x00" + info)       # a byte that is no frame breaks the silence
    assert not late.quiet
    rules.timeout()
    (wrong,) = rules.feed(protocol.encode_frame(Command.INFO, tag=3))
    assert (wrong.status, wrong.quiet) == (Status.FRAME_CRC, True)
    (opened,) = rules.feed(opening)
    assert (opened.status, opened.quiet) == (Status.OK, False)
