# SPDX-License-Identifier: BSD-2-Clause
"""Generate a standalone LiteDRAM core (``python -m hw.store.dram.generate CONFIG OUT``).

Runs in a process of its own (:func:`hw.store.dram.core.generate` starts it), because Migen and
LiteX import with warnings and global state that the Amaranth side should not share. It writes
into ``OUT``:

* ``litedram_core.v``: the core, generated with ``regular_comb=True`` (``litedram_gen``'s
  default writes duplicated ``assign`` lines that Yosys reports as conflicting drivers);
* ``core.json``: what the Amaranth side needs to instantiate and start the core: the module's
  ports (name, direction, width), every control register's word address, the native port's
  widths, and the SDR init sequence of :func:`litedram.init.get_sdram_phy_init_sequence`.

``CONFIG`` is a JSON file of ``litedram_gen`` configuration values, plus ``"sim": true`` to
replace the pads with LiteDRAM's ``SDRAMPHYModel``.
"""

import json
import re
import sys
from pathlib import Path

__all__ = ["main"]

CORE_NAME = "litedram_core"

def _core_config(config):
    from litedram import modules as litedram_modules
    from litedram import phy as litedram_phys

    core_config = {key: value for key, value in config.items() if key != "sim"}
    for key, value in core_config.items():
        if "clk_freq" in key:
            core_config[key] = float(value)
    core_config["sdram_module"] = getattr(litedram_modules, core_config["sdram_module"])
    core_config["sdram_phy"] = getattr(litedram_phys, core_config["sdram_phy"])
    return core_config


def _platform(config, core_config):
    from litedram import phy as litedram_phys
    from litex.build.lattice import LatticePlatform
    from litex.build.sim import SimPlatform
    from litex.build.xilinx import XilinxPlatform

    if config.get("sim"):
        return SimPlatform("", io=[])
    if core_config["sdram_phy"] in (litedram_phys.GENSDRPHY, litedram_phys.ECP5DDRPHY):
        return LatticePlatform(core_config["device"], io=[], toolchain="trellis")
    return XilinxPlatform("", io=[], toolchain="vivado")


def _ports(verilog):
    header = re.search(rf"module {CORE_NAME}\s*\((.*?)\);", verilog, re.S).group(1)
    ports = []
    for direction, width, name in re.findall(
            r"\b(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):0\]\s*)?(\w+)", header):
        ports.append([name, direction, int(width or 0) + 1])
    return ports


def _dfii_bits(out):
    header = next(out.glob("litex/software/include/generated/sdram_phy.h")).read_text()
    return {name: int(value, 16)
            for name, value in re.findall(r"#define (DFII_\w+) (0x[0-9a-fA-F]+)", header)}


def _init_sequence(soc, bits):
    from litedram.init import get_sdram_phy_init_sequence

    sequence, _mr = get_sdram_phy_init_sequence(soc.sdram.controller.settings.phy,
                                                soc.sdram.controller.settings.timing)
    return [{"comment": comment, "a": a, "ba": ba, "delay": delay,
             # A DFII_CONTROL_* step writes the control register, a DFII_COMMAND_* step issues
             # a command on phase 0; either way the value is the OR of the named bits.
             "control": cmd.startswith("DFII_CONTROL"),
             "value": sum(bits[name] for name in cmd.split("|"))}
            for comment, a, ba, cmd, delay in sequence]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)

    from litedram.gen import LiteDRAMCore
    from litex.soc.integration.builder import Builder

    core_config = _core_config(config)
    platform = _platform(config, core_config)
    soc = LiteDRAMCore(platform, core_config, integrated_rom_size=0xC000)
    builder = Builder(soc, output_dir=str(out / "litex"), compile_gateware=False,
                      compile_software=False, csr_json=str(out / "csr.json"))
    builder.build(build_name=CORE_NAME, regular_comb=True)
    verilog = (out / "litex" / "gateware" / f"{CORE_NAME}.v").read_text()
    (out / f"{CORE_NAME}.v").write_text(verilog)

    csr = json.loads((out / "csr.json").read_text())["csr_registers"]
    user_port = soc.sdram.crossbar.masters[0]
    facts = {
        "module": CORE_NAME,
        "ports": _ports(verilog),
        # The control bus is Wishbone with 32-bit words: word address = byte address / 4.
        "csr": {name: register["addr"] // 4 for name, register in csr.items()},
        "native": {"address_width": user_port.address_width,
                   "data_width": user_port.data_width},
        "dfii": (bits := _dfii_bits(out)),
        "init_sequence": _init_sequence(soc, bits),
        "memtype": core_config["memtype"],
    }
    (out / "core.json").write_text(json.dumps(facts, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
