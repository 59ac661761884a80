# SPDX-License-Identifier: BSD-2-Clause
import random

import pytest
from amaranth import *
from amaranth.back import rtlil
from amaranth.lib import wiring
from amaranth_boards.icebreaker import ICEBreakerPlatform

from hw.store.bram import BlockRAM
from hw.store.port import RAMPortSignature
from hw.store.spram import (
    SPRAM,
    SPRAM_BLOCKS,
    SPRAM_BYTES,
    UNDEFINED,
    SPRAMModel,
    SPRAMStore,
)
from tests.simutil import run


class _Pair(wiring.Component):
    """Drives an :class:`SPRAM` and the reference :class:`BlockRAM` with the same inputs, so
    that a testbench compares their read data cycle by cycle."""
    def __init__(self, capacity):
        self.spram = SPRAM(capacity)
        self.ref = BlockRAM(capacity)
        super().__init__({
            "port":     wiring.Out(RAMPortSignature(capacity)).flip(),
            "ref_data": wiring.Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.spram = self.spram
        m.submodules.ref = self.ref
        for store in (self.spram, self.ref):
            m.d.comb += [
                store.write.addr.eq(self.port.write.addr),
                store.write.data.eq(self.port.write.data),
                store.write.en.eq(self.port.write.en),
                store.read.addr.eq(self.port.read.addr),
                store.read.en.eq(self.port.read.en),
            ]
        m.d.comb += [
            self.port.read.data.eq(self.spram.read.data),
            self.ref_data.eq(self.ref.read.data),
        ]
        return m


def _compare(capacity, ops):
    """Run ``ops`` (("w", addr, data), ("r", addr), ("idle",)) on both stores; check every cycle
    that the SPRAM store shows what the reference shows and what a Python model predicts."""
    dut = _Pair(capacity)
    checked = []

    async def testbench(ctx):
        model = {}
        expected = 0
        for op in ops:
            ctx.set(dut.port.write.en, 0)
            ctx.set(dut.port.read.en, 0)
            if op[0] == "w":
                _, addr, data = op
                ctx.set(dut.port.write.addr, addr)
                ctx.set(dut.port.write.data, data)
                ctx.set(dut.port.write.en, 1)
                if addr < capacity:
                    model[addr] = data
            elif op[0] == "r":
                ctx.set(dut.port.read.addr, op[1])
                ctx.set(dut.port.read.en, 1)
            await ctx.tick()
            if op[0] == "r":
                expected = model.get(op[1], 0)
            got = ctx.get(dut.port.read.data)
            ref = ctx.get(dut.ref_data)
            assert got == ref == expected, (op, got, ref, expected)
            checked.append(got)

    run(dut, testbench, name=f"spram_{capacity}")
    assert len(checked) == len(ops)


@pytest.mark.parametrize("capacity", [2, 1000, SPRAM_BYTES + 12345, SPRAM_BLOCKS * SPRAM_BYTES])
def test_same_as_example_store(capacity):
    rng = random.Random(capacity)
    # Addresses that exercise both bytes of a word, block boundaries and the last bytes.
    hot = sorted({a for b in range(SPRAM_BLOCKS + 1)
                  for a in (b * SPRAM_BYTES - 2, b * SPRAM_BYTES - 1, b * SPRAM_BYTES,
                            b * SPRAM_BYTES + 1)
                  if 0 <= a < capacity} | {0, 1, capacity - 2, capacity - 1})
    ops = []
    # Sequential fill of the start, as training writes records back to back, then reads.
    for a in range(min(capacity, 64)):
        ops.append(("w", a, rng.randrange(256)))
    for a in range(min(capacity, 64)):
        ops.append(("r", a))
    # Both bytes of the same word, in both orders, read back at once.
    for a in hot:
        ops += [("w", a, rng.randrange(256)), ("r", a), ("r", a ^ 1)]
    # Random mix, with idle cycles (the read data must hold) and a read right after a write.
    for _ in range(600):
        kind = rng.random()
        addr = rng.choice(hot) if rng.random() < 0.3 else rng.randrange(capacity)
        if kind < 0.4:
            ops.append(("w", addr, rng.randrange(256)))
        elif kind < 0.85:
            ops.append(("r", addr))
        else:
            ops.append(("idle",))
    _compare(capacity, ops)


def test_writes_beyond_capacity_are_dropped():
    capacity = 1000
    # 1000 + 1 would land on byte 1 of word 500 of the same block if not dropped.
    ops = [("w", 1, 0x11), ("w", 1000, 0xee), ("w", 1023, 0xdd), ("r", 1), ("r", 999),
           ("w", 999, 0x42), ("r", 999), ("idle",), ("idle",)]
    _compare(capacity, ops)


def test_read_data_holds_across_writes():
    capacity = 4096
    ops = [("w", 10, 0xab), ("r", 10), ("w", 10, 0xcd), ("w", 11, 0xef), ("idle",),
           ("r", 11), ("w", 11, 0x00), ("idle",), ("r", 10)]
    _compare(capacity, ops)


def test_model_masks_nibbles():
    dut = SPRAMModel()

    async def testbench(ctx):
        ctx.set(dut.CHIPSELECT, 1)
        ctx.set(dut.ADDRESS, 5)
        ctx.set(dut.WREN, 1)
        ctx.set(dut.DATAIN, 0x1234)
        ctx.set(dut.MASKWREN, 0b1111)
        await ctx.tick()
        ctx.set(dut.DATAIN, 0xabcd)
        ctx.set(dut.MASKWREN, 0b0101)
        await ctx.tick()
        assert ctx.get(dut.DATAOUT) == UNDEFINED
        ctx.set(dut.WREN, 0)
        await ctx.tick()
        assert ctx.get(dut.DATAOUT) == 0x1b3d
        # Chip select low: the output holds.
        ctx.set(dut.CHIPSELECT, 0)
        ctx.set(dut.ADDRESS, 6)
        await ctx.tick()
        assert ctx.get(dut.DATAOUT) == 0x1b3d

    run(dut, testbench, name="spram_model")


@pytest.mark.parametrize("capacity,blocks", [(2, 1), (SPRAM_BYTES, 1), (SPRAM_BYTES + 1, 2),
                                             (SPRAM_BLOCKS * SPRAM_BYTES, 4)])
def test_instantiates_cells_on_ice40(capacity, blocks):
    store = SPRAMStore(capacity)
    assert store.blocks == blocks
    text = rtlil.convert(store, platform=ICEBreakerPlatform())
    assert text.count("cell \\SB_SPRAM256KA ") == blocks
    assert "SB_SPRAM256KA" not in rtlil.convert(SPRAMStore(capacity))


@pytest.mark.parametrize("capacity,message", [
    (SPRAM_BLOCKS * SPRAM_BYTES + 1, (r"at most 131072 bytes \(4 SB_SPRAM256KA blocks\), "
                                      r"not 131073")),
    (1, r"at least 2 bytes, not 1"),
    ("64", r"not '64'"),
])
def test_bad_capacity(capacity, message):
    with pytest.raises(ValueError, match=message):
        SPRAMStore(capacity)
