# SPDX-License-Identifier: BSD-2-Clause
"""The PCIe transport: LitePCIe's DMA streams (128-bit AXI-Stream) to and from the engine's
byte streams, following the buffer rules of :mod:`hw.transport.pcie_layout`, with its status
registers on LitePCIe's MMAP AXI-Lite window.

The buffer logic and the registers run in the core's clock domain (LitePCIe's ``sys``, 125 MHz
for Gen2 x4 at 128 bits); a byte-wide asynchronous FIFO each way crosses to the engine's. The
DMA side moves 16 bytes a cycle and the engine one, so the FIFOs are only the crossing: the
reader's data waits in LitePCIe (back-pressure), not here.
"""

from amaranth import *
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from . import pcie_layout as layout
from .slot import TransportSignature

__all__ = ["DMABeat", "AXILiteSignature", "PCIeTransport", "FRAME_TIMEOUT_SECONDS",
           "FLUSH_SECONDS"]

#: A beat of a DMA stream: LitePCIe's ``tdata`` (byte ``n`` of the buffer in bits
#: ``8n .. 8n+7``) and ``tlast``.
DMABeat = data.StructLayout({"data": 8 * layout.BEAT_BYTES, "last": 1})

#: Seconds a frame may pause before the engine drops it: longer than the gaps between a host
#: program's writes (a scheduler's tens of milliseconds), unlike a UART's 4096 byte times.
FRAME_TIMEOUT_SECONDS = 0.25

#: Seconds a partly filled card-to-host buffer waits for more bytes before it is sent: a short
#: reply is delayed this much at most; a stream of samples fills its buffers first.
FLUSH_SECONDS = 100e-6

_BEATS = layout.DMA_BUFFER_SIZE // layout.BEAT_BYTES
_MASK = 0xFFFF_FFFF


class AXILiteSignature(wiring.Signature):
    """A 32-bit AXI4-Lite interface, seen from the master, with LitePCIe's port names
    (``mmap_axi_lite_awaddr`` and so on, without the prefix).

    Members
    -------
    awaddr, awvalid, wdata, wstrb, wvalid, bready, araddr, arvalid, rready : :py:`Out`
    awready, wready, bresp, bvalid, arready, rdata, rresp, rvalid : :py:`In`
    """
    def __init__(self, address_width=32):
        super().__init__({
            "awaddr": Out(address_width), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(32), "wstrb": Out(4), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(address_width), "arvalid": Out(1), "arready": In(1),
            "rdata": In(32), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })


class _Registers(wiring.Component):
    """The transport's registers (:class:`~hw.transport.pcie_layout.Register`) as an AXI4-Lite
    slave. A write takes the address and the data together; byte strobes are ignored (the one
    writable register is written whole)."""

    def __init__(self):
        super().__init__({
            "bus": In(AXILiteSignature()),
            "values": In(data.ArrayLayout(32, 8)),
            "host_read": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        offset = Signal(range(layout.MMAP_SIZE))
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)
        with m.If(bus.awvalid & bus.wvalid & ~bus.bvalid):
            m.d.comb += [bus.awready.eq(1), bus.wready.eq(1)]
            m.d.sync += bus.bvalid.eq(1)
            with m.If(bus.awaddr[:len(offset)] == layout.Register.HOST_READ):
                m.d.sync += self.host_read.eq(bus.wdata)
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        m.d.comb += offset.eq(bus.araddr[:len(offset)])
        with m.If(bus.arvalid & ~bus.rvalid):
            m.d.comb += bus.arready.eq(1)
            m.d.sync += [bus.rvalid.eq(1), bus.rdata.eq(0)]
            for reg in layout.Register:
                value = self.host_read if reg == layout.Register.HOST_READ else \
                    self.values[reg // 4]
                with m.If(offset == reg):
                    m.d.sync += bus.rdata.eq(value)
        m.d.comb += [bus.bresp.eq(0), bus.rresp.eq(0)]
        return m


def _kept_counters(m, *outputs):
    """Return a 32-bit counter driving each of ``outputs`` that a reset leaves alone (a DMA
    disabled between two clients): the next client carries on from them."""
    counters = [Signal(32, reset_less=True) for _ in outputs]
    m.d.comb += [output.eq(counter) for output, counter in zip(outputs, counters, strict=True)]
    return counters


class _Unpacker(wiring.Component):
    """Host-to-card buffers to bytes: takes a buffer whose header is whole and carries the next
    sequence number, skips every other, a beat per cycle."""

    def __init__(self):
        super().__init__({
            "i_stream": In(stream.Signature(DMABeat)),
            "o_stream": Out(stream.Signature(8)),
            "buffers":  Out(32),
            "bytes":    Out(32),
            "skipped":  Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        buffers, count, skipped = _kept_counters(m, self.buffers, self.bytes, self.skipped)
        beat = self.i_stream.payload
        pos = Signal(range(_BEATS))         # the beat of the buffer the stream offers
        word = Signal(8 * layout.BEAT_BYTES)
        index = Signal(range(layout.BEAT_BYTES))
        remaining = Signal(range(layout.MAX_CHUNK + 1))
        head = [beat.data[32 * i:32 * (i + 1)] for i in range(4)]
        whole = ((head[0] == layout.TO_CARD_MAGIC) & (head[1] == buffers) &
                 (head[3] == ~head[1]) & (head[2] <= layout.MAX_CHUNK))
        taken = self.i_stream.valid & self.i_stream.ready
        m.d.sync += pos.eq(Mux(taken, Mux(beat.last, 0, pos + 1), pos))
        with m.FSM():
            with m.State("Header"):
                m.d.comb += self.i_stream.ready.eq(1)
                with m.If(self.i_stream.valid):
                    with m.If(whole):
                        m.d.sync += [
                            buffers.eq(buffers + 1),
                            count.eq(count + head[2]),
                            remaining.eq(head[2]),
                        ]
                        with m.If(head[2] != 0):
                            m.next = "Load"
                        with m.Elif(~beat.last):
                            m.next = "Skip"
                    with m.Else():
                        m.d.sync += skipped.eq(skipped + 1)
                        with m.If(~beat.last):
                            m.next = "Skip"
            with m.State("Load"):
                m.d.comb += self.i_stream.ready.eq(1)
                with m.If(self.i_stream.valid):
                    m.d.sync += [word.eq(beat.data), index.eq(0)]
                    m.next = "Bytes"
                    with m.If(beat.last | (pos == _BEATS - 1)):
                        m.next = "Bytes-Last"
            for state, after in (("Bytes", "Skip"), ("Bytes-Last", "Header")):
                with m.State(state):
                    m.d.comb += [
                        self.o_stream.valid.eq(1),
                        self.o_stream.payload.eq(word.word_select(index, 8)),
                    ]
                    with m.If(self.o_stream.ready):
                        m.d.sync += [index.eq(index + 1), remaining.eq(remaining - 1)]
                        with m.If(remaining == 1):
                            m.next = after
                        with m.Elif(index == layout.BEAT_BYTES - 1):
                            # The next beat, if offered, is taken with the last byte of this
                            # one, so that a byte leaves every cycle.
                            m.d.comb += self.i_stream.ready.eq(1)
                            with m.If(self.i_stream.valid):
                                m.d.sync += word.eq(beat.data)
                                with m.If(beat.last | (pos == _BEATS - 1)):
                                    m.next = "Bytes-Last"
                            with m.Else():
                                m.next = "Load"
            with m.State("Skip"):
                m.d.comb += self.i_stream.ready.eq(1)
                with m.If(taken & (beat.last | (pos == _BEATS - 1))):
                    m.next = "Header"
        return m


class _Packer(wiring.Component):
    """Bytes to card-to-host buffers: payload, zeros, trailer; a buffer is closed when full or
    ``flush_cycles`` after its first byte, and opened only within the host's window."""

    def __init__(self, flush_cycles):
        self._flush_cycles = flush_cycles
        super().__init__({
            "i_stream":  In(stream.Signature(8)),
            "o_stream":  Out(stream.Signature(DMABeat)),
            "host_read": In(32),
            "buffers":   Out(32),
            "bytes":     Out(32),
            "busy":      Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        buffers, count = _kept_counters(m, self.buffers, self.bytes)
        word = Signal(8 * layout.BEAT_BYTES)
        index = Signal(range(layout.BEAT_BYTES))
        length = Signal(range(layout.MAX_CHUNK + 1))
        beats = Signal(range(_BEATS))           # beats of this buffer sent
        age = Signal(range(self._flush_cycles + 1))
        closing = Signal()
        room = (buffers - self.host_read)[:32] < layout.WINDOW
        trailer = Cat(C(layout.TO_HOST_MAGIC, 32), buffers, length,
                      C(0, 32 - len(length)), ~buffers)
        m.d.comb += self.busy.eq(length != 0)
        with m.If((length != 0) & (age != self._flush_cycles)):
            m.d.sync += age.eq(age + 1)
        with m.FSM():
            with m.State("Fill"):
                # A beat's last byte goes out with the other 15 in the same cycle, so that a
                # byte is taken every cycle; the beat is offered only while that byte is.
                full = index == layout.BEAT_BYTES - 1
                m.d.comb += [
                    self.i_stream.ready.eq(((length != 0) | room) & (~full | self.o_stream.ready)),
                    self.o_stream.valid.eq(full & self.i_stream.valid),
                    self.o_stream.payload.data.eq(Cat(word[:-8], self.i_stream.payload)),
                ]
                with m.If(self.i_stream.valid & self.i_stream.ready):
                    m.d.sync += [
                        word.word_select(index, 8).eq(self.i_stream.payload),
                        index.eq(index + 1),
                        length.eq(length + 1),
                    ]
                    with m.If(full):
                        m.d.sync += [word.eq(0), beats.eq(beats + 1)]
                        with m.If(length + 1 == layout.MAX_CHUNK):
                            m.d.sync += closing.eq(1)
                            m.next = "Pad"
                with m.Elif((length != 0) & (age == self._flush_cycles)):
                    m.d.sync += closing.eq(1)
                    with m.If(index != 0):
                        m.next = "Send"
                    with m.Else():
                        m.next = "Pad"
            with m.State("Send"):
                m.d.comb += [self.o_stream.valid.eq(1), self.o_stream.payload.data.eq(word)]
                with m.If(self.o_stream.ready):
                    m.d.sync += [word.eq(0), index.eq(0), beats.eq(beats + 1)]
                    with m.If(closing):
                        m.next = "Pad"
                    with m.Else():
                        m.next = "Fill"
            with m.State("Pad"):
                with m.If(beats == _BEATS - 1):
                    m.next = "Trailer"
                with m.Else():
                    m.d.comb += self.o_stream.valid.eq(1)
                    with m.If(self.o_stream.ready):
                        m.d.sync += beats.eq(beats + 1)
            with m.State("Trailer"):
                m.d.comb += [
                    self.o_stream.valid.eq(1),
                    self.o_stream.payload.data.eq(trailer),
                    self.o_stream.payload.last.eq(1),
                ]
                with m.If(self.o_stream.ready):
                    m.d.sync += [
                        buffers.eq(buffers + 1),
                        count.eq(count + length),
                        length.eq(0), beats.eq(0), age.eq(0), closing.eq(0),
                    ]
                    m.next = "Fill"
        return m


class PCIeTransport(wiring.Component):
    """LitePCIe's DMA streams and MMAP window, in the transport slot
    (:class:`~hw.transport.slot.TransportSignature`).

    Parameters
    ----------
    clk_freq : int
        The engine's clock frequency in Hz.
    dma_clk_freq : int
        The DMA side's clock frequency in Hz (LitePCIe's ``sys``).
    domain : str
        The DMA side's clock domain; ``"sync"`` when the engine runs on the core's clock.
    flush_cycles : int or None
        Cycles of the DMA side's clock a partly filled buffer waits, counted from its first
        byte (default :data:`FLUSH_SECONDS`). A stream that fills a buffer sooner is sent in
        full buffers.

    Members
    -------
    reader : :py:`In(stream.Signature(DMABeat))`
        Host-to-card buffers: LitePCIe's ``dma0_reader_axi`` (``tdata``, ``tlast``), in
        ``domain``.
    writer : :py:`Out(stream.Signature(DMABeat))`
        Card-to-host buffers: ``dma0_writer_axi``, in ``domain``.
    mmap : :py:`In(AXILiteSignature())`
        The registers: LitePCIe's ``mmap_axi_lite`` master, in ``domain``.
    link_up : :py:`In(1)`
        The PCIe link is up, in ``domain`` (reported in the STATUS register).
    reader_enable, writer_enable : :py:`In(1, init=1)`
        The driver has the DMA reader or writer enabled (LitePCIe's ``dma0_status_*_enable``),
        in ``domain``. While one is off, that side starts over at a buffer's first beat, as the
        DMA does when it is enabled again, and the engine's bytes are dropped (no host
        listens); the counters carry on.
    o_stream, i_stream, errors, idle
        As :class:`~hw.transport.slot.TransportSignature`; ``errors`` never strobes (DMA has
        flow control and the buffers carry whole bytes), ``idle`` covers the engine's side of the
        crossing.

    Raises
    ------
    ValueError
        If a clock frequency or ``flush_cycles`` is not a positive integer.
    """

    #: INFO's 32-bit ``baud``: PCIe Gen2 x4's 16 Gbit/s does not fit, so 0.
    link_rate = 0

    def __init__(self, *, clk_freq, dma_clk_freq=125_000_000, domain="pcie", flush_cycles=None):
        for name, value in (("clk_freq", clk_freq), ("dma_clk_freq", dma_clk_freq)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer in Hz, not {value!r}")
        if flush_cycles is None:
            flush_cycles = max(1, round(FLUSH_SECONDS * dma_clk_freq))
        if not isinstance(flush_cycles, int) or isinstance(flush_cycles, bool) or \
                flush_cycles < 1:
            raise ValueError(f"flush_cycles must be a positive integer, not {flush_cycles!r}")
        self._clk_freq = clk_freq
        self._flush_cycles = flush_cycles
        self._domain = domain
        super().__init__({
            **TransportSignature().members,
            "reader":  In(stream.Signature(DMABeat)),
            "writer":  Out(stream.Signature(DMABeat)),
            "mmap":    In(AXILiteSignature()),
            "link_up": In(1),
            "reader_enable": In(1, init=1),
            "writer_enable": In(1, init=1),
        })

    @property
    def frame_timeout(self):
        """:data:`FRAME_TIMEOUT_SECONDS` in cycles of the engine's clock."""
        return round(FRAME_TIMEOUT_SECONDS * self._clk_freq)

    @property
    def flush_cycles(self):
        """:data:`FLUSH_SECONDS` in cycles of the DMA side's clock."""
        return self._flush_cycles

    def elaborate(self, platform):
        m = Module()
        domain = self._domain
        dma = DomainRenamer(domain)
        m.submodules.unpacker = unpacker = dma(
            ResetInserter(~self.reader_enable)(_Unpacker()))
        m.submodules.packer = packer = dma(
            ResetInserter(~self.writer_enable)(_Packer(self._flush_cycles)))
        m.submodules.registers = registers = dma(_Registers())
        if domain == "sync":
            rx_fifo = fifo.SyncFIFOBuffered(width=8, depth=4)
            tx_fifo = fifo.SyncFIFOBuffered(width=8, depth=4)
        else:
            rx_fifo = fifo.AsyncFIFO(width=8, depth=16, w_domain=domain, r_domain="sync")
            tx_fifo = fifo.AsyncFIFO(width=8, depth=16, w_domain="sync", r_domain=domain)
        m.submodules.rx_fifo = rx_fifo
        m.submodules.tx_fifo = tx_fifo

        wiring.connect(m, wiring.flipped(self.reader), unpacker.i_stream)
        wiring.connect(m, unpacker.o_stream, rx_fifo.w_stream)
        wiring.connect(m, rx_fifo.r_stream, wiring.flipped(self.o_stream))
        wiring.connect(m, wiring.flipped(self.i_stream), tx_fifo.w_stream)
        m.d.comb += [
            packer.i_stream.payload.eq(tx_fifo.r_stream.payload),
            packer.i_stream.valid.eq(tx_fifo.r_stream.valid & self.writer_enable),
            tx_fifo.r_stream.ready.eq(packer.i_stream.ready | ~self.writer_enable),
        ]
        wiring.connect(m, packer.o_stream, wiring.flipped(self.writer))
        wiring.connect(m, wiring.flipped(self.mmap), registers.bus)

        status = Cat(self.link_up, unpacker.o_stream.valid | (rx_fifo.w_level != 0),
                     packer.busy | tx_fifo.r_rdy)
        values = {
            layout.Register.ID: layout.PCIE_ID, layout.Register.STATUS: status,
            layout.Register.TO_CARD_BUFFERS: unpacker.buffers,
            layout.Register.TO_HOST_BUFFERS: packer.buffers,
            layout.Register.TO_CARD_BYTES: unpacker.bytes,
            layout.Register.TO_HOST_BYTES: packer.bytes,
            layout.Register.SKIPPED: unpacker.skipped,
        }
        for reg, value in values.items():
            m.d.comb += registers.values[reg // 4].eq(value)
        m.d.comb += [
            packer.host_read.eq(registers.host_read),
            self.errors.eq(0),
            self.idle.eq(~rx_fifo.r_rdy & (tx_fifo.w_level == 0)),
        ]
        return m
