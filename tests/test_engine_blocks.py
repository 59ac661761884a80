# SPDX-License-Identifier: BSD-2-Clause
"""The command processor's blocks, each on its own: multiplier, argument capture, header banks,
counters and reply serializer."""

import random

import pytest

from hw import protocol
from hw.engine.args import ARGS_SIZE, ArgumentCapture, RequestArgs
from hw.engine.counters import Counters
from hw.engine.headers import HeaderBanks
from hw.engine.multiplier import SerialMultiplier
from hw.engine.reply import ReplyFields, ReplySerializer
from hw.protocol import Counter, Status
from tests.simutil import run


@pytest.mark.parametrize("seed", range(3))
def test_serial_multiplier(seed):
    rng = random.Random(seed)
    cases = [(0, 5), (1, 1), ((1 << 31) - 1, 1), (1 << 16, 1 << 15), (1 << 15, 1 << 16),
             (46341, 46341), (46340, 46340), ((1 << 31) - 1, (1 << 31) - 1)]
    cases += [(rng.getrandbits(rng.randrange(1, 32)), rng.getrandbits(rng.randrange(1, 32)))
              for _ in range(20)]
    dut = SerialMultiplier()

    async def testbench(ctx):
        for a, b in cases:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            await ctx.tick().until(dut.done)
            overflow = a * b >= protocol.MAX_STREAM_BYTES
            assert ctx.get(dut.overflow) == overflow, (a, b)
            if not overflow:
                assert ctx.get(dut.product) == a * b, (a, b)

    run(dut, testbench, name=f"multiplier_{seed}")


def test_argument_views_follow_the_field_tables():
    assert ARGS_SIZE == max(protocol.fields_size(f) for f in (
        protocol.BEGIN_FIELDS, protocol.LEARN_FIELDS, protocol.COMMIT_FIELDS,
        protocol.SEED_FIELDS, protocol.SAMPLE_FIELDS, protocol.READ_FIELDS))
    for name, fields in (("begin", protocol.BEGIN_FIELDS), ("seed", protocol.SEED_FIELDS),
                         ("read", protocol.READ_FIELDS)):
        layout = RequestArgs.members[name]
        assert [(field, layout[field].width // 8) for field in layout.members] == \
            list(fields)


def test_argument_capture():
    dut = ArgumentCapture()
    seed_payload = protocol.pack_fields(protocol.SEED_FIELDS, mode=2, seed=0x0123456789abcdef)
    read_payload = protocol.pack_fields(protocol.READ_FIELDS, index=77, count=0x10203)

    async def testbench(ctx):
        for payload, check in ((seed_payload + b"\xff" * 3, "seed"), (read_payload, "read")):
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            for index, byte in enumerate(payload):
                ctx.set(dut.en, 1)
                ctx.set(dut.index, index)
                ctx.set(dut.byte, byte)
                await ctx.tick()
                ctx.set(dut.en, 0)
                await ctx.tick()       # gaps between bytes change nothing
            if check == "seed":
                assert ctx.get(dut.args.seed.mode) == 2
                assert ctx.get(dut.args.seed.seed) == 0x0123456789abcdef
            else:
                # The bytes of the previous request were cleared.
                assert ctx.get(dut.args.read.index) == 77
                assert ctx.get(dut.args.read.count) == 0x10203
                assert ctx.get(dut.args.seed.seed) >> 56 == 0

    run(dut, testbench, name="argument_capture")


def test_header_banks_stage_until_swap():
    dut = HeaderBanks()
    first = bytes(range(1, 1 + protocol.HEADER_SIZE))
    second = bytes(range(101, 101 + protocol.HEADER_SIZE))

    async def read_all(ctx):
        got = []
        for i in range(protocol.HEADER_SIZE):
            ctx.set(dut.r_en, 1)
            ctx.set(dut.r_index, i)
            await ctx.tick()
            got.append(ctx.get(dut.r_data))
        ctx.set(dut.r_en, 0)
        return bytes(got)

    async def stage(ctx, data):
        for i, byte in enumerate(data):
            ctx.set(dut.w_en, 1)
            ctx.set(dut.w_index, i)
            ctx.set(dut.w_data, byte)
            await ctx.tick()
        ctx.set(dut.w_en, 0)

    async def testbench(ctx):
        await stage(ctx, first)
        assert await read_all(ctx) != first         # staged, not current
        ctx.set(dut.swap, 1)
        await ctx.tick()
        ctx.set(dut.swap, 0)
        assert await read_all(ctx) == first
        await stage(ctx, second)                    # a BEGIN that fails: never swapped
        assert await read_all(ctx) == first
        # The read data holds while the port is disabled.
        await ctx.tick()
        assert ctx.get(dut.r_data) == first[-1]

    run(dut, testbench, name="header_banks")


def test_counters():
    dut = Counters()
    replies = [Status.OK, Status.OK, Status.HEADER_CRC, Status.FRAME_CRC, Status.TRUNCATED,
               Status.BAD_STATE, Status.CRC_MISMATCH, Status.OK]
    expected = {c.name.lower(): 0 for c in Counter}
    for status in replies:
        expected[protocol.counter_for(status).name.lower()] += 1
    expected["framing_errors"] = 3
    expected["overrun_errors"] = 1

    async def testbench(ctx):
        for status in replies:
            ctx.set(dut.status, status)
            ctx.set(dut.count, 1)
            await ctx.tick()
        ctx.set(dut.count, 0)
        for framing, overrun in ((1, 0), (1, 1), (1, 0)):
            ctx.set(dut.link_errors, {"framing": framing, "overrun": overrun})
            await ctx.tick()
        ctx.set(dut.link_errors, {"framing": 0, "overrun": 0})
        await ctx.tick()
        values = {name: ctx.get(dut.values[name]) for name in expected}
        assert values == expected
        assert ctx.get(dut.uptime) == len(replies) + 4

    run(dut, testbench, name="counters")


def test_uptime_wraps_at_its_width():
    dut = Counters(uptime_bits=3)
    assert len(dut.uptime) == 3

    async def testbench(ctx):
        await ctx.tick().repeat(10)
        assert ctx.get(dut.uptime) == 10 % 8

    run(dut, testbench, name="uptime_wraps")
    with pytest.raises(ValueError, match="Uptime width must be an integer from 1 to 63"):
        Counters(uptime_bits=64)


@pytest.mark.parametrize("info", [False, True])
def test_reply_serializer(info):
    dut = ReplySerializer(snapshot=("uptime",))
    rng = random.Random(info)
    values = {name: rng.getrandbits(ReplyFields[name].width) for name in ReplyFields.members}
    header = bytes(rng.randrange(256) for _ in range(protocol.HEADER_SIZE))

    async def header_memory(ctx):
        # A one-cycle read port, as HeaderBanks has.
        async for _, _, en, index in ctx.tick().sample(dut.header_en, dut.header_index):
            if en:
                ctx.set(dut.header_data, header[index])

    async def testbench(ctx):
        for name, value in values.items():
            ctx.set(dut.fields[name], value)
        ctx.set(dut.info, info)
        await ctx.delay(1e-9)
        length = ctx.get(dut.length)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.fields.uptime, 0)   # changes after the start are not sent
        got = bytearray()
        cycle = 0
        while len(got) < length:
            ready = cycle % 3 != 1
            ctx.set(dut.o_stream.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(dut.o_stream.valid):
                got.append(ctx.get(dut.o_stream.payload))
            await ctx.tick()
            cycle += 1
        fields = protocol.STATUS_FIELDS + (protocol.INFO_FIELDS if info else ())
        expected = protocol.pack_fields(fields, **{n: values[n] for n, _ in fields})
        assert bytes(got) == expected + (header if info else b"")
        await ctx.tick().repeat(3)
        assert not ctx.get(dut.o_stream.valid)

    run(dut, testbench, background=[header_memory], name=f"reply_serializer_{info}")


def test_serializer_snapshot_names_fields():
    with pytest.raises(ValueError, match=r"Snapshot fields must be fields of a reply, "
                                         r"not \['nothing'\]"):
        ReplySerializer(snapshot=("nothing",))
