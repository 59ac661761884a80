# SPDX-License-Identifier: BSD-2-Clause
"""The host's transport interface (:class:`host.link.Transport`) and the links that say their
own rate."""

import fcntl
import os
import socket
import subprocess
import time

import pytest
import serial

from host.device import DeviceTimeout, MemGen
from host.link import LinkError, SerialLink, open_link
from hw import protocol
from hw.boards.facts import DEFAULT_BAUD
from sim.pysim_link import SimulatedLink


def test_url_handlers_do_not_say_a_rate():
    link = open_link("loop://", 115200)
    try:
        assert isinstance(link, SerialLink) and link.rate is None
        link.write(b"echo")
        assert link.read(4) == b"echo"
        assert link.in_waiting == 0
        link.write(b"x")
        link.reset_input_buffer()
        assert link.read(1) == b""
    finally:
        link.close()
    assert not link.port.is_open


def test_socket_links_send_each_frame_at_once():
    """A frame written just after another is not held back until the first is acknowledged
    (Nagle's algorithm): pipelined frames reach the virtual board back to back."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        link = open_link(f"socket://127.0.0.1:{server.getsockname()[1]}", None)
        try:
            sock = link.port._socket
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            link.close()


def test_serial_ports_carry_baud_over_bits_per_byte(monkeypatch):
    # A serial port object that is never opened stands in for /dev/ttyUSB1.
    monkeypatch.setattr(serial, "serial_for_url", lambda url, **kwargs: serial.Serial())
    assert open_link("/dev/ttyUSB7").rate == DEFAULT_BAUD / protocol.UART_BITS_PER_BYTE
    assert open_link("/dev/ttyUSB7", 12_000_000).rate == 1_200_000


def test_client_reports_its_links_rate():
    link = SimulatedLink(capacity=64, timeout=2e-4)
    assert isinstance(link, SimulatedLink) and link.rate is None
    client = MemGen(link=link, timeout=60)
    assert client.rate is None
    link.rate = 1234.0
    assert client.rate == 1234.0



def test_second_client_of_the_virtual_board_is_told_it_is_busy():
    # The virtual board accepts its next client only once the current one leaves: a listener
    # that never accepts is what a second client meets.
    with socket.create_server(("127.0.0.1", 0)) as busy:
        url = f"socket://127.0.0.1:{busy.getsockname()[1]}"
        with pytest.raises(DeviceTimeout, match=rf"did not answer within 0.5 s; the virtual "
                                                rf"board at {url} serves one client at a time, "
                                                rf"so most likely another tool is connected"):
            MemGen(url, timeout=0.5, retries=0)


@pytest.fixture
def pty():
    """The path of a pseudo-terminal's port side; nothing answers on it."""
    controller, port = os.openpty()
    try:
        yield os.ttyname(port)
    finally:
        os.close(port)
        os.close(controller)


def test_port_locked_by_another_program(pty):
    with open(pty, "rb") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)       # as another pyserial does
        with pytest.raises(LinkError, match=rf"^another program holds {pty} \(.*\): find it "
                                            rf"with `lsof {pty}` and close it$"):
            open_link(pty)


def test_port_open_in_another_program(pty):
    with open(pty, "rb") as port, subprocess.Popen(["sleep", "30"], stdin=port) as other:
        try:
            start = time.monotonic()
            with pytest.raises(DeviceTimeout, match=rf"another program has {pty} open \(pid "
                                                    rf"{other.pid} \(sleep\)\) and may be "
                                                    rf"taking the device's replies"):
                MemGen(pty, timeout=0.5, retries=0)
            assert time.monotonic() - start < 10
        finally:
            other.kill()
