# SPDX-License-Identifier: BSD-2-Clause
"""The boards MemGEN builds for: their platforms, device memory facts and the board top level.

Each board names an amaranth-boards platform, the LEDs that show learning / ready / error, and
the extra constraint files under ``constraints/``, and the USB-UART bridge chip that carries
its UART to the host (which limits the baud rates a build may use). The example store's capacity
is derived from the memory facts of the platform's device, never written down per board.
"""

import importlib
import math
from dataclasses import dataclass
from pathlib import Path

from amaranth import *
from amaranth.lib import io

from ..top import MemGEN
from ..transport.uart import BOARD_MIN_CYCLES_PER_BIT, check_baud
from .facts import DEFAULT_BAUD, DEVICES, MemoryFacts, store_capacity

__all__ = [
    "DEFAULT_BAUD", "CONSTRAINTS_DIR", "MemoryFacts", "DEVICES", "USBUART", "FT2232H", "FT231X",
    "BAUD_TOLERANCE", "Board", "BOARDS",
    "STORES", "UnknownBoardError", "get_board", "store_capacity", "make_store", "BoardTop",
]

#: Programming tools that some platforms list among the tools a build requires.
_PROGRAMMERS = ("openFPGALoader", "iceprog")

#: Where the extra constraint files live (``constraints/<board>.*``).
CONSTRAINTS_DIR = Path(__file__).resolve().parents[2] / "constraints"


#: Largest relative difference between a requested baud rate and the nearest rate the bridge
#: makes that still counts as that rate. An 8N1 receiver tolerates under 5% (half a bit over the
#: ten bits of a byte); this leaves most of that to the clocks and the line. Every common rate
#: (115200, 921600, 1 to 4 Mbaud) is within 0.2% on the FTDI chips.
BAUD_TOLERANCE = 0.01


@dataclass(frozen=True)
class USBUART:
    """A USB-UART bridge chip and the baud rates it makes.

    FTDI chips divide a base clock by ``n + k/8`` for an integer ``n`` from 2 to 16383 and
    ``k`` from 0 to 7, and make two faster rates with the divisors 0 and 1 (FTDI application
    note AN_120, "Aliasing VCP Baud Rates", FT_000095: a 3 MHz base, 3 and 2 Mbaud, for the
    FT232R and FT-X series; a 12 MHz base, 12 and 8 Mbaud, for the hi-speed FT2232H, FT4232H
    and FT232H). The hi-speed chips fall back to the 3 MHz base for rates below what 12 MHz
    makes (about 732 baud), as libftdi's ``ftdi_convert_baudrate`` does.

    Parameters
    ----------
    name : str
        The chip.
    bases : tuple of int
        Base clocks of the divisor in Hz.
    special : tuple of int
        The rates of the divisors 0 and 1, fastest first.
    """
    name: str
    bases: tuple
    special: tuple

    _EIGHTHS = (2 * 8, 16383 * 8 + 7)         # the divisor range, in eighths

    def nearest(self, baud):
        """Return the rates it makes nearest ``baud``: the fastest at or below it and the
        slowest at or above it, each :py:`None` where there is none."""
        low, high = self._EIGHTHS
        rates = set(self.special)
        for base in self.bases:
            eighths = base * 8 / baud
            for n in (math.floor(eighths), math.ceil(eighths), low, high):
                rates.add(base * 8 / min(max(n, low), high))
        below = max((r for r in rates if r <= baud), default=None)
        above = min((r for r in rates if r >= baud), default=None)
        return below, above

    def makes(self, baud):
        """Return whether it makes ``baud`` within :data:`BAUD_TOLERANCE`."""
        return any(rate is not None and abs(rate - baud) <= BAUD_TOLERANCE * baud
                   for rate in self.nearest(baud))

    def check(self, baud, board="the board"):
        """Raise :exc:`ValueError` naming the nearest rates if it cannot make ``baud``."""
        if self.makes(baud):
            return
        below, above = self.nearest(baud)
        if above is None:
            nearest = f"the fastest it makes is {below:.0f}"
        elif below is None:
            nearest = f"the slowest it makes is {above:.0f}"
        else:
            nearest = f"the nearest it makes are {below:.0f} and {above:.0f}"
        raise ValueError(f"Baud rate {baud} is not one that {board}'s USB-UART, the "
                         f"{self.name}, can make: {nearest}")


#: The Arty A7's and iCEBreaker's dual-channel hi-speed bridge (JTAG and UART).
FT2232H = USBUART("FT2232H", bases=(12_000_000, 3_000_000), special=(12_000_000, 8_000_000))
#: The ULX3S's full-speed bridge: at most 3 Mbaud.
FT231X = USBUART("FT231X", bases=(3_000_000,), special=(3_000_000, 2_000_000))


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
    bridge : USBUART or None
        The USB-UART bridge chip between the board's UART and the host; :py:`None` if any rate
        the clock allows will do.
    dram : str or None
        The LiteDRAM core of the board's external memory (a name in
        :data:`hw.store.dram.core.CONFIGS`), for ``store="dram"``; :py:`None` if it has none.
    compact : bool
        Build the design to save logic where it costs little speed (see
        :class:`hw.engine.engine.Engine`): INFO's counters wrap at 65,536, and COMMIT's CRC pass
        takes 9 cycles a byte.
    top : str or None
        A top level of the board's own as ``"module:Class"`` (a PCIe card's), built like
        :class:`BoardTop`; :py:`None` for :class:`BoardTop`.
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
    bridge: USBUART | None = None
    dram: str | None = None
    compact: bool = False
    top: str | None = None

    def make_top(self, **kwargs):
        """Return the board's top level (:class:`BoardTop` or :attr:`top`) with ``kwargs``
        (``baud``, ``timeout``, ``store``)."""
        if self.top is None:
            return BoardTop(self, **kwargs)
        module, cls = self.top.split(":")
        return getattr(importlib.import_module(module), cls)(self, **kwargs)

    def check_baud(self, baud):
        """Raise :exc:`ValueError` if the board's USB-UART cannot make ``baud``, naming the
        nearest rates it can."""
        if self.bridge is not None:
            self.bridge.check(baud, self.title)

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

    def check_store(self, store):
        """Raise :exc:`ValueError` if the board has no store of kind ``store`` (one of
        :data:`STORES`)."""
        if store not in STORES:
            raise ValueError(f"Store must be one of {', '.join(STORES)}, not {store!r}")
        if store == "dram" and self.dram is None:
            with_dram = ", ".join(b.name for b in BOARDS.values() if b.dram)
            raise ValueError(f"{self.title} has no external memory MemGEN drives; boards with "
                             f"a DRAM store: {with_dram}")

    def dram_core(self):
        """Return the :class:`~hw.store.dram.core.CoreFacts` of the board's LiteDRAM core,
        generating it on first use."""
        from ..store.dram.core import generate
        return generate(self.dram)

    def store_capacity(self, store="bram"):
        """Return the capacity in bytes of the board's store of kind ``store``."""
        self.check_store(store)
        return self.capacity if store == "bram" else self.dram_core().capacity

    def store_summary(self, store="bram"):
        """Return the reports' words for the store: its capacity and what holds it."""
        if store == "bram":
            return (f"store {self.capacity} bytes in {self.memory.store_blocks} "
                    f"{self.memory.primitive}")
        core = self.dram_core()
        return f"store {core.capacity} bytes in {core.memtype} DRAM through LiteDRAM"

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
        bridge=FT2232H,
        dram="ddr3_arty",
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
        bridge=FT2232H,
        # The UP5K's 5,280 logic cells: INFO's counters wrap at 65,536, COMMIT takes 0.1 s.
        compact=True,
    ),
    Board(
        name="ulx3s", title="Radiona ULX3S 85F",
        platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
        leds=(("led", 0), ("led", 1), ("led", 2)),
        ofl_board="ulx3s",
        bridge=FT231X,
        dram="sdram_ulx3s",
    ),
    # PCIe cards (hw/boards/acorn.py): no UART; the host opens litepcie:///dev/litepcie0.
    Board(
        name="acorn_cle215", title="SQRL Acorn CLE-215(+) (NiteFury)",
        platform="hw.boards.acorn:AcornCLE215Platform", top="hw.boards.acorn:AcornTop",
        leds=(("led", 0), ("led", 1), ("led", 2)), constraints=("acorn.xdc",),
    ),
    Board(
        name="acorn_cle101", title="SQRL Acorn CLE-101 (LiteFury)",
        platform="hw.boards.acorn:AcornCLE101Platform", top="hw.boards.acorn:AcornTop",
        leds=(("led", 0), ("led", 1), ("led", 2)), constraints=("acorn.xdc",),
    ),
)}


#: The kinds of example store a board top can have: on-chip memory (block RAM or SPRAM, the
#: default) or the board's external DRAM (:attr:`Board.dram`).
STORES = ("bram", "dram")


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


def make_store(device):
    """Return an example store for a device: block RAM or, on the iCE40UP5K, SPRAM."""
    capacity = store_capacity(device)
    if DEVICES[device].kind == "spram":
        from ..store.spram import SPRAMStore
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
    store : str
        ``"bram"``, the device's on-chip memory, or ``"dram"``, the board's external memory
        through LiteDRAM (:data:`STORES`).

    Raises
    ------
    UnknownBoardError
        If ``board`` is an unknown name.
    ValueError
        If ``baud`` is not a positive integer, too high for the board clock, or a rate the
        board's USB-UART bridge cannot make (:meth:`Board.check_baud`).
    """
    def __init__(self, board, *, baud=DEFAULT_BAUD, timeout=None, store="bram"):
        if not isinstance(board, Board):
            board = get_board(board)
        board.check_store(store)
        self.store = store
        if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
            raise ValueError(f"Baud rate must be a positive integer, not {baud!r}")
        self.board = board
        self.baud = baud
        self.timeout = timeout
        # Checked here so that a bad baud rate is reported before a build starts.
        check_baud(board.clk_freq, baud, min_cycles=BOARD_MIN_CYCLES_PER_BIT)
        board.check_baud(baud)

    def elaborate(self, platform):
        m = Module()
        clk_freq = int(platform.default_clk_frequency)
        if self.store == "dram":
            from ..store.dram.store import DRAMStore
            store = DRAMStore(self.board.dram_core())
            if store.makes_clock:
                # The DDR3 core's PLL clocks the whole design; the store drives the domain.
                m.domains.sync = ClockDomain("sync")
        else:
            store = make_store(platform.device)
        m.submodules.memgen = memgen = MemGEN(
            clk_freq=clk_freq, baud=self.baud, store=store, timeout=self.timeout,
            compact=self.board.compact)

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
