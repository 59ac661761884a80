# SPDX-License-Identifier: BSD-2-Clause
"""Board facts that both sides need: the boards' baud rate, the virtual board's clock, rate and
port, and the memory of each device. Standard library only, so the host and the tests can
import it without Amaranth."""

from dataclasses import dataclass

__all__ = [
    "DEFAULT_BAUD", "VBOARD_CLK_FREQ", "VBOARD_BAUD", "VBOARD_STORES", "VBOARD_PORT", "VBOARD_URL",
    "MemoryFacts", "DEVICES", "SIM_DEVICE", "store_capacity",
]

#: UART baud rate of a board build unless ``--baud`` says otherwise, and the host's default.
DEFAULT_BAUD = 3_000_000

#: Clock of the virtual board's design, in Hz.
VBOARD_CLK_FREQ = 100_000_000

#: Baud rate of the virtual board's bit-level UART bridge: 2 clock cycles per bit.
VBOARD_BAUD = 50_000_000

#: The example stores a virtual board can have: block RAM (the default), the ULX3S's 32 MB SDR
#: SDRAM or the Arty's 256 MB DDR3 behind LiteDRAM's simulation model
#: (:func:`hw.store.dram.store.sim_store`).
VBOARD_STORES = ("bram", "sdram", "ddr3")

#: TCP port the virtual board listens on by default.
VBOARD_PORT = 7777

#: The host tools' URL of a virtual board on its default port.
VBOARD_URL = f"socket://127.0.0.1:{VBOARD_PORT}"


@dataclass(frozen=True)
class MemoryFacts:
    """The on-chip memory of a device that can hold examples.

    Parameters
    ----------
    kind : str
        ``"bram"`` (true dual-port block RAM, used through :class:`hw.store.bram.ExampleStore`) or
        ``"spram"`` (the iCE40UP5K's single-port RAM, used through
        :class:`hw.store.spram.SPRAMStore`).
    primitive : str
        Name of one block, for reports (``"RAMB36E1"``, ``"DP16KD"``, ``"SB_SPRAM256KA"``).
    blocks : int
        Number of blocks in the device.
    block_bytes : int
        Data bytes one block holds when it is used byte-wide (parity bits excluded).
    reserved : int
        Blocks left for the rest of the design (FIFOs and buffers that synthesis may put in
        block RAM).
    """
    kind: str
    primitive: str
    blocks: int
    block_bytes: int
    reserved: int = 0

    def __post_init__(self):
        if self.kind not in ("bram", "spram"):
            raise ValueError(f"Memory kind must be 'bram' or 'spram', not {self.kind!r}")
        for name in ("blocks", "block_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Memory {name} must be a positive integer, not {value!r}")
        if not isinstance(self.reserved, int) or not 0 <= self.reserved < self.blocks:
            raise ValueError(f"Reserved blocks must be an integer from 0 to {self.blocks - 1}, "
                             f"not {self.reserved!r}")

    @property
    def store_blocks(self):
        """Blocks that hold examples."""
        return self.blocks - self.reserved

    @property
    def capacity(self):
        """Store capacity in bytes: every block that is not reserved."""
        return self.store_blocks * self.block_bytes


#: Memory facts per device (the platform's ``device`` attribute), from the vendor data sheets.
DEVICES = {
    # Artix-7 35T (DS180): 50 RAMB36E1 of 36 Kbit, 4096 x 9 when byte-wide. Two are left for
    # the FIFOs and buffers in case synthesis puts them in block RAM: 48 blocks, 96%.
    "xc7a35ti": MemoryFacts("bram", "RAMB36E1", blocks=50, block_bytes=4096, reserved=2),
    "xc7a35t":  MemoryFacts("bram", "RAMB36E1", blocks=50, block_bytes=4096, reserved=2),
    # Artix-7 200T and 100T (DS180): 365 and 135 RAMB36E1. Forty are left for the LitePCIe
    # core (Yosys maps its DMA FIFOs to 11 RAMB36 and 40 RAMB18, 31 blocks' worth) and the hard
    # IP's own buffers, which Vivado adds.
    "xc7a200t": MemoryFacts("bram", "RAMB36E1", blocks=365, block_bytes=4096, reserved=40),
    "xc7a100t": MemoryFacts("bram", "RAMB36E1", blocks=135, block_bytes=4096, reserved=40),
    # ECP5 LFE5U-85F (DS1044): 208 DP16KD EBR of 18 Kbit, 2048 x 9 when byte-wide.
    "LFE5U-85F": MemoryFacts("bram", "DP16KD", blocks=208, block_bytes=2048, reserved=8),
    # iCE40UP5K (DS FPGA-DS-02008): 30 EBR of 4 Kbit (15 KiB) are too few; the four
    # SB_SPRAM256KA of 16384 x 16 bits (128 KiB) hold the examples.
    "iCE40UP5K": MemoryFacts("spram", "SB_SPRAM256KA", blocks=4, block_bytes=32768),
}


#: The device whose store the virtual board has: the Arty A7-35T's, the first board's.
SIM_DEVICE = "xc7a35t"


def store_capacity(device):
    """Return the example store capacity in bytes for a device name (a platform's ``device``).

    Raises
    ------
    ValueError
        If the device's memory is not known.
    """
    try:
        return DEVICES[device].capacity
    except (KeyError, TypeError):
        raise ValueError(f"No memory facts for device {device!r}; known devices: "
                         f"{', '.join(sorted(DEVICES))}") from None
