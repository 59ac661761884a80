# SPDX-License-Identifier: BSD-2-Clause
"""The Acorn PCIe cards (:mod:`hw.boards.acorn`): the platform against LiteX-Boards'
``sqrl_acorn.py`` pinout, the generated LitePCIe core and its ports, and the Vivado tree that
``make bitstream BOARD=acorn_cle215`` writes without Vivado."""

import re

import pytest

from hw.boards import acorn, build
from hw.boards.registry import get_board
from hw.transport import pcie_layout as layout
from hw.transport.litepcie.core import CONFIGS, generate

# From litex_boards/platforms/sqrl_acorn.py (LiteX-Boards), "pcie_x4" and "user_led".
REFERENCE = {
    "pcie_x4_0__clk_p__io": ["F6"], "pcie_x4_0__clk_n__io": ["E6"],
    "pcie_x4_0__rst_n__io": ["J1"],
    "pcie_x4_0__rx_p__io": ["B10", "B8", "D11", "D9"],
    "pcie_x4_0__rx_n__io": ["A10", "A8", "C11", "C9"],
    "pcie_x4_0__tx_p__io": ["B6", "B4", "D5", "D7"],
    "pcie_x4_0__tx_n__io": ["A6", "A4", "C5", "C7"],
    "led_0__io": ["G3"], "led_1__io": ["H3"], "led_2__io": ["G4"], "led_3__io": ["H4"],
    "clk200_0__p": ["J19"], "clk200_0__n": ["H19"],
}


def test_boards_and_devices():
    cle215, cle101 = get_board("acorn_cle215"), get_board("acorn_cle101")
    assert cle215.make_platform().device == "xc7a200t"
    assert cle101.make_platform().device == "xc7a100t"
    assert (cle215.capacity, cle101.capacity) == (325 * 4096, 95 * 4096)
    assert cle215.bridge is None and cle215.top == "hw.boards.acorn:AcornTop"
    with pytest.raises(ValueError, match="block-RAM store only; its DDR3 is not wired"):
        cle215.make_top(store="dram")


def test_core_ports_come_from_the_generator():
    core = generate("s7_gen2_x4")
    assert CONFIGS["s7_gen2_x4"]["mmap_base"] == layout.MMAP_BASE
    assert core.ports["dma0_reader_axi_tdata"] == ("output", 8 * layout.BEAT_BYTES)
    assert core.ports["dma0_writer_axi_tdata"] == ("input", 8 * layout.BEAT_BYTES)
    assert core.ports["pcie_rx_p"] == ("input", 4)
    assert core.ports["mmap_axi_lite_araddr"] == ("output", 32)
    assert "create_ip -vendor xilinx.com -name pcie_7x -module_name pcie_s7" in \
        core.path("pcie_ip.tcl").read_text()
    assert "module pcie_s7" in core.path("pcie_s7_blackbox.v").read_text()
    for name in ("main.c", "litepcie.h", "Makefile", "csr.h", "soc.h"):
        assert core.path("driver").joinpath(name).exists()
    # The driver's buffers are the ones the transport's rules assume.
    config_h = core.path("driver").joinpath("config.h").read_text()
    assert f"#define DMA_BUFFER_COUNT       {layout.DMA_BUFFER_COUNT}" in config_h
    assert f"#define DMA_BUFFER_SIZE        {layout.DMA_BUFFER_SIZE}" in config_h
    assert re.search(r"#define DMA_CHANNELS 1\b", core.path("driver/soc.h").read_text())


@pytest.mark.slow
def test_build_tree_without_vivado(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIVADO", "vivado-is-not-installed-here")
    # A small store keeps the Verilog short; the tree is otherwise the card's.
    monkeypatch.setattr(acorn, "store_capacity", lambda device: 4096)
    status = build.main(["bitstream", "--board", "acorn_cle215", "--build-dir", str(tmp_path)])
    assert status == build.EXIT_NEEDS_VIVADO
    err = capsys.readouterr().err.strip()
    tree = tmp_path / "acorn_cle215"
    assert err.count("\n") == 0 and f"cd {tree} && sh build_top.sh" in err
    xdc = (tree / "top.xdc").read_text()
    for port, pins in REFERENCE.items():
        for i, pin in enumerate(pins):
            name = port if len(pins) == 1 else rf"{port}\[{i}]"
            assert f'set_property LOC {pin} [get_ports "{name}"]' in xdc
    tcl = (tree / "top.tcl").read_text()
    assert "-part xc7a200tfbg484-2" in tcl
    assert 'add_files "litepcie_core.v"' in tcl
    # The hard IP is created before synthesis, its LOCs reset before placement.
    assert tcl.index("create_ip -vendor xilinx.com -name pcie_7x") < tcl.index("synth_design")
    assert tcl.index("reset_property LOC") < tcl.index("place_design")
    for name in ("pcie_timing.xdc", "pcie_refclk.xdc", "acorn.xdc"):
        assert f'read_xdc "{name}"' in tcl
    assert "create_clock -name pcie_refclk -period 10.0" in (tree / "pcie_refclk.xdc").read_text()
    verilog = (tree / "top.v").read_text()
    assert re.search(r"litepcie_core litepcie \(", verilog)
    # Every port the generator reported that the card uses is connected, the DMA enables too.
    for port in ("dma0_reader_axi_tdata", "dma0_writer_axi_tready", "mmap_axi_lite_rdata",
                 "dma0_status_reader_enable", "dma0_status_writer_enable", "pcie_rx_p"):
        assert re.search(rf"\.{port}\([^)]", verilog)
    assert "MMCME2_BASE" in verilog
    assert (tree / "litepcie_core_mem.init").exists()
    assert (tree / "driver" / "main.c").exists() and (tree / "driver" / "csr.h").exists()
    assert not (tree / "pcie_s7_blackbox.v").exists()       # Vivado makes the real one


def test_program_refuses_with_the_way_to_load_the_card(tmp_path):
    # openFPGALoader is not set up for the cards: no call with an empty board name.
    with pytest.raises(build.BuildError, match=r"acorn_cle215: MemGEN does not program this "
                                               r"card; write .*top\.bit to its configuration "
                                               r"flash through its JTAG header"):
        build.program("acorn_cle215", build_root=tmp_path)
