# SPDX-License-Identifier: BSD-2-Clause
"""cocotb testbench of the card's design (:class:`sim.pcie.top.PCIeSimTop`) under cocotbext-pcie's
root complex and UltraScale+ hard-IP model.

The testbench plays the host: it enumerates the card, sets up both DMA channels as LitePCIe's
Linux driver does (``litepcie/software/kernel/main.c``, ``litepcie_dma_writer_start`` and
``_reader_start``: a table of :data:`~hw.transport.pcie_layout.DMA_BUFFER_COUNT` descriptors of
:data:`~hw.transport.pcie_layout.DMA_BUFFER_SIZE`-byte buffers in host memory, run in a loop, CSR
addresses from the core's generated ``csr.h``), then writes and reads those buffers by the rules
of :mod:`hw.transport.pcie_layout` (what :class:`host.pcie.PCIeLink` does over the driver's
mmap), carrying MemGEN's frames (:class:`hw.transaction.Exchange`).

One difference from the driver, for time: the host-to-card ring has :data:`TO_CARD_RING`
buffers (``MEMGEN_TO_CARD_RING``), not :data:`~hw.transport.pcie_layout.DMA_BUFFER_COUNT`. The
DMA reader runs through its ring without pause, so a buffer the host writes is taken when the
reader next comes to its slot: up to a whole ring later, 16 x 8 KB at the reader's rate (about
11,000 cycles, which the simulation runs in seconds; LitePCIe's default of 256 buffers took
180,000). The card does not see the ring's size (it follows sequence numbers); the host's window
is half the ring, as the driver's.

Environment: ``PCIE_CORE_DIR`` (the generated core, for ``driver/csr.h``), ``MEMGEN_RESULTS``
(a JSON file the measurements are written to), ``MEMGEN_LEARN_BYTES``, ``MEMGEN_CAPACITY``.
"""

import logging
import os
import random
import re
from pathlib import Path

import cocotb
from cocotb.triggers import FallingEdge, RisingEdge, Timer
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamBus
from cocotbext.pcie.core import RootComplex
from cocotbext.pcie.xilinx.us import UltraScalePlusPcieDevice

from hw import protocol
from hw.protocol import Command, Mode, State, Status
from hw.sampler.addrgen_model import AddressGeneratorModel
from hw.transaction import Response
from hw.transport import pcie_layout as layout
from hw.transport.litepcie.generate import USP_HARD_IP_PORTS
from sim.cocotb_host import ProtocolHost, report

#: The reset value of LitePCIe's scratch CSR (``CSR_CTRL_SCRATCH``).
SCRATCH_RESET = 0x12345678
#: The driver's descriptor flags (``config.h``) and interrupt period (``DMA_BUFFER_PER_IRQ``).
DMA_IRQ_DISABLE = 1 << 24
DMA_LAST_DISABLE = 1 << 25
DMA_BUFFER_PER_IRQ = 32
#: Buffers of the host-to-card ring (the driver's: DMA_BUFFER_COUNT).
TO_CARD_RING = int(os.environ.get("MEMGEN_TO_CARD_RING", 8))
#: The core's clock: the hard IP's user_clk at Gen2 x4, 128 bits.
CLK_FREQ = 125_000_000

_BUSES = ("s_axis_rq", "m_axis_rc", "m_axis_cq", "s_axis_cc")
_MASK = 0xFFFF_FFFF


def read_csr_header(path):
    """Return the ``CSR_*_ADDR`` byte addresses of LitePCIe's generated ``csr.h`` by name
    (without ``CSR_`` and ``_ADDR``)."""
    return {name: int(address, 16) for name, address in re.findall(
        r"#define CSR_(\w+)_ADDR \(CSR_BASE \+ (0x[0-9a-fA-F]+)L\)", Path(path).read_text())}


class TB(ProtocolHost):
    """The root complex, the hard IP's model on the top level's ports, BAR0, and the host's side
    of the DMA rings (:class:`sim.cocotb_host.ProtocolHost` over them)."""

    def __init__(self, dut):
        super().__init__(poll_us=2, timeout_us=2000, device="the card")
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb")
        self.log.setLevel(logging.INFO)
        self.csr = read_csr_header(Path(os.environ["PCIE_CORE_DIR"]) / "driver" / "csr.h")
        self.rc = RootComplex()
        # The hard IP's ports LitePCIe connects are the top level's, by the IP's names.
        signals = {name: getattr(dut, name) for name in USP_HARD_IP_PORTS
                   if not name.startswith(_BUSES) and hasattr(dut, name)}
        self.dev = UltraScalePlusPcieDevice(
            pcie_generation=2, pcie_link_width=4, user_clk_frequency=CLK_FREQ,
            alignment="dword", cq_straddle=False, cc_straddle=False, rq_straddle=False,
            rc_straddle=False, rc_4tlp_straddle=False, pf_count=1, max_payload_size=256,
            enable_client_tag=True, enable_extended_tag=False, enable_parity=False,
            enable_rx_msg_interface=False, enable_sriov=False,
            enable_extended_configuration=False, pf0_msi_enable=True, pf0_msi_count=1,
            **{f"{bus.split('_', 2)[2]}_bus": AxiStreamBus.from_prefix(dut, bus)
               for bus in _BUSES},
            **signals)
        self.dev.log.setLevel(logging.WARNING)
        for bus in _BUSES:
            logging.getLogger(f"cocotb.{dut._name}.{bus}").setLevel(logging.WARNING)
        self.dev.functions[0].configure_bar(0, 0x100000)
        self.rc.make_port().connect(self.dev)
        self.bar0 = None
        self.received = 0           # payload bytes from the card
        self._to_card = 0           # the next host-to-card buffer's sequence number
        self._taken = 0             # the card's TO_CARD_BUFFERS, as last read
        self._read = 0              # the next card-to-host buffer expected
        self._rx_slot = 0

    @staticmethod
    def cycles():
        """The simulation time in cycles of the core's clock."""
        return get_sim_time(unit="ps") * CLK_FREQ // 10**12

    async def start(self):
        """Enumerate the card and enable its memory space and bus mastering."""
        await FallingEdge(self.dut.user_reset)
        await Timer(100, "ns")
        await self.rc.enumerate()
        self.pci = self.rc.find_device(self.dev.functions[0].pcie_id)
        await self.pci.enable_device()
        await self.pci.set_master()
        self.bar0 = self.pci.bar_window[0]

    async def read32(self, address):
        data = await self.bar0.read(address, 4, timeout=1_000_000)
        return int.from_bytes(data, "little")

    async def write32(self, address, value):
        await self.bar0.write(address, (value & _MASK).to_bytes(4, "little"), timeout=1_000_000)

    async def register(self, reg):
        """Read the transport's register ``reg`` (:class:`~hw.transport.pcie_layout.Register`)."""
        return await self.read32(layout.MMAP_BASE + reg)

    async def set_register(self, reg, value):
        await self.write32(layout.MMAP_BASE + reg, value)

    # The driver's part.

    async def _dma_start(self, side, ring, count):
        """``litepcie_dma_{side}_start``: the table of the ring's ``count`` buffers, looped,
        enabled."""
        prefix = f"PCIE_DMA0_{side.upper()}"
        csr = {name.removeprefix(prefix + "_"): address for name, address in self.csr.items()
               if name.startswith(prefix)}
        await self.write32(csr["ENABLE"], 0)
        await self.write32(csr["TABLE_RESET"], 1)
        await self.write32(csr["TABLE_LOOP_PROG_N"], 0)
        for i in range(count):
            address = ring.get_absolute_address(i * layout.DMA_BUFFER_SIZE)
            irq = DMA_IRQ_DISABLE if i % DMA_BUFFER_PER_IRQ else 0
            await self.write32(csr["TABLE_VALUE"], DMA_LAST_DISABLE | irq | layout.DMA_BUFFER_SIZE)
            await self.write32(csr["TABLE_VALUE"] + 4, address & _MASK)
            await self.write32(csr["TABLE_WE"], address >> 32)
        await self.write32(csr["TABLE_LOOP_PROG_N"], 1)
        await self.write32(csr["ENABLE"], 1)

    async def open(self):
        """Allocate both rings in the root complex's memory and start both DMAs; carry on the
        card's buffer numbering, as :class:`host.pcie.PCIeLink` does."""
        self.tx = self.rc.mem_pool.alloc_region(        # host to card: the DMA reader's
            TO_CARD_RING * layout.DMA_BUFFER_SIZE)
        self.rx = self.rc.mem_pool.alloc_region(        # card to host: the DMA writer's
            layout.DMA_BUFFER_COUNT * layout.DMA_BUFFER_SIZE)
        assert await self.register(layout.Register.ID) == layout.PCIE_ID
        self._to_card = self._taken = await self.register(layout.Register.TO_CARD_BUFFERS)
        self._read = await self.register(layout.Register.TO_HOST_BUFFERS)
        await self._dma_start("reader", self.tx, TO_CARD_RING)
        await self._dma_start("writer", self.rx, layout.DMA_BUFFER_COUNT)
        await self.set_register(layout.Register.HOST_READ, self._read)
        cocotb.start_soon(self._collect())

    # The host's part: the buffer rules of pcie_layout.

    async def send(self, data):
        """Write ``data`` into host-to-card buffers, at most WINDOW ahead of the card."""
        for start in range(0, len(data), layout.MAX_CHUNK):
            for _ in range(1000):
                if (self._to_card - self._taken) & _MASK < TO_CARD_RING // 2:
                    break
                await Timer(2, "us")
                self._taken = await self.register(layout.Register.TO_CARD_BUFFERS)
            else:
                raise AssertionError("the card took no buffer in 2 ms")
            seq = self._to_card
            base = (seq % TO_CARD_RING) * layout.DMA_BUFFER_SIZE
            buffer = layout.to_card_buffer(seq, data[start:start + layout.MAX_CHUNK])
            # Payload first, header last (the card skips a buffer whose header is not whole).
            await self.tx.write(base + layout.HEADER_SIZE, buffer[layout.HEADER_SIZE:])
            await self.tx.write(base, buffer[:layout.HEADER_SIZE])
            self._to_card = (seq + 1) & _MASK

    async def _collect(self):
        """Take the card's buffers as their trailers land; report them read."""
        while True:
            base = self._rx_slot * layout.DMA_BUFFER_SIZE
            found = layout.to_host_payload(
                await self.rx.read(base, layout.DMA_BUFFER_SIZE))
            if found is None:
                await Timer(1, "us")
                continue
            seq, payload = found
            assert seq == self._read, f"card buffer {seq} where {self._read} was expected"
            await self.rx.write(base + layout.DMA_BUFFER_SIZE - layout.HEADER_SIZE,
                                bytes(layout.HEADER_SIZE))
            self._read = (seq + 1) & _MASK
            self._rx_slot = (self._rx_slot + 1) % layout.DMA_BUFFER_COUNT
            self.received += len(payload)
            self.feed(payload)
            await self.set_register(layout.Register.HOST_READ, self._read)


async def _completion_bytes(dut, cycles):
    """Return the payload bytes of the completions (the data the DMA reader asked for) on the
    card's requester-completion interface over ``cycles`` cycles. The dword count is bits 42:32
    of a completion's descriptor (Xilinx PG213)."""
    total, first = 0, True
    for _ in range(cycles):
        await RisingEdge(dut.user_clk)
        if dut.m_axis_rc_tvalid.value and dut.m_axis_rc_tready.value:
            if first:
                total += 4 * ((int(dut.m_axis_rc_tdata.value) >> 32) & 0x7FF)
            first = bool(dut.m_axis_rc_tlast.value)
    return total


async def _writes(dut, cycles):
    """Append to ``cycles`` the cycle of each beat of a memory write (the DMA writer's) on the
    card's requester interface, where the DMA reader's read requests also go; stop when
    cancelled. The request type is bits 14:11 of the descriptor's third dword (Xilinx PG213)."""
    first, write = True, False
    while True:
        await RisingEdge(dut.user_clk)
        if dut.s_axis_rq_tvalid.value and dut.s_axis_rq_tready.value:
            if first:
                write = (int(dut.s_axis_rq_tdata.value) >> 75) & 0xF == 0b0001
            if write:
                cycles.append(TB.cycles())
            first = bool(dut.s_axis_rq_tlast.value)


@cocotb.test(timeout_time=100, timeout_unit="us")
async def registers(dut):
    """Enumeration assigns BAR0; LitePCIe's scratch CSR and the transport's registers read."""
    tb = TB(dut)
    await tb.start()
    assert tb.bar0.get_absolute_address(0) is not None
    scratch = tb.csr["CTRL_SCRATCH"]
    assert await tb.read32(scratch) == SCRATCH_RESET
    await tb.write32(scratch, 0xC0FFEE42)
    assert await tb.read32(scratch) == 0xC0FFEE42
    assert await tb.register(layout.Register.ID) == layout.PCIE_ID
    assert await tb.register(layout.Register.STATUS) & layout.Status.LINK_UP
    await tb.set_register(layout.Register.HOST_READ, 0x1234_5678)
    assert await tb.register(layout.Register.HOST_READ) == 0x1234_5678


async def _learn(tb, data, record_size):
    """BEGIN, the LEARN frames back to back, COMMIT; return the cycles from the first LEARN
    byte sent to the COMMIT reply."""
    begin = protocol.begin_payload(record_size, len(data) // record_size, b"pcie")
    assert (await tb.call(Command.BEGIN, begin)).ok
    chunk = protocol.MAX_PAYLOAD - protocol.fields_size(protocol.LEARN_FIELDS)
    frames = [tb.frame(Command.LEARN, protocol.pack_fields(protocol.LEARN_FIELDS, offset=o) +
                       data[o:o + chunk]) for o in range(0, len(data), chunk)]
    start = tb.cycles()
    await tb.send(b"".join(frames))
    for _ in frames:
        event = await tb.receive()
        assert isinstance(event, Response) and event.ok, event
    crc = protocol.session_crc(begin, data)
    st = (await tb.call(Command.COMMIT, protocol.pack_fields(
        protocol.COMMIT_FIELDS, crc32=crc))).status
    assert st["status"] == Status.OK and st["value"] == crc, st
    return tb.cycles() - start


async def _sample_every_mode(tb, records, capacity):
    """SEED and SAMPLE in each mode; check every sample against the address generator's model;
    return the bytes per cycle of the recital, from the request to its reply."""
    model = AddressGeneratorModel(capacity)
    n, record_size = len(records), len(records[0])
    rate = None
    for mode in Mode:
        seed = 0x5eed_0000_0000_0001 + mode
        assert (await tb.call(Command.SEED, protocol.pack_fields(
            protocol.SEED_FIELDS, mode=mode, seed=seed))).ok
        model.restart(mode, seed, n)
        k = n if mode != Mode.RANDOM else 48
        before, start = tb.received, tb.cycles()
        response = await tb.call(Command.SAMPLE, protocol.pack_fields(
            protocol.SAMPLE_FIELDS, count=k))
        cycles = tb.cycles() - start
        st, samples = response.status, response.data
        assert st["status"] == Status.OK and st["value"] == protocol.crc32(samples)
        got = [samples[i:i + record_size] for i in range(0, len(samples), record_size)]
        assert got == [records[i] for i in model.take(k)], f"{mode.name} differs"
        if mode == Mode.SHUFFLE:
            assert sorted(got) == sorted(records)
        if mode == Mode.RECITE:
            assert got == records
            rate = (tb.received - before) / cycles
            tb.log.info("sample: %d bytes in %d cycles, %.3f bytes per cycle",
                        tb.received - before, cycles, rate)
    return rate


async def _writer_rate(tb):
    """Return the DMA writer's bytes per cycle. A one-record sample is a short reply, so its
    buffer is padded at the rate the writer takes beats once the flush timer closes it: from the
    first beat of its memory writes to the last."""
    beats = []
    monitor = cocotb.start_soon(_writes(tb.dut, beats))
    before = tb._read
    assert (await tb.call(Command.SAMPLE, protocol.pack_fields(
        protocol.SAMPLE_FIELDS, count=1))).ok
    for _ in range(2000):
        if tb._read != before:
            break
        await Timer(1, "us")
    monitor.cancel()
    assert tb._read != before, "no buffer from the card in 2 ms"
    span = beats[-1] - beats[0] + 1
    tb.log.info("DMA writer: a buffer in %d cycles, %.2f bytes per cycle", span,
                layout.DMA_BUFFER_SIZE / span)
    return layout.DMA_BUFFER_SIZE / span


@cocotb.test(timeout_time=3, timeout_unit="ms")      # it needs 0.9 ms
async def train_and_sample(dut):
    """Learn records over the DMA, commit, sample in every mode and read back: every sample is
    the record the address generator's model predicts."""
    tb = TB(dut)
    await tb.start()
    await tb.open()

    # The DMA reader runs through the ring whether or not the host wrote it, and the card skips
    # those buffers at a beat per cycle: the reader's own rate.
    skipped = await tb.register(layout.Register.SKIPPED)
    reader_rate = await _completion_bytes(dut, 5000) / 5000
    skipped = (await tb.register(layout.Register.SKIPPED) - skipped) & _MASK
    tb.log.info("DMA reader, idle ring: %d buffers skipped, %.2f bytes per cycle", skipped,
                reader_rate)
    assert skipped > 0
    report("reader_bytes_per_cycle", reader_rate)

    info = (await tb.call(Command.INFO)).info
    assert info["state"] == State.EMPTY and info["capacity"] == int(
        os.environ.get("MEMGEN_CAPACITY", 16384))
    record_size = 64
    size = int(os.environ.get("MEMGEN_LEARN_BYTES", 4096))
    data = random.Random(1).randbytes(size // record_size * record_size)
    cycles = await _learn(tb, data, record_size)
    tb.log.info("learn: %d bytes in %d cycles, %.3f bytes per cycle", len(data), cycles,
                len(data) / cycles)
    report("learn_bytes_per_cycle", len(data) / cycles)

    records = [data[i:i + record_size] for i in range(0, len(data), record_size)]
    report("sample_bytes_per_cycle", await _sample_every_mode(tb, records, info["capacity"]))
    response = await tb.call(Command.READ, protocol.pack_fields(
        protocol.READ_FIELDS, index=0, count=len(records)))
    assert response.ok and response.data == data
    report("writer_bytes_per_cycle", await _writer_rate(tb))
    for reg in (layout.Register.TO_CARD_BYTES, layout.Register.TO_HOST_BYTES):
        report(reg.name.lower(), await tb.register(reg))
    assert await tb.register(layout.Register.TO_HOST_BYTES) == tb.received
