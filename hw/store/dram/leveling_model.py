# SPDX-License-Identifier: BSD-2-Clause
"""A model of what read leveling sees of the Arty's DDR3 through LiteDRAM's 7-series PHY
(``A7DDRPHY``): its control registers, the DFI injector, and per byte lane one window of good
read delay taps at one bitslip.

Standard library only, beside the hardware it models, so that the host's leveling
(:mod:`host.leveling`) and the reference model of the command processor
(:class:`hw.engine.cmdproc_model.CommandProcessorModel`, whose control bus it can be) run
against it. It is not a DDR3 timing model: commands take effect at once, and a lane read outside
its window returns the burst shifted by the bitslip error, or with bits flipped at a bad delay.
"""

import dataclasses
import random

from ...protocol import LEVELING_CSRS, Leveling

__all__ = ["LANES", "PHASES", "DELAYS", "BITSLIPS", "DFII_CONTROL_SEL", "DFII_COMMAND_CS",
           "DFII_COMMAND_WE", "DFII_COMMAND_CAS", "DFII_COMMAND_RAS", "DFII_COMMAND_WRDATA",
           "DFII_COMMAND_RDDATA", "Window", "PHYModel"]

#: Byte lanes (``SDRAM_PHY_MODULES``), DFI phases, IDELAY taps and bitslips of the Arty's core
#: (its generated ``sdram_phy.h``).
LANES, PHASES, DELAYS, BITSLIPS = 2, 4, 32, 8

#: The DFI injector's control and command bits (``sdram_phy.h``).
DFII_CONTROL_SEL = 0x01
DFII_COMMAND_CS = 0x01
DFII_COMMAND_WE = 0x02
DFII_COMMAND_CAS = 0x04
DFII_COMMAND_RAS = 0x08
DFII_COMMAND_WRDATA = 0x10
DFII_COMMAND_RDDATA = 0x20

_CSRS = LEVELING_CSRS[Leveling.A7DDRPHY]
_NAMES = {address: name for name, address in _CSRS.items()}
#: Reset values of the registers that have one other than 0 (the PHY's read and write phases,
#: ``SDRAM_PHY_RDPHASE`` and ``_WRPHASE``); after the init sequence the injector is handed to
#: the controller and ``init_done`` is set.
_RESET = {"ddrphy_rdphase": 2, "ddrphy_wrphase": 3, "sdram_dfii_control": DFII_CONTROL_SEL,
          "ddrctrl_init_done": 1}


@dataclasses.dataclass(frozen=True)
class Window:
    """Where one byte lane reads right: at ``bitslip``, with a read delay of ``first`` to
    ``last`` taps (inclusive)."""
    bitslip: int
    first: int
    last: int

    def __post_init__(self):
        if not 0 <= self.bitslip < BITSLIPS or not 0 <= self.first <= self.last < DELAYS:
            raise ValueError(f"A window needs 0 <= bitslip < {BITSLIPS} and "
                             f"0 <= first <= last < {DELAYS}, not {self}")

    def good(self, bitslip, delay):
        """Whether a read at ``bitslip`` and ``delay`` taps returns what was written."""
        return bitslip == self.bitslip and self.first <= delay <= self.last


def _lane_bytes(words, lane):
    """The bytes of ``lane`` in a burst's four phase words, in beat order (each word holds two
    beats; lane ``m``'s bytes are bits ``16 + 8m`` and ``8m``, as LiteX's ``nebo``/``pebo``)."""
    out = []
    for word in words:
        out += [(word >> (16 + 8 * lane)) & 0xff, (word >> (8 * lane)) & 0xff]
    return out


def _set_lane_bytes(words, lane, data):
    words = list(words)
    for p in range(PHASES):
        mask = (0xff << (16 + 8 * lane)) | (0xff << (8 * lane))
        words[p] = (words[p] & ~mask) | (data[2 * p] << (16 + 8 * lane)) | \
            (data[2 * p + 1] << (8 * lane))
    return words


class PHYModel:
    """The control bus of the Arty's LiteDRAM core, as read leveling uses it.

    * ``ddrphy_dly_sel`` selects lanes (bit ``m``: lane ``m``); writing ``ddrphy_rdly_dq_rst``,
      ``_inc``, ``_bitslip_rst`` or ``_bitslip`` resets or steps the read delay (modulo
      :data:`DELAYS`) or the bitslip (modulo :data:`BITSLIPS`) of the selected lanes.
    * ``sdram_dfii_pi<p>_command_issue`` issues phase ``p``'s command, if the injector is under
      software control (``sdram_dfii_control`` without :data:`DFII_CONTROL_SEL`; otherwise it is
      counted in :attr:`ignored`): activate (RAS) opens the bank's row at ``address``, precharge
      (RAS, WE) closes it, a write (CAS, WE, WRDATA) stores the four phases' ``wrdata`` at the
      open row's column ``address``, and a read (CAS, RDDATA) fills the four ``rddata``
      registers from there, per lane as :attr:`windows` allows.
    * Every other register holds what is written; ``init_done`` reads 1.

    Parameters
    ----------
    windows : sequence of Window
        Per lane, where it reads right.
    seed : int
        Seed of the bits flipped by reads at a bad delay.

    Attributes
    ----------
    registers : dict of str to int
        The registers, by name.
    delay, bitslip : list of int
        Each lane's read delay and bitslip.
    ignored : int
        Commands issued while the controller had the injector.
    writes : int
        Register writes (the host's accesses, with :attr:`reads`).
    reads : int
    """

    #: Word address width of the control bus: the core's (``DRAMStore.control_width``).
    address_width = max(_CSRS.values()).bit_length()

    def __init__(self, windows, *, seed=0):
        windows = tuple(windows)
        if len(windows) != LANES or not all(isinstance(w, Window) for w in windows):
            raise ValueError(f"The PHY model needs a Window for each of its {LANES} lanes, "
                             f"not {windows!r}")
        self.windows = windows
        self.registers = {name: _RESET.get(name, 0) for name in _CSRS}
        self.delay = [0] * LANES
        self.bitslip = [0] * LANES
        self.ignored = 0
        self.reads = 0
        self.writes = 0
        self._rows = {}
        self._memory = {}
        self._rng = random.Random(seed)

    def read(self, address):
        """Return the register at word ``address`` (0 where there is none)."""
        self.reads += 1
        return self.registers.get(_NAMES.get(address), 0)

    def write(self, address, value):
        """Write ``value`` to the register at word ``address``, with its action."""
        self.writes += 1
        name = _NAMES.get(address)
        if name is None:
            return
        self.registers[name] = value & 0xffff_ffff
        selected = [lane for lane in range(LANES) if self.registers["ddrphy_dly_sel"] >> lane & 1]
        for lane in selected:
            if name == "ddrphy_rdly_dq_rst":
                self.delay[lane] = 0
            elif name == "ddrphy_rdly_dq_inc":
                self.delay[lane] = (self.delay[lane] + 1) % DELAYS
            elif name == "ddrphy_rdly_dq_bitslip_rst":
                self.bitslip[lane] = 0
            elif name == "ddrphy_rdly_dq_bitslip":
                self.bitslip[lane] = (self.bitslip[lane] + 1) % BITSLIPS
        if name.endswith("_command_issue"):
            self._issue(int(name[len("sdram_dfii_pi")]))

    @property
    def leveled(self):
        """Whether every lane reads right, as now set."""
        return all(w.good(b, d) for w, b, d in zip(self.windows, self.bitslip, self.delay,
                                                     strict=True))

    def _reg(self, phase, name):
        return self.registers[f"sdram_dfii_pi{phase}_{name}"]

    def _issue(self, phase):
        if self.registers["sdram_dfii_control"] & DFII_CONTROL_SEL:
            self.ignored += 1
            return
        command = self._reg(phase, "command")
        bank, address = self._reg(phase, "baddress"), self._reg(phase, "address")
        if not command & DFII_COMMAND_CS:
            return
        if command & DFII_COMMAND_RAS and not command & DFII_COMMAND_CAS:
            if command & DFII_COMMAND_WE:               # precharge
                self._rows.pop(bank, None)
            else:                                       # activate
                self._rows[bank] = address
        elif command & DFII_COMMAND_CAS and bank in self._rows:
            where = (bank, self._rows[bank], address)
            if command & DFII_COMMAND_WE and command & DFII_COMMAND_WRDATA:
                self._memory[where] = [self._reg(p, "wrdata") for p in range(PHASES)]
            elif command & DFII_COMMAND_RDDATA:
                words = self._burst(self._memory.get(where, [0] * PHASES))
                for p in range(PHASES):
                    self.registers[f"sdram_dfii_pi{p}_rddata"] = words[p]

    def _burst(self, words):
        """The burst as the PHY reads it back with each lane's settings."""
        for lane, window in enumerate(self.windows):
            if window.good(self.bitslip[lane], self.delay[lane]):
                continue
            data = _lane_bytes(words, lane)
            if self.bitslip[lane] != window.bitslip:
                # The burst's beats a bitslip early or late: shifted, with stale beats.
                shift = self.bitslip[lane] - window.bitslip
                data = (data + [0x00] * 8)[shift:shift + 8] if shift > 0 else \
                    ([0xff] * 8 + data)[8 + shift:16 + shift]
            else:
                # Sampled at an edge of the data eye: some bits flip.
                data = [byte ^ (1 << self._rng.randrange(8)) for byte in data]
            words = _set_lane_bytes(words, lane, data)
        return words
