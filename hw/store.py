# SPDX-License-Identifier: BSD-2-Clause
"""The example store: a byte-addressed memory holding the learned records back to back."""

from amaranth import *
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

__all__ = ["StoreSignature", "ExampleStore", "check_capacity"]


def check_capacity(capacity):
    """Validate a store capacity in bytes, raising :exc:`ValueError` naming the bad value."""
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 2:
        raise ValueError(f"Store capacity must be an integer of at least 2 bytes, "
                         f"not {capacity!r}")


class StoreSignature(wiring.Signature):
    """The interface every example store implements, seen from the store.

    A byte-wide synchronous memory: writes take effect at the next clock edge, and read data
    appears on ``read.data`` one cycle after ``read.en`` with ``read.addr``. Users never enable a
    read and a write in the same cycle (single-port stores such as SPRAM rely on it), and a store
    ignores writes at or beyond its capacity.

    Parameters
    ----------
    capacity : int
        Size of the store in bytes.

    Members
    -------
    write : :py:`In(WritePort.Signature(addr_width=ceil_log2(capacity), shape=8))`
    read : :py:`In(ReadPort.Signature(addr_width=ceil_log2(capacity), shape=8))`
    """
    def __init__(self, capacity):
        check_capacity(capacity)
        self._capacity = capacity
        addr_width = ceil_log2(capacity)
        super().__init__({
            "write": In(memory.WritePort.Signature(addr_width=addr_width, shape=8)),
            "read":  In(memory.ReadPort.Signature(addr_width=addr_width, shape=8)),
        })

    @property
    def capacity(self):
        return self._capacity

    def __eq__(self, other):
        return isinstance(other, StoreSignature) and other.capacity == self.capacity

    def __repr__(self):
        return f"StoreSignature(capacity={self.capacity})"


class ExampleStore(wiring.Component):
    """Example store in block RAM (or distributed RAM for small capacities).

    Parameters
    ----------
    capacity : int
        Size of the store in bytes; the board top derives it from the device's block RAM.

    Members
    -------
    write : :py:`In(WritePort.Signature(...))`
        Write port; writes at addresses at or beyond ``capacity`` are dropped.
    read : :py:`In(ReadPort.Signature(...))`
        Synchronous read port, one cycle of latency.
    """
    def __init__(self, capacity):
        super().__init__(StoreSignature(capacity))

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
