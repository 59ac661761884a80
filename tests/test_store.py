# SPDX-License-Identifier: BSD-2-Clause
"""The store interface: every store keeps its rules (tests run against block RAM, SPRAM and both
behind random latency and stalls), and the record reader is correct with any of them."""

import random

import pytest
from amaranth import *
from amaranth.lib import wiring

from hw.store.bram import BlockRAM, ExampleStore
from hw.store.interface import StoreCommand, StoreSignature, check_capacity
from hw.store.port import RAMPortSignature
from hw.store.reader import RecordReader
from hw.store.spram import SPRAMStore
from hw.store.stalling import StallingStore
from tests.simutil import run

STORES = {
    "bram": ExampleStore,
    "spram": SPRAMStore,
    "bram-stalling": lambda capacity: StallingStore(ExampleStore(capacity), stall=40, seed=7),
    "spram-stalling": lambda capacity: StallingStore(SPRAMStore(capacity), stall=20, seed=3),
}


class _StoreAndReader(wiring.Component):
    """A store whose read side is driven by a :class:`RecordReader`; the test drives the write
    side and the reader's index and output streams."""
    def __init__(self, store):
        self.store = store
        capacity = store.signature.capacity
        self.reader = RecordReader(capacity)
        signature = StoreSignature(capacity)
        super().__init__({"cmd": signature.members["cmd"],
                          "w_stream": signature.members["w_stream"]})

    def elaborate(self, platform):
        m = Module()
        m.submodules.store = self.store
        m.submodules.reader = self.reader
        # The test's write commands, or else the reader's read commands.
        with m.If(self.cmd.valid):
            wiring.connect(m, wiring.flipped(self.cmd), self.store.cmd)
        with m.Else():
            wiring.connect(m, self.reader.cmd, self.store.cmd)
        wiring.connect(m, wiring.flipped(self.w_stream), self.store.w_stream)
        wiring.connect(m, self.store.r_stream, self.reader.r_stream)
        return m


async def _command(ctx, store, *, write, addr, length):
    ctx.set(store.cmd.payload, {"write": write, "addr": addr, "length": length})
    ctx.set(store.cmd.valid, 1)
    await ctx.tick().until(store.cmd.ready)
    ctx.set(store.cmd.valid, 0)


async def _write(ctx, store, addr, data, rng=None):
    """Write ``data`` at ``addr`` as one command, offering bytes with random gaps."""
    await _command(ctx, store, write=1, addr=addr, length=len(data))
    for byte in data:
        while rng is not None and rng.random() < 0.3:
            await ctx.tick()
        ctx.set(store.w_stream.payload, byte)
        ctx.set(store.w_stream.valid, 1)
        await ctx.tick().until(store.w_stream.ready)
        ctx.set(store.w_stream.valid, 0)


async def _read(ctx, store, addr, length, rng=None):
    """Read ``length`` bytes at ``addr`` as one command, with random back-pressure."""
    await _command(ctx, store, write=0, addr=addr, length=length)
    got = bytearray()
    while len(got) < length:
        ready = rng is None or rng.random() < 0.7
        ctx.set(store.r_stream.ready, ready)
        await ctx.delay(1e-9)
        if ready and ctx.get(store.r_stream.valid):
            got.append(ctx.get(store.r_stream.payload))
        await ctx.tick()
    ctx.set(store.r_stream.ready, 0)
    return bytes(got)


@pytest.mark.parametrize("kind", STORES)
def test_store_keeps_the_contract(kind):
    capacity = 96
    store = STORES[kind](capacity)
    rng = random.Random(kind)
    model = bytearray(capacity)
    ops = []
    for _ in range(12):
        addr = rng.randrange(capacity)
        length = rng.randint(1, capacity - addr)
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
        # Everything at the end, with no back-pressure.
        assert await _read(ctx, store, 0, capacity) == bytes(model)

    run(store, testbench, name=f"store_contract_{kind}")


@pytest.mark.parametrize("kind", ["bram", "spram"])
def test_on_chip_store_reads_back_to_back_at_one_byte_per_clock(kind):
    store = STORES[kind](64)
    data = bytes(range(100, 164))
    lengths = [1, 1, 2, 5, 1, 16, 3, 1]

    async def testbench(ctx):
        await _write(ctx, store, 0, data)
        ctx.set(store.r_stream.ready, 1)
        addr = 0
        got = bytearray()
        cycles = 0
        for length in lengths:
            ctx.set(store.cmd.payload, {"write": 0, "addr": addr, "length": length})
            ctx.set(store.cmd.valid, 1)
            while True:
                await ctx.delay(1e-9)
                accepted = ctx.get(store.cmd.ready)
                if ctx.get(store.r_stream.valid):
                    got.append(ctx.get(store.r_stream.payload))
                await ctx.tick()
                cycles += 1
                if accepted:
                    break
            addr += length
        ctx.set(store.cmd.valid, 0)
        while len(got) < sum(lengths):
            await ctx.delay(1e-9)
            if ctx.get(store.r_stream.valid):
                got.append(ctx.get(store.r_stream.payload))
            await ctx.tick()
            cycles += 1
        assert bytes(got) == data[:sum(lengths)]
        # One command accepted per record, the next one while the last byte is issued: one
        # byte per clock after one cycle of latency.
        assert cycles == sum(lengths) + 1

    run(store, testbench, name=f"store_back_to_back_{kind}")


@pytest.mark.parametrize("kind", STORES)
@pytest.mark.parametrize("capacity,record_size", [(64, 1), (64, 3), (100, 7), (96, 32),
                                                  (64, 64)])
def test_records_stream_back(kind, capacity, record_size):
    dut = _StoreAndReader(STORES[kind](capacity))
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
        if "stalling" not in kind:
            # One byte per cycle apart from the stalls: the next record's command is computed
            # while the current one streams.
            assert cycles <= len(expected) * 7 // 6 + 8     # 6 of every 7 cycles accept
        else:
            # The stalls did happen: the test store is slower than the store it wraps.
            assert cycles > len(expected) * 5 // 4

    run(dut, testbench, name=f"reader_{kind}_{capacity}_{record_size}")


@pytest.mark.parametrize("kind", ["bram", "spram"])
def test_writes_past_capacity_are_dropped(kind):
    # 100 bytes need a 7-bit address, which reaches 127: writes at 100..127 must not alias.
    store = STORES[kind](100)

    async def testbench(ctx):
        await _write(ctx, store, 0, bytes(range(100)))
        await _write(ctx, store, 100, bytes([0xee] * 28))
        assert await _read(ctx, store, 0, 100) == bytes(range(100))

    run(store, testbench, name=f"store_guard_{kind}")


@pytest.mark.parametrize("capacity", [0, 1, -5, "64", 2.0, True])
def test_bad_capacity(capacity):
    with pytest.raises(ValueError, match=r"Store capacity must be an integer of at least 2"):
        check_capacity(capacity)
    for cls in (ExampleStore, BlockRAM, RecordReader, StoreCommand, StoreSignature):
        with pytest.raises(ValueError, match=r"Store capacity must be an integer of at least 2"):
            cls(capacity)


@pytest.mark.parametrize("stall", [-1, 64, "8", 1.5])
def test_bad_stall(stall):
    with pytest.raises(ValueError, match=r"Stall chance must be an integer from 0 to 63"):
        StallingStore(ExampleStore(64), stall=stall)


def test_signatures():
    assert StoreSignature(100) == StoreSignature(100) != StoreSignature(64)
    assert repr(StoreSignature(100)) == "StoreSignature(capacity=100)"
    command = StoreCommand(100)
    assert command.size == 1 + 7 + 7
    assert ExampleStore(100).signature == StoreSignature(100)
    assert StallingStore(ExampleStore(100)).signature == StoreSignature(100)
    assert RAMPortSignature(100).members["write"].signature.addr_width == 7
    assert RAMPortSignature(100) == RAMPortSignature(100) != RAMPortSignature(64)
