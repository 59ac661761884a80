# SPDX-License-Identifier: BSD-2-Clause
"""Data in and out through the tools, against the simulated device: an IDX slice of a
Fashion-MNIST-like file, the ``--out`` formats, samples streamed as they arrive."""

import gzip
import io
import json
import re
import struct
import sys

import numpy as np
import pytest
from PIL import Image

from host import info, outputs, sample, train
from host.device import MemGen
from hw.protocol import Command, Mode
from hw.sampler.addrgen_model import AddressGeneratorModel
from tests.helpers import CAPACITY, call, error_line


def idx_gz(images):
    header = struct.pack(">BBBB", 0, 0, 0x08, images.ndim)
    header += struct.pack(f">{images.ndim}I", *images.shape)
    return gzip.compress(header + images.tobytes())


def predict(mode, seed, count, k):
    model = AddressGeneratorModel(CAPACITY)
    model.restart(mode, seed, count)
    return model.take(k)


def test_fashion_mnist_slice_from_its_idx_file(device, tmp_path, capsys):
    # Fashion-MNIST's t10k set is 10,000 images of 28x28 in this format; 20 of them already
    # exceed the simulated store, so a slice is learned, as with the real file on a board.
    images = np.random.default_rng(1).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(idx_gz(images))
    status, out, err = call(train.main, capsys, path)
    assert status == 1
    assert error_line(err) == (f"error: data set needs {20 * 784} bytes, the device holds "
                               f"{CAPACITY}; use --first 10 to learn a slice that fits, fewer "
                               f"or smaller examples, or a board with a larger store")
    assert set(device.link.commands) == {Command.OPEN}

    status, out, err = call(train.main, capsys, path, "--first", 10)
    assert status == 0, err
    assert "learning the first 10 of its 20 records (--first)" in err
    assert f"learning 10 images of 28x28 L from {path} (gzip IDX)" in err
    assert out.startswith("learned 10 examples in 10 steps (image: 10 images of 28x28 uint8)")

    status, out, err = call(sample.main, capsys, "--mode", "recite", "-n", 10,
                            "--out", tmp_path / "back.npy")
    assert status == 0, err
    back = np.load(tmp_path / "back.npy")
    assert back.dtype == np.uint8 and back.shape == (10, 28, 28)
    assert np.array_equal(back, images[:10])


def test_out_formats_keep_shape_and_dtype(device, tmp_path, capsys):
    images = np.random.default_rng(2).integers(0, 65536, (6, 3, 4), dtype=np.uint16)
    np.save(tmp_path / "deep.npy", images)
    status, out, err = call(train.main, capsys, tmp_path / "deep.npy", "--dtype", "uint16")
    assert status == 0, err
    assert "learning 6 images of 4x3 L uint16" in err
    expected = images[predict(Mode.RANDOM, 4, 6, 5)]
    for name in ("s.npy", "s.npz", "pngs/", "s.txt"):
        status, out, err = call(sample.main, capsys, "-n", 5, "--seed", 4,
                                "--out", tmp_path / name if name != "pngs/" else
                                f"{tmp_path}/pngs/")
        assert status == 0, err
    assert np.array_equal(np.load(tmp_path / "s.npy"), expected)
    assert np.load(tmp_path / "s.npy").dtype == np.uint16
    with np.load(tmp_path / "s.npz") as npz:
        assert np.array_equal(npz["samples"], expected)
    files = sorted((tmp_path / "pngs").iterdir())
    assert len(files) == 5
    with Image.open(files[2]) as image:
        assert np.array_equal(np.asarray(image), expected[2])      # 16-bit PNG, exact
    lines = (tmp_path / "s.txt").read_text().splitlines()
    assert [list(map(int, line.split())) for line in lines] == expected.reshape(5, -1).tolist()

    status, out, err = call(sample.main, capsys, "-n", 5, "--out", tmp_path / "s.bin")
    assert status == 1
    assert error_line(err).startswith("error: --out ")
    assert "images are written as .png (a contact sheet), a folder (DIR/), .npy" in err


def test_text_out_formats(device, tmp_path, capsys):
    (tmp_path / "poem.txt").write_text("one\ntwo\nthree\n")
    status, out, err = call(train.main, capsys, tmp_path / "poem.txt")
    assert status == 0, err
    status, out, err = call(sample.main, capsys, "-n", 4, "--seed", 1,
                            "--out", tmp_path / "lines.npy")
    assert status == 0, err
    lines = ["one", "two", "three"]
    assert np.load(tmp_path / "lines.npy").tolist() == [
        lines[i] for i in predict(Mode.RANDOM, 1, 3, 4)]
    status, out, err = call(sample.main, capsys, "-n", 4, "--out", tmp_path / "sheet.png")
    assert status == 1
    assert error_line(err) == (f"error: --out {tmp_path / 'sheet.png'} asks for a contact "
                               f"sheet, but the device holds text data: use .npy, .npz, .txt "
                               f"or a file of the kind's own form")


class ClosingPipe(io.RawIOBase):
    """A stdout whose reader goes away after ``lines`` lines, as ``| head`` does."""

    def __init__(self, lines):
        self.lines = lines
        self.data = bytearray()

    def writable(self):
        return True

    def write(self, data):
        if self.data.count(b"\n") >= self.lines:
            raise BrokenPipeError(32, "Broken pipe")
        self.data += data
        return len(data)


@pytest.mark.parametrize("stop", [None, 2])
def test_samples_stream_to_stdout_as_they_arrive(device, tmp_path, capsys, monkeypatch, stop):
    (tmp_path / "poem.txt").write_text("one\ntwo\nthree\n")
    status, out, err = call(train.main, capsys, tmp_path / "poem.txt")
    assert status == 0, err
    monkeypatch.setattr(outputs, "STREAM_BYTES", 7 * 4)    # batches of 4 samples of 7 bytes
    pipe = ClosingPipe(stop if stop is not None else 10 ** 6)
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BufferedWriter(pipe),
                                                        write_through=True))
    device.link.sent.clear()
    status = sample.main(["-n", "40", "--seed", "3", "--timeout", "60"])
    lines = ["one", "two", "three"]
    expected = [lines[i] for i in predict(Mode.RANDOM, 3, 3, 40)]
    samples = device.link.commands.count(Command.SAMPLE)
    if stop is None:
        assert status == 0
        # The same samples as one request would give: one sequence across the batches.
        assert pipe.data.decode().splitlines() == expected
        assert samples == 10
    else:
        # `| head -2`: the run ends after the first batch, without asking for the rest.
        assert status == 1
        assert pipe.data.decode().splitlines() == expected[:4]
        assert samples == 2


def test_table_rows_learned_as_array_records(device, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rows.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    status, out, err = call(train.main, capsys, tmp_path / "rows.csv")
    assert status == 0, err
    assert "skipped its first row as a header" in err
    assert out.startswith("learned 2 examples in 2 steps (array: 2 records of 3 uint8)")
    status, out, err = call(sample.main, capsys, "--mode", "recite", "-n", 2)
    assert status == 0, err
    assert np.load("build/samples.npy").tolist() == [[1, 2, 3], [4, 5, 6]]


def test_json_objects(device, tmp_path, capsys):
    (tmp_path / "poem.txt").write_text("one\ntwo\nthree\n")
    status, out, err = call(train.main, capsys, tmp_path / "poem.txt", "--json")
    assert status == 0, err
    result = json.loads(out)
    assert (result["command"], result["examples"], result["steps"]) == ("train", 3, 3)
    assert result["device"]["state"] == "ready"
    assert result["device"]["description"] == "text: 3 lines in records of 7 bytes"
    assert result["sent"] == result["bytes"] == 21

    status, out, err = call(sample.main, capsys, "-n", 4, "--seed", 1, "--json",
                            "--out", tmp_path / "s.txt", "--evaluate")
    assert status == 0, err
    result = json.loads(out)            # one object, nothing else on stdout
    assert result["count"] == 4 and result["out"] == str(tmp_path / "s.txt")
    assert result["evaluation"]["passed"] is True
    assert {row["name"] for row in result["evaluation"]["rows"]} >= {"exact-match rate"}
    status, out, err = call(sample.main, capsys, "-n", 4, "--json")
    assert status == 1
    assert error_line(err) == ("error: --json and the samples would both go to standard "
                               "output; give --out a file")


def test_messages_count_right_and_empty_device_describes_nothing(device, tmp_path, capsys):
    np.save(tmp_path / "one.npy", np.zeros((1, 2, 2), np.uint8))
    status, out, err = call(train.main, capsys, tmp_path / "one.npy")
    assert status == 0, err
    assert out.startswith("learned 1 example in 1 step (image: 1 image of 2x2 uint8)")
    device.link.closed = False              # the tool closed it; open it again, as a port
    with MemGen(link=device.link) as client:
        client.clear()
    status, out, err = call(info.main, capsys)
    assert status == 0, err
    assert re.search(r"^data +none$", out, re.MULTILINE), out


def test_small_text_too_long_in_lines_mode_suggests_one_shot(device, tmp_path, capsys):
    # One long line makes every padded record long; the file itself fits.
    (tmp_path / "notes.txt").write_text("x" * 1000 + "\n" + "y\n" * 40)
    status, out, err = call(train.main, capsys, tmp_path / "notes.txt")
    assert status == 1
    assert error_line(err).endswith("the file itself (1081 bytes) fits: use --one-shot to "
                                    "learn it whole and recite it")


# Link options: one line naming the fix ------------------------------------------------------

def test_baud_out_of_range(no_device, capsys):
    status, _, err = call(info.main, capsys, "--baud", "99999999999")
    assert status == 2
    assert error_line(err) == ("error: argument --baud: 99999999999 is not a baud rate from 1 "
                               "to 50000000; the boards run at 3000000 (the Arty also at "
                               "12000000); see python -m host.info --help")


@pytest.mark.parametrize("url, message", [
    ("socket://localhost", ("--port socket://localhost has no port number: write "
                           "socket://localhost:7777")),
    ("socket://localhost:http", ("--port socket://localhost:http has port 'http', not 1 to "
                                "65535: write socket://localhost:7777")),
    ("socket://:7777", "--port socket://:7777 names no host: write socket://127.0.0.1:7777"),
])
def test_socket_url_without_port_or_host(monkeypatch, capsys, url, message):
    import serial

    def never(url, **kwargs):
        raise AssertionError("pyserial was handed a URL that names no port")

    monkeypatch.setattr(serial, "serial_for_url", never)
    status, _, err = call(info.main, capsys, "--port", url)
    assert status == 1
    assert error_line(err).startswith(f"error: {message}")


def test_permission_denied_names_the_dialout_group(monkeypatch, capsys):
    import serial

    def refuse(url, **kwargs):
        raise serial.SerialException(13, f"could not open port {url}: [Errno 13] Permission "
                                         f"denied: '{url}'")

    monkeypatch.setattr(serial, "serial_for_url", refuse)
    status, _, err = call(info.main, capsys, "--port", "/dev/ttyUSB1")
    assert status == 1
    line = error_line(err)
    assert line.startswith("error: cannot open /dev/ttyUSB1: ")
    assert ("no permission to open /dev/ttyUSB1: add yourself to the group that owns it (on "
            "Debian and Ubuntu `sudo usermod -aG dialout $USER`") in line
    assert "udev rule" in line
