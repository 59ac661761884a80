# SPDX-License-Identifier: BSD-2-Clause
"""Generate a standalone LitePCIe core (``python -m hw.transport.litepcie.generate CONFIG OUT``).

Runs in a process of its own (:func:`hw.transport.litepcie.core.generate` starts it), as the
LiteDRAM generator does: Migen and LiteX import with warnings and global state that the Amaranth
side should not share. From ``CONFIG`` (a JSON file of ``litepcie_gen`` configuration values, the
PHY by name) it writes into ``OUT``:

* ``litepcie_core.v`` and ``litepcie_core_mem.init``: the core (``regular_comb=True``);
* ``pcie_ip.tcl``: the Tcl that creates and synthesizes Vivado's ``pcie_7x`` hard-IP wrapper
  (``pcie_s7``), and ``pcie_place.tcl``, the commands LitePCIe runs before placement;
* ``pcie_timing.xdc``: the core's false-path constraints (its clock constraint names the core's
  own port, so the board adds its own);
* ``pcie_s7_blackbox.v``: the hard IP's ports as a Yosys black box, for ``make synth``;
* ``driver/``: the Linux driver's sources from the ``litepcie`` wheel with the core's generated
  ``csr.h``, ``soc.h`` and ``mem.h``, and its rings of ``driver_dma_buffer_count`` buffers
  (``config.h``), ready for ``make``;
* ``core.json``: the module's ports (name, direction, width).

A configuration with ``"hard_ip": "sim"`` (the UltraScale+ PHY, ``USPPCIEPHY``) is made for
simulation instead: no Vivado Tcl nor black box, but LitePCIe's ``pcie_support`` wrapper (its
TLP adapters) rewritten as ``pcie_support_sim.v``, in which the hard IP ``pcie_usp`` is replaced
by ports of the core named ``pcie_hip_<port>`` (the IP's outputs as inputs and its inputs as
outputs, widths :data:`USP_HARD_IP_PORTS`), so that a model of the hard IP (cocotbext-pcie's
``UltraScalePlusPcieDevice``) drives them from the top level; ``sim_sources.json`` lists the
Verilog files the simulation compiles besides the core, and ``xilinx_sim.v`` has behavioural
stand-ins of the few Xilinx primitives the core instantiates.
"""

import importlib
import json
import re
import shutil
import sys
from pathlib import Path

__all__ = ["main", "CORE_NAME"]

CORE_NAME = "litepcie_core"

#: The ports of Vivado's UltraScale+ PCIe IP (``pcie4_uscale_plus``, Xilinx PG213) that
#: LitePCIe's ``pcie_support`` connects, at 128 bits: direction seen from the IP and width, as
#: cocotbext-pcie's ``UltraScalePlusPcieDevice`` checks them (its test_pcie_usp.v).
USP_HARD_IP_PORTS = {
    "user_clk": ("output", 1), "user_reset": ("output", 1), "user_lnk_up": ("output", 1),
    "phy_rdy_out": ("output", 1),
    "s_axis_rq_tdata": ("input", 128), "s_axis_rq_tkeep": ("input", 4),
    "s_axis_rq_tlast": ("input", 1), "s_axis_rq_tready": ("output", 1),
    "s_axis_rq_tuser": ("input", 62), "s_axis_rq_tvalid": ("input", 1),
    "m_axis_rc_tdata": ("output", 128), "m_axis_rc_tkeep": ("output", 4),
    "m_axis_rc_tlast": ("output", 1), "m_axis_rc_tready": ("input", 1),
    "m_axis_rc_tuser": ("output", 75), "m_axis_rc_tvalid": ("output", 1),
    "m_axis_cq_tdata": ("output", 128), "m_axis_cq_tkeep": ("output", 4),
    "m_axis_cq_tlast": ("output", 1), "m_axis_cq_tready": ("input", 1),
    "m_axis_cq_tuser": ("output", 88), "m_axis_cq_tvalid": ("output", 1),
    "s_axis_cc_tdata": ("input", 128), "s_axis_cc_tkeep": ("input", 4),
    "s_axis_cc_tlast": ("input", 1), "s_axis_cc_tready": ("output", 1),
    "s_axis_cc_tuser": ("input", 33), "s_axis_cc_tvalid": ("input", 1),
    "pcie_rq_tag_av": ("output", 4), "pcie_tfc_nph_av": ("output", 4),
    "pcie_tfc_npd_av": ("output", 4), "pcie_cq_np_req": ("input", 2),
    "pcie_cq_np_req_count": ("output", 6),
    "cfg_phy_link_down": ("output", 1), "cfg_phy_link_status": ("output", 2),
    "cfg_negotiated_width": ("output", 3), "cfg_current_speed": ("output", 2),
    "cfg_max_payload": ("output", 2), "cfg_max_read_req": ("output", 3),
    "cfg_function_status": ("output", 16), "cfg_function_power_state": ("output", 12),
    "cfg_vf_status": ("output", 504), "cfg_vf_power_state": ("output", 756),
    "cfg_link_power_state": ("output", 2),
    "cfg_mgmt_addr": ("input", 10), "cfg_mgmt_function_number": ("input", 8),
    "cfg_mgmt_write": ("input", 1), "cfg_mgmt_write_data": ("input", 32),
    "cfg_mgmt_byte_enable": ("input", 4), "cfg_mgmt_read": ("input", 1),
    "cfg_mgmt_read_data": ("output", 32), "cfg_mgmt_read_write_done": ("output", 1),
    "cfg_mgmt_debug_access": ("input", 1),
    "cfg_err_cor_out": ("output", 1), "cfg_err_nonfatal_out": ("output", 1),
    "cfg_err_fatal_out": ("output", 1), "cfg_ltssm_state": ("output", 6),
    "cfg_rcb_status": ("output", 4), "cfg_obff_enable": ("output", 2),
    "cfg_pl_status_change": ("output", 1), "cfg_tph_requester_enable": ("output", 4),
    "cfg_tph_st_mode": ("output", 12), "cfg_vf_tph_requester_enable": ("output", 252),
    "cfg_vf_tph_st_mode": ("output", 756),
    "cfg_msg_received": ("output", 1), "cfg_msg_received_data": ("output", 8),
    "cfg_msg_received_type": ("output", 5), "cfg_msg_transmit": ("input", 1),
    "cfg_msg_transmit_type": ("input", 3), "cfg_msg_transmit_data": ("input", 32),
    "cfg_msg_transmit_done": ("output", 1),
    "cfg_fc_ph": ("output", 8), "cfg_fc_pd": ("output", 12), "cfg_fc_nph": ("output", 8),
    "cfg_fc_npd": ("output", 12), "cfg_fc_cplh": ("output", 8), "cfg_fc_cpld": ("output", 12),
    "cfg_fc_sel": ("input", 3),
    "cfg_hot_reset_in": ("input", 1), "cfg_hot_reset_out": ("output", 1),
    "cfg_power_state_change_ack": ("input", 1),
    "cfg_power_state_change_interrupt": ("output", 1),
    "cfg_err_cor_in": ("input", 1), "cfg_err_uncor_in": ("input", 1),
    "cfg_flr_in_process": ("output", 4), "cfg_flr_done": ("input", 4),
    "cfg_vf_flr_in_process": ("output", 252), "cfg_vf_flr_done": ("input", 1),
    "cfg_vf_flr_func_num": ("input", 8), "cfg_link_training_enable": ("input", 1),
    "cfg_pm_aspm_l1_entry_reject": ("input", 1), "cfg_pm_aspm_tx_l0s_entry_disable": ("input", 1),
    "cfg_config_space_enable": ("input", 1), "cfg_req_pm_transition_l23_ready": ("input", 1),
    "cfg_dsn": ("input", 64), "cfg_ds_bus_number": ("input", 8),
    "cfg_ds_device_number": ("input", 5), "cfg_ds_port_number": ("input", 8),
    "cfg_interrupt_int": ("input", 4), "cfg_interrupt_pending": ("input", 4),
    "cfg_interrupt_sent": ("output", 1), "cfg_interrupt_msi_enable": ("output", 4),
    "cfg_interrupt_msi_int": ("input", 32), "cfg_interrupt_msi_sent": ("output", 1),
    "cfg_interrupt_msi_fail": ("output", 1), "cfg_interrupt_msi_mmenable": ("output", 12),
    "cfg_interrupt_msi_mask_update": ("output", 1), "cfg_interrupt_msi_data": ("output", 32),
    "cfg_interrupt_msi_select": ("input", 2), "cfg_interrupt_msi_pending_status": ("input", 32),
    "cfg_interrupt_msi_attr": ("input", 3), "cfg_interrupt_msi_tph_present": ("input", 1),
    "cfg_interrupt_msi_tph_type": ("input", 2), "cfg_interrupt_msi_tph_st_tag": ("input", 8),
    "cfg_interrupt_msi_pending_status_function_num": ("input", 2),
    "cfg_interrupt_msi_pending_status_data_enable": ("input", 1),
    "cfg_interrupt_msi_function_number": ("input", 8),
    "sys_clk": ("input", 1), "sys_clk_gt": ("input", 1), "sys_reset": ("input", 1),
}

#: The prefix of the core's ports that stand for the hard IP's in a simulation core.
HARD_IP_PREFIX = "hip_"

# Behavioural stand-ins of the Xilinx primitives a simulation core instantiates.
_XILINX_SIM = """\
// Behavioural stand-ins of Xilinx primitives, for simulation only.
module IBUFDS_GTE4 #(parameter REFCLK_EN_TX_PATH = 1'b0, parameter REFCLK_HROW_CK_SEL = 2'b00,
                     parameter REFCLK_ICNTL_RX = 2'b00) (
    input wire I, input wire IB, input wire CEB, output wire O, output wire ODIV2);
  assign O = I;
  assign ODIV2 = I;
endmodule

module FDPE #(parameter INIT = 1'b1) (input wire C, input wire CE, input wire PRE,
                                      input wire D, output reg Q);
  initial Q = INIT;
  always @(posedge C or posedge PRE)
    if (PRE) Q <= 1'b1;
    else if (CE) Q <= D;
endmodule
"""


def _ports(verilog):
    header = re.search(rf"module {CORE_NAME}\s*\((.*?)\);", verilog, re.S).group(1)
    return [[name, direction, int(width or 0) + 1] for direction, width, name in re.findall(
        r"\b(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):0\]\s*)?(\w+)", header)]


def _section(tcl, start, end):
    """Return the lines of ``tcl`` between the comment lines ``# start`` and ``# end``."""
    text = tcl.split(f"# {start}", 1)[1].split(f"# {end}", 1)[0]
    return "\n".join(line for line in text.strip().splitlines()) + "\n"


def _blackbox(params):
    """Return a Verilog black box of the ``pcie_s7`` instance from Migen's ``i_``/``o_``
    parameters (its widths from the signals connected)."""
    from migen.fhdl.bitcontainer import value_bits_sign
    from migen.fhdl.structure import wrap

    ports = []
    for key, value in sorted(params.items()):
        prefix, _, name = key.partition("_")
        if prefix not in ("i", "o", "io"):
            continue
        width = value_bits_sign(wrap(value))[0]
        direction = {"i": "input", "o": "output", "io": "inout"}[prefix]
        ports.append(f"    {direction} wire {f'[{width - 1}:0] ' if width > 1 else ''}{name}")
    return ("(* blackbox *)\nmodule pcie_s7 (\n" + ",\n".join(ports) + "\n);\nendmodule\n")


def _sim_support(support):
    """Return LitePCIe's ``pcie_support`` Verilog ``support`` with its ``pcie_usp`` instance
    replaced by ports ``hip_<port>`` of the module (:data:`USP_HARD_IP_PORTS`), and the list
    of those ports as ``(name, direction, width)`` seen from ``pcie_support``.

    Raises
    ------
    ValueError
        If the instance connects a port missing from :data:`USP_HARD_IP_PORTS`.
    """
    start = support.index("  pcie_usp  pcie_usp_i (")
    end = support.index(");", start) + 2
    connections = re.findall(r"\.(\w+)\s*\(\s*(.*?)\s*\),?\s*(?://.*)?$",
                             support[start:end], re.M)
    ports, body = [], []
    for name, expression in connections:
        if name in ("pci_exp_txn", "pci_exp_txp"):
            body.append(f"  assign {expression} = 0;  // no serial lanes: TLPs are modelled")
            continue
        if name in ("pci_exp_rxn", "pci_exp_rxp"):
            continue
        if name not in USP_HARD_IP_PORTS:
            raise ValueError(f"pcie_support connects pcie_usp.{name}, which the simulation's "
                             f"port table does not have")
        direction, width = USP_HARD_IP_PORTS[name]
        port = HARD_IP_PREFIX + name
        if direction == "output":   # driven by the hard IP: an input of the wrapper
            ports.append((port, "input", width))
            body.append(f"  assign {expression} = {port};")
        else:
            ports.append((port, "output", width))
            body.append(f"  assign {port} = {expression};")
    header_end = support.index("\n);", support.index("module pcie_support"))
    declarations = "".join(
        f",\n  {direction} wire [{width - 1}:0] {name}" for name, direction, width in ports)
    verilog = (support[:header_end] + declarations + support[header_end:start] +
               "  // The hard IP pcie_usp: its ports are the module's hip_* ports.\n" +
               "\n".join(body) + "\n" + support[end:])
    return verilog, ports


def _settle_constant_comb(verilog):
    """Return ``verilog`` with each register that a combinational block sets only to constants
    initialised to its last constant, and the names of those registers.

    Why: LiteX's Verilog backend (``litex.gen.fhdl.verilog``, with ``regular_comb=True`` as
    LitePCIe's standalone core is built, and without) writes a constant as ``always @(*) begin
    x <= 1'd0; x <= 1'd1; end`` beside ``reg x = 1'd0;``. A block that reads no signal has an
    empty ``@(*)`` sensitivity list (IEEE 1364-2005's implicit event list), so a simulator need
    never run it: Verilator 5.48 does not, and ``x`` keeps its initial value (Migen's own backend
    adds a dummy signal for this; LiteX's does not). Synthesis makes it the constant. In
    LitePCIe's crossbar such a register selects the slave port of a request from the host (the
    Wishbone master's address decoder is ``lambda a: 1``): left at 0, every BAR access is
    dispatched to no port and dropped, so a BAR0 read never completes in simulation.
    """
    names = []
    for block in re.finditer(r"always @\(\*\) begin\n\s+(\w+) <= [^\n]*\n(?:\s+\1 <= [^\n]*\n)*"
                             r"end\n", verilog):
        name = block.group(1)
        values = re.findall(rf"^\s+{name} <= ([^;]*);$", block.group(0), re.M)
        if all(re.fullmatch(r"\d+'[dbh][0-9a-fA-F]+", value) for value in values):
            names.append((name, values[-1]))
    for name, value in names:
        verilog, count = re.subn(rf"^(reg\s+(?:\[\d+:0\]\s+)?{name}) = [^;]*;",
                                 rf"\1 = {value};", verilog, flags=re.M)
        if count != 1:
            raise ValueError(f"{count} declarations of {name} in the core's Verilog, not one")
    return verilog, [name for name, _ in names]


def _add_sim_hard_ip(platform, phy):
    """Make the UltraScale+ PHY ``phy`` instantiate the simulation ``pcie_support``: its
    ``hip_*`` ports become the core's ``pcie_hip_*`` ports. Return the wrapper's Verilog."""
    from litepcie.phy import usppciephy
    from litex.build.generic_platform import Pins, Subsignal

    source = Path(usppciephy.__file__).parent / "xilinx_usp" / "pcie_usp_support.v"
    verilog, ports = _sim_support(source.read_text())
    platform.add_extension([("pcie_hip", 0, *[
        Subsignal(name.removeprefix(HARD_IP_PREFIX), Pins(width)) for name, _, width in ports])])
    pads = platform.request("pcie_hip")
    for name, direction, _ in ports:
        phy.pcie_phy_params[f"{direction[0]}_{name}"] = getattr(
            pads, name.removeprefix(HARD_IP_PREFIX))
    phy.external_hard_ip = True     # no Vivado IP, no Tcl: the sources are added below
    return verilog


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)

    import litepcie
    from litepcie.gen import LitePCIeCore, generate_litepcie_software_headers
    from litex.build.xilinx import XilinxPlatform
    from litex.soc.integration.builder import Builder

    core_config = dict(config)
    core_config["clk_freq"] = float(core_config["clk_freq"])
    phys = {"S7PCIEPHY": "s7pciephy", "USPCIEPHY": "uspciephy", "USPPCIEPHY": "usppciephy"}
    module = importlib.import_module(f"litepcie.phy.{phys[config['phy']]}")
    core_config["phy"] = getattr(module, config["phy"])
    platform = XilinxPlatform(config["part"], io=[], toolchain="vivado")
    sim = core_config.pop("hard_ip", None) == "sim"
    ring = core_config.pop("driver_dma_buffer_count")
    soc = LitePCIeCore(platform, core_config)
    if sim:
        support = _add_sim_hard_ip(platform, soc.pcie_phy)
    builder = Builder(soc, output_dir=str(out / "litex"), compile_gateware=False,
                      compile_software=False)
    builder.build(build_name=CORE_NAME, regular_comb=True)
    gateware = out / "litex" / "gateware"
    verilog = (gateware / f"{CORE_NAME}.v").read_text()
    for name in (f"{CORE_NAME}.v", f"{CORE_NAME}_mem.init"):
        shutil.copy(gateware / name, out / name)
    if sim:
        verilog, settled = _settle_constant_comb(verilog)
        (out / f"{CORE_NAME}.v").write_text(verilog)
        print("constant combinational registers initialised:", ", ".join(settled))
    if sim:
        _write_sim_sources(out, soc.pcie_phy, support)
    else:
        _write_vivado_files(out, gateware, soc)

    driver = out / "driver"
    shutil.copytree(Path(litepcie.__file__).parent / "software" / "kernel", driver,
                    dirs_exist_ok=True)
    generate_litepcie_software_headers(soc, str(driver))
    _set_ring_size(driver / "config.h", ring)

    facts = {"module": CORE_NAME, "ports": _ports(verilog)}
    (out / "core.json").write_text(json.dumps(facts, indent=1) + "\n")
    return 0


def _set_ring_size(config_h, count):
    """Give the driver's DMA rings ``count`` buffers (LitePCIe's ``config.h`` says 256)."""
    text = config_h.read_text()
    text, found = re.subn(r"^(#define DMA_BUFFER_COUNT\s+)\d+$",
                          lambda match: f"{match[1]}{count}", text, flags=re.M)
    if found != 1:
        raise SystemExit(f"{config_h}: no DMA_BUFFER_COUNT to set; LitePCIe's driver changed")
    config_h.write_text(text)


def _write_sim_sources(out, phy, support):
    from litepcie.phy import usppciephy

    verilog_path = Path(usppciephy.__file__).parent / "xilinx_usp"
    width = phy.pcie_data_width
    names = ["axis_iff.v", *(f"{name}_{width}b.v" for name in (
        "s_axis_rq_adapt", "m_axis_rc_adapt", "m_axis_cq_adapt", "s_axis_cc_adapt"))]
    for name in names:
        shutil.copy(verilog_path / name, out / name)
    (out / "pcie_support_sim.v").write_text(support)
    (out / "xilinx_sim.v").write_text(_XILINX_SIM)
    (out / "sim_sources.json").write_text(json.dumps(
        [*names, "pcie_support_sim.v", "xilinx_sim.v"], indent=1) + "\n")


def _write_vivado_files(out, gateware, soc):
    tcl = (gateware / f"{CORE_NAME}.tcl").read_text()
    (out / "pcie_ip.tcl").write_text(_section(tcl, "Add pre-synthesis commands", "Synthesis"))
    (out / "pcie_place.tcl").write_text(
        _section(tcl, "Add pre-placement commands", "Placement"))
    xdc = (gateware / f"{CORE_NAME}.xdc").read_text()
    (out / "pcie_timing.xdc").write_text(
        "# LitePCIe's false paths (from litepcie_gen's constraints)\n" +
        xdc.split("# False path constraints", 1)[1].split("\n", 2)[2])
    (out / "pcie_s7_blackbox.v").write_text(_blackbox(soc.pcie_phy.pcie_phy_params))


if __name__ == "__main__":
    sys.exit(main())
