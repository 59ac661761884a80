# SPDX-License-Identifier: BSD-2-Clause
"""Formal proof of :class:`hw.store.bram.BlockRAM`, the memory of
:class:`~hw.store.bram.ExampleStore`: it is written only below its capacity (k-induction)."""

from amaranth import *
from amaranth.hdl import Assert

from hw.store import bram

from . import sby


class StoreGuardProof(sby.Harness):
    """The example store's memory is never written at or beyond its capacity.

    The store's write and read ports are free; the assertion is on the write port of the memory
    inside the store, whose depth is the capacity.

    Parameters
    ----------
    capacity : int
        Elaboration parameter of the block.
    block : type
        The block class (a mutant for the broken variant).
    """
    def __init__(self, capacity, *, block=bram.BlockRAM):
        self._capacity = capacity
        self._block = block
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        dut = self._block(self._capacity)
        inner = sby.embed(m, "dut", dut, platform)
        sby.free(m, dut.write.addr, dut.write.data, dut.write.en, dut.read.addr, dut.read.en)
        memory_fragment = inner.sub("memory").fragment
        (port,) = memory_fragment.origins[0].write_ports
        m.d.comb += Assert(~port.en | (port.addr < self._capacity), "no write past the end")
        return m


def _unguarded():
    # Built when the proof runs, so that a mutation site that has moved breaks only this proof.
    return sby.variant(bram, [
        ("wr.en.eq(self.write.en & (self.write.addr < self.capacity))",
         "wr.en.eq(self.write.en)"),
    ], name="unguarded").BlockRAM


PROOFS = [
    sby.Proof("store_guard_48", "BlockRAM(48) memory written below 48",
              lambda: StoreGuardProof(48), "prove", 1),
    sby.Proof("store_guard_broken", "BlockRAM without its address guard",
              lambda: StoreGuardProof(48, block=_unguarded()), "bmc", 2, "fail"),
]


test_proof, test_proof_elaborates, test_every_property_can_fail = sby.proof_tests(PROOFS)
