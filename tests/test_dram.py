# SPDX-License-Identifier: BSD-2-Clause
"""The DRAM store's adaptation of LiteDRAM's native port to the store's byte streams, against a
behavioural model of the port with random stalls and refresh pauses (fast, in the Amaranth
simulator); the LiteDRAM core itself is tested on the virtual board (tests/test_dram_vboard.py)."""

import random

import pytest

from hw.store.dram.native import ModelDRAMStore, NativeSequencer
from tests.simutil import run
from tests.test_store import _read, _StoreAndReader, _write

DATA_WIDTHS = (16, 32, 128)


@pytest.mark.parametrize("data_width", DATA_WIDTHS)
@pytest.mark.parametrize("stall", [0, 40])
def test_dram_store_keeps_the_contract(data_width, stall):
    capacity = 200
    store = ModelDRAMStore(capacity, data_width=data_width, stall=stall, seed=data_width)
    rng = random.Random(data_width * 100 + stall)
    model = bytearray(capacity)
    ops = []
    for _ in range(16):
        addr = rng.randrange(capacity)
        length = rng.randint(1, min(40, capacity - addr))
        if rng.random() < 0.5:
            data = bytes(rng.randrange(256) for _ in range(length))
            model[addr:addr + length] = data
            ops.append(("w", addr, data))
        else:
            ops.append(("r", addr, length, bytes(model[addr:addr + length])))

    async def testbench(ctx):
        await _write(ctx, store, 0, bytes(capacity))
        for op in ops:
            if op[0] == "w":
                await _write(ctx, store, op[1], op[2], rng)
            else:
                assert await _read(ctx, store, op[1], op[2], rng) == op[3], op
        assert await _read(ctx, store, 0, capacity) == bytes(model)
        assert not ctx.get(store.model.error)

    run(store, testbench, name=f"dram_contract_{data_width}_{stall}")


@pytest.mark.parametrize("data_width", DATA_WIDTHS)
@pytest.mark.parametrize("record_size", [1, 3, 7, 16, 33])
def test_dram_records_stream_back_across_words(data_width, record_size):
    capacity = 240
    dut = _StoreAndReader(ModelDRAMStore(capacity, data_width=data_width, stall=8))
    rng = random.Random(record_size)
    data = bytes(rng.randrange(256) for _ in range(capacity))
    count = capacity // record_size
    indices = [rng.randrange(count) for _ in range(12)] + list(range(count))
    expected = b"".join(data[i * record_size:(i + 1) * record_size] for i in indices)

    async def testbench(ctx):
        await _write(ctx, dut, 0, data)
        ctx.set(dut.reader.record_size, record_size)
        got = bytearray()
        pending = list(indices)
        while len(got) < len(expected):
            ctx.set(dut.reader.i_stream.valid, bool(pending))
            ctx.set(dut.reader.i_stream.payload, pending[0] if pending else 0)
            ready = rng.random() < 0.6                    # back-pressure on the link side
            ctx.set(dut.reader.o_stream.ready, ready)
            await ctx.delay(1e-9)
            if pending and ctx.get(dut.reader.i_stream.ready):
                pending.pop(0)
            if ready and ctx.get(dut.reader.o_stream.valid):
                got.append(ctx.get(dut.reader.o_stream.payload))
            await ctx.tick()
        assert bytes(got) == expected
        assert not ctx.get(dut.store.model.error)

    run(dut, testbench, name=f"dram_records_{data_width}_{record_size}")


def test_dram_store_moves_a_byte_per_clock_without_stalls():
    capacity = 256
    store = ModelDRAMStore(capacity, data_width=16, stall=0, refresh=None, init_cycles=0)
    data = bytes(random.Random(5).randrange(256) for _ in range(capacity))

    async def testbench(ctx):
        start = 0
        await _write(ctx, store, 0, data)
        # Writes take a byte per clock: the packer and the port keep up.
        ctx.set(store.cmd.payload, {"write": 0, "addr": 3, "length": 200})
        ctx.set(store.cmd.valid, 1)
        await ctx.tick().until(store.cmd.ready)
        ctx.set(store.cmd.valid, 0)
        ctx.set(store.r_stream.ready, 1)
        got = bytearray()
        cycles = 0
        while len(got) < 200:
            await ctx.delay(1e-9)
            if ctx.get(store.r_stream.valid):
                got.append(ctx.get(store.r_stream.payload))
                start = start or cycles
            await ctx.tick()
            cycles += 1
        assert bytes(got) == data[3:203]
        assert cycles - start <= 200 + 2

    run(store, testbench, name="dram_rate")


@pytest.mark.parametrize("kwargs,message", [
    ({"capacity": 1000, "address_width": 8, "data_width": 16}, "larger than"),
    ({"capacity": 100, "address_width": 8, "data_width": 12}, "multiple of 8"),
    ({"capacity": 100, "address_width": 8, "data_width": 16, "depth": 1}, "depth"),
])
def test_bad_sequencer_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NativeSequencer(**kwargs)
