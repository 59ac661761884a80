# SPDX-License-Identifier: BSD-2-Clause
"""The SQRL Acorn CLE-215(+) and CLE-101 (the RHS Research NiteFury and LiteFury): Artix-7 cards
on M.2 with PCIe Gen2 x4 and 1 GB of DDR3, and MemGEN on them with the PCIe transport.

The platform is written from LiteX-Boards' ``litex_boards/platforms/sqrl_acorn.py``
(github.com/litex-hub/litex-boards, Florent Kermarrec, BSD-2-Clause), which follows the cards'
published pinout (github.com/RHSResearchLLC/NiteFury-and-LiteFury). The cards have no
USB-UART: PCIe is their only host link. The DDR3 is not used (the store is block RAM).
"""

from amaranth import *
from amaranth.build import Attrs, Clock, DiffPairs, Pins, Resource, Subsignal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import Out
from amaranth.vendor import XilinxPlatform

from ..top import _connect_engine, _engine
from ..transport.litepcie.core import generate
from ..transport.pcie import PCIeTransport
from .facts import store_capacity

__all__ = ["AcornCLE215Platform", "AcornCLE101Platform", "AcornTop", "CardMemGEN",
           "ENGINE_CLK_FREQ", "core_ports"]

#: The engine's clock: the 200 MHz oscillator halved by an MMCM (the Arty's rate; the DMA side
#: runs at LitePCIe's 125 MHz).
ENGINE_CLK_FREQ = 100_000_000

#: The LitePCIe core every Acorn uses (:data:`hw.transport.litepcie.core.CONFIGS`).
CORE = "s7_gen2_x4"


#: The PCIe pads, by the LitePCIe core's port names without ``pcie_``.
_PADS = ("rst_n", "clk_p", "clk_n", "rx_p", "rx_n", "tx_p", "tx_n")


class _AcornPlatform(XilinxPlatform):
    """The Acorn's resources: the 200 MHz oscillator, four LEDs, the M.2 PCIe x4 lanes."""
    package = "fbg484"
    default_clk = "clk200"
    resources = [
        Resource("clk200", 0, DiffPairs("J19", "H19", dir="i"), Clock(200e6),
                 Attrs(IOSTANDARD="DIFF_SSTL15")),
        *[Resource("led", i, Pins(pin, dir="o"), Attrs(IOSTANDARD="LVCMOS33"))
          for i, pin in enumerate(("G3", "H3", "G4", "H4"))],
        Resource("pcie_clkreq_n", 0, Pins("G1", dir="o"), Attrs(IOSTANDARD="LVCMOS33")),
        # The gigabit pins take no I/O standard; the hard IP's Tcl places the lanes.
        Resource("pcie_x4", 0,
                 Subsignal("rst_n", Pins("J1", dir="i"),
                           Attrs(IOSTANDARD="LVCMOS15", PULLUP="TRUE")),
                 Subsignal("clk_p", Pins("F6", dir="i")),
                 Subsignal("clk_n", Pins("E6", dir="i")),
                 Subsignal("rx_p", Pins("B10 B8 D11 D9", dir="i")),
                 Subsignal("rx_n", Pins("A10 A8 C11 C9", dir="i")),
                 Subsignal("tx_p", Pins("B6 B4 D5 D7", dir="o")),
                 Subsignal("tx_n", Pins("A6 A4 C5 C7", dir="o"))),
    ]
    connectors = []

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        #: Tcl the board top adds to Vivado's script (``script_after_read`` and so on).
        self.tcl_overrides = {}

    def toolchain_prepare(self, fragment, name, **kwargs):
        for key, value in self.tcl_overrides.items():
            kwargs.setdefault(key, value)
        return super().toolchain_prepare(fragment, name, **kwargs)


class AcornCLE215Platform(_AcornPlatform):
    """The CLE-215 and CLE-215+ (NiteFury): XC7A200T; the 215+ is speed grade -3."""
    device = "xc7a200t"
    speed = "2"


class AcornCLE101Platform(_AcornPlatform):
    """The CLE-101 (LiteFury): XC7A100T, in the FGG484 package as LiteX-Boards has it."""
    device = "xc7a100t"
    package = "fgg484"
    speed = "2"


class CardMemGEN(wiring.Component):
    """The engine and a block-RAM store behind a :class:`~hw.transport.pcie.PCIeTransport`,
    with the transport's DMA and register sides left for the LitePCIe core.

    Parameters
    ----------
    capacity : int
        Store size in bytes.
    clk_freq, dma_clk_freq : int
        The engine's and the DMA side's clocks in Hz; the DMA side is domain ``pcie``.
    flush_cycles : int or None
        The transport's flush timer in cycles of ``dma_clk_freq`` (default: its
        :data:`~hw.transport.pcie.FLUSH_SECONDS`).

    Members
    -------
    leds : :py:`Out(3)`
        Learning, ready, error.
    idle : :py:`Out(1)`
        The device is only waiting for input.
    """
    leds: Out(3)
    idle: Out(1)

    def __init__(self, *, capacity, clk_freq=ENGINE_CLK_FREQ, dma_clk_freq=125_000_000,
                 flush_cycles=None):
        from ..store.bram import ExampleStore
        self.transport = PCIeTransport(clk_freq=clk_freq, dma_clk_freq=dma_clk_freq,
                                       flush_cycles=flush_cycles)
        self.store = ExampleStore(capacity)
        self.engine = _engine(clk_freq, self.transport, self.store, None)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        _connect_engine(m, self, self.transport, self.engine, self.store)
        return m


def core_ports(core, transport, pads, pcie_clk, pcie_rst):
    """Return the ``Instance`` arguments of the LitePCIe core: each port the generator reported,
    joined to the transport, the pads or the clock, width checked (the card's top and the
    simulation's, :class:`sim.pcie.top.PCIeSimTop`)."""
    axi = {name: getattr(transport.mmap, name) for name in transport.mmap.signature.members}
    joined = {
        "clk": pcie_clk, "rst": pcie_rst, "msi_irqs": C(0, 1),
        "dma0_reader_axi_tdata": transport.reader.payload.data,
        "dma0_reader_axi_tlast": transport.reader.payload.last,
        "dma0_reader_axi_tvalid": transport.reader.valid,
        "dma0_reader_axi_tready": transport.reader.ready,
        "dma0_writer_axi_tdata": transport.writer.payload.data,
        "dma0_writer_axi_tlast": transport.writer.payload.last,
        "dma0_writer_axi_tvalid": transport.writer.valid,
        "dma0_writer_axi_tready": transport.writer.ready,
        "dma0_writer_axi_tuser": C(0, 1),
        "dma0_status_reader_enable": transport.reader_enable,
        "dma0_status_writer_enable": transport.writer_enable,
        **{f"mmap_axi_lite_{name}": value for name, value in axi.items()},
        **{f"pcie_{name}": value for name, value in pads.items()},
    }
    ports = {}
    for name, (direction, width) in core.ports.items():
        if name not in joined:
            if direction == "input":
                raise ValueError(f"LitePCIe core input {name} is not connected")
            continue        # an output the card does not use (the reader's tuser, AXI prot)
        value = joined[name]
        if len(value) != width:
            raise ValueError(f"LitePCIe core port {name} is {width} bits, not {len(value)}")
        ports[f"{'i' if direction == 'input' else 'o'}_{name}"] = value
    return ports


class AcornTop(Elaboratable):
    """MemGEN on an Acorn card: the LitePCIe core (generated, :mod:`hw.transport.litepcie`),
    :class:`CardMemGEN`, an MMCM for the engine's clock, and four LEDs (learning, ready,
    error, PCIe link up).

    Parameters
    ----------
    board : :class:`~hw.boards.registry.Board`
    baud, timeout :
        Accepted for the board builds' common call and ignored (a card has no UART; the frame
        timeout is the transport's).
    store : str
        ``"bram"`` only.

    Raises
    ------
    ValueError
        If ``store`` is not ``"bram"``.
    """
    def __init__(self, board, *, baud=None, timeout=None, store="bram"):
        if store != "bram":
            raise ValueError(f"{board.title} builds with the block-RAM store only; its DDR3 is "
                             f"not wired to MemGEN yet, not {store!r}")
        self.board = board
        self.baud = baud
        self.store = store

    def elaborate(self, platform):
        m = Module()
        core = generate(CORE)
        for name in (f"{core.module}.v", f"{core.module}_mem.init", "pcie_timing.xdc"):
            platform.add_file(name, core.path(name).read_text())
        # The Linux driver's sources with this core's headers, for the host (README).
        for path in sorted(core.path("driver").iterdir()):
            platform.add_file(f"driver/{path.name}", path.read_text())
        if "yosys" in platform.required_tools:
            # `make synth`: Yosys has no model of Vivado's pcie_7x wrapper; count it as a box.
            platform.add_file("pcie_s7_blackbox.v", core.path("pcie_s7_blackbox.v").read_text())
        platform.tcl_overrides.update({
            "script_after_read": core.path("pcie_ip.tcl").read_text(),
            "script_after_synth": core.path("pcie_place.tcl").read_text(),
        })

        # The engine's clock: 200 MHz in, VCO at 1 GHz, 100 MHz out.
        m.submodules.clk200 = clk200 = io.Buffer("i", platform.request("clk200", 0, dir="-"))
        feedback, engine_clk, locked = Signal(), Signal(), Signal()
        m.submodules.mmcm = Instance(
            "MMCME2_BASE", p_CLKIN1_PERIOD=5.0, p_DIVCLK_DIVIDE=1, p_CLKFBOUT_MULT_F=5.0,
            p_CLKOUT0_DIVIDE_F=1e9 / ENGINE_CLK_FREQ,
            i_CLKIN1=clk200.i, i_CLKFBIN=feedback, o_CLKFBOUT=feedback,
            o_CLKOUT0=engine_clk, o_LOCKED=locked, i_RST=0, i_PWRDWN=0)
        m.domains.sync = ClockDomain("sync")
        m.submodules.bufg = Instance("BUFG", i_I=engine_clk, o_O=ClockSignal("sync"))
        m.submodules.sync_reset = ResetSynchronizer(~locked, domain="sync")
        # Vivado derives the MMCM's output clock from clk200's; the PCIe reference clock (100
        # MHz from the host) is constrained on the port Amaranth names for the pad.
        platform.add_file("pcie_refclk.xdc", "create_clock -name pcie_refclk -period 10.0 "
                                             "[get_ports pcie_x4_0__clk_p__io]\n")

        # The DMA side runs on the core's clock, in reset until the hard IP's link is up.
        m.domains.pcie = ClockDomain("pcie")
        pcie_rst = Signal()
        m.submodules.memgen = memgen = CardMemGEN(
            capacity=store_capacity(platform.device), dma_clk_freq=core.clk_freq)
        transport = memgen.transport
        pads = platform.request("pcie_x4", 0, dir="-")
        m.submodules.litepcie = Instance(core.module, **core_ports(
            core, transport, {name: getattr(pads, name).io for name in _PADS},
            ClockSignal("pcie"), pcie_rst))
        m.d.comb += [ResetSignal("pcie").eq(pcie_rst), transport.link_up.eq(~pcie_rst)]
        m.submodules.clkreq = clkreq = io.Buffer("o", platform.request("pcie_clkreq_n", 0,
                                                                        dir="-"))
        m.d.comb += clkreq.o.eq(0)      # ask the host for the reference clock

        for i in range(4):
            m.submodules[f"led_{i}"] = led = io.Buffer("o", platform.request("led", i, dir="-"))
            m.d.comb += led.o.eq(memgen.leds[i] if i < 3 else transport.link_up)
        for path in self.board.constraint_files():
            platform.add_file(path.name, path.read_text())
        return m
