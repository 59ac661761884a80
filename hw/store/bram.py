# SPDX-License-Identifier: BSD-2-Clause
"""The example store in block RAM: a byte-addressed memory holding the learned records back to
back."""

from amaranth import *
from amaranth.lib import memory, wiring

from .port import PortStore, RAMPortSignature

__all__ = ["BlockRAM", "ExampleStore"]


class BlockRAM(wiring.Component):
    """Byte-wide block RAM (or distributed RAM for small capacities) behind a one-cycle port.

    Parameters
    ----------
    capacity : int
        Size of the memory in bytes.

    Members
    -------
    write : :py:`Out(WritePort.Signature(...))`
        Write port; writes at addresses at or beyond ``capacity`` are dropped.
    read : :py:`Out(ReadPort.Signature(...))`
        Synchronous read port, one cycle of latency.

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer of at least 2.
    """
    def __init__(self, capacity):
        super().__init__(RAMPortSignature(capacity))

    @property
    def capacity(self):
        return self.signature.capacity

    def elaborate(self, platform):
        m = Module()
        m.submodules.memory = mem = memory.Memory(shape=8, depth=self.capacity, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        m.d.comb += [
            wr.addr.eq(self.write.addr),
            wr.data.eq(self.write.data),
            # A write past the end would alias onto the start of the store in a memory whose
            # depth is not a power of two; the guard makes "never outside the store" local.
            wr.en.eq(self.write.en & (self.write.addr < self.capacity)),
            rd.addr.eq(self.read.addr),
            rd.en.eq(self.read.en),
            self.read.data.eq(rd.data),
        ]
        return m


class ExampleStore(PortStore):
    """Example store in block RAM: :class:`BlockRAM` served through the stream interface of
    :class:`~hw.store.interface.StoreSignature`, one byte per clock.

    Parameters
    ----------
    capacity : int
        Size of the store in bytes; the board top derives it from the device's block RAM.

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer of at least 2.
    """
    def __init__(self, capacity):
        super().__init__(BlockRAM(capacity))
