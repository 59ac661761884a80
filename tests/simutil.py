# SPDX-License-Identifier: BSD-2-Clause
"""Helpers for the Amaranth-simulator tests: running a testbench, stream and UART drivers."""

import os
import re

from amaranth.sim import Simulator

__all__ = ["run", "stream_put", "stream_get", "uart_send", "uart_recv"]

CLOCK_PERIOD = 1e-8  # 100 MHz


def run(dut, *testbenches, name="sim", deadline=None, background=()):
    """Simulate ``dut`` with the testbenches; waveforms only when ``WAVES=1`` (named per test)."""
    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    for tb in testbenches:
        sim.add_testbench(tb)
    for tb in background:
        sim.add_testbench(tb, background=True)
    if os.environ.get("WAVES"):
        os.makedirs("build/waves", exist_ok=True)
        stem = "build/waves/" + re.sub(r"[^\w.-]+", "_", name)
        with sim.write_vcd(stem + ".vcd", stem + ".gtkw"):
            sim.run_until(deadline) if deadline else sim.run()
    elif deadline:
        sim.run_until(deadline)
    else:
        sim.run()


async def stream_put(ctx, stream, payload):
    """Offer one payload on a stream and wait until it is accepted."""
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    """Accept one payload from a stream and return it."""
    ctx.set(stream.ready, 1)
    (payload,) = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


async def uart_send(ctx, pin, data, cycles_per_bit, *, stop_bits=1.0, phase=0.0, bad_stop=False):
    """Drive 8N1 frames onto ``pin``; ``cycles_per_bit`` may be fractional (a sender that is off
    the nominal rate). Returns the fractional phase left over for back-to-back calls."""
    t = phase
    elapsed = 0

    async def hold(value, bits):
        nonlocal t, elapsed
        ctx.set(pin, value)
        t += bits * cycles_per_bit
        n = round(t) - elapsed
        if n > 0:
            await ctx.tick().repeat(n)
            elapsed += n

    for byte in data:
        await hold(0, 1)
        for i in range(8):
            await hold((byte >> i) & 1, 1)
        await hold(0 if bad_stop else 1, stop_bits)
    return t - elapsed


async def uart_recv(ctx, pin, count, cycles_per_bit, *, timeout=None):
    """Decode ``count`` 8N1 bytes from ``pin``, sampling mid-bit; return them as bytes."""
    out = bytearray()
    waited = 0
    while len(out) < count:
        while ctx.get(pin):
            await ctx.tick()
            waited += 1
            if timeout is not None and waited > timeout:
                return bytes(out)
        await ctx.tick().repeat(max(1, round(cycles_per_bit / 2)))
        assert ctx.get(pin) == 0, "start bit did not last half a bit"
        byte = 0
        for i in range(8):
            await ctx.tick().repeat(round((i + 1.5) * cycles_per_bit) -
                                    round((i + 0.5) * cycles_per_bit))
            byte |= ctx.get(pin) << i
        await ctx.tick().repeat(round(9.5 * cycles_per_bit) - round(8.5 * cycles_per_bit))
        assert ctx.get(pin) == 1, "stop bit is low"
        out.append(byte)
    return bytes(out)
