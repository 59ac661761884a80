# SPDX-License-Identifier: BSD-2-Clause
"""cocotb testbench of the card's design (:class:`sim.pcie.top.PCIeSimTop`) under cocotbext-pcie's
root complex and UltraScale+ hard-IP model: enumeration, BAR0 registers, and DMA."""

import logging

import cocotb
from cocotb.triggers import FallingEdge, RisingEdge, Timer
from cocotbext.axi import AxiStreamBus
from cocotbext.pcie.core import RootComplex
from cocotbext.pcie.xilinx.us import UltraScalePlusPcieDevice

from hw.transport import pcie_layout as layout
from hw.transport.litepcie.generate import USP_HARD_IP_PORTS

#: LitePCIe's CSRs in BAR0 (the generated csr.h): the scratch register and its reset value.
CSR_CTRL_SCRATCH = 0x4
SCRATCH_RESET = 0x12345678

_BUSES = ("s_axis_rq", "m_axis_rc", "m_axis_cq", "s_axis_cc")


class TB:
    """The root complex, the hard IP's model on the top level's ports, and BAR0."""

    def __init__(self, dut):
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb")
        self.log.setLevel(logging.INFO)
        self.rc = RootComplex()
        # The hard IP's ports LitePCIe connects are the top level's, by the IP's names.
        signals = {name: getattr(dut, name) for name in USP_HARD_IP_PORTS
                   if not name.startswith(_BUSES) and hasattr(dut, name)}
        self.dev = UltraScalePlusPcieDevice(
            pcie_generation=2, pcie_link_width=4, user_clk_frequency=125e6,
            alignment="dword", cq_straddle=False, cc_straddle=False, rq_straddle=False,
            rc_straddle=False, rc_4tlp_straddle=False, pf_count=1, max_payload_size=128,
            enable_client_tag=True, enable_extended_tag=False, enable_parity=False,
            enable_rx_msg_interface=False, enable_sriov=False,
            enable_extended_configuration=False,
            pf0_msi_enable=True, pf0_msi_count=1,
            **{f"{bus.split('_', 2)[2]}_bus": AxiStreamBus.from_prefix(dut, bus)
               for bus in _BUSES},
            **signals)
        self.dev.log.setLevel(logging.INFO)
        self.dev.functions[0].configure_bar(0, 0x100000)
        self.rc.make_port().connect(self.dev)
        self.bar0 = None

    async def start(self):
        await FallingEdge(self.dut.user_reset)
        await Timer(100, "ns")
        await self.rc.enumerate()
        dev = self.rc.find_device(self.dev.functions[0].pcie_id)
        await dev.enable_device()
        await dev.set_master()
        self.pci = dev
        self.bar0 = dev.bar_window[0]

    async def read32(self, address):
        data = await self.bar0.read(address, 4, timeout=20000)
        return int.from_bytes(data, "little")

    async def write32(self, address, value):
        await self.bar0.write(address, value.to_bytes(4, "little"), timeout=20000)


@cocotb.test()
async def registers(dut):
    """Enumeration assigns BAR0; LitePCIe's scratch CSR and the transport's ID read back."""
    tb = TB(dut)
    await tb.start()
    tb.log.info("BAR0 at %#x", tb.pci.bar_window[0].get_absolute_address(0))
    assert await tb.read32(CSR_CTRL_SCRATCH) == SCRATCH_RESET
    await tb.write32(CSR_CTRL_SCRATCH, 0xC0FFEE42)
    assert await tb.read32(CSR_CTRL_SCRATCH) == 0xC0FFEE42
    assert await tb.read32(layout.MMAP_BASE + layout.Register.ID) == layout.PCIE_ID
    for _ in range(10):
        await RisingEdge(dut.user_clk)
