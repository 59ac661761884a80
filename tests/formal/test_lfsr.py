# SPDX-License-Identifier: BSD-2-Clause
"""Formal proof of :class:`hw.sampler.lfsr.LFSR`: it never holds zero (k-induction)."""

from amaranth import *
from amaranth.hdl import Assert

from hw.sampler import lfsr

from . import sby


class LFSRNonZeroProof(sby.Harness):
    """The LFSR never holds the all-zero state, whatever it is seeded with.

    ``seed``, ``load`` and ``en`` are free.

    Parameters
    ----------
    width, leap : int
        Elaboration parameters of the block.
    block : type
        The block class (a mutant for the broken variant).
    """
    def __init__(self, width, leap, *, block=lfsr.LFSR):
        self._width = width
        self._leap = leap
        self._block = block
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        dut = self._block(self._width, leap=self._leap)
        sby.embed(m, "dut", dut, platform)
        sby.free(m, dut.seed, dut.load, dut.en)
        m.d.comb += Assert(dut.state != 0, "never all zero")
        return m


def _loads_zero():
    # Built when the proof runs, so that a mutation site that has moved breaks only this proof.
    return sby.variant(lfsr, [("Mux(self.seed == 0, 1, self.seed)", "self.seed")],
                       name="loads_zero").LFSR


PROOFS = [
    # Both forms of the leap (matrix and word-wide), leaps longer than the register, and the
    # 64-bit register the address generator uses.
    *(sby.Proof(f"lfsr_nonzero_w{width}_l{leap}", f"LFSR({width}, leap={leap}) never all zero",
                lambda width=width, leap=leap: LFSRNonZeroProof(width, leap), "prove", 1)
      for width, leap in ((3, 7), (8, 5), (16, 5), (31, 1), (64, 6))),
    sby.Proof("lfsr_nonzero_broken", "LFSR that loads a zero seed",
              lambda: LFSRNonZeroProof(8, 5, block=_loads_zero()), "bmc", 3, "fail"),
]


test_proof, test_proof_elaborates, test_every_property_can_fail = sby.proof_tests(PROOFS)
