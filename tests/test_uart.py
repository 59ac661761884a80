# SPDX-License-Identifier: BSD-2-Clause
import pytest
from amaranth import *
from amaranth.lib import wiring

from hw.transport.uart import (
    FRACTION_BITS,
    UART,
    UARTReceiver,
    UARTTransmitter,
    bit_period,
    check_baud,
)
from tests.simutil import run, stream_get, stream_put, uart_recv, uart_send

CLK = 100_000_000
DATA = bytes([0x00, 0xff, 0x55, 0xaa, 0x01, 0x80, 0xa5, 0x5a, 0x3c, 0x7e])


@pytest.mark.parametrize("clk_freq", [100_000_000, 25_000_000, 12_000_000])
def test_rate_error_below_one_percent(clk_freq):
    for baud in (115200, 230400, 460800, 921600, 1_000_000, 2_000_000, 3_000_000,
                 4_000_000, 6_000_000, 8_000_000, 12_000_000):
        if clk_freq / baud < 2:
            with pytest.raises(ValueError, match=r"too high for a"):
                check_baud(clk_freq, baud)
            continue
        achieved = clk_freq * (1 << FRACTION_BITS) / bit_period(clk_freq, baud)
        assert abs(achieved - baud) / baud < 0.01


@pytest.mark.parametrize("clk_freq,baud,message", [
    (0, 115200, r"Clock frequency must be a positive number, not 0"),
    (CLK, -1, r"Baud rate must be a positive number, not -1"),
    (CLK, 60_000_000, r"Baud rate 60000000 is too high for a 100 MHz clock"),
])
def test_bad_parameters(clk_freq, baud, message):
    with pytest.raises(ValueError, match=message):
        UART(clk_freq=clk_freq, baud=baud)


class _Loopback(wiring.Component):
    def __init__(self, baud):
        self.uart = UART(clk_freq=CLK, baud=baud)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart = self.uart
        m.d.comb += self.uart.rx.eq(self.uart.tx)
        return m


@pytest.mark.parametrize("baud", [3_000_000, 12_000_000, 25_000_000, 50_000_000, 1_000_000])
def test_loopback(baud):
    dut = _Loopback(baud)
    uart = dut.uart
    got = []

    async def sender(ctx):
        for byte in DATA:
            await stream_put(ctx, uart.i_stream, byte)

    async def receiver(ctx):
        for _ in DATA:
            got.append(await stream_get(ctx, uart.o_stream))
        assert bytes(got) == DATA

    run(dut, sender, receiver, name=f"uart_loopback_{baud}")


@pytest.mark.parametrize("baud", [3_000_000, 12_000_000, 25_000_000])
def test_transmitter_back_to_back_rate(baud):
    # 10 bytes back to back take exactly 100 bit periods: one stop bit, no gaps.
    dut = UARTTransmitter(clk_freq=CLK, baud=baud)
    cpb = CLK / baud

    async def sender(ctx):
        for byte in DATA:
            await stream_put(ctx, dut.i_stream, byte)

    async def monitor(ctx):
        await ctx.tick().until(~dut.tx)
        start = 0
        got = await uart_recv(ctx, dut.tx, len(DATA), cpb)
        assert got == DATA
        cycles = 0
        while ctx.get(dut.busy):
            await ctx.tick()
            cycles += 1
        del start
        # uart_recv stops mid stop bit of the last byte; half a bit is left.
        assert abs(cycles - cpb / 2) <= 1.5

    async def timing(ctx):
        await ctx.tick().until(~dut.tx)
        cycles = 0
        while not ctx.get(dut.busy) or True:
            await ctx.tick()
            cycles += 1
            if not ctx.get(dut.busy):
                break
        assert abs(cycles - 10 * len(DATA) * cpb) <= 1.5

    run(dut, sender, monitor, timing, name=f"uart_tx_rate_{baud}")


@pytest.mark.parametrize("skew", [0.97, 1.0, 1.03])
@pytest.mark.parametrize("baud", [3_000_000, 12_000_000])
def test_receiver_back_to_back_skewed_sender(baud, skew):
    # A sender up to 3% fast or slow, bytes back to back: every byte arrives.
    dut = UARTReceiver(clk_freq=CLK, baud=baud)
    data = bytes(range(0, 256, 5))
    got = []

    async def sender(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(5)
        await uart_send(ctx, dut.rx, data, CLK / baud * skew)
        ctx.set(dut.rx, 1)

    async def receiver(ctx):
        ctx.set(dut.o_stream.ready, 1)
        while len(got) < len(data):
            await ctx.tick()
            if ctx.get(dut.o_stream.valid):
                got.append(ctx.get(dut.o_stream.payload))
            assert not ctx.get(dut.err.framing)
            assert not ctx.get(dut.err.overrun)
        assert bytes(got) == data

    run(dut, sender, receiver, name=f"uart_rx_skew_{baud}_{skew}")


def test_receiver_framing_error():
    baud = 3_000_000
    dut = UARTReceiver(clk_freq=CLK, baud=baud)
    cpb = CLK / baud
    errors = []
    got = []

    async def sender(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(5)
        await uart_send(ctx, dut.rx, b"\x41", cpb)
        await uart_send(ctx, dut.rx, b"\x42", cpb, bad_stop=True)
        ctx.set(dut.rx, 0)      # held low: a break, not a stream of zero bytes
        await ctx.tick().repeat(round(30 * cpb))
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(round(2 * cpb))
        await uart_send(ctx, dut.rx, b"\x43", cpb)
        await ctx.tick().repeat(round(2 * cpb))

    async def receiver(ctx):
        ctx.set(dut.o_stream.ready, 1)
        for _ in range(round(80 * cpb)):
            await ctx.tick()
            if ctx.get(dut.o_stream.valid):
                got.append(ctx.get(dut.o_stream.payload))
            if ctx.get(dut.err.framing):
                errors.append(1)
        assert bytes(got) == b"\x41\x43"
        assert len(errors) == 1

    run(dut, sender, receiver, name="uart_framing")


def test_receiver_overrun():
    baud = 12_000_000
    dut = UARTReceiver(clk_freq=CLK, baud=baud)
    cpb = CLK / baud
    overruns = []

    async def sender(ctx):
        await uart_send(ctx, dut.rx, b"\x01\x02\x03", cpb)
        await ctx.tick().repeat(round(2 * cpb))

    async def monitor(ctx):
        # Nobody reads: the first byte stays, the next two are dropped and reported.
        for _ in range(round(33 * cpb)):
            await ctx.tick()
            if ctx.get(dut.err.overrun):
                overruns.append(1)
        assert ctx.get(dut.o_stream.valid)
        assert ctx.get(dut.o_stream.payload) == 0x01
        assert len(overruns) == 2

    run(dut, sender, monitor, name="uart_overrun")


def test_receiver_ignores_glitch():
    baud = 3_000_000
    dut = UARTReceiver(clk_freq=CLK, baud=baud)
    cpb = CLK / baud

    async def sender(ctx):
        ctx.set(dut.rx, 0)
        await ctx.tick().repeat(3)      # far shorter than half a bit
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(round(2 * cpb))
        await uart_send(ctx, dut.rx, b"\x99", cpb)
        await ctx.tick().repeat(round(2 * cpb))

    async def receiver(ctx):
        ctx.set(dut.o_stream.ready, 1)
        assert await stream_get(ctx, dut.o_stream) == 0x99

    run(dut, sender, receiver, name="uart_glitch")
