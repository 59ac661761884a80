# SPDX-License-Identifier: BSD-2-Clause
"""The DRAM store: a LiteDRAM core as an :class:`~amaranth.hdl.Instance`, the sequencer that
starts it, and the :class:`~hw.store.dram.native.NativeSequencer` that serves the store's byte
streams from its native port."""

from amaranth import *
from amaranth.lib import data, io, memory, wiring
from amaranth.lib.wiring import In, Out

from ...protocol import LEVELING_CSRS, Leveling, Memory
from ..interface import StoreSignature, check_capacity
from .core import CoreFacts
from .native import NativePortSignature, NativeSequencer

__all__ = ["WishboneWriteSignature", "init_writes", "InitSequencer", "DRAMStore", "sim_store"]

#: The native user port and control bus prefixes of the generated core's ports.
_USER_PORT = "user_port_0_"
_WB = "wb_ctrl_"
#: :class:`~amaranth.hdl.Instance` keyword prefixes by the generator's port directions.
_PREFIX = {"input": "i", "output": "o", "inout": "io"}


class WishboneWriteSignature(wiring.Signature):
    """The writing half of a classic Wishbone bus of 32-bit words, seen from the master."""
    def __init__(self, address_width):
        super().__init__({
            "cyc":   Out(1),
            "stb":   Out(1),
            "we":    Out(1),
            "adr":   Out(address_width),
            "dat_w": Out(32),
            "sel":   Out(4),
            "ack":   In(1),
        })


class _Step(data.StructLayout):
    def __init__(self, address_width, delay_width):
        super().__init__({"adr": address_width, "dat": 32, "delay": delay_width})


def init_writes(facts):
    """Return the control bus writes that start a core, as ``(word address, value, cycles to
    wait after it)``: LiteX's ``sdram_init()`` for a core with no CPU.

    The DFI injector is put under software control, each step of the generator's init sequence
    is written (a control register value, or a command on phase 0 with its address and bank),
    the injector is handed back to the controller, and ``init_done`` is set, which opens the
    native port.
    """
    csr, dfii = facts.csr, facts.dfii
    writes = [(csr["sdram_dfii_control"], 0, 0)]
    for step in facts.init_sequence:
        if step["control"]:
            writes.append((csr["sdram_dfii_control"], step["value"], step["delay"]))
        else:
            writes += [
                (csr["sdram_dfii_pi0_address"], step["a"], 0),
                (csr["sdram_dfii_pi0_baddress"], step["ba"], 0),
                (csr["sdram_dfii_pi0_command"], step["value"], 0),
                (csr["sdram_dfii_pi0_command_issue"], 1, step["delay"]),
            ]
    writes += [
        (csr["sdram_dfii_control"], dfii["DFII_CONTROL_SEL"], 0),
        (csr["ddrctrl_init_done"], 1, 0),
    ]
    return writes


class InitSequencer(wiring.Component):
    """Writes a list of control bus words at power-up, waiting the given cycles after each, then
    raises ``done``.

    Parameters
    ----------
    writes : list of (int, int, int)
        Word address, value and cycles to wait after the write (:func:`init_writes`).
    address_width : int
        Width of the bus's word address.

    Members
    -------
    bus : :py:`Out(WishboneWriteSignature(address_width))`
    started : :py:`In(1)`
        The memory is already started (the core's ``init_done``): after a reset of the design
        alone, the sequencer does not start it again under the controller's feet.
    done : :py:`Out(1)`
    """
    def __init__(self, writes, *, address_width):
        if not writes:
            raise ValueError("The init sequence needs at least one write")
        self._writes = list(writes)
        self._address_width = address_width
        super().__init__({
            "bus":     Out(WishboneWriteSignature(address_width)),
            "started": In(1),
            "done":    Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        delay_width = max(delay for _, _, delay in self._writes).bit_length() or 1
        layout = _Step(self._address_width, delay_width)
        m.submodules.rom = rom = memory.Memory(
            shape=layout, depth=len(self._writes),
            init=[{"adr": adr, "dat": dat, "delay": delay} for adr, dat, delay in self._writes])
        rd = rom.read_port(domain="comb")
        index = Signal(range(len(self._writes) + 1))
        wait = Signal(delay_width)
        step = layout(rd.data)
        m.d.comb += [
            rd.addr.eq(index),
            self.bus.adr.eq(step.adr),
            self.bus.dat_w.eq(step.dat),
            self.bus.sel.eq(0b1111),
            self.bus.we.eq(1),
        ]
        with m.FSM():
            with m.State("Check"):
                m.next = "Write"
                with m.If(self.started):
                    m.next = "Done"
            with m.State("Write"):
                m.d.comb += [self.bus.cyc.eq(1), self.bus.stb.eq(1)]
                with m.If(self.bus.ack):
                    m.d.sync += wait.eq(step.delay)
                    m.next = "Wait"
            with m.State("Wait"):
                with m.If(wait != 0):
                    m.d.sync += wait.eq(wait - 1)
                with m.Elif(index == len(self._writes) - 1):
                    m.next = "Done"
                with m.Else():
                    m.d.sync += index.eq(index + 1)
                    m.next = "Write"
            with m.State("Done"):
                m.d.comb += self.done.eq(1)
        return m


class DRAMStore(wiring.Component):
    """An example store in external DRAM, through a LiteDRAM core.

    The core (from :func:`hw.store.dram.core.generate`) runs on the ``sync`` clock and reset; its
    Verilog is added to the platform. At power-up an :class:`InitSequencer` starts the memory
    through the core's control bus; the store takes its first command once the core reports
    ``init_done``. On a board the core's pads are the platform's ``sdram`` resource, and the
    SDRAM clock pin is driven by an output DDR buffer, inverted, so that the memory samples
    commands and data in the middle of the controller's cycle; the data pins go to the core
    as a raw port, since its own tristate buffers drive them. In simulation (a core generated
    with ``"sim"``) the core has no pads: LiteDRAM's ``SDRAMPHYModel`` is inside it.

    Parameters
    ----------
    core : :class:`~hw.store.dram.core.CoreFacts`
        The generated core.
    capacity : int or None
        Size of the store in bytes (default: the memory's).
    depth : int
        Words of read data kept in flight (:class:`~hw.store.dram.native.NativeSequencer`).

    Members
    -------
    cmd, w_stream, r_stream
        As :class:`~hw.store.interface.StoreSignature`.
    control : :py:`In(ControlSignature(control_width))`
        The core's control bus, once the :class:`InitSequencer` has started the memory (an
        access before waits for it): the CSR command's, for the host's read leveling.

    Raises
    ------
    ValueError
        If the core's PHY needs read leveling but its control registers are not where
        :data:`hw.protocol.LEVELING_CSRS` says (a LiteDRAM version that moved them).
    """
    def __init__(self, core, *, capacity=None, depth=16):
        if not isinstance(core, CoreFacts):
            raise TypeError(f"DRAM store needs the CoreFacts of a generated core, not {core!r}")
        capacity = core.capacity if capacity is None else capacity
        check_capacity(capacity)
        self.core = core
        self.sequencer = NativeSequencer(capacity, address_width=core.address_width,
                                         data_width=core.data_width, depth=depth)
        expected = LEVELING_CSRS.get(self.leveling, {})
        moved = sorted(name for name, adr in expected.items() if core.csr.get(name) != adr)
        if moved:
            raise ValueError(f"The DRAM core's control registers {', '.join(moved)} are not "
                             f"where hw.protocol.LEVELING_CSRS puts them; update that table "
                             f"from {core.verilog.parent / 'csr.json'}")
        super().__init__(StoreSignature(capacity, control_width=self.control_width))

    @property
    def memory_type(self):
        """What the store is (:class:`hw.protocol.Memory`), for INFO."""
        return Memory.DDR3 if self.core.memtype == "DDR3" else Memory.SDR

    @property
    def leveling(self):
        """The calibration the host runs (:class:`hw.protocol.Leveling`): read leveling for a
        DDR3 core on the 7-series PHY (its ``ddrphy`` registers), none for SDR or for the
        simulation model, which has no delays."""
        if "ddrphy_rdly_dq_inc" in self.core.csr:
            return Leveling.A7DDRPHY
        return Leveling.NONE

    @property
    def control_width(self):
        """Word address width of :attr:`control`: enough for the core's last register."""
        return max(self.core.csr.values()).bit_length()

    @property
    def capacity(self):
        """Size of the store in bytes."""
        return self.signature.capacity

    @property
    def makes_clock(self):
        """Whether the core makes its clock with a PLL of its own (the DDR3 cores): then the
        store takes the board's clock pin and drives the ``sync`` domain, which the top level
        defines, with the core's user clock and reset, so the whole design runs on the memory
        controller's clock."""
        return "pll_locked" in self.core.ports

    @property
    def verilog_files(self):
        """The core's Verilog, by file name, for a build that has no platform to add it to
        (the virtual board's)."""
        return {self.core.verilog.name: self.core.verilog.read_text()}

    def _port_signals(self):
        """Return a signal for each port of the core, named and sized as the generator says."""
        return {name: Signal(width, name=f"dram_{name}")
                for name, (direction, width) in self.core.ports.items()}

    def elaborate(self, platform):
        m = Module()
        core = self.core
        m.submodules.sequencer = sequencer = self.sequencer
        wiring.connect(m, wiring.flipped(self.cmd), sequencer.store.cmd)
        wiring.connect(m, wiring.flipped(self.w_stream), sequencer.store.w_stream)
        wiring.connect(m, sequencer.store.r_stream, wiring.flipped(self.r_stream))

        ports = self._port_signals()
        m.d.comb += sequencer.enable.eq(ports["init_done"] & ~ports["init_error"])
        kwargs = {}
        for name, (direction, _) in core.ports.items():
            kwargs[f"{_PREFIX[direction]}_{name}"] = ports[name]
        if self.makes_clock:
            self._take_clock(m, platform, ports, kwargs)
        else:
            m.d.comb += ports["clk"].eq(ClockSignal())
            if "rst" in ports:
                m.d.comb += ports["rst"].eq(ResetSignal(allow_reset_less=True))
        self._connect_native(m, sequencer.port, ports)
        self._connect_init(m, ports)
        if any(name.startswith("sdram_") for name in core.ports):
            self._connect_pads(m, platform, ports, kwargs)
        elif any(name.startswith("ddram_") for name in core.ports):
            self._connect_ddr_pads(platform, kwargs)
        m.submodules.core = Instance(core.module, **kwargs)
        if platform is not None and hasattr(platform, "add_file"):
            platform.add_file(core.verilog.name, core.verilog.read_text())
        return m

    def _connect_native(self, m, port, ports):
        p = {name[len(_USER_PORT):]: signal for name, signal in ports.items()
             if name.startswith(_USER_PORT)}
        assert port.signature == NativePortSignature(len(p["cmd_addr"]), len(p["wdata_data"]))
        m.d.comb += [
            p["cmd_valid"].eq(port.cmd.valid),
            port.cmd.ready.eq(p["cmd_ready"]),
            p["cmd_we"].eq(port.cmd.payload.we),
            p["cmd_addr"].eq(port.cmd.payload.addr),
            p["wdata_valid"].eq(port.wdata.valid),
            port.wdata.ready.eq(p["wdata_ready"]),
            p["wdata_data"].eq(port.wdata.payload.data),
            p["wdata_we"].eq(port.wdata.payload.we),
            port.rdata.valid.eq(p["rdata_valid"]),
            p["rdata_ready"].eq(port.rdata.ready),
            port.rdata.payload.eq(p["rdata_data"]),
        ]

    def _connect_init(self, m, ports):
        """The control bus: the :class:`InitSequencer`'s until it is done, then
        :attr:`control`'s."""
        adr = ports[f"{_WB}adr"]
        m.submodules.init = init = InitSequencer(init_writes(self.core),
                                                 address_width=len(adr))
        m.d.comb += init.started.eq(ports["init_done"])
        with m.If(init.done):
            m.d.comb += [
                ports[f"{_WB}cyc"].eq(self.control.stb),
                ports[f"{_WB}stb"].eq(self.control.stb),
                ports[f"{_WB}we"].eq(self.control.we),
                ports[f"{_WB}adr"].eq(self.control.adr),
                ports[f"{_WB}dat_w"].eq(self.control.dat_w),
                ports[f"{_WB}sel"].eq(0b1111),
                self.control.ack.eq(ports[f"{_WB}ack"]),
            ]
        with m.Else():
            for name in ("cyc", "stb", "we", "adr", "dat_w", "sel"):
                m.d.comb += ports[f"{_WB}{name}"].eq(getattr(init.bus, name))
            m.d.comb += init.bus.ack.eq(ports[f"{_WB}ack"])
        m.d.comb += self.control.dat_r.eq(ports[f"{_WB}dat_r"])

    def _take_clock(self, m, platform, ports, kwargs):
        # The top level defines the domain (Amaranth 0.6 wants domains defined above all their
        # users); the store drives it.
        m.d.comb += [
            ClockSignal("sync").eq(ports["user_clk"]),
            ResetSignal("sync").eq(ports["user_rst"]),
            ports["rst"].eq(0),
        ]
        kwargs["i_clk"] = platform.request(platform.default_clk, dir="-").io

    def _connect_ddr_pads(self, platform, kwargs):
        """Connect the core to the platform's ``ddr3`` resource. The core's PHY has the I/O
        buffers and serializers of every pin, so they all go to it as raw ports, at the levels
        it drives (the resource's active-low ``PinsN`` are the core's ``_n`` pins)."""
        pads = platform.request("ddr3", 0, dir="-")
        single = {"a": "a", "ba": "ba", "ras_n": "ras", "cas_n": "cas", "we_n": "we",
                  "cs_n": "cs", "dm": "dm", "dq": "dq", "cke": "clk_en", "odt": "odt",
                  "reset_n": "rst"}
        for name, pad in single.items():
            direction = self.core.ports[f"ddram_{name}"][0]
            kwargs[f"{_PREFIX[direction]}_ddram_{name}"] = getattr(pads, pad).io
        for name in ("clk", "dqs"):
            for half in ("p", "n"):
                direction = self.core.ports[f"ddram_{name}_{half}"][0]
                kwargs[f"{_PREFIX[direction]}_ddram_{name}_{half}"] = \
                    getattr(getattr(pads, name), half)

    def _connect_pads(self, m, platform, ports, kwargs):
        """Connect the core to the platform's ``sdram`` resource (SDR SDRAM)."""
        pads = platform.request("sdram", 0, dir="-")
        # The command pins are active low on the resource (``PinsN``) and in the core: the
        # buffers invert, so they are given the command's asserted level.
        outputs = {
            "clk_en": (ports["sdram_cke"], False), "cs": (ports["sdram_cs_n"], True),
            "we": (ports["sdram_we_n"], True), "ras": (ports["sdram_ras_n"], True),
            "cas": (ports["sdram_cas_n"], True), "ba": (ports["sdram_ba"], False),
            "a": (ports["sdram_a"], False), "dqm": (ports["sdram_dm"], False),
        }
        for name, (signal, active_low) in outputs.items():
            m.submodules[f"sdram_{name}"] = buf = io.Buffer("o", getattr(pads, name))
            m.d.comb += buf.o.eq(~signal if active_low else signal)
        # The memory's clock, inverted: it samples in the middle of the controller's cycle.
        m.submodules.sdram_clk = clk = io.DDRBuffer("o", pads.clk)
        m.d.comb += clk.o.eq(0b10)
        kwargs["i_sdram_dq"] = pads.dq.io


def sim_store(capacity=None, memory="sdram"):
    """Return a virtual board's DRAM store: the ULX3S's SDR SDRAM (``memory="sdram"``, 32 MB) or
    the Arty's DDR3 (``"ddr3"``, 256 MB) behind LiteDRAM's ``SDRAMPHYModel``
    (``CONFIGS["sdram_sim"]``, ``CONFIGS["ddr3_sim"]``), generated on first use."""
    from .core import generate
    if memory not in ("sdram", "ddr3"):
        raise ValueError(f"Simulated memory must be 'sdram' or 'ddr3', not {memory!r}")
    return DRAMStore(generate(f"{memory}_sim"), capacity=capacity)
