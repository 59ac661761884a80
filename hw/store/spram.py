# SPDX-License-Identifier: BSD-2-Clause
"""The example store in the iCE40UP5K's single-port RAM (four ``SB_SPRAM256KA``, 128 KiB)."""

from amaranth import *
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .interface import check_capacity
from .port import PortStore, RAMPortSignature

__all__ = ["SPRAM", "SPRAMStore", "SPRAMModel", "SPRAM_BYTES", "SPRAM_BLOCKS", "SPRAM_WORDS",
           "UNDEFINED"]

#: Words in one ``SB_SPRAM256KA`` (each 16 bits wide).
SPRAM_WORDS = 16384
#: Bytes in one ``SB_SPRAM256KA``.
SPRAM_BYTES = 2 * SPRAM_WORDS
#: What :class:`SPRAMModel` shows on ``DATAOUT`` after a write, where the cell's is undefined.
UNDEFINED = 0xA5C3

#: ``SB_SPRAM256KA`` blocks in an iCE40UP5K (and so the most a :class:`SPRAMStore` can use).
SPRAM_BLOCKS = 4


def _is_ice40(platform):
    # Imported here: the vendor module is only needed to recognise the platform.
    from amaranth.vendor import SiliconBluePlatform
    return isinstance(platform, SiliconBluePlatform)


class SPRAMModel(wiring.Component):
    """Behavioural model of one ``SB_SPRAM256KA``, for the Amaranth simulator.

    Follows the cell's Yosys simulation model (``ice40/cells_sim.v``) with the power pins tied
    off as :class:`SPRAMStore` ties them (``STANDBY = SLEEP = 0``, ``POWEROFF = 1``): on a clock
    edge with ``CHIPSELECT`` high, ``WREN`` high writes the nibbles of ``DATAIN`` whose
    ``MASKWREN`` bits are set and leaves ``DATAOUT`` undefined (shown here as
    :data:`UNDEFINED`), and ``WREN`` low loads ``DATAOUT`` from ``ADDRESS``. With
    ``CHIPSELECT`` low, ``DATAOUT`` holds.

    Members
    -------
    ADDRESS : :py:`In(14)`
    DATAIN : :py:`In(16)`
    MASKWREN : :py:`In(4)`
        Write enable per nibble; bit ``i`` covers ``DATAIN[4*i:4*i+4]``.
    WREN : :py:`In(1)`
    CHIPSELECT : :py:`In(1)`
    DATAOUT : :py:`Out(16)`
    """
    ADDRESS:    In(14)
    DATAIN:     In(16)
    MASKWREN:   In(4)
    WREN:       In(1)
    CHIPSELECT: In(1)
    DATAOUT:    Out(16)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=16, depth=SPRAM_WORDS, init=[])
        wr = mem.write_port(granularity=4)
        rd = mem.read_port()
        written = Signal()
        with m.If(self.CHIPSELECT):
            m.d.sync += written.eq(self.WREN)
        m.d.comb += [
            wr.addr.eq(self.ADDRESS),
            wr.data.eq(self.DATAIN),
            wr.en.eq(self.MASKWREN & (self.CHIPSELECT & self.WREN).replicate(4)),
            rd.addr.eq(self.ADDRESS),
            rd.en.eq(self.CHIPSELECT & ~self.WREN),
            self.DATAOUT.eq(Mux(written, UNDEFINED, rd.data)),
        ]
        return m


class SPRAM(wiring.Component):
    """The iCE40UP5K's single-port RAM as a byte-wide memory behind a one-cycle port.

    Each ``SB_SPRAM256KA`` holds 16384 words of 16 bits; byte ``a`` of the store is the low
    (even ``a``) or high (odd ``a``) byte of word ``a // 2`` in block ``a // 32768``. A byte
    write drives the byte on both halves of ``DATAIN`` and enables the two nibbles of its half
    through ``MASKWREN``. Reads use the same single port, which is why
    :class:`~hw.store.port.RAMPortSignature` never enables a read and a write in the same cycle.

    On an iCE40 platform the store instantiates ``SB_SPRAM256KA`` cells; on any other platform,
    or in the simulator (``platform`` is :py:`None`), it uses :class:`SPRAMModel`.

    Parameters
    ----------
    capacity : int
        Size of the store in bytes: at least 2 and at most 131072 (four blocks). Only the
        blocks the capacity needs are instantiated.

    Members
    -------
    write : :py:`Out(WritePort.Signature(...))`
        Write port; writes at addresses at or beyond ``capacity`` are dropped.
    read : :py:`Out(ReadPort.Signature(...))`
        Synchronous read port, one cycle of latency; ``read.data`` holds while ``read.en`` is
        low, as a :class:`~amaranth.lib.memory.Memory` read port does.

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer from 2 to 131072.
    """
    def __init__(self, capacity):
        check_capacity(capacity)
        if capacity > SPRAM_BLOCKS * SPRAM_BYTES:
            raise ValueError(f"SPRAM store capacity must be at most {SPRAM_BLOCKS * SPRAM_BYTES} "
                             f"bytes ({SPRAM_BLOCKS} SB_SPRAM256KA blocks), not {capacity!r}")
        super().__init__(RAMPortSignature(capacity))

    @property
    def capacity(self):
        return self.signature.capacity

    @property
    def blocks(self):
        """Number of ``SB_SPRAM256KA`` blocks the store uses."""
        return -(-self.capacity // SPRAM_BYTES)

    def elaborate(self, platform):
        m = Module()
        aw = ceil_log2(self.capacity)
        block_bits = ceil_log2(SPRAM_BYTES)

        # The port is single: a write takes the address, otherwise the read does.
        addr = Signal(aw)
        write = Signal()
        m.d.comb += [
            write.eq(self.write.en & (self.write.addr < self.capacity)),
            addr.eq(Mux(self.write.en, self.write.addr, self.read.addr)),
        ]
        block = Signal(range(self.blocks))
        if aw > block_bits:
            m.d.comb += block.eq(addr[block_bits:])

        # What the read of the previous cycle needs to pick its byte.
        read_r = Signal()
        high_r = Signal()
        block_r = Signal.like(block)
        m.d.sync += read_r.eq(self.read.en)
        with m.If(self.read.en):
            m.d.sync += [
                high_r.eq(addr[0]),
                block_r.eq(block),
            ]

        dataout = []
        for i in range(self.blocks):
            ports = {
                "ADDRESS":    Signal(14, name=f"spram{i}_address"),
                "DATAIN":     Signal(16, name=f"spram{i}_datain"),
                "MASKWREN":   Signal(4, name=f"spram{i}_maskwren"),
                "WREN":       Signal(name=f"spram{i}_wren"),
                "CHIPSELECT": Signal(name=f"spram{i}_chipselect"),
                "DATAOUT":    Signal(16, name=f"spram{i}_dataout"),
            }
            m.d.comb += [
                ports["ADDRESS"].eq(addr[1:block_bits]),
                ports["DATAIN"].eq(self.write.data.replicate(2)),
                ports["MASKWREN"].eq(Mux(addr[0], 0b1100, 0b0011)),
                ports["WREN"].eq(write),
                ports["CHIPSELECT"].eq((block == i) & (write | self.read.en)),
            ]
            if _is_ice40(platform):
                m.submodules[f"spram{i}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=ports["ADDRESS"],
                    i_DATAIN=ports["DATAIN"],
                    i_MASKWREN=ports["MASKWREN"],
                    i_WREN=ports["WREN"],
                    i_CHIPSELECT=ports["CHIPSELECT"],
                    i_CLOCK=ClockSignal(),
                    i_STANDBY=C(0),
                    i_SLEEP=C(0),
                    i_POWEROFF=C(1),
                    o_DATAOUT=ports["DATAOUT"],
                )
            else:
                m.submodules[f"spram{i}"] = model = SPRAMModel()
                m.d.comb += [getattr(model, name).eq(port) for name, port in ports.items()
                             if name != "DATAOUT"]
                m.d.comb += ports["DATAOUT"].eq(model.DATAOUT)
            dataout.append(ports["DATAOUT"])

        # The cell's output is undefined after a write, so the last byte read is kept in fabric
        # and shown whenever no read happened in the previous cycle.
        word = Signal(16)
        with m.Switch(block_r):
            for i, out in enumerate(dataout):
                with m.Case(i):
                    m.d.comb += word.eq(out)
        held = Signal(8)
        m.d.comb += self.read.data.eq(Mux(read_r, Mux(high_r, word[8:], word[:8]), held))
        m.d.sync += held.eq(self.read.data)
        return m


class SPRAMStore(PortStore):
    """Example store in the iCE40UP5K's single-port RAM: :class:`SPRAM` served through the
    stream interface of :class:`~hw.store.interface.StoreSignature`, one byte per clock.

    Parameters
    ----------
    capacity : int
        Size of the store in bytes: at least 2 and at most 131072 (four blocks).

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer from 2 to 131072.
    """
    def __init__(self, capacity):
        super().__init__(SPRAM(capacity))

    @property
    def blocks(self):
        """Number of ``SB_SPRAM256KA`` blocks the store uses."""
        return self.memory.blocks
