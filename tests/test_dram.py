# SPDX-License-Identifier: BSD-2-Clause
"""The DRAM store's adaptation of LiteDRAM's native port to the store's byte streams, against a
behavioural model of the port with random stalls and refresh pauses (fast, in the Amaranth
simulator); the LiteDRAM core itself is tested on the virtual board (tests/test_dram_vboard.py)."""

import random

import pytest

from hw.store.dram.native import ModelDRAMStore, NativeSequencer
from hw.store.dram.store import InitSequencer, init_writes
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


def test_init_sequencer_writes_the_steps_and_waits():
    writes = [(0x200, 0, 0), (0x200, 0xE, 7), (0x203, 0x400, 0), (0x201, 0xB, 3), (0, 1, 0)]
    dut = InitSequencer(writes, address_width=30)

    async def testbench(ctx):
        seen = []
        cycle = 0
        while not ctx.get(dut.done):
            await ctx.delay(1e-9)
            ack = ctx.get(dut.bus.cyc) and ctx.get(dut.bus.stb) and cycle % 3 == 2
            ctx.set(dut.bus.ack, ack)
            if ack:
                assert ctx.get(dut.bus.we) and ctx.get(dut.bus.sel) == 0b1111
                seen.append((cycle, ctx.get(dut.bus.adr), ctx.get(dut.bus.dat_w)))
            await ctx.tick()
            cycle += 1
        assert [(adr, dat) for _, adr, dat in seen] == [(a, d) for a, d, _ in writes]
        # Each write waits its delay (and the bus) before the next one.
        times = [cycle for cycle, _, _ in seen]
        gaps = [after - before for before, after in zip(times, times[1:], strict=False)]
        assert all(gap > delay for gap, (_, _, delay) in zip(gaps, writes, strict=False))

    run(dut, testbench, name="dram_init")


def test_init_writes_follow_litex_sdram_init():
    core = pytest.importorskip("hw.store.dram.core")
    pytest.importorskip("litedram")
    facts = core.generate("sdram_ulx3s")
    writes = init_writes(facts)
    csr = facts.csr
    # Software control first, the controller last, then init_done opens the native port.
    assert writes[0][:2] == (csr["sdram_dfii_control"], 0)
    assert writes[-2][:2] == (csr["sdram_dfii_control"], facts.dfii["DFII_CONTROL_SEL"])
    assert writes[-1][:2] == (csr["ddrctrl_init_done"], 1)
    issued = [w for w in writes if w[0] == csr["sdram_dfii_pi0_command"]]
    # Precharge all, load mode register, precharge all, two refreshes, load mode register.
    assert len(issued) == 6
    modes = [w[1] for w in writes if w[0] == csr["sdram_dfii_pi0_address"]]
    assert modes[-1] == 0x20                                 # CL=2, BL=1
    assert facts.capacity == 32 * 1024 * 1024 and facts.data_width == 16


def test_boards_with_a_dram_store():
    from hw.boards.registry import BoardTop, get_board

    assert BoardTop("ulx3s", store="dram").store == "dram"
    with pytest.raises(ValueError, match=r"iCEBreaker has no external memory.*arty_a7, ulx3s"):
        BoardTop("icebreaker", store="dram")
    with pytest.raises(ValueError, match=r"Store must be one of bram, dram, not 'sram'"):
        get_board("ulx3s").check_store("sram")


@pytest.mark.slow
def test_ulx3s_dram_bitstream_meets_timing(tmp_path):
    pytest.importorskip("litedram")
    from hw.boards import build

    report = build.bitstream("ulx3s", build_root=tmp_path, store="dram")
    assert report.met and min(report.fmax.values()) >= 25.0
    # The SDRAM's 39 pins, the UART's 2, 3 LEDs and the clock.
    assert report.utilization["TRELLIS_IO"][0] == 45
    text = (tmp_path / "ulx3s-dram" / "report.txt").read_text()
    assert "store 33554432 bytes in SDR DRAM through LiteDRAM" in text
    assert (tmp_path / "ulx3s-dram" / "top.bit").stat().st_size > 100_000


@pytest.mark.slow
def test_arty_dram_tree_and_yosys_synthesis(tmp_path):
    pytest.importorskip("litedram")
    from hw.boards import build

    with pytest.raises(build.VivadoMissing, match=r"build_top\.sh"):
        build.bitstream("arty_a7", build_root=tmp_path, store="dram")
    tree = tmp_path / "arty_a7-dram"
    assert 'add_files "litedram_core.v"' in (tree / "top.tcl").read_text()
    assert "module litedram_core" in (tree / "litedram_core.v").read_text()
    cells = build.synth("arty_a7", build_root=tmp_path, store="dram")
    # The DDR3 PHY: a serializer per output pin, a deserializer and a delay per data pin, the
    # memory clock's differential buffer and the PLL; no block RAM holds examples.
    assert cells.count("ISERDESE2") == 16 and cells.count("IDELAYE2") == 16
    assert cells.count("IOBUF") == 16 and cells.count("IOBUFDS") == 2
    assert cells.count("PLLE2_ADV") == 1 and cells.ramb36_equivalents == 0
    assert cells.lut < 10000
    text = (tree / "utilization.txt").read_text()
    assert "store 268435456 bytes in DDR3 DRAM through LiteDRAM" in text


def test_virtual_board_store_choice():
    from hw.top import StreamSimTop
    from sim import board

    with pytest.raises(ValueError, match=r"one of \('bram', 'sdram', 'ddr3'\), not 'ddr'"):
        StreamSimTop(store="ddr")
    with pytest.raises(SystemExit) as exc:
        board.main(["--store", "sdram", "--top", "hw.top:StreamSimTop"])
    assert exc.value.code == 2


def test_init_sequencer_leaves_a_started_memory_alone():
    dut = InitSequencer([(0x200, 0, 5), (0, 1, 0)], address_width=30)

    async def testbench(ctx):
        ctx.set(dut.started, 1)
        for _ in range(10):
            assert not ctx.get(dut.bus.cyc)
            await ctx.tick()
        assert ctx.get(dut.done)

    run(dut, testbench, name="dram_init_started")


def test_bad_dram_store_arguments():
    from hw.store.dram.store import DRAMStore, sim_store

    with pytest.raises(TypeError, match=r"CoreFacts of a generated core, not 'sdram'"):
        DRAMStore("sdram")
    with pytest.raises(ValueError, match=r"needs at least one write"):
        InitSequencer([], address_width=30)
    with pytest.raises(ValueError, match=r"'sdram' or 'ddr3', not 'ddr2'"):
        sim_store(memory="ddr2")


@pytest.mark.parametrize("capacity,data_width", [(32 << 20, 16), (256 << 20, 128),
                                                 (1 << 30, 128), (1 << 30, 512)])
def test_dram_store_addresses_the_top_of_the_memory(capacity, data_width):
    # The ULX3S's widths (a 25-bit byte address, 16-bit words), the Arty's (28 bits, 128-bit
    # words) and a 1 GB card's (30 bits) on a model that holds 64 words, addressed by the word
    # address's low bits: the sequencer's address and word arithmetic at the top of the memory.
    store = ModelDRAMStore(capacity, data_width=data_width, memory_words=64, stall=20)
    top = bytes(range(100, 140))
    low = bytes(range(200, 240))

    async def testbench(ctx):
        await _write(ctx, store, capacity - len(top), top)
        await _write(ctx, store, 5000, low)
        assert await _read(ctx, store, capacity - len(top), len(top)) == top
        assert await _read(ctx, store, capacity - 1, 1) == top[-1:]
        assert await _read(ctx, store, 5000, len(low)) == low
        assert not ctx.get(store.model.error)

    run(store, testbench, name=f"dram_top_{capacity >> 20}mb_{data_width}")
