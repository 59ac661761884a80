# SPDX-License-Identifier: BSD-2-Clause
"""LiteDRAM cores, generated at build time and cached under ``build/litedram/<hash>/``.

:data:`CONFIGS` holds the ``litedram_gen`` configuration of each memory MemGEN drives; the
generator (:mod:`hw.store.dram.generate`) runs in a process of its own and writes the core's
Verilog and :class:`CoreFacts` (its ports, control registers, native port and init sequence), so
that every port name and width on the Amaranth side comes from the generator's output, never
retyped. LiteX, LiteDRAM and Migen are the optional ``dram`` dependencies.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from ...litex_cores import generated_core

__all__ = ["CONFIGS", "CoreFacts", "DRAMMissing", "generate"]

_SDR_ULX3S = {
    "memtype": "SDR", "sdram_phy": "GENSDRPHY", "sdram_module": "IS42S16160",
    "sdram_module_nb": 2, "device": "LFE5U-85F-6BG381C", "sys_clk_freq": 25e6,
    "cpu": None, "user_ports": {"0": {"type": "native"}},
}

_DDR3_ARTY = {
    "memtype": "DDR3", "sdram_phy": "A7DDRPHY", "sdram_module": "MT41K128M16",
    "sdram_module_nb": 2, "sdram_rank_nb": 1, "speedgrade": -1, "cmd_latency": 0,
    "rtt_nom": "60ohm", "rtt_wr": "60ohm", "ron": "34ohm",
    "input_clk_freq": 100e6, "sys_clk_freq": 100e6, "iodelay_clk_freq": 200e6,
    "cpu": None, "user_ports": {"0": {"type": "native"}},
}

#: ``litedram_gen`` configurations by name. ``sdram_sim`` and ``ddr3_sim`` are the ULX3S's and
#: the Arty's memories behind LiteDRAM's ``SDRAMPHYModel`` at the virtual board's clock.
CONFIGS = {
    # The ULX3S's 16-bit SDR SDRAM (IS42S16160, 32 MB; ``sdram_module_nb`` counts byte
    # lanes), at the board's 25 MHz.
    "sdram_ulx3s": _SDR_ULX3S,
    "sdram_sim": {**_SDR_ULX3S, "sys_clk_freq": 100e6, "sim": True},
    # The Arty A7-35T's MT41K128M16 (256 MB), DDR3 at 100 MHz through the 7-series PHY.
    "ddr3_arty": _DDR3_ARTY,
    "ddr3_sim": {**_DDR3_ARTY, "sim": True},
}


class DRAMMissing(RuntimeError):
    """LiteDRAM is not installed, or the generator failed."""


@dataclass(frozen=True)
class CoreFacts:
    """What the generator says about a core.

    Members
    -------
    verilog : pathlib.Path
        The core's Verilog file.
    module : str
        Its module name.
    ports : dict of str to (str, int)
        Direction (``"input"``, ``"output"``) and width of each port of the module.
    csr : dict of str to int
        Word addresses of the control registers on the ``wb_ctrl`` Wishbone bus, all of them.
    address_width, data_width : int
        The native user port's word address and data widths.
    dfii : dict of str to int
        The bits of the DFI injector's control and command registers.
    init_sequence : list of dict
        The init steps: ``control`` (write the control register, else issue a command),
        ``value``, ``a``, ``ba`` and ``delay`` (cycles to wait after it).
    memtype : str
        ``"SDR"``, ``"DDR3"``.
    """
    verilog: Path
    module: str
    ports: dict
    csr: dict
    address_width: int
    data_width: int
    dfii: dict
    init_sequence: list
    memtype: str

    @property
    def capacity(self):
        """Size of the memory in bytes."""
        return (1 << self.address_width) * self.data_width // 8

    @classmethod
    def load(cls, directory):
        facts = json.loads((directory / "core.json").read_text())
        return cls(
            verilog=directory / f"{facts['module']}.v",
            module=facts["module"],
            ports={name: (direction, width) for name, direction, width in facts["ports"]},
            csr=facts["csr"],
            address_width=facts["native"]["address_width"],
            data_width=facts["native"]["data_width"],
            dfii=facts["dfii"],
            init_sequence=facts["init_sequence"],
            memtype=facts["memtype"],
        )


def generate(name, *, build_root=None):
    """Return the :class:`CoreFacts` of the core ``name`` of :data:`CONFIGS`, generating it the
    first time (a few seconds) and reusing it while its configuration, the generator and the
    LiteX versions are unchanged.

    Raises
    ------
    ValueError
        If ``name`` is not in :data:`CONFIGS`.
    DRAMMissing
        If LiteDRAM is not installed or the generator fails.
    """
    if name not in CONFIGS:
        raise ValueError(f"Unknown DRAM core {name!r}; known: {', '.join(sorted(CONFIGS))}")
    config = CONFIGS[name]
    out = generated_core(name, config, kind="litedram", generator="hw.store.dram.generate",
                         packages=("litex", "litedram", "migen"), missing=DRAMMissing,
                         user="the DRAM store", extra="dram", tool="LiteDRAM",
                         build_root=build_root)
    return CoreFacts.load(out)
