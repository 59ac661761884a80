# SPDX-License-Identifier: BSD-2-Clause
"""The formal proofs of :mod:`hw.formal`: each proof passes and each broken variant fails.

The proofs run SymbiYosys with z3 (about two minutes on two cores for the whole file); they are
skipped when ``yowasp-sby`` or ``z3`` is missing.
"""

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Fragment

from hw import formal
from hw.framing.receiver import FrameReceiver
from hw.sampler import lfsr
from hw.sampler.addrgen import AddressGenerator

_missing = formal.tools_available()
_PROOFS = [proof for proof in formal.PROOFS if not proof.slow]


@pytest.mark.slow
@pytest.mark.skipif(_missing is not None, reason=f"{_missing} not found")
@pytest.mark.parametrize("proof", _PROOFS, ids=[proof.name for proof in _PROOFS])
def test_proof(proof, tmp_path):
    result = formal.run(proof, build_dir=tmp_path, timeout=600)
    assert result.status == proof.expect, (
        f"{proof.name} ({proof.prop}): expected {proof.expect}, got {result.status}: "
        f"{result.detail} (files in {tmp_path / proof.name})")
    if proof.expect == "fail":
        # A counterexample trace from reset, not an induction step that failed.
        assert " at step " in result.detail


def test_every_property_can_fail():
    # Each proof has a broken variant named <prefix>_broken, expected to fail, and vice versa.
    by_name = {proof.name: proof for proof in formal.PROOFS}
    assert len(by_name) == len(formal.PROOFS)
    prefixes = [name.removesuffix("_broken") for name in by_name if name.endswith("_broken")]
    for prefix in prefixes:
        assert by_name[f"{prefix}_broken"].expect == "fail"
    for proof in formal.PROOFS:
        if not proof.name.endswith("_broken"):
            assert proof.expect == "pass"
            assert any(proof.name.startswith(prefix) for prefix in prefixes), proof.name


@pytest.mark.parametrize("proof", formal.PROOFS, ids=[proof.name for proof in formal.PROOFS])
def test_proof_elaborates(proof):
    # Without a solver: every wrapper (and mutant) still builds against the current blocks.
    assert "$check" in rtlil.convert(proof.make(), name="top")


def test_variant_needs_the_site_once():
    with pytest.raises(ValueError, match=r"occurs 0 times in hw\.sampler\.lfsr, not once"):
        formal.variant(lfsr, [("no such text", "")], name="nothing")
    with pytest.raises(ValueError, match=r"occurs [2-9] times"):
        formal.variant(lfsr, [("import", "import")], name="many")


def test_internals():
    dut = AddressGenerator(8)
    inner = formal.Internals(Fragment.get(dut, None), dut)
    # The latched count, not the `count` port.
    assert len(inner["count"]) == 5
    assert inner.block("rng").width == 64
    with pytest.raises(KeyError, match="0 signals named 'nothing'"):
        inner["nothing"]
    with pytest.raises(KeyError, match="no subfragment named 'nothing'"):
        inner.sub("nothing")

    receiver = FrameReceiver(timeout=4)
    inner = formal.Internals(Fragment.get(receiver, None), receiver)
    inner.in_state("Payload")
    with pytest.raises(KeyError, match="FSM 'fsm' has no state 'Nowhere'"):
        inner.in_state("Nowhere")
