# SPDX-License-Identifier: BSD-2-Clause
"""The card's design for simulation under cocotbext-pcie: the LitePCIe core with the UltraScale+
PHY (:data:`hw.transport.litepcie.core.CONFIGS` ``"usp_sim_gen2_x4"``), whose hard IP's ports are
this top level's ports, and the same :class:`~hw.boards.acorn.CardMemGEN` an Acorn card has.

Every port of the top level is a port of Vivado's ``pcie_usp`` IP by its own name (``user_clk``,
``m_axis_cq_tdata``, ``cfg_max_payload`` ...): the IP's outputs are the top level's inputs, so that
cocotbext-pcie's ``UltraScalePlusPcieDevice`` drives them, and the IP's inputs are outputs it
reads. The core's clock (``user_clk``, 125 MHz at Gen2 x4 and 128 bits) clocks both the engine and
the DMA side.
"""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.boards.acorn import CardMemGEN, core_ports
from hw.transport.litepcie.core import generate

__all__ = ["CORE", "FLUSH_CYCLES", "PCIeSimTop", "sources"]

#: The simulation core's name in :data:`hw.transport.litepcie.core.CONFIGS`.
CORE = "usp_sim_gen2_x4"

_PREFIX = "pcie_hip_"

#: The simulation's flush timer, in cycles: 8 us instead of the card's 100 us
#: (:data:`hw.transport.pcie.FLUSH_SECONDS`), so that each short reply costs the simulation a
#: thousand cycles rather than twelve thousand; the buffer logic is the same.
FLUSH_CYCLES = 1024


def sources(core):
    """Return the paths of the Verilog files the simulation compiles besides the top level, and
    the core's memory initialisation file (it must sit in the simulator's working directory)."""
    import json
    names = json.loads(core.path("sim_sources.json").read_text())
    return ([core.path(f"{core.module}.v"), *(core.path(name) for name in names)],
            core.path(f"{core.module}_mem.init"))


class PCIeSimTop(wiring.Component):
    """The LitePCIe UltraScale+ core and :class:`~hw.boards.acorn.CardMemGEN`, with the hard IP's
    ports as the top level's.

    Parameters
    ----------
    capacity : int
        The block-RAM store's size in bytes.
    core : :class:`~hw.transport.litepcie.core.CoreFacts` or None
        The generated core (default: :data:`CORE`, generated if needed).
    flush_cycles : int or None
        The transport's flush timer in cycles (default :data:`FLUSH_CYCLES`): a short reply
        waits this long before its buffer is sent.

    Members
    -------
    <hard IP port> : :py:`In(width)` or :py:`Out(width)`
        One per port of the ``pcie_usp`` IP that LitePCIe connects (from the core's
        ``pcie_hip_*`` ports): :py:`In` for the IP's outputs.
    """

    def __init__(self, *, capacity, core=None, flush_cycles=None):
        self.core = generate(CORE) if core is None else core
        self.capacity = capacity
        self.flush_cycles = FLUSH_CYCLES if flush_cycles is None else flush_cycles
        members = {}
        for name, (direction, width) in self.core.ports.items():
            if name.startswith(_PREFIX):
                members[name.removeprefix(_PREFIX)] = (In if direction == "input" else Out)(width)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        core = self.core
        clk, rst = Signal(), Signal()
        m.domains.sync = ClockDomain("sync", async_reset=False)
        m.domains.pcie = ClockDomain("pcie", async_reset=False)
        m.d.comb += [ClockSignal("sync").eq(clk), ClockSignal("pcie").eq(clk),
                     ResetSignal("sync").eq(rst), ResetSignal("pcie").eq(rst)]
        m.submodules.memgen = memgen = CardMemGEN(
            capacity=self.capacity, clk_freq=core.clk_freq, dma_clk_freq=core.clk_freq,
            flush_cycles=self.flush_cycles)
        transport = memgen.transport
        lanes = core.ports["pcie_rx_p"][1]
        pads = {
            "rst_n": C(1, 1), "clk_p": C(0, 1), "clk_n": C(1, 1),
            "rx_p": C(0, lanes), "rx_n": C(0, lanes),
            "tx_p": Signal(lanes), "tx_n": Signal(lanes),
            **{f"hip_{name}": getattr(self, name) for name in self.signature.members},
        }
        m.submodules.litepcie = Instance(core.module, **core_ports(
            core, transport, pads, clk, rst))
        m.d.comb += transport.link_up.eq(~rst)
        return m
