# SPDX-License-Identifier: BSD-2-Clause
"""The helpers of the proofs (:mod:`.sby`): variants, internals, the log parser, proof names."""

import importlib
import pkgutil
from pathlib import Path

import pytest
from amaranth.hdl import Fragment

from hw.framing.receiver import FrameReceiver
from hw.sampler import lfsr
from hw.sampler.addrgen import AddressGenerator

from . import sby


def test_variant_needs_the_site_once():
    with pytest.raises(ValueError, match=r"occurs 0 times in hw\.sampler\.lfsr, not once"):
        sby.variant(lfsr, [("no such text", "")], name="nothing")
    with pytest.raises(ValueError, match=r"occurs [2-9] times"):
        sby.variant(lfsr, [("import", "import")], name="many")


def test_internals():
    dut = AddressGenerator(8)
    inner = sby.Internals(Fragment.get(dut, None), dut)
    # The latched count, not the `count` port.
    assert len(inner["count"]) == 5
    assert inner.block("rng").width == 64
    with pytest.raises(KeyError, match="0 signals named 'nothing'"):
        inner["nothing"]
    with pytest.raises(KeyError, match="no subfragment named 'nothing'"):
        inner.sub("nothing")

    receiver = FrameReceiver(timeout=4)
    inner = sby.Internals(Fragment.get(receiver, None), receiver)
    inner.in_state("Payload")
    with pytest.raises(KeyError, match="FSM 'fsm' has no state 'Nowhere'"):
        inner.in_state("Nowhere")


def test_detail(tmp_path):
    source = tmp_path / "proof.py"
    source.write_text('m.d.comb += Assert(\n    x != 0,\n    "never all zero")\n')
    summary = "SBY  8:12:11 [proof] summary:   "
    failed = f"{summary}failed assertion top._witness_.check_8 at {source}:1"
    assert sby.detail(f"{failed} step 3\n", "fail") == "failed 'never all zero' at step 3"
    # A failure in the initial state has no step.
    assert sby.detail(f"{failed}\n", "fail") == "failed 'never all zero' at step 0"
    assert sby.detail(f"{failed}\n", "unknown") == "induction step failed: 'never all zero'"
    covers = "".join(f"{summary}reached cover statement top.c{step} at {source}:1 step {step}\n"
                     for step in (4, 11, 7))
    assert sby.detail(covers, "pass") == "3 covers reached, the last at step 11"
    assert sby.detail("ERROR: no such file\n", "error") == "no such file"
    # A location that cannot be read is named instead.
    missing = f"{summary}failed assertion top.c at {tmp_path / 'gone.py'}:12 step 2"
    assert sby.detail(missing, "fail") == "failed 'gone.py:12' at step 2"


def test_proof_names_are_unique():
    # Every proof writes into <build_dir>/<name>/, and make formal shares one build directory.
    names = []
    for module in pkgutil.iter_modules([str(Path(__file__).parent)], prefix="."):
        if module.name.startswith(".test_") and module.name != ".test_sby":
            proofs = importlib.import_module(module.name, __package__).PROOFS
            names += [proof.name for proof in proofs]
    assert len(set(names)) == len(names)
