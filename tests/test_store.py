# SPDX-License-Identifier: BSD-2-Clause
import random

import pytest
from amaranth import *
from amaranth.lib import wiring
from simutil import run

from hw.store.bram import ExampleStore, RecordReader, StoreSignature, check_capacity


class _StoreAndReader(wiring.Component):
    def __init__(self, capacity):
        self.store = ExampleStore(capacity)
        self.reader = RecordReader(capacity)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.store = self.store
        m.submodules.reader = self.reader
        wiring.connect(m, self.reader.read, self.store.read)
        return m


async def _write(ctx, store, data):
    for addr, byte in enumerate(data):
        ctx.set(store.write.addr, addr)
        ctx.set(store.write.data, byte)
        ctx.set(store.write.en, 1)
        await ctx.tick()
    ctx.set(store.write.en, 0)


@pytest.mark.parametrize("capacity,record_size", [(64, 1), (64, 3), (100, 7), (96, 32),
                                                  (64, 64)])
def test_records_stream_back(capacity, record_size):
    dut = _StoreAndReader(capacity)
    rng = random.Random(record_size)
    data = bytes(rng.randrange(256) for _ in range(capacity))
    count = capacity // record_size
    indices = [rng.randrange(count) for _ in range(12)] + list(range(count))
    expected = b"".join(data[i * record_size:(i + 1) * record_size] for i in indices)

    async def testbench(ctx):
        await _write(ctx, dut.store, data)
        ctx.set(dut.reader.record_size, record_size)
        got = bytearray()
        pending = list(indices)
        cycles = 0
        while len(got) < len(expected):
            ctx.set(dut.reader.i_stream.valid, bool(pending))
            ctx.set(dut.reader.i_stream.payload, pending[0] if pending else 0)
            ready = cycles % 7 != 5 or cycles > 2000          # some back-pressure
            ctx.set(dut.reader.o_stream.ready, ready)
            await ctx.delay(1e-9)
            if pending and ctx.get(dut.reader.i_stream.ready):
                pending.pop(0)
            if ready and ctx.get(dut.reader.o_stream.valid):
                got.append(ctx.get(dut.reader.o_stream.payload))
            await ctx.tick()
            cycles += 1
        assert bytes(got) == expected
        # One byte per cycle apart from the stalls: the next record's base is computed while
        # the current one streams.
        assert cycles <= len(expected) * 7 // 6 + 8     # 6 of every 7 cycles accept

    run(dut, testbench, name=f"store_{capacity}_{record_size}")


def test_writes_past_capacity_are_dropped():
    # 100 bytes need a 7-bit address, which reaches 127: writes at 100..127 must not alias.
    dut = _StoreAndReader(100)

    async def testbench(ctx):
        await _write(ctx, dut.store, bytes(range(100)))
        for addr in range(100, 128):
            ctx.set(dut.store.write.addr, addr)
            ctx.set(dut.store.write.data, 0xee)
            ctx.set(dut.store.write.en, 1)
            await ctx.tick()
        ctx.set(dut.store.write.en, 0)
        ctx.set(dut.reader.record_size, 100)
        ctx.set(dut.reader.i_stream.payload, 0)
        ctx.set(dut.reader.i_stream.valid, 1)
        ctx.set(dut.reader.o_stream.ready, 1)
        await ctx.tick()
        ctx.set(dut.reader.i_stream.valid, 0)
        got = bytearray()
        while len(got) < 100:
            await ctx.tick()
            if ctx.get(dut.reader.o_stream.valid):
                got.append(ctx.get(dut.reader.o_stream.payload))
        assert bytes(got) == bytes(range(100))

    run(dut, testbench, name="store_guard")


@pytest.mark.parametrize("capacity", [0, 1, -5, "64", 2.0, True])
def test_bad_capacity(capacity):
    with pytest.raises(ValueError, match=r"Store capacity must be an integer of at least 2"):
        check_capacity(capacity)
    with pytest.raises(ValueError, match=r"Store capacity must be an integer of at least 2"):
        ExampleStore(capacity)


def test_signature():
    assert StoreSignature(100) == StoreSignature(100) != StoreSignature(64)
    assert StoreSignature(100).members["write"].signature.addr_width == 7
