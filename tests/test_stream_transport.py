# SPDX-License-Identifier: BSD-2-Clause
"""The stream transport (:mod:`hw.transport.stream`): a byte per clock each way, flow control
that never drops a byte, ``idle`` only when nothing is buffered, and its parameters checked."""

import random

import pytest

from hw.transport.slot import TransportSignature
from hw.transport.stream import StreamTransport
from tests.simutil import run


def test_parameters():
    dut = StreamTransport(frame_timeout=81920, link_rate=1_000_000_000)
    assert (dut.frame_timeout, dut.link_rate) == (81920, 1_000_000_000)
    assert StreamTransport(frame_timeout=1).link_rate == 0
    for name in TransportSignature().members:
        assert name in dut.signature.members
    for bad in (0, -5, 1.5, True, None):
        with pytest.raises(ValueError, match=rf"Frame timeout must be a positive integer, "
                                             rf"not {bad!r}"):
            StreamTransport(frame_timeout=bad)
    for bad in (-1, 2 ** 32, 3.0):
        with pytest.raises(ValueError, match=rf"Link rate must be an integer from 0 to "
                                             rf"4294967295, not {bad!r}"):
            StreamTransport(frame_timeout=100, link_rate=bad)


def _pump(ctx, source, sink, data, log, stall=lambda cycle: False):
    """Offer ``data`` on ``source`` back to back and take ``sink``'s bytes into ``log``, a cycle
    at a time, with ``sink`` not ready on the cycles ``stall`` names; return the cycles taken."""
    async def body():
        sent = cycle = 0
        while len(log) < len(data):
            ctx.set(source.valid, sent < len(data))
            if sent < len(data):
                ctx.set(source.payload, data[sent])
            ctx.set(sink.ready, not stall(cycle))
            taken = ctx.get(source.valid) and ctx.get(source.ready)
            if ctx.get(sink.valid) and ctx.get(sink.ready):
                log.append(ctx.get(sink.payload))
            await ctx.tick()
            sent += taken
            cycle += 1
        ctx.set(source.valid, 0)
        ctx.set(sink.ready, 0)
        return cycle
    return body()


@pytest.mark.parametrize("direction", ["to the engine", "to the host"])
def test_a_byte_per_clock(direction):
    dut = StreamTransport(frame_timeout=100)
    source, sink = (dut.rx, dut.o_stream) if direction == "to the engine" else \
        (dut.i_stream, dut.tx)
    data = random.Random(1).randbytes(500)
    got, cycles = [], []

    async def testbench(ctx):
        assert ctx.get(dut.idle)
        cycles.append(await _pump(ctx, source, sink, data, got))
        await ctx.tick()
        assert ctx.get(dut.idle) and not ctx.get(dut.errors.as_value())

    run(dut, testbench, name=f"test_stream_transport_{direction}")
    assert bytes(got) == data
    assert cycles[0] <= len(data) + 4      # the FIFO's latency, then a byte every cycle


def test_stalls_lose_nothing_and_hold_idle_low():
    dut = StreamTransport(frame_timeout=100)
    data = random.Random(2).randbytes(300)
    rng = random.Random(3)
    stalls = {cycle for cycle in range(5000) if rng.random() < 0.6}
    got = []

    async def testbench(ctx):
        await _pump(ctx, dut.rx, dut.o_stream, data, got, stall=stalls.__contains__)
        await ctx.tick()
        assert ctx.get(dut.idle)

    async def watch(ctx):
        # While any byte is inside the transport, it is not idle.
        async for _, _, idle, valid in ctx.tick().sample(dut.idle, dut.o_stream.valid):
            if valid:
                assert not idle

    run(dut, testbench, background=[watch], name="test_stream_transport_stalls")
    assert bytes(got) == data
