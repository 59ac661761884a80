# SPDX-License-Identifier: BSD-2-Clause
"""LitePCIe cores, generated at build time and cached under ``build/litepcie/<name>-<hash>/``,
the way :mod:`hw.store.dram.core` makes LiteDRAM's.

:data:`CONFIGS` holds the ``litepcie_gen`` configuration of each core; the generator
(:mod:`hw.transport.litepcie.generate`) runs in a process of its own and writes the Verilog, the
Vivado Tcl of the hard IP, a Yosys black box of it, the Linux driver's sources with the core's
headers, and :class:`CoreFacts` (the module's ports), so that every port name and width on the
Amaranth side comes from the generator's output. LitePCIe is the optional ``pcie`` dependency.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from ...litex_cores import generated_core
from .. import pcie_layout as layout

__all__ = ["CONFIGS", "CoreFacts", "PCIeMissing", "generate"]

#: Gen2 x4 on a 7-series GTP (the Acorn CLE-101/215): the 128-bit datapath at 125 MHz, one DMA
#: channel (reader and writer) with 8 KB of buffering each way, no loopback, one MSI line (the
#: driver's), and the MMAP AXI-Lite master for the transport's registers at
#: :data:`~hw.transport.pcie_layout.MMAP_BASE` in BAR0 (1 MB). Not LitePCIe's: the driver's ring
#: size (its config.h), set in the generated tree.
_S7_GEN2_X4 = {
    "phy": "S7PCIEPHY", "part": "xc7a200t-fbg484-2", "phy_device": "xc7a", "phy_lanes": 4,
    "phy_pcie_data_width": 128, "phy_data_width": 128, "phy_bar0_size": 0x100000,
    "clk_freq": 125e6, "ep_max_pending_requests": 8, "dma_channels": 1,
    "dma_buffering": 8192, "dma_loopback": False, "dma_synchronizer": False,
    "dma_monitor": False, "msi_irqs": 1, "mmap": True, "mmap_base": layout.MMAP_BASE,
    "mmap_size": layout.MMAP_SIZE, "driver_dma_buffer_count": layout.DMA_BUFFER_COUNT,
}

#: ``litepcie_gen`` configurations by name.
CONFIGS = {
    "s7_gen2_x4": _S7_GEN2_X4,
    # The same core for simulation (tests/test_pcie_sim.py), but for the PHY: the UltraScale+
    # one, whose hard IP cocotbext-pcie models (still Gen2 x4, 128 bits, 125 MHz), with the hard
    # IP's ports on the core's ``pcie_hip_*`` ports instead of Vivado's IP.
    "usp_sim_gen2_x4": {
        **_S7_GEN2_X4,
        "phy": "USPPCIEPHY", "part": "xcku3p-ffva676-2-e", "phy_device": "xcku",
        "hard_ip": "sim",
    },
}


class PCIeMissing(RuntimeError):
    """LitePCIe is not installed, or the generator failed."""


@dataclass(frozen=True)
class CoreFacts:
    """What the generator wrote for a core.

    Members
    -------
    directory : pathlib.Path
        Where the files are (see :mod:`hw.transport.litepcie.generate`).
    module : str
        The core's module name.
    ports : dict of str to (str, int)
        Direction (``"input"``, ``"output"``) and width of each port of the module.
    clk_freq : int
        The core's clock (its ``clk`` output) in Hz.
    """
    directory: Path
    module: str
    ports: dict
    clk_freq: int

    def path(self, name):
        """Return the path of the generated file ``name``."""
        return self.directory / name

    @classmethod
    def load(cls, directory, clk_freq):
        facts = json.loads((directory / "core.json").read_text())
        return cls(directory=directory, module=facts["module"], clk_freq=int(clk_freq),
                   ports={name: (direction, width)
                          for name, direction, width in facts["ports"]})


def generate(name, *, build_root=None):
    """Return the :class:`CoreFacts` of the core ``name`` of :data:`CONFIGS`, generating it the
    first time (a few seconds) and reusing it while its configuration, the generator and the
    LiteX versions are unchanged.

    Raises
    ------
    ValueError
        If ``name`` is not in :data:`CONFIGS`.
    PCIeMissing
        If LitePCIe is not installed or the generator fails.
    """
    if name not in CONFIGS:
        raise ValueError(f"Unknown LitePCIe core {name!r}; known: {', '.join(sorted(CONFIGS))}")
    config = CONFIGS[name]
    out = generated_core(name, config, kind="litepcie",
                         generator="hw.transport.litepcie.generate",
                         packages=("litex", "litepcie", "migen"), missing=PCIeMissing,
                         user="the PCIe card", extra="pcie", tool="LitePCIe",
                         build_root=build_root)
    return CoreFacts.load(out, config["clk_freq"])
