# SPDX-License-Identifier: BSD-2-Clause
"""The example store: a byte-addressed memory holding the learned records back to back."""

from amaranth import *
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["StoreSignature", "ExampleStore", "RecordReader", "check_capacity"]


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
    write : :py:`Out(WritePort.Signature(addr_width=ceil_log2(capacity), shape=8))`
    read : :py:`Out(ReadPort.Signature(addr_width=ceil_log2(capacity), shape=8))`
    """
    def __init__(self, capacity):
        check_capacity(capacity)
        self._capacity = capacity
        addr_width = ceil_log2(capacity)
        super().__init__({
            "write": Out(memory.WritePort.Signature(addr_width=addr_width, shape=8)),
            "read":  Out(memory.ReadPort.Signature(addr_width=addr_width, shape=8)),
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
    write : :py:`Out(WritePort.Signature(...))`
        Write port; writes at addresses at or beyond ``capacity`` are dropped.
    read : :py:`Out(ReadPort.Signature(...))`
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


class RecordReader(wiring.Component):
    """Streams whole records out of a store, one byte per clock cycle.

    For each index it receives, it reads the ``record_size`` bytes of that record. The base
    address of the next record is computed while the current one streams, so consecutive
    records leave no gap.

    Parameters
    ----------
    capacity : int
        Size of the store in bytes.

    Members
    -------
    i_stream : :py:`In(stream.Signature(range(capacity)))`
        Record indices; ``index * record_size`` must be below ``capacity``.
    record_size : :py:`In(range(capacity + 1))`
        Record size in bytes (at least 1); must not change while records are being read.
    o_stream : :py:`Out(stream.Signature(8))`
        Record bytes.
    read : :py:`In(ReadPort.Signature(...))`
        Drives the read port of a store.
    busy : :py:`Out(1)`
        A record is being read or is queued.
    """
    def __init__(self, capacity):
        check_capacity(capacity)
        self._capacity = capacity
        super().__init__({
            "i_stream":    In(stream.Signature(range(capacity))),
            "record_size": In(range(capacity + 1)),
            "o_stream":    Out(stream.Signature(8)),
            "read":        In(memory.ReadPort.Signature(addr_width=ceil_log2(capacity),
                                                        shape=8)),
            "busy":        Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        aw = ceil_log2(self._capacity)

        next_base = Signal(aw)
        next_valid = Signal()
        take_next = Signal()
        addr = Signal(aw)
        left = Signal(range(self._capacity + 1))

        m.d.comb += self.i_stream.ready.eq(~next_valid | take_next)
        with m.If(self.i_stream.valid & self.i_stream.ready):
            m.d.sync += [
                next_base.eq(self.i_stream.payload * self.record_size),
                next_valid.eq(1),
            ]
        with m.Elif(take_next):
            m.d.sync += next_valid.eq(0)

        # The read port holds its data while disabled, so the port's output is the stream's
        # payload and a stalled stream simply disables the port.
        advance = Signal()
        m.d.comb += [
            advance.eq(~self.o_stream.valid | self.o_stream.ready),
            self.read.en.eq(advance),
            self.o_stream.payload.eq(self.read.data),
            self.busy.eq(self.o_stream.valid | next_valid | (left != 0)),
        ]
        with m.If(advance):
            with m.If(left != 0):
                m.d.comb += self.read.addr.eq(addr)
                m.d.sync += [
                    addr.eq(addr + 1),
                    left.eq(left - 1),
                    self.o_stream.valid.eq(1),
                ]
            with m.Elif(next_valid):
                m.d.comb += [
                    self.read.addr.eq(next_base),
                    take_next.eq(1),
                ]
                m.d.sync += [
                    addr.eq(next_base + 1),
                    left.eq(self.record_size - 1),
                    self.o_stream.valid.eq(1),
                ]
            with m.Else():
                m.d.sync += self.o_stream.valid.eq(0)
        return m
