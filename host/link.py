# SPDX-License-Identifier: BSD-2-Clause
"""Opening the link to a MemGEN device: a serial port, the virtual board, or any pyserial URL."""

import logging
import os

import serial
from serial.tools import list_ports

__all__ = ["DEFAULT_BAUD", "PORT_ENV", "LinkError", "find_port", "open_link"]

_log = logging.getLogger(__name__)

#: Baud rate of the default board builds (``make bitstream``).
DEFAULT_BAUD = 3_000_000

#: Environment variable naming the port when ``--port`` is not given.
PORT_ENV = "MEMGEN_PORT"

# FTDI's USB vendor ID: the Arty's, iCEBreaker's and ULX3S's USB-UART bridges.
_FTDI_VID = 0x0403

_VIRTUAL_HINT = ("to use the virtual board instead, run `python -m sim.board` and pass "
                 "--port socket://127.0.0.1:7777")


class LinkError(Exception):
    """The link could not be opened or failed; the message names the fix."""


def find_port():
    """Return the device path of a connected FTDI-based board, or raise :exc:`LinkError` listing
    the ports seen.

    Boards with a dual-channel FTDI chip (Arty, iCEBreaker) expose JTAG on the first channel and
    the UART on the second, so the last matching interface of a device is taken.
    """
    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    ftdi = [p for p in ports if p.vid == _FTDI_VID]
    if ftdi:
        # Group by USB serial number and take the highest interface of the first board.
        by_board = {}
        for port in ftdi:
            by_board.setdefault(port.serial_number or port.device, []).append(port)
        board = next(iter(by_board.values()))
        chosen = max(board, key=lambda p: (p.location or "", p.device))
        _log.info("auto-detected %s (%s)", chosen.device, chosen.description)
        return chosen.device
    seen = ", ".join(f"{p.device} ({p.description})" for p in ports) or "none"
    raise LinkError(f"no MemGEN board found (serial ports seen: {seen}); connect the board "
                    f"and pass --port or set ${PORT_ENV}; {_VIRTUAL_HINT}")


def open_link(port=None, baud=None, *, timeout=0.05):
    """Open a pyserial link to ``port`` (a device path or URL; default ``$MEMGEN_PORT``, then
    auto-detection), exclusively and in low-latency mode where the driver supports it."""
    port = port or os.environ.get(PORT_ENV) or find_port()
    baud = DEFAULT_BAUD if baud is None else baud
    kwargs = {"baudrate": baud, "timeout": timeout, "write_timeout": 10}
    if "://" not in port:
        kwargs["exclusive"] = True
    try:
        link = serial.serial_for_url(port, **kwargs)
    except (serial.SerialException, OSError, ValueError) as exc:
        if port.startswith("socket://"):
            raise LinkError(f"cannot connect to {port}: {_reason(exc)}; is the virtual board "
                            f"running? Start it with `python -m sim.board`") from exc
        raise LinkError(f"cannot open {port}: {_reason(exc)}; check the cable and --port, "
                        f"and that no other program holds the port") from exc
    try:
        link.set_low_latency_mode(True)
    except (AttributeError, NotImplementedError, ValueError, OSError):
        # Only Linux serial ports support it; FTDI adapters otherwise hold small reads ~16 ms.
        pass
    return link


def _reason(exc):
    text = str(exc).strip() or type(exc).__name__
    # pyserial wraps errno messages as "[Errno 2] could not open port ...: [Errno 2] ...".
    return text.splitlines()[0]
