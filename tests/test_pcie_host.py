# SPDX-License-Identifier: BSD-2-Clause
"""The host's PCIe transport (:mod:`host.pcie`) against a fake LitePCIe device node
(:mod:`tests.fakepcie`): the driver's ioctls and rings, the buffer rules, the errors, and the
protocol end to end with the reference model of the engine behind the fake card."""

import random

import pytest

import host.pcie
from host.device import MemGen
from host.link import LinkError, open_link
from host.pcie import PCIeLink, open_pcie, parse_url
from hw.protocol import Mode, State
from hw.transport import pcie_layout as layout

from .fakepcie import FakeLitePCIe, ModelEngine


def _echo(data):
    return bytes(data)


def _link(device, **kwargs):
    return PCIeLink("/dev/litepcie0", system=device, poll_interval=0, **kwargs)


def _read_all(link, n):
    out = bytearray()
    while len(out) < n:
        chunk = link.read(n - len(out))
        assert chunk, f"only {len(out)} of {n} bytes came back"
        out += chunk
    return bytes(out)


def test_ioctl_numbers_are_the_headers():
    # _IOWR('S', nr, struct) and _IOR of litepcie.h, worked out by hand from asm-generic/ioctl.h
    # and the structures' sizes on x86-64 (12, 24, 48 and 6 bytes).
    assert host.pcie.IOCTL_REG == 0xC00C5300
    assert host.pcie.IOCTL_DMA_WRITER == 0xC0185315
    assert host.pcie.IOCTL_DMA_READER == 0xC0185316
    assert host.pcie.IOCTL_MMAP_DMA_INFO == 0x80305318
    assert host.pcie.IOCTL_LOCK == 0xC0065319


def test_echo_small_and_large():
    device = FakeLitePCIe(_echo)
    link = _link(device)
    assert link.rate is None
    link.write(b"hello")
    assert _read_all(link, 5) == b"hello"
    # More than a window of buffers each way: the host waits for the card to take them, the
    # card for the host to read its own.
    data = random.Random(1).randbytes(layout.WINDOW * layout.MAX_CHUNK + 12345)
    link.write(data)
    assert _read_all(link, len(data)) == data
    assert link.read(1) == b""
    status = link.status()
    assert status["link_up"]
    assert status["to_card_bytes"] == status["to_host_bytes"] == len(data) + 5
    assert status["to_card_buffers"] == 1 + -(-len(data) // layout.MAX_CHUNK)
    # Slots come round again: the reader, running round its ring, met old buffers and skipped
    # them, and the card never took a buffer the host had not finished writing (the payload
    # would have come back as the slot's old bytes).
    assert status["skipped"] > 0
    link.close()


def test_close_stops_and_releases_and_reopen_continues():
    device = FakeLitePCIe(_echo)
    first = _link(device)
    with pytest.raises(LinkError, match=r"another program is using /dev/litepcie0's DMA"):
        _link(device)
    first.write(b"one")
    assert _read_all(first, 3) == b"one"
    first.close()
    assert not device.reader and not device.writer
    assert device.locks == {"reader": False, "writer": False} and not device.open_fds
    # A second client starts from the card's counts; the first one's buffer in slot 0 is
    # cleared, not taken again.
    second = _link(device)
    second.write(b"two")
    assert _read_all(second, 3) == b"two"
    assert device.card.to_card_buffers == 2
    second.close()


def test_a_reply_left_unread_does_not_reach_the_next_client():
    device = FakeLitePCIe(_echo)
    first = _link(device)
    first.write(b"left behind")
    device.run()
    first.close()
    second = _link(device)
    second.write(b"new")
    assert _read_all(second, 3) == b"new"
    second.close()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"driver": False}, r"does not exist: LitePCIe's driver is not loaded; .*sudo insmod"),
    ({"present": False}, r"driver is loaded: no card .*lspci"),
    ({"permitted": False}, r"no permission to open /dev/litepcie0 .*chmod 666.*udev rule"),
    ({"ident": 0x12345678}, r"does not carry MemGEN's PCIe transport .*0x12345678"),
    # LitePCIe's stock driver, not the one built from the generated tree.
    ({"ring": 256}, (r"driver has 256 DMA buffers of 8192 bytes; MemGEN's transport needs 16 "
                     r"of 8192: build and load the driver from the tree `make bitstream` wrote")),
])
def test_errors_name_the_fix(kwargs, message):
    device = FakeLitePCIe(_echo, **kwargs)
    with pytest.raises(LinkError, match=message) as info:
        _link(device)
    assert "\n" not in str(info.value)
    assert not device.open_fds and device.locks == {"reader": False, "writer": False}


def test_urls(monkeypatch):
    assert parse_url("litepcie:///dev/litepcie1") == "/dev/litepcie1"
    assert parse_url("litepcie://") == "/dev/litepcie0"
    with pytest.raises(LinkError, match="three slashes"):
        parse_url("litepcie://dev/litepcie0")
    device = FakeLitePCIe(_echo)
    monkeypatch.setattr(host.pcie, "LinuxSystem", lambda: device)
    link = open_link("litepcie:///dev/litepcie0")
    assert isinstance(link, PCIeLink) and link.path == "/dev/litepcie0"
    link.close()
    with pytest.raises(LinkError, match="driver is loaded: no card"):
        open_pcie("litepcie:///dev/litepcie3")


def test_protocol_end_to_end():
    """The client's whole protocol over the fake card, with the engine's reference model: learn
    a few kilobytes, commit, sample in every mode, read back."""
    device = FakeLitePCIe(ModelEngine())
    record_size, count = 64, 200
    data = random.Random(7).randbytes(record_size * count)
    records = [data[i * record_size:(i + 1) * record_size] for i in range(count)]
    with MemGen(link=_link(device), timeout=5.0) as client:
        client.train(data, record_size, b"pcie")
        info = client.info()
        assert (info.state, info.count, info.record_size) == (State.READY, count, record_size)
        for mode in Mode:
            client.seed(mode, 5)
            indices = client.predict(40, count)
            assert client.sample(40) == b"".join(records[i] for i in indices)
        assert client.read(0, count) == data
    # More bytes went each way than one buffer holds.
    assert device.card.to_card_bytes > layout.MAX_CHUNK < device.card.to_host_bytes
    assert device.card.to_host_buffers > 1
