# SPDX-License-Identifier: BSD-2-Clause
"""The PCIe transport (:mod:`hw.transport.pcie`) in the Amaranth simulator, with models of
LitePCIe's 128-bit AXI-Stream sides (byte 0 of a buffer in bits 0-7, ``last`` on a buffer's
final beat, gaps and back-pressure) and of its AXI-Lite master: which host buffers it takes,
the bytes and buffers it writes, the flush timer, the host's window and the registers, checked
against :class:`hw.transport.pcie_layout.CardBuffersModel`."""

import random

import pytest
from amaranth.sim import Simulator

from hw.transport import pcie_layout as layout
from hw.transport.pcie import PCIeTransport
from hw.transport.slot import check_transport
from tests.simutil import run

BEATS = layout.DMA_BUFFER_SIZE // layout.BEAT_BYTES
FLUSH_CYCLES = 200


def _dut(flush_cycles=FLUSH_CYCLES):
    # A short flush time keeps the simulation small: 2 us at 100 MHz.
    return PCIeTransport(clk_freq=100_000_000, dma_clk_freq=100_000_000, domain="sync",
                         flush_cycles=flush_cycles)


async def _send_buffers(ctx, dut, buffers, rng):
    """Drive host-to-card buffers on the DMA reader's stream, with gaps."""
    for buffer in buffers:
        for beat in range(len(buffer) // 16):
            while rng.random() < 0.2:
                await ctx.tick()
            word = int.from_bytes(buffer[16 * beat:16 * (beat + 1)], "little")
            ctx.set(dut.reader.payload.data, word)
            ctx.set(dut.reader.payload.last, beat == BEATS - 1)
            ctx.set(dut.reader.valid, 1)
            await ctx.tick().until(dut.reader.ready)
            ctx.set(dut.reader.valid, 0)


async def _take_bytes(ctx, dut, n, rng):
    """Take ``n`` bytes from the engine's side with a ready that comes and goes."""
    out = bytearray()
    while len(out) < n:
        ready = rng.random() < 0.6
        ctx.set(dut.o_stream.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(dut.o_stream.valid, dut.o_stream.payload)
        if ready and valid:
            out.append(payload)
    ctx.set(dut.o_stream.ready, 0)
    return bytes(out)


async def _put_bytes(ctx, dut, data):
    for byte in data:
        ctx.set(dut.i_stream.payload, byte)
        ctx.set(dut.i_stream.valid, 1)
        await ctx.tick().until(dut.i_stream.ready)
    ctx.set(dut.i_stream.valid, 0)


async def _collect_buffers(ctx, dut, count, rng, ready_rate=0.7, log=None):
    """Take ``count`` card-to-host buffers from the DMA writer's stream with back-pressure;
    return them, and log the cycle each ended at."""
    buffers, current, cycle = [], bytearray(), 0
    while len(buffers) < count:
        ready = rng.random() < ready_rate
        ctx.set(dut.writer.ready, ready)
        _, _, valid, data, last = await ctx.tick().sample(
            dut.writer.valid, dut.writer.payload.data, dut.writer.payload.last)
        cycle += 1
        if ready and valid:
            current += data.to_bytes(16, "little")
            assert bool(last) == (len(current) == layout.DMA_BUFFER_SIZE)
            if last:
                buffers.append(bytes(current))
                current.clear()
                if log is not None:
                    log.append(cycle)
    ctx.set(dut.writer.ready, 0)
    return buffers


async def _axi_read(ctx, dut, offset):
    bus = dut.mmap
    ctx.set(bus.araddr, layout.MMAP_BASE + offset)
    ctx.set(bus.arvalid, 1)
    await ctx.tick().until(bus.arready)
    ctx.set(bus.arvalid, 0)
    ctx.set(bus.rready, 1)
    (value,) = await ctx.tick().sample(bus.rdata).until(bus.rvalid)
    ctx.set(bus.rready, 0)
    return value


async def _axi_write(ctx, dut, offset, value):
    bus = dut.mmap
    ctx.set(bus.awaddr, layout.MMAP_BASE + offset)
    ctx.set(bus.wdata, value)
    ctx.set(bus.wstrb, 0xF)
    ctx.set(bus.awvalid, 1)
    ctx.set(bus.wvalid, 1)
    await ctx.tick().until(bus.awready & bus.wready)
    ctx.set(bus.awvalid, 0)
    ctx.set(bus.wvalid, 0)
    ctx.set(bus.bready, 1)
    await ctx.tick().until(dut.mmap.bvalid)
    ctx.set(bus.bready, 0)


def test_parameters():
    dut = PCIeTransport(clk_freq=100_000_000)
    check_transport(dut)
    assert dut.link_rate == 0
    assert dut.frame_timeout == 25_000_000      # 0.25 s: a host program's pauses, not bytes
    assert dut.flush_cycles == 12_500           # 100 us at 125 MHz
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=rf"clk_freq must be a positive integer in Hz, "
                                             rf"not {bad!r}"):
            PCIeTransport(clk_freq=bad)
        with pytest.raises(ValueError, match=rf"flush_cycles must be a positive integer, "
                                             rf"not {bad!r}"):
            PCIeTransport(clk_freq=100, flush_cycles=bad)


def test_host_to_card():
    """The card takes the buffers in sequence and skips old, torn and out-of-order ones, and
    its counters agree with the model's."""
    rng = random.Random(3)
    payloads = [rng.randbytes(n) for n in (5, layout.MAX_CHUNK, 0, 17, 300)]
    good = [layout.to_card_buffer(seq, p) for seq, p in enumerate(payloads)]
    torn = bytearray(layout.to_card_buffer(2, b"torn"))
    torn[12] ^= 0x40                        # the check word disagrees with the sequence number
    stale = layout.to_card_buffer(7, b"old")
    buffers = [stale, good[0], good[2], good[1], bytes(torn), good[2], good[3], good[3], good[4]]
    model = layout.CardBuffersModel()
    expected = b"".join(p for p in map(model.take, buffers) if p)
    assert expected == b"".join(payloads)
    dut = _dut()
    seen = {}

    async def host(ctx):
        await _send_buffers(ctx, dut, buffers, rng)

    async def engine(ctx):
        seen["data"] = await _take_bytes(ctx, dut, len(expected), random.Random(4))
        for _ in range(20):
            await ctx.tick()
        for reg in (layout.Register.TO_CARD_BUFFERS, layout.Register.TO_CARD_BYTES,
                    layout.Register.SKIPPED, layout.Register.ID):
            seen[reg] = await _axi_read(ctx, dut, reg)

    run(dut, engine, host, name="pcie_host_to_card")
    assert seen["data"] == expected
    assert seen[layout.Register.TO_CARD_BUFFERS] == model.to_card_buffers == 5
    assert seen[layout.Register.TO_CARD_BYTES] == model.to_card_bytes
    assert seen[layout.Register.SKIPPED] == model.skipped == 4
    assert seen[layout.Register.ID] == layout.PCIE_ID


def test_card_to_host_full_buffers_and_flush():
    """Bytes go out in whole buffers (payload, zeros, trailer) under back-pressure: a stream
    that fills a buffer before its timer expires in a full one; the rest, and a short reply, by
    the timer. The trailer numbers the buffers."""
    rng = random.Random(5)
    bulk = rng.randbytes(layout.MAX_CHUNK + 100)
    reply = b"\xa5\x5a short reply"
    flush = 2 * layout.MAX_CHUNK        # a byte a cycle fills a buffer before it expires
    dut = _dut(flush)
    got, ended, ctx_cycle = {}, [], [0]

    async def engine(ctx):
        await _put_bytes(ctx, dut, bulk)
        # Wait for the bulk's second buffer to be flushed, then send the reply.
        while len(ended) < 2:
            await ctx.tick()
        got["reply_at"] = ctx_cycle[0]
        await _put_bytes(ctx, dut, reply)

    async def host(ctx):
        async for _ in ctx.tick():
            ctx_cycle[0] += 1

    async def dma(ctx):
        got["buffers"] = await _collect_buffers(ctx, dut, 3, rng, log=ended)
        got["to_host_bytes"] = await _axi_read(ctx, dut, layout.Register.TO_HOST_BYTES)
        got["to_host_buffers"] = await _axi_read(ctx, dut, layout.Register.TO_HOST_BUFFERS)

    run(dut, dma, background=[engine, host], name="pcie_card_to_host")
    parsed = [layout.to_host_payload(b) for b in got["buffers"]]
    assert [seq for seq, _ in parsed] == [0, 1, 2]
    assert [p for _, p in parsed] == [bulk[:layout.MAX_CHUNK], bulk[layout.MAX_CHUNK:], reply]
    for buffer, (_, payload) in zip(got["buffers"], parsed, strict=True):
        assert buffer[len(payload):layout.MAX_CHUNK] == bytes(layout.MAX_CHUNK - len(payload))
    model = layout.CardBuffersModel()
    model.send(bulk)
    flushed = model.flush()
    model.send(reply)
    assert flushed + model.flush() == got["buffers"]
    assert got["to_host_bytes"] == len(bulk) + len(reply)
    assert got["to_host_buffers"] == 3
    # The reply's buffer ended within the flush time plus the beats of a buffer, whatever the
    # back-pressure (here 70% ready): not after a full buffer's worth of bytes.
    assert ended[2] - got["reply_at"] < flush + 2 * BEATS + 100


def test_window_holds_the_card_back():
    """With the host's read count one buffer short of a window, the card writes one buffer and
    then waits for the host to report it read."""
    rng = random.Random(6)
    dut = _dut()
    got = {}

    async def driver(ctx):
        await _axi_write(ctx, dut, layout.Register.HOST_READ, -(layout.WINDOW - 1) & 0xFFFF_FFFF)
        await _put_bytes(ctx, dut, b"first")
        got["first"] = await _collect_buffers(ctx, dut, 1, rng)
        await _put_bytes(ctx, dut, b"2nd")     # fits in the crossing FIFO
        ctx.set(dut.writer.ready, 1)
        stalled = True
        for _ in range(FLUSH_CYCLES + 4 * BEATS):
            _, _, valid = await ctx.tick().sample(dut.writer.valid)
            stalled &= not valid
        ctx.set(dut.writer.ready, 0)
        got["stalled"] = stalled
        got["status"] = await _axi_read(ctx, dut, layout.Register.STATUS)
        await _axi_write(ctx, dut, layout.Register.HOST_READ, 1)
        got["second"] = await _collect_buffers(ctx, dut, 1, rng)
        got["host_read"] = await _axi_read(ctx, dut, layout.Register.HOST_READ)

    run(dut, driver, name="pcie_window")
    assert layout.to_host_payload(got["first"][0]) == (0, b"first")
    assert got["stalled"]
    assert got["status"] & layout.Status.TO_HOST
    assert layout.to_host_payload(got["second"][0]) == (1, b"2nd")
    assert got["host_read"] == 1


def test_crossing_to_another_clock():
    """With the DMA side on its own clock (125 MHz against the engine's 100 MHz), bytes cross
    both ways."""
    dut = PCIeTransport(clk_freq=100_000_000, dma_clk_freq=125_000_000,
                        flush_cycles=FLUSH_CYCLES)
    rng = random.Random(8)
    payload = rng.randbytes(40)
    got = {}
    sim = Simulator(dut)
    sim.add_clock(1e-8, domain="sync")
    sim.add_clock(8e-9, domain="pcie")

    async def host(ctx):
        for beat in range(BEATS):
            buffer = layout.to_card_buffer(0, payload)
            ctx.set(dut.reader.payload.data,
                    int.from_bytes(buffer[16 * beat:16 * (beat + 1)], "little"))
            ctx.set(dut.reader.payload.last, beat == BEATS - 1)
            ctx.set(dut.reader.valid, 1)
            await ctx.tick("pcie").until(dut.reader.ready)
        ctx.set(dut.reader.valid, 0)

    async def engine(ctx):
        out = bytearray()
        ctx.set(dut.o_stream.ready, 1)
        while len(out) < len(payload):
            _, _, valid, byte = await ctx.tick().sample(dut.o_stream.valid, dut.o_stream.payload)
            if valid:
                out.append(byte)
        ctx.set(dut.o_stream.ready, 0)
        got["in"] = bytes(out)
        for byte in out[::-1]:
            ctx.set(dut.i_stream.payload, byte)
            ctx.set(dut.i_stream.valid, 1)
            await ctx.tick().until(dut.i_stream.ready)
        ctx.set(dut.i_stream.valid, 0)

    async def dma(ctx):
        buffer = bytearray()
        ctx.set(dut.writer.ready, 1)
        while len(buffer) < layout.DMA_BUFFER_SIZE:
            _, _, valid, data = await ctx.tick("pcie").sample(dut.writer.valid,
                                                               dut.writer.payload.data)
            if valid:
                buffer += data.to_bytes(16, "little")
        got["out"] = layout.to_host_payload(buffer)

    sim.add_testbench(host, background=True)
    sim.add_testbench(engine, background=True)
    sim.add_testbench(dma)
    sim.run()
    assert got["in"] == payload
    assert got["out"] == (0, payload[::-1])


def test_a_byte_every_cycle():
    """With both DMA sides always ready, a full buffer's payload crosses each way at a byte a
    cycle: the engine's rate, not 16 bytes in 17 cycles."""
    payload = random.Random(9).randbytes(layout.MAX_CHUNK)
    dut = _dut(flush_cycles=4 * layout.MAX_CHUNK)
    now = [0]
    spans = {}

    async def clock(ctx):
        async for _ in ctx.tick():
            now[0] += 1

    async def host(ctx):
        buffer = layout.to_card_buffer(0, payload)
        ctx.set(dut.reader.valid, 1)
        for beat in range(BEATS):
            ctx.set(dut.reader.payload.data,
                    int.from_bytes(buffer[16 * beat:16 * (beat + 1)], "little"))
            ctx.set(dut.reader.payload.last, beat == BEATS - 1)
            await ctx.tick().until(dut.reader.ready)
        ctx.set(dut.reader.valid, 0)

    async def engine(ctx):
        ctx.set(dut.o_stream.ready, 1)
        seen = []
        while len(seen) < len(payload):
            _, _, valid, byte = await ctx.tick().sample(dut.o_stream.valid, dut.o_stream.payload)
            if valid:
                seen.append((now[0], byte))
        spans["in"] = seen[-1][0] - seen[0][0] + 1
        spans["in_bytes"] = bytes(b for _, b in seen)
        # Then the same bytes back, with the writer always ready.
        ctx.set(dut.writer.ready, 1)
        ctx.set(dut.i_stream.valid, 1)
        start = now[0]
        for byte in payload:
            ctx.set(dut.i_stream.payload, byte)
            await ctx.tick().until(dut.i_stream.ready)
        ctx.set(dut.i_stream.valid, 0)
        spans["out"] = now[0] - start

    run(dut, engine, host, background=[clock], name="pcie_rate")
    assert spans["in_bytes"] == payload
    assert spans["in"] <= len(payload) + 4
    assert spans["out"] <= len(payload) + 4


def test_a_disabled_dma_starts_over_at_a_buffer():
    """A client that leaves mid-buffer (the driver disables the DMAs) leaves no half buffer
    behind: the next client's first buffers start at their first beat each way, the engine's
    bytes meanwhile are dropped, and the counters carry on."""
    rng = random.Random(10)
    dut = _dut()
    got = {}

    async def writer_side(ctx):
        ctx.set(dut.writer.ready, 1)
        await _put_bytes(ctx, dut, rng.randbytes(40))       # two beats out, eight bytes held
        await ctx.tick().repeat(4)
        ctx.set(dut.writer.ready, 0)
        ctx.set(dut.writer_enable, 0)                       # the client closes
        await _put_bytes(ctx, dut, b"nobody listens")       # taken and dropped, not held
        await ctx.tick().repeat(8)                          # (the crossing FIFO drains)
        ctx.set(dut.writer_enable, 1)                       # the next client opens
        await _put_bytes(ctx, dut, b"after")
        got["buffer"] = (await _collect_buffers(ctx, dut, 1, rng, ready_rate=1.0))[0]

    async def reader_side(ctx):
        first = layout.to_card_buffer(0, rng.randbytes(3000))
        await _send_buffers(ctx, dut, [first[:100 * 16]], rng)   # cut off after 100 beats
        ctx.set(dut.reader_enable, 0)
        await ctx.tick().repeat(3)
        ctx.set(dut.reader_enable, 1)
        await _send_buffers(ctx, dut, [layout.to_card_buffer(1, b"next")], rng)

    async def engine(ctx):
        out = bytearray()
        ctx.set(dut.o_stream.ready, 1)
        for _ in range(4000):
            _, _, valid, byte = await ctx.tick().sample(dut.o_stream.valid, dut.o_stream.payload)
            if valid:
                out.append(byte)
        got["bytes"] = bytes(out)
        got["taken"] = await _axi_read(ctx, dut, layout.Register.TO_CARD_BUFFERS)

    run(dut, writer_side, engine, background=[reader_side], name="pcie_restart")
    assert layout.to_host_payload(got["buffer"]) == (0, b"after")
    assert got["bytes"].endswith(b"next")
    assert got["taken"] == 2
