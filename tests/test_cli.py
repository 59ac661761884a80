# SPDX-License-Identifier: BSD-2-Clause
"""The command-line tools, run in-process against the real command processor in the Amaranth
simulator (the ``device`` fixture, :class:`tests.helpers.SimulatedPort`), and as subprocesses."""

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from host import cli, codecs, info, sample, train
from host.device import MemGen
from hw import protocol
from hw.protocol import Command, Mode
from hw.sampler.addrgen_model import AddressGeneratorModel
from sim.pysim_link import SimulatedLink
from tests.helpers import (
    CAPACITY,
    CHATTER,
    TricklingServer,
    call,
    error_line,
    interrupt_training,
    newer_version,
    simulated_link,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def info_json(capsys):
    status, out, err = call(info.main, capsys, "--json")
    assert status == 0, err
    return json.loads(out)


def predict(mode, seed, count, k):
    model = AddressGeneratorModel(CAPACITY)
    model.restart(mode, seed, count)
    return model.take(k)


# Round trips, one per kind -----------------------------------------------------------------

def test_images_round_trip_and_evaluate(device, tmp_path, capsys):
    images = np.random.default_rng(1).integers(0, 256, (6, 3, 4), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    status, out, err = call(train.main, capsys, tmp_path / "images.npy")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "learned 6 examples in 6 steps (image: 6 images of 3x4 uint8)"
    assert lines[1].startswith("72 bytes in ")
    efficiency = re.search(r"s of device time: link efficiency ([\d.]+)% of 3000000 baud",
                           lines[1])
    # (Above 100% here: the simulated link bypasses the UART and runs at a byte per clock.)
    assert efficiency and float(efficiency[1]) > 0
    assert lines[1].endswith("verified by the device")

    sheet, pngs = tmp_path / "out" / "sheet.png", tmp_path / "pngs"
    status, out, err = call(sample.main, capsys, "-n", 12, "--mode", "shuffle", "--seed", 3,
                            "--out", sheet, "--png-dir", pngs,
                            "--evaluate", tmp_path / "images.npy")
    assert status == 0, err
    expected = images[predict(Mode.SHUFFLE, 3, 6, 12)]
    assert np.array_equal(codecs.read_images(pngs), expected)
    with Image.open(sheet) as image:
        assert np.array_equal(np.asarray(image), codecs.sheet_array(expected))
    assert "sampled 12 samples from 6 examples (shuffle, seed 3)" in out
    assert "shuffle-epoch completeness  1 " in out
    assert out.rstrip().endswith("overall: PASS")

    # A data set the device did not learn: the report fails, and so does the tool.
    np.save(tmp_path / "other.npy", images ^ 0x55)
    status, out, err = call(sample.main, capsys, "-n", 12, "--out", sheet,
                            "--evaluate", tmp_path / "other.npy")
    assert status == 1
    assert "exact-match rate            0 " in out
    assert error_line(err).startswith("error: the evaluation failed (exact-match rate, "
                                      "nearest-neighbour distance")

    status, out, err = call(info.main, capsys)
    assert status == 0, err
    assert "state         ready\n" in out
    assert "data          image: 6 images of 3x4 uint8\n" in out
    assert f"protocol      version {protocol.VERSION}\n" in out
    assert "store         on-chip memory\n" in out
    state = info_json(capsys)
    assert (state["memory"], state["leveling"]) == ("on_chip", "none")
    assert (state["state"], state["count"], state["learned"], state["record_size"],
            state["capacity"]) == ("ready", 6, 6, 12, CAPACITY)
    assert state["data"]["kind"] == "image" and state["data"]["shape"] == [3, 4]
    assert state["counters"]["crc_errors"] == 0


def test_text_lines_round_trip(device, tmp_path, capsys):
    text = "alpha\nbeta\n\ngamma delta"         # no final newline: recited as it is
    (tmp_path / "lines.txt").write_text(text)
    status, out, err = call(train.main, capsys, tmp_path / "lines.txt")
    assert status == 0, err
    assert out.startswith("learned 4 examples in 4 steps (text: 4 lines in records of 13 bytes)")

    status, out, err = call(sample.main, capsys, "--mode", "recite", "-n", 4)
    assert status == 0, err
    assert out == text
    assert "sampled the whole data set in order from 4 examples" in err

    status, out, err = call(sample.main, capsys, "-n", 10, "--seed", 5)
    assert status == 0, err
    lines = text.split("\n")
    assert out.split("\n")[:-1] == [lines[i] for i in predict(Mode.RANDOM, 5, 4, 10)]


def test_text_one_shot_round_trip(device, tmp_path, capsys):
    text = "Ein Gedicht,\r\nzeilenweise gelernt und aufgesagt: äöü ß\n"
    (tmp_path / "poem.txt").write_bytes(text.encode())
    status, out, err = call(train.main, capsys, tmp_path / "poem.txt", "--one-shot")
    assert status == 0, err
    assert out.startswith(f"learned 1 example in 1 step (text: one-shot, "
                          f"{len(text.encode())} bytes)")
    status, out, err = call(sample.main, capsys, "--mode", "recite", "-n", 1,
                            "--out", tmp_path / "back.txt")
    assert status == 0, err
    assert (tmp_path / "back.txt").read_bytes() == text.encode()
    assert f"wrote {len(text.encode())} bytes to {tmp_path / 'back.txt'}" in out


def test_pi_round_trip(device, capsys):
    status, out, err = call(train.main, capsys, "pi:200", "--record-size", 50)
    assert status == 0, err
    assert out.startswith("learned 4 examples in 4 steps (pi: 200 digits in 4 records of 50)")
    digits = codecs.pi_digits(200).decode()

    status, out, err = call(sample.main, capsys, "-n", 6, "--seed", 2)
    assert status == 0, err
    chunks = [digits[i:i + 50] for i in range(0, 200, 50)]
    assert out.splitlines() == [chunks[i] for i in predict(Mode.RANDOM, 2, 4, 6)]
    assert ("verified against mpmath: all 6 samples are records of pi's first 200 digits"
            in err)

    status, out, err = call(sample.main, capsys, "--mode", "recite", "-n", 4)
    assert status == 0, err
    assert out == digits + "\n"
    assert "verified against mpmath: the 200 digits are pi's first 200" in err


def test_bytes_round_trip_and_capacity(device, tmp_path, capsys):
    data = np.random.default_rng(2).bytes(300)
    (tmp_path / "data.bin").write_bytes(data)
    status, out, err = call(train.main, capsys, tmp_path / "data.bin", "--record-size", 64)
    assert status == 0, err
    assert out.startswith("learned 5 examples in 5 steps (bytes: 300 bytes in 5 records of 64)")
    status, out, err = call(sample.main, capsys, "--mode", "recite", "-n", 5,
                            "--out", tmp_path / "back.bin")
    assert status == 0, err
    assert (tmp_path / "back.bin").read_bytes() == data     # the padding is stripped

    # Too big: refused with both numbers before anything but INFO is sent; the model stays.
    (tmp_path / "big.bin").write_bytes(bytes(CAPACITY + 1))
    device.link.sent.clear()
    status, out, err = call(train.main, capsys, tmp_path / "big.bin")
    assert status == 1
    assert error_line(err) == (f"error: data set needs {CAPACITY + 1} bytes, the device holds "
                               f"{CAPACITY}; use fewer or smaller examples, or a board with a "
                               f"larger store")
    assert set(device.link.commands) == {Command.OPEN}
    status, out, err = call(sample.main, capsys, "-n", 3, "--seed", 9,
                            "--out", tmp_path / "samples.bin")
    assert status == 0, err
    records = data + bytes(20)
    assert (tmp_path / "samples.bin").read_bytes() == b"".join(
        records[i * 64:(i + 1) * 64] for i in predict(Mode.RANDOM, 9, 5, 3))


# Errors ------------------------------------------------------------------------------------

def test_no_port_found(monkeypatch, capsys):
    monkeypatch.delenv("MEMGEN_PORT", raising=False)
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda *args, **kwargs: [])
    status, _, err = call(info.main, capsys)
    assert status == 1
    line = error_line(err)
    assert line.startswith("error: no MemGEN board found (serial ports seen: none); connect "
                           "the board and pass --port or set $MEMGEN_PORT")
    assert "python -m sim.board" in line


def test_unopenable_port(tmp_path, capsys):
    port = tmp_path / "ttyUSB7"
    status, _, err = call(info.main, capsys, "--port", port)
    assert status == 1
    line = error_line(err)
    assert line.startswith(f"error: cannot open {port}: ")
    assert line.endswith("; check the cable and --port, and that no other program holds the "
                         "port")


def test_echoing_port(capsys):
    status, _, err = call(info.main, capsys, "--port", "loop://", "--retries", 0)
    assert status == 1
    assert error_line(err).startswith("error: the port echoes what it is sent: a loopback, a "
                                      "TX-RX jumper, or a board without the MemGEN bitstream;")


def test_device_not_answering(monkeypatch, capsys):
    link = SimulatedLink(capacity=CAPACITY, timeout=1e-5)
    link.write = lambda data: len(data)         # the device never hears us
    monkeypatch.setattr(cli, "connect", lambda args: MemGen(link=link, timeout=args.timeout))
    status, _, err = call(info.main, capsys, timeout=0.3)
    assert status == 1
    assert error_line(err) == ("error: the device did not answer within 0.3 s; check --port "
                               "and --baud (the board's build baud), and that the board is "
                               "programmed")


def test_protocol_version_mismatch(monkeypatch, capsys):
    # A device with a future bitstream.
    link = simulated_link(rewrite=newer_version)
    monkeypatch.setattr(cli, "connect", lambda args: MemGen(link=link, timeout=60))
    status, _, err = call(info.main, capsys)
    assert status == 1
    assert error_line(err) == (f"error: the device speaks protocol version {protocol.VERSION + 1}, "
                               f"this host {protocol.VERSION}; "
                               "rebuild the bitstream or update the host")


def test_empty_data_set(no_device, tmp_path, capsys):
    (tmp_path / "empty.txt").write_bytes(b"")
    status, _, err = call(train.main, capsys, tmp_path / "empty.txt")
    assert status == 1
    assert error_line(err) == (f"error: {tmp_path / 'empty.txt'}: empty data set: give at "
                               f"least one line of text")


def test_unreadable_file(no_device, tmp_path, capsys):
    path = tmp_path / "missing.bin"
    status, _, err = call(train.main, capsys, path)
    assert status == 1
    assert error_line(err) == (f"error: cannot read {path}: No such file or directory: check "
                               f"the path and its permissions")


def test_images_of_mixed_shapes(no_device, tmp_path, capsys):
    folder = tmp_path / "pngs"
    folder.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / "a.png")
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(folder / "b.png")
    status, _, err = call(train.main, capsys, folder)
    assert status == 1
    assert error_line(err) == ("error: image b.png is 5x4 but a.png is 4x4: give images of one "
                               "size, or --size WxH to resize them all")


def test_usage_errors(no_device, capsys):
    status, _, err = call(sample.main, capsys, "--mode", "sideways")
    assert status == 2
    assert error_line(err).startswith("error: argument --mode: invalid choice: 'sideways'")
    status, _, err = call(train.main, capsys, "--record-size", 0)
    assert status == 2
    assert error_line(err).startswith("error: argument --record-size: 0 is not positive")
    status, out, _ = call(info.main, capsys, "--help")
    assert status == 0 and "--json" in out


def test_tools_ask_for_info_once(device, capsys):
    status, _, err = call(info.main, capsys)
    assert status == 0, err
    assert device.link.commands == [Command.OPEN]     # OPEN is answered like INFO
    device.link.sent.clear()
    status, _, err = call(sample.main, capsys)          # untrained: refused after OPEN
    assert status == 1
    assert device.link.commands == [Command.OPEN]


def test_sampling_untrained_device(device, capsys):
    status, _, err = call(sample.main, capsys)
    assert status == 1
    assert error_line(err) == ("error: the device holds no model (state: empty); train it "
                               "first with `python -m host.train DATA`")
    assert Command.SAMPLE not in device.link.commands


def test_interrupted_training(device, monkeypatch, tmp_path, capsys):
    interrupt_training(monkeypatch)     # Ctrl-C before the second LEARN frame is sent
    (tmp_path / "data.bin").write_bytes(bytes(range(256)) * 18)
    status, out, err = call(train.main, capsys, tmp_path / "data.bin", "--record-size", 512)
    assert status == 130
    assert out == ""
    assert error_line(err) == ("error: interrupted after 4092 of 4608 bytes: the model on the "
                               "device is unfinished and will not sample; run `python -m "
                               "host.train` again with --resume to finish it")
    assert info_json(capsys)["state"] == "learning"
    status, _, err = call(sample.main, capsys)
    assert status == 1
    assert error_line(err).startswith("error: the device's model is unfinished (state: "
                                      "learning, ")
    assert error_line(err).endswith("training was interrupted; run `python -m host.train DATA "
                                    "--resume` to finish it, or without --resume to start over")


# As programs -------------------------------------------------------------------------------

def test_programs(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONWARNINGS": "error"}
    env.pop("MEMGEN_PORT", None)
    port = tmp_path / "ttyUSB7"
    runs = {
        name: subprocess.Popen([sys.executable, "-m", *argv], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, argv in [
            ("train", ["host.train", "--help"]),
            ("sample", ["host.sample", "--help"]),
            ("info", ["host.info", "--help"]),
            ("bad port", ["host.train", "--port", str(port)]),
        ]
    }
    results = {name: (run.wait(60), *run.communicate()) for name, run in runs.items()}
    for name in ("train", "sample", "info"):
        status, out, err = results[name]
        assert status == 0, err
        assert out.startswith(f"usage: python -m host.{name} [-h]")
        assert "--port PORT" in out and "(default: 3000000)" in out
    status, out, err = results["bad port"]
    assert status == 1
    assert out == ""
    assert error_line(err).startswith(f"error: cannot open {port}: ")


@pytest.mark.parametrize("kind", ["noise", "bad headers"])
def test_tool_ends_on_time_on_a_port_that_keeps_talking(kind):
    env = {**os.environ, "PYTHONPATH": ROOT}
    with TricklingServer(CHATTER[kind]) as server:
        start = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "host.info", "--port", server.url, "--timeout", "1",
             "--retries", "0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - start
    assert result.returncode == 1
    assert error_line(result.stderr).startswith("error: the device did not answer within 1 s")
    assert elapsed < 10
