# SPDX-License-Identifier: BSD-2-Clause
"""On-chip stores: a one-cycle memory port, and the sequencer that serves the stream interface of
:class:`~hw.store.interface.StoreSignature` from it at one byte per clock."""

from amaranth import *
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .interface import CapacitySignature, StoreSignature, check_capacity

__all__ = ["RAMPortSignature", "PortSequencer", "PortStore"]


class RAMPortSignature(CapacitySignature):
    """A byte-wide synchronous memory port, seen from the memory.

    Writes take effect at the next clock edge; read data appears on ``read.data`` one cycle after
    ``read.en`` with ``read.addr`` and holds while ``read.en`` is low. Users never enable a read
    and a write in the same cycle (single-port memories such as SPRAM rely on it), and a memory
    ignores writes at or beyond its capacity.

    Parameters
    ----------
    capacity : int
        Size of the memory in bytes.

    Members
    -------
    write : :py:`Out(WritePort.Signature(addr_width=ceil_log2(capacity), shape=8))`
    read : :py:`Out(ReadPort.Signature(addr_width=ceil_log2(capacity), shape=8))`

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer of at least 2.
    """
    def __init__(self, capacity):
        check_capacity(capacity)
        addr_width = ceil_log2(capacity)
        super().__init__(capacity, {
            "write": Out(memory.WritePort.Signature(addr_width=addr_width, shape=8)),
            "read":  Out(memory.ReadPort.Signature(addr_width=addr_width, shape=8)),
        })


class PortSequencer(wiring.Component):
    """Serves the store's command and data streams from a one-cycle memory port.

    One command at a time: a write command takes one byte per clock from ``w_stream``; a read
    command issues one address per clock while ``r_stream`` is not stalled, and the next read
    command is accepted (and its first address issued) in the cycle after the previous one's
    last address, so back-to-back reads give one byte per clock with no gap. Reads and writes
    never share a cycle.

    Parameters
    ----------
    capacity : int
        Size of the memory in bytes.

    Members
    -------
    store : :py:`Out(StoreSignature(capacity))`
        The stream interface, served to the store's users.
    port : :py:`In(RAMPortSignature(capacity))`
        Drives the memory's port.

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer of at least 2.
    """
    def __init__(self, capacity):
        check_capacity(capacity)
        self._capacity = capacity
        super().__init__({
            "store": Out(StoreSignature(capacity)),
            "port":  In(RAMPortSignature(capacity)),
        })

    def elaborate(self, platform):
        m = Module()
        cmd = self.store.cmd
        r_stream = self.store.r_stream
        w_stream = self.store.w_stream

        addr = Signal.like(cmd.payload.addr)
        left = Signal.like(cmd.payload.length)      # bytes of the current command still to go
        writing = Signal()

        # The read port holds its data while disabled, so its output is the stream's payload
        # and a stalled stream simply disables the port.
        advance = Signal()
        m.d.comb += [
            advance.eq(~r_stream.valid | r_stream.ready),
            self.port.read.en.eq(advance & ~writing),
            r_stream.payload.eq(self.port.read.data),
            self.port.write.addr.eq(addr),
            self.port.write.data.eq(w_stream.payload),
        ]

        with m.If(advance):
            m.d.sync += r_stream.valid.eq(0)

        with m.If(writing):
            m.d.comb += w_stream.ready.eq(1)
            with m.If(w_stream.valid):
                m.d.comb += self.port.write.en.eq(1)
                m.d.sync += [
                    addr.eq(addr + 1),
                    left.eq(left - 1),
                ]
                with m.If(left == 1):
                    m.d.sync += writing.eq(0)
        with m.Elif(left != 0):
            with m.If(advance):
                m.d.comb += self.port.read.addr.eq(addr)
                m.d.sync += [
                    addr.eq(addr + 1),
                    left.eq(left - 1),
                    r_stream.valid.eq(1),
                ]
        with m.Else():
            # Idle: take the next command. A read issues its first address at once.
            m.d.comb += cmd.ready.eq(cmd.payload.write | advance)
            with m.If(cmd.valid):
                with m.If(cmd.payload.write):
                    m.d.sync += [
                        addr.eq(cmd.payload.addr),
                        left.eq(cmd.payload.length),
                        writing.eq(1),
                    ]
                with m.Elif(advance):
                    m.d.comb += self.port.read.addr.eq(cmd.payload.addr)
                    m.d.sync += [
                        addr.eq(cmd.payload.addr + 1),
                        left.eq(cmd.payload.length - 1),
                        r_stream.valid.eq(1),
                    ]
        return m


class PortStore(wiring.Component):
    """A store made of a one-cycle memory and a :class:`PortSequencer`.

    Parameters
    ----------
    memory : :class:`wiring.Component` with :class:`RAMPortSignature`
        The memory (block RAM, SPRAM).

    Members
    -------
    cmd, w_stream, r_stream
        As :class:`~hw.store.interface.StoreSignature`.
    """
    def __init__(self, memory):
        self.memory = memory
        super().__init__(StoreSignature(memory.signature.capacity))

    @property
    def capacity(self):
        """Size of the store in bytes."""
        return self.signature.capacity

    def elaborate(self, platform):
        m = Module()
        m.submodules.memory = self.memory
        m.submodules.sequencer = sequencer = PortSequencer(self.capacity)
        wiring.connect(m, sequencer.port, self.memory)
        wiring.connect(m, wiring.flipped(self.cmd), sequencer.store.cmd)
        wiring.connect(m, wiring.flipped(self.w_stream), sequencer.store.w_stream)
        wiring.connect(m, sequencer.store.r_stream, wiring.flipped(self.r_stream))
        return m
