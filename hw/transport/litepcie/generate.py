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
  ``csr.h``, ``soc.h`` and ``mem.h``, ready for ``make``;
* ``core.json``: the module's ports (name, direction, width).
"""

import importlib
import json
import re
import shutil
import sys
from pathlib import Path

__all__ = ["main", "CORE_NAME"]

CORE_NAME = "litepcie_core"


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
    soc = LitePCIeCore(platform, core_config)
    builder = Builder(soc, output_dir=str(out / "litex"), compile_gateware=False,
                      compile_software=False)
    builder.build(build_name=CORE_NAME, regular_comb=True)
    gateware = out / "litex" / "gateware"
    verilog = (gateware / f"{CORE_NAME}.v").read_text()
    for name in (f"{CORE_NAME}.v", f"{CORE_NAME}_mem.init"):
        shutil.copy(gateware / name, out / name)
    tcl = (gateware / f"{CORE_NAME}.tcl").read_text()
    (out / "pcie_ip.tcl").write_text(_section(tcl, "Add pre-synthesis commands", "Synthesis"))
    (out / "pcie_place.tcl").write_text(
        _section(tcl, "Add pre-placement commands", "Placement"))
    xdc = (gateware / f"{CORE_NAME}.xdc").read_text()
    (out / "pcie_timing.xdc").write_text(
        "# LitePCIe's false paths (from litepcie_gen's constraints)\n" +
        xdc.split("# False path constraints", 1)[1].split("\n", 2)[2])
    (out / "pcie_s7_blackbox.v").write_text(_blackbox(soc.pcie_phy.pcie_phy_params))

    driver = out / "driver"
    shutil.copytree(Path(litepcie.__file__).parent / "software" / "kernel", driver,
                    dirs_exist_ok=True)
    generate_litepcie_software_headers(soc, str(driver))

    facts = {"module": CORE_NAME, "ports": _ports(verilog)}
    (out / "core.json").write_text(json.dumps(facts, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
