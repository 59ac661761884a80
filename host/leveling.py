# SPDX-License-Identifier: BSD-2-Clause
"""Read leveling of a DDR3 store, run by the host through the CSR command.

LiteX levels DDR3 in its CPU's firmware; a MemGEN device has no CPU, so the host does it over
the link. :class:`ReadLeveling` is a port of LiteX's read leveling, ``sdram_read_leveling()``
in ``litex/soc/software/liblitedram/sdram.c`` (with ``sdram_read_leveling_scan_module()``,
``sdram_leveling_center_module()`` and ``sdram_write_read_check_test_pattern()`` from the same
file, and the register actions of ``liblitedram/accessors.c``), LiteX 2024.12, for the Arty's
7-series PHY (``A7DDRPHY``: 2 byte lanes, 8 bitslips, 32 IDELAY taps; the register map is
:data:`hw.protocol.LEVELING_CSRS`). It differs from the firmware in three ways that change no
result: each (lane, bitslip) is scanned once and its window found from that scan (the firmware
scans again to centre the window of each bitslip only to print it), a register that holds a
value is not written again with the same value, and a lane stays selected between actions on
it (deselecting matters only on the ECP5's PHY).

:func:`level_on_connect` runs it when a device reports a store that needs it, and keeps each
board's result in :func:`cache_path`, so that the next connection only sets it and checks it.
Only a real Arty proves leveling on silicon: the tests run it against
:class:`hw.store.dram.leveling_model.PHYModel`.
"""

import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path

from hw.protocol import LEVELING_CSRS, Leveling, State

from .device import MemGenError
from .paths import CACHE_ENV

__all__ = ["DELAYS", "BITSLIPS", "LANES", "SEEDS", "LevelingError", "LaneResult",
           "ReadLeveling", "lfsr32", "burst_pattern", "find_window", "cache_path",
           "level_on_connect"]

_log = logging.getLogger(__name__)

#: The Arty core's ``SDRAM_PHY_MODULES``, ``SDRAM_PHY_DELAYS``, ``SDRAM_PHY_BITSLIPS`` and
#: ``SDRAM_PHY_PHASES`` (its generated ``sdram_phy.h``).
LANES, DELAYS, BITSLIPS, PHASES = 2, 32, 8, 4
#: Bytes of one phase's data register (``DFII_PIX_DATA_BYTES``).
_PHASE_BYTES = 4
#: ``run_test_pattern()``'s seeds.
SEEDS = (42, 84, 36)
#: ``READ_CHECK_TEST_PATTERN_MAX_ERRORS`` times the seeds: the most bit errors of one test.
_MAX_ERRORS = len(SEEDS) * 8 * PHASES * _PHASE_BYTES // LANES
#: The centred delay is set and checked at most this many times (the firmware's retries).
_RETRIES = 8

# The DFI injector's bits (``sdram_phy.h``).
_CONTROL_SEL, _CONTROL_CKE, _CONTROL_ODT, _CONTROL_RESET_N = 0x01, 0x02, 0x04, 0x08
_CS, _WE, _CAS, _RAS, _WRDATA, _RDDATA = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_SOFTWARE = _CONTROL_CKE | _CONTROL_ODT | _CONTROL_RESET_N
_HARDWARE = _CONTROL_SEL

#: Registers that only hold a value: writing the value they hold again does nothing.
_HOLDING = ("_address", "_baddress", "_wrdata", "_command", "ddrphy_dly_sel")

#: Version of the cache file's layout.
_CACHE_VERSION = 1


class LevelingError(MemGenError):
    """Read leveling found no working read window, or its result does not read back."""


@dataclasses.dataclass(frozen=True)
class LaneResult:
    """Where one byte lane reads right.

    Attributes
    ----------
    bitslip : int
        The bitslip chosen, 0 to 7.
    first, last : int
        The widest window of working read delay taps at that bitslip, inclusive: the
        firmware's ``delay_min`` and ``delay_max`` (:func:`find_window`).
    tap : int
        The delay set: the window's middle.
    """
    bitslip: int
    first: int
    last: int
    tap: int


def lfsr32(prev):
    """Return the next state of LiteX's 32-bit Galois LFSR, ``lfsr(32, prev)`` of
    ``litex/soc/software/libbase/lfsr.h`` (taps ``0x80200003``)."""
    lsb = prev & 1
    prev >>= 1
    return prev ^ (0x80200003 if lsb else 0)


def burst_pattern(seed):
    """Return the firmware's pseudo-random test burst for ``seed``: :data:`PHASES` lists of
    :data:`_PHASE_BYTES` bytes (``prs`` of ``sdram_write_read_check_test_pattern()``)."""
    prv, burst = seed, []
    for _ in range(PHASES):
        phase = []
        for _ in range(_PHASE_BYTES):
            value = 0
            for bit in range(8):
                prv = lfsr32(prv)
                value |= (prv & 1) << bit
            phase.append(value)
        burst.append(phase)
    return burst


def find_window(working):
    """Return ``(first, last)`` of the widest window of working delays, or :py:`None`: the
    search of the firmware's ``sdram_leveling_center_module()`` over one scan.

    Parameters
    ----------
    working : sequence of bool
        Whether a read worked at each of the :data:`DELAYS` taps.

    The window starts at the first two working taps in a row (a lone working tap does not count:
    "delay on edges can be spotty"), and is then the longest run of working taps from there.
    """
    taps = len(working)

    def ok(delay):
        return bool(working[min(delay, taps - 1)])

    delay, now, first = 0, False, -1
    while True:                         # the smallest working delay
        last_working, now = now, ok(delay)
        if now and last_working and first < 0:
            first = delay - 1
            break
        delay += 1
        if delay >= taps:
            break
    last = current = first
    while True:                         # the largest working range
        if ok(delay):
            if delay - current > last - first:
                first, last = current, delay
        else:
            current = delay + 1
        delay += 1
        if delay >= taps:
            break
    if first < 0:
        return None
    return first, last


class _Progress:
    """One line on ``stream``, rewritten in place on a terminal, every few seconds off one."""

    def __init__(self, total, stream=None, interval=5.0):
        self.total, self.done = total, 0
        self._stream = stream if stream is not None else sys.stderr
        self._tty = getattr(self._stream, "isatty", lambda: False)()
        self._interval = interval
        self._next = time.monotonic() + interval

    def step(self, text):
        self.done += 1
        now = time.monotonic()
        line = f"leveling DDR3 reads: {self.done}/{self.total} scans, {text}"
        if self._tty:
            print(f"\r{line}\x1b[K", end="" if self.done < self.total else "\n",
                  file=self._stream, flush=True)
        elif now >= self._next or self.done == self.total:
            self._next = now + self._interval
            print(line, file=self._stream, flush=True)


class ReadLeveling:
    """Read leveling of a DDR3 store over its control registers.

    Parameters
    ----------
    client : host.device.MemGen
        A connected client (its :meth:`~host.device.MemGen.csr_read` and
        :meth:`~host.device.MemGen.csr_write`); the device's state must be EMPTY.
    leveling : hw.protocol.Leveling
        The device's, from INFO (it names the register map).
    progress : bool
        Print a progress line to stderr while scanning.

    Raises
    ------
    ValueError
        If ``leveling`` is not one this host can run.
    """

    def __init__(self, client, leveling=Leveling.A7DDRPHY, *, progress=True):
        if leveling not in LEVELING_CSRS:
            raise ValueError(f"This host cannot run {Leveling(leveling).name} leveling")
        self._client = client
        self._csr = LEVELING_CSRS[leveling]
        self._held = {}
        self._progress = progress
        self._rdphase = self._wrphase = 0

    # Registers.

    def _read(self, name):
        return self._client.csr_read(self._csr[name])

    def _write(self, name, value):
        if name.endswith(_HOLDING) and self._held.get(name) == value:
            return
        self._client.csr_write(self._csr[name], value)
        self._held[name] = value

    def _action(self, lane, name):
        """``sdram_leveling_action()``: select the lane, then act on it."""
        self._write("ddrphy_dly_sel", 1 << lane)
        self._write(name, 1)

    def _command(self, phase, command):
        """``command_p<phase>()``: issue a command on one DFI phase."""
        self._write(f"sdram_dfii_pi{phase}_command", command)
        self._client.csr_write(self._csr[f"sdram_dfii_pi{phase}_command_issue"], 1)

    def _at(self, phase, address=0, bank=0):
        self._write(f"sdram_dfii_pi{phase}_address", address)
        self._write(f"sdram_dfii_pi{phase}_baddress", bank)

    # The firmware's steps.

    def _errors(self, lane, seed):
        """``sdram_write_read_check_test_pattern()``: write a burst, read it back, and return
        the bit errors in ``lane``'s bytes."""
        burst = burst_pattern(seed)
        self._at(0)
        self._command(0, _RAS | _CS)                                    # activate
        for phase, data in enumerate(burst):
            # The firmware writes the bytes big-endian into the phase's 32-bit register.
            self._write(f"sdram_dfii_pi{phase}_wrdata", int.from_bytes(bytes(data), "big"))
        self._at(self._wrphase)
        self._command(self._wrphase, _CAS | _WE | _CS | _WRDATA)
        self._at(self._rdphase)
        self._command(self._rdphase, _CAS | _CS | _RDDATA)
        self._at(0)
        self._command(0, _RAS | _WE | _CS)                              # precharge
        nebo = _PHASE_BYTES // 2 - 1 - lane        # the lane's byte on each edge
        pebo = nebo + _PHASE_BYTES // 2
        errors = 0
        for phase, data in enumerate(burst):
            got = self._read(f"sdram_dfii_pi{phase}_rddata").to_bytes(_PHASE_BYTES, "big")
            errors += bin(data[pebo] ^ got[pebo]).count("1")
            errors += bin(data[nebo] ^ got[nebo]).count("1")
        return errors

    def _run_test_pattern(self, lane):
        return sum(self._errors(lane, seed) for seed in SEEDS)

    def _scan(self, lane):
        """``sdram_read_leveling_scan_module()``: every delay at the current bitslip; return
        the score and whether each delay worked."""
        self._action(lane, "ddrphy_rdly_dq_rst")
        score, working = 0, []
        for _ in range(DELAYS):
            errors = self._run_test_pattern(lane)
            working.append(errors == 0)
            score += (errors == 0) * _MAX_ERRORS * DELAYS + (_MAX_ERRORS - errors)
            self._action(lane, "ddrphy_rdly_dq_inc")
        return score, working

    def _set(self, lane, bitslip, tap):
        """Set a lane's bitslip and read delay, by reset and steps."""
        self._action(lane, "ddrphy_rdly_dq_bitslip_rst")
        for _ in range(bitslip):
            self._action(lane, "ddrphy_rdly_dq_bitslip")
        self._action(lane, "ddrphy_rdly_dq_rst")
        for _ in range(tap):
            self._action(lane, "ddrphy_rdly_dq_inc")

    def _software_control(self):
        """``sdram_software_control_on()``, and the PHY's read and write phases."""
        self._rdphase = self._read("ddrphy_rdphase")
        self._wrphase = self._read("ddrphy_wrphase")
        if not 0 <= self._rdphase < PHASES or not 0 <= self._wrphase < PHASES:
            raise LevelingError(f"the DDR3 PHY reports read phase {self._rdphase} and write "
                                f"phase {self._wrphase}: not a LiteDRAM A7DDRPHY core; rebuild "
                                f"the bitstream")
        if self._read("sdram_dfii_control") != _SOFTWARE:
            self._write("sdram_dfii_control", _SOFTWARE)

    def _hardware_control(self):
        """``sdram_software_control_off()``: the controller takes the memory back."""
        self._write("ddrphy_dly_sel", 0)
        self._write("sdram_dfii_control", _HARDWARE)

    # What the host calls.

    def run(self):
        """Level every lane: ``sdram_read_leveling()``. Return a :class:`LaneResult` per lane.

        Raises
        ------
        LevelingError
            If a lane finds no window of working delays at any bitslip, or its centred delay
            fails its check :data:`_RETRIES` times.
        """
        progress = _Progress(LANES * BITSLIPS) if self._progress else None
        self._software_control()
        try:
            results = []
            for lane in range(LANES):
                self._action(lane, "ddrphy_rdly_dq_rst")
                self._action(lane, "ddrphy_rdly_dq_bitslip_rst")
            for lane in range(LANES):
                results.append(self._level_lane(lane, progress))
        finally:
            self._hardware_control()
        missing = [lane for lane, result in enumerate(results) if result is None]
        if missing:
            raise LevelingError(self._no_window(missing))
        return results

    @staticmethod
    def _no_window(lanes):
        which = " and ".join(str(lane) for lane in lanes)
        noun = "lanes" if len(lanes) > 1 else "lane"
        return (f"read leveling found no working read delay for DDR3 byte {noun} {which} at "
                f"any of the {BITSLIPS} bitslips; check that the bitstream is the Arty's DRAM "
                f"build (make bitstream BOARD=arty_a7 STORE=dram), then connect again")

    def _level_lane(self, lane, progress):
        best = (0, 0, None)                 # score, bitslip, working
        self._action(lane, "ddrphy_rdly_dq_bitslip_rst")
        for bitslip in range(BITSLIPS):
            score, working = self._scan(lane)
            _log.debug("lane %d bitslip %d: %s", lane, bitslip,
                       "".join(".X"[not w] for w in working))
            if score > best[0]:
                best = (score, bitslip, working)
            if progress is not None:
                progress.step(f"lane {lane} bitslip {bitslip}")
            if bitslip < BITSLIPS - 1:
                self._action(lane, "ddrphy_rdly_dq_bitslip")
        _, bitslip, working = best
        window = find_window(working) if working is not None else None
        if window is None:
            return None
        first, last = window
        tap = (first + last) // 2 % DELAYS
        result = LaneResult(bitslip, first, last, tap)
        if not self.apply_lane(lane, result):
            return None
        _log.info("DDR3 lane %d: bitslip %d, delays %d..%d, tap %d", lane, bitslip, first,
                  last, tap)
        return result

    def apply_lane(self, lane, result, retries=_RETRIES):
        """Set a lane to ``result`` and check it reads right; return whether it does."""
        for _ in range(retries):
            self._set(lane, result.bitslip, result.tap)
            if self._run_test_pattern(lane) == 0:
                return True
        return False

    def apply(self, results):
        """Set every lane from an earlier run's results and check them; return whether all
        read right. The controller has the memory afterwards either way."""
        self._software_control()
        try:
            return all(self.apply_lane(lane, result, retries=1)
                       for lane, result in enumerate(results))
        finally:
            self._hardware_control()


def cache_path():
    """Return the file that keeps each board's leveling: ``leveling.json`` in
    ``$MEMGEN_CACHE``, else in the user's cache directory
    (:func:`platformdirs.user_cache_dir`)."""
    cache = os.environ.get(CACHE_ENV)
    if not cache:
        import platformdirs

        cache = platformdirs.user_cache_dir("memgen", appauthor=False)
    return Path(cache) / "leveling.json"


def _cache_key(port, info):
    """A board, as far as the host can tell: the port it is on and what INFO says."""
    return (f"{port or 'default'}|{Leveling(info.leveling).name}|{info.capacity}|"
            f"{info.clk_freq}|{info.baud}")


def _load(path):
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(entries, dict) or entries.get("version") != _CACHE_VERSION:
        return {}
    return entries


def _cached(path, key):
    try:
        lanes = _load(path).get("boards", {})[key]
        results = [LaneResult(**lane) for lane in lanes]
    except (KeyError, TypeError, ValueError):
        return None
    return results if len(results) == LANES else None


def _save(path, key, results):
    entries = _load(path) or {"version": _CACHE_VERSION, "boards": {}}
    entries["boards"][key] = [dataclasses.asdict(result) for result in results]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1) + "\n")
        tmp.replace(path)
    except OSError as exc:
        _log.warning("cannot keep the DDR3 leveling in %s: %s", path, exc)


def level_on_connect(client, info, *, port=None, path=None, progress=True):
    """Level the reads of a device's DDR3 store, if it needs it, as a client connects; return
    the :class:`LaneResult` per lane, or :py:`None` when nothing was done.

    Nothing is done for a store that needs no leveling (``info.leveling`` is NONE), nor for a
    device that holds a model (state LEARNING or READY: it was leveled before it learned, and
    CSR writes are refused then). Otherwise the board's result in the cache (``path``, default
    :func:`cache_path`; keyed by ``port`` and INFO's store and clock) is set and checked, and
    the full scan runs only if there is none or it no longer reads right; its result is kept.

    Raises
    ------
    LevelingError
        If no window is found (see :meth:`ReadLeveling.run`).
    """
    if info.leveling == Leveling.NONE or info.state != State.EMPTY:
        return None
    path = cache_path() if path is None else Path(path)
    key = _cache_key(port, info)
    leveling = ReadLeveling(client, info.leveling, progress=progress)
    cached = _cached(path, key)
    if cached is not None:
        if leveling.apply(cached):
            _log.info("DDR3 read leveling from %s", path)
            return cached
        _log.warning("the DDR3 leveling kept in %s no longer reads right; leveling again", path)
    results = leveling.run()
    _save(path, key, results)
    return results
