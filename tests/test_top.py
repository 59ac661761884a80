# SPDX-License-Identifier: BSD-2-Clause
"""The top levels (:mod:`hw.top`) in the Amaranth simulator: the stream board's top answers a
request fed a byte per clock, and reports its notional rate."""

from hw import protocol
from hw.top import STREAM_FRAME_TIMEOUT, StreamMemGEN, stream_link_rate
from tests.simutil import run

CLK_FREQ = 100_000_000


def test_stream_top_answers_info_at_a_byte_per_clock():
    dut = StreamMemGEN(clk_freq=CLK_FREQ, capacity=1024)
    assert dut.frame_timeout == STREAM_FRAME_TIMEOUT == protocol.frame_timeout_cycles(
        CLK_FREQ, 50_000_000)
    assert dut.transport.link_rate == stream_link_rate(CLK_FREQ) == 10 * CLK_FREQ
    request = protocol.encode_frame(protocol.Command.INFO, tag=3)
    decoder = protocol.FrameDecoder()
    frames, stalls = [], []

    async def testbench(ctx):
        sent = 0
        ctx.set(dut.tx.ready, 1)
        for _ in range(2000):
            ctx.set(dut.rx.valid, sent < len(request))
            if sent < len(request):
                ctx.set(dut.rx.payload, request[sent])
            taken = ctx.get(dut.rx.valid) and ctx.get(dut.rx.ready)
            stalls.append(ctx.get(dut.rx.valid) and not taken)
            if ctx.get(dut.tx.valid):
                frames.extend(decoder.feed(bytes([ctx.get(dut.tx.payload)])))
            await ctx.tick()
            sent += taken
            if frames and ctx.get(dut.idle):
                break

    run(dut, testbench, name="test_stream_top_answers_info")
    assert not any(stalls), "the transport held off a request byte"
    assert [(f.cmd, f.tag) for f in frames] == [(protocol.reply_code(protocol.Command.INFO), 3)]
    info = protocol.parse_info(frames[0].payload)
    assert info["status"] == protocol.Status.OK
    assert (info["clk_freq"], info["baud"]) == (CLK_FREQ, stream_link_rate(CLK_FREQ))
