# SPDX-License-Identifier: BSD-2-Clause
"""The host's transport interface (:class:`host.link.Transport`) and the links that say their
own rate."""

import serial

from host.device import MemGen
from host.link import SerialLink, open_link
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

