# SPDX-License-Identifier: BSD-2-Clause
"""The host's DDR3 read leveling (host/leveling.py) against the model of the Arty's PHY
(hw/store/dram/leveling_model.py), through the real client and the command processor's
reference model."""

import importlib.util
import json
import random

import pytest

from host.device import DeviceError, MemGen
from host.leveling import (
    BITSLIPS,
    DELAYS,
    LaneResult,
    LevelingError,
    ReadLeveling,
    burst_pattern,
    find_window,
    level_on_connect,
    lfsr32,
)
from hw import protocol
from hw.engine.cmdproc_model import CommandProcessorModel
from hw.protocol import Leveling, Memory, State
from hw.store.dram.leveling_model import DFII_CONTROL_SEL, PHYModel, Window

CAPACITY = 1 << 16


class ModelLink:
    """A link to :class:`CommandProcessorModel`: what the host writes is fed to it, and the
    frames it expects from the device come back."""

    rate = None

    def __init__(self, model):
        self.model = model
        self._rx = bytearray()

    def write(self, data):
        self.model.feed(data)
        for frame in self.model.out:
            self._rx += protocol.encode_frame(frame.cmd, frame.payload, tag=frame.tag,
                                              key=self.model.key)
        self.model.out.clear()

    @property
    def in_waiting(self):
        return len(self._rx)

    def read(self, size=1):
        data, self._rx[:size] = bytes(self._rx[:size]), b""
        return data

    def close(self):
        pass


def _device(windows, *, leveling=Leveling.A7DDRPHY, seed=0):
    phy = PHYModel(windows, seed=seed)
    model = CommandProcessorModel(capacity=CAPACITY, clk_freq=100_000_000, baud=3_000_000,
                                  index_bits=16, control=phy, memory=Memory.DDR3,
                                  leveling=leveling)
    return phy, model, ModelLink(model)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMGEN_CACHE", str(tmp_path))
    return tmp_path / "leveling.json"


def test_lfsr_and_pattern_follow_litex():
    # lfsr(32, 1): the low bit shifted out feeds the taps 0x80200003.
    assert lfsr32(1) == 0x80200003
    assert lfsr32(2) == 1
    burst = burst_pattern(42)
    assert len(burst) == 4 and all(len(phase) == 4 for phase in burst)
    assert burst != burst_pattern(84)
    assert burst == burst_pattern(42)


@pytest.mark.parametrize("working, window", [
    ("............................XXXX", (28, 31)),
    ("XXXX", (0, 3)),
    (".XXXXXXX", (1, 7)),
    ("....XXXXX.....XXXXXXXXXXXX......", (14, 25)),
    ("X.X.X.X.X.X.XX", (12, 13)),
    ("...............................X", None),
    ("X.X.X.X.X.X.X.X.X.X.X.X.X.X.X.X.", None),
    ("", None),
])
def test_find_window_as_the_firmware(working, window):
    # The firmware's window starts at the first two working taps in a row (a lone working tap
    # is an edge, "spotty"), and then it keeps the longest run of working taps.
    assert find_window([c == "X" for c in working.ljust(DELAYS, ".")]) == window


@pytest.mark.parametrize("seed", range(4))
def test_leveling_finds_each_lane_window(seed, cache):
    rng = random.Random(seed)
    windows = []
    for _ in range(2):
        first = rng.randrange(0, DELAYS - 8)
        windows.append(Window(rng.randrange(BITSLIPS), first,
                              rng.randrange(first + 4, min(first + 14, DELAYS))))
    phy, model, link = _device(windows, seed=seed)
    with MemGen(link=link, timeout=5) as client:
        results = client.leveled
    assert [r.bitslip for r in results] == [w.bitslip for w in windows]
    for result, window in zip(results, windows, strict=True):
        assert (result.first, result.last) == (window.first, window.last)
        assert window.first <= result.tap <= window.last
    assert phy.leveled
    assert phy.delay == [r.tap for r in results]
    # The controller has the memory back, and no command was issued while it had it.
    assert phy.registers["sdram_dfii_control"] == DFII_CONTROL_SEL
    assert phy.registers["ddrphy_dly_sel"] == 0
    assert phy.ignored == 0
    assert model.state == State.EMPTY
    kept = json.loads(cache.read_text())["boards"]
    assert list(kept.values()) == [[r.__dict__ for r in results]]


def test_next_connection_sets_the_cached_result(cache):
    windows = [Window(3, 10, 20), Window(5, 2, 9)]
    phy, _, link = _device(windows)
    with MemGen(link=link, timeout=5) as client:
        first = client.leveled
    scanned = phy.writes + phy.reads
    # After a reset (a fresh device), the kept result is set and checked: no scan.
    phy, _, link = _device(windows)
    with MemGen(link=link, timeout=5) as client:
        assert client.leveled == first
    assert phy.leveled
    assert phy.writes + phy.reads < scanned / 50
    # Another board on the same port, or the same one after the delays drifted: the kept
    # result fails its check and the board is leveled again.
    phy, _, link = _device([Window(1, 20, 30), Window(5, 2, 9)])
    with MemGen(link=link, timeout=5) as client:
        again = client.leveled
    assert again[0].bitslip == 1 and 20 <= again[0].tap <= 30
    assert phy.leveled


def test_no_window_is_a_clear_error(cache):
    # Lane 1 reads right at a single tap only: no two working taps in a row, no window.
    phy, _, link = _device([Window(2, 5, 15), Window(4, 7, 7)])
    with pytest.raises(LevelingError, match=r"no working read delay for DDR3 byte lane 1 at "
                                            r"any of the 8 bitslips; check that the bitstream"):
        MemGen(link=link, timeout=5)
    assert phy.registers["sdram_dfii_control"] == DFII_CONTROL_SEL
    assert not cache.exists()


def test_no_leveling_when_info_says_none_or_a_model_is_held(cache):
    phy, model, link = _device([Window(0, 0, 31)] * 2, leveling=Leveling.NONE)
    with MemGen(link=link, timeout=5) as client:
        assert client.leveled is None
        assert client.opened_info.memory == Memory.DDR3
    assert phy.reads == phy.writes == 0
    phy, model, link = _device([Window(0, 4, 12)] * 2)
    with MemGen(link=link, timeout=5, level=False) as client:
        client.begin(4, 2)
        info = client.info()
        assert info.leveling == Leveling.A7DDRPHY
        assert level_on_connect(client, info) is None
    assert phy.writes == 0


def test_csr_access_through_the_client(cache):
    phy, model, link = _device([Window(0, 4, 12)] * 2, leveling=Leveling.NONE)
    csrs = protocol.LEVELING_CSRS[Leveling.A7DDRPHY]
    with MemGen(link=link, timeout=5) as client:
        assert client.csr_read(csrs["ddrphy_rdphase"]) == 2
        assert client.csr_read(csrs["ddrctrl_init_done"]) == 1
        client.csr_write(csrs["sdram_dfii_pi1_wrdata"], 0x12345678)
        assert client.csr_read(csrs["sdram_dfii_pi1_wrdata"]) == 0x12345678
        with pytest.raises(DeviceError, match=r"CSR refused: an argument is out of range"):
            client.csr_read(1 << PHYModel.address_width)
        client.begin(4, 2)
        with pytest.raises(DeviceError, match=r"CSR refused: .* \(state: learning\): control "
                                              r"registers are written only while nothing is "
                                              r"learned; clear the device first"):
            client.csr_write(csrs["sdram_dfii_pi1_wrdata"], 0)
        assert client.csr_read(csrs["sdram_dfii_pi1_wrdata"]) == 0x12345678


def test_csr_without_a_control_bus_says_so():
    model = CommandProcessorModel(capacity=CAPACITY, clk_freq=100_000_000, baud=3_000_000,
                                  index_bits=16)
    with MemGen(link=ModelLink(model), timeout=5) as client:
        assert client.opened_info.memory == Memory.ON_CHIP
        with pytest.raises(DeviceError, match=r"^CSR refused: this device's store has no "
                                              r"control registers$"):
            client.csr_read(0)


def test_apply_checks_what_it_sets():
    phy, _, link = _device([Window(3, 10, 20), Window(5, 2, 9)])
    with MemGen(link=link, timeout=5, level=False) as client:
        leveling = ReadLeveling(client, progress=False)
        assert leveling.apply([LaneResult(3, 9, 20, 14), LaneResult(5, 1, 9, 5)])
        assert phy.leveled
        assert not leveling.apply([LaneResult(3, 9, 20, 14), LaneResult(4, 1, 9, 5)])
        assert phy.registers["sdram_dfii_control"] == DFII_CONTROL_SEL


@pytest.mark.skipif(importlib.util.find_spec("litedram") is None,
                    reason="LiteDRAM is not installed (the `dram` extra)")
def test_register_map_is_the_generated_arty_core():
    from hw.store.dram.core import generate

    facts = generate("ddr3_arty")
    table = protocol.LEVELING_CSRS[Leveling.A7DDRPHY]
    assert {name: facts.csr[name] for name in table} == table
    assert PHYModel.address_width == max(facts.csr.values()).bit_length()


@pytest.mark.skipif(importlib.util.find_spec("litedram") is None,
                    reason="LiteDRAM is not installed (the `dram` extra)")
def test_dram_stores_report_their_leveling():
    import dataclasses

    from hw.store.dram.core import generate
    from hw.store.dram.store import DRAMStore

    arty = DRAMStore(generate("ddr3_arty"))
    assert (arty.memory_type, arty.leveling) == (Memory.DDR3, Leveling.A7DDRPHY)
    assert arty.signature.control_width == PHYModel.address_width
    simulated = DRAMStore(generate("ddr3_sim"))
    assert (simulated.memory_type, simulated.leveling) == (Memory.DDR3, Leveling.NONE)
    sdram = DRAMStore(generate("sdram_ulx3s"))
    assert (sdram.memory_type, sdram.leveling) == (Memory.SDR, Leveling.NONE)
    facts = generate("ddr3_arty")
    moved = dataclasses.replace(facts, csr={**facts.csr, "ddrphy_rdly_dq_inc": 1000})
    with pytest.raises(ValueError, match=r"^The DRAM core's control registers ddrphy_rdly_dq_inc "
                                         r"are not where hw.protocol.LEVELING_CSRS puts them"):
        DRAMStore(moved)
