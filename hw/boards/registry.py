# SPDX-License-Identifier: BSD-2-Clause
"""The boards MemGEN builds for: their platforms, device memory facts and the board top level.

Each board names an amaranth-boards platform, the LEDs that show learning / ready / error, and
the extra constraint files under ``constraints/``. The example store's capacity is derived from
the memory facts of the platform's device, never written down per board.
"""

import importlib
from dataclasses import dataclass
from pathlib import Path

from amaranth import *
from amaranth.lib import io

from ..top import MemGEN
from ..transport.uart import BOARD_MIN_CYCLES_PER_BIT, check_baud

__all__ = [
    "DEFAULT_BAUD", "CONSTRAINTS_DIR", "MemoryFacts", "DEVICES", "Board", "BOARDS",
    "UnknownBoardError", "get_board", "store_capacity", "make_store", "BoardTop",
]

#: UART baud rate of a board build unless ``--baud`` says otherwise.
DEFAULT_BAUD = 3_000_000

#: Programming tools that some platforms list among the tools a build requires.
_PROGRAMMERS = ("openFPGALoader", "iceprog")

#: Where the extra constraint files live (``constraints/<board>.*``).
CONSTRAINTS_DIR = Path(__file__).resolve().parents[2] / "constraints"


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
    # ECP5 LFE5U-85F (DS1044): 208 DP16KD EBR of 18 Kbit, 2048 x 9 when byte-wide.
    "LFE5U-85F": MemoryFacts("bram", "DP16KD", blocks=208, block_bytes=2048, reserved=8),
    # iCE40UP5K (DS FPGA-DS-02008): 30 EBR of 4 Kbit (15 KiB) are too few; the four
    # SB_SPRAM256KA of 16384 x 16 bits (128 KiB) hold the examples.
    "iCE40UP5K": MemoryFacts("spram", "SB_SPRAM256KA", blocks=4, block_bytes=32768),
}


@dataclass(frozen=True)
class Board:
    """A board MemGEN builds for.

    Parameters
    ----------
    name : str
        Name used on the command line (``--board``, ``BOARD=``).
    title : str
        Human-readable name.
    platform : str
        amaranth-boards platform as ``"module:Class"``, imported on use.
    leds : tuple of (str, int)
        Resources for the learning, ready and error LEDs.
    uart : (str, int)
        The USB-UART resource.
    extra_resources : str or None
        Name of a platform attribute holding resources to add (e.g. a break-off PMOD).
    constraints : tuple of str
        Files in ``constraints/`` that the board top adds to the build (their suffix must be
        one the platform's toolchain reads, e.g. ``.xdc`` for Vivado).
    ofl_board : str
        openFPGALoader's ``-b`` name for the board.
    bitstream : str
        File name suffix of the bitstream product.
    """
    name: str
    title: str
    platform: str
    leds: tuple
    uart: tuple = ("uart", 0)
    extra_resources: str | None = None
    constraints: tuple = ()
    ofl_board: str = ""
    bitstream: str = "bit"

    def platform_class(self):
        """Import and return the platform class."""
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(module), cls)

    def make_platform(self, **kwargs):
        """Return a fresh platform instance (a platform builds one design only).

        The instance does not list programmers among the tools a build requires: the ULX3S
        platform lists openFPGALoader, which no build step runs (:mod:`hw.boards.build` programs the
        boards itself).
        """
        cls = self.platform_class()
        platform_cls = type(cls.__name__, (cls,), {
            "required_tools": property(lambda self: [
                tool for tool in super(platform_cls, self).required_tools
                if tool not in _PROGRAMMERS]),
        })
        platform = platform_cls(**kwargs)
        if self.extra_resources is not None:
            platform.add_resources(getattr(platform, self.extra_resources))
        return platform

    @property
    def memory(self):
        """The :class:`MemoryFacts` of the board's device."""
        return DEVICES[self.platform_class().device]

    @property
    def capacity(self):
        """Store capacity in bytes, derived from the device."""
        return self.memory.capacity

    @property
    def clk_freq(self):
        """Frequency of the platform's default clock in Hz."""
        platform = self.platform_class()()
        return int(platform.default_clk_frequency)

    def constraint_files(self):
        """Return the paths of the extra constraint files."""
        return [CONSTRAINTS_DIR / name for name in self.constraints]


#: The supported boards by name.
BOARDS = {board.name: board for board in (
    Board(
        name="arty_a7", title="Digilent Arty A7-35T",
        platform="amaranth_boards.arty_a7:ArtyA7_35Platform",
        # LD4, LD5, LD6: the green LEDs next to the buttons.
        leds=(("led", 0), ("led", 1), ("led", 2)),
        constraints=("arty_a7.xdc",),
        ofl_board="arty_a7_35t",
    ),
    Board(
        name="icebreaker", title="1BitSquared iCEBreaker",
        platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
        # Learning on the break-off PMOD's red LED (LED1); ready and error on the main board's
        # green and red LEDs.
        leds=(("led_r", 1), ("led_g", 0), ("led_r", 0)),
        extra_resources="break_off_pmod",
        ofl_board="ice40_generic",
        bitstream="bin",
    ),
    Board(
        name="ulx3s", title="Radiona ULX3S 85F",
        platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
        leds=(("led", 0), ("led", 1), ("led", 2)),
        ofl_board="ulx3s",
    ),
)}


class UnknownBoardError(ValueError):
    """A board name that is not in :data:`BOARDS`."""


def get_board(name):
    """Return the :class:`Board` called ``name``.

    Raises
    ------
    UnknownBoardError
        If there is no such board; the message lists the supported boards.
    """
    try:
        return BOARDS[name]
    except (KeyError, TypeError):
        raise UnknownBoardError(f"Unknown board {name!r}; supported boards: "
                                f"{', '.join(sorted(BOARDS))}") from None


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


def make_store(device):
    """Return an example store for a device: block RAM or, on the iCE40UP5K, SPRAM."""
    capacity = store_capacity(device)
    if DEVICES[device].kind == "spram":
        from .store_spram import SPRAMStore
        return SPRAMStore(capacity)
    from ..store.bram import ExampleStore
    return ExampleStore(capacity)


class BoardTop(Elaboratable):
    """MemGEN on a board: the USB-UART, three LEDs, and the store sized for the device.

    Elaborated by a platform from :attr:`Board.make_platform`; it runs in the platform's
    default clock domain at the default clock frequency.

    Parameters
    ----------
    board : :class:`Board` or str
        The board (or its name).
    baud : int
        UART baud rate (default :data:`DEFAULT_BAUD`).
    timeout : int or None
        Frame timeout in cycles (default from the command processor).

    Raises
    ------
    UnknownBoardError
        If ``board`` is an unknown name.
    ValueError
        If ``baud`` is not a positive integer or too high for the board clock.
    """
    def __init__(self, board, *, baud=DEFAULT_BAUD, timeout=None):
        if not isinstance(board, Board):
            board = get_board(board)
        if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
            raise ValueError(f"Baud rate must be a positive integer, not {baud!r}")
        self.board = board
        self.baud = baud
        self.timeout = timeout
        # Checked here so that a bad baud rate is reported before a build starts.
        check_baud(board.clk_freq, baud, min_cycles=BOARD_MIN_CYCLES_PER_BIT)

    def elaborate(self, platform):
        m = Module()
        clk_freq = int(platform.default_clk_frequency)
        m.submodules.memgen = memgen = MemGEN(
            clk_freq=clk_freq, baud=self.baud, store=make_store(platform.device),
            timeout=self.timeout)

        uart = platform.request(*self.board.uart, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [
            memgen.uart_rx.eq(rx.i),
            tx.o.eq(memgen.uart_tx),
        ]
        for i, (name, number) in enumerate(self.board.leds):
            m.submodules[f"led_{i}"] = led = io.Buffer("o", platform.request(name, number,
                                                                             dir="-"))
            m.d.comb += led.o.eq(memgen.leds[i])

        for path in self.board.constraint_files():
            platform.add_file(path.name, path.read_text())
        return m
