# SPDX-License-Identifier: BSD-2-Clause
"""The link to a MemGEN device: what the client needs of one (:class:`Transport`), and opening
one on a serial port, the virtual board, or any pyserial URL (:func:`open_link`)."""

import errno
import logging
import os
import socket
from typing import Protocol

import serial
from serial.tools import list_ports

from hw import protocol
from hw.boards.facts import DEFAULT_BAUD, VBOARD_URL

__all__ = ["PORT_ENV", "Transport", "SerialLink", "LinkError", "find_port", "open_link"]

_log = logging.getLogger(__name__)

#: Environment variable naming the port when ``--port`` is not given.
PORT_ENV = "MEMGEN_PORT"

# FTDI's USB vendor ID: the Arty's, iCEBreaker's and ULX3S's USB-UART bridges.
_FTDI_VID = 0x0403

# What open() fails with when another program holds a serial port: pyserial's exclusive lock
# (flock) taken by another client, or a port opened with TIOCEXCL (screen, minicom).
_HELD = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY})

_VIRTUAL_HINT = (f"to use the virtual board instead, run `python -m sim.board` and pass "
                 f"--port {VBOARD_URL}")


class Transport(Protocol):
    """What :class:`host.device.MemGen` needs of a link to a device: a byte stream each way.

    A pyserial port is one (wrapped by :func:`open_link` in a :class:`SerialLink` that adds its
    rate); so are :class:`sim.pysim_link.SimulatedLink` and the tests' fault-injecting links. A
    PCIe or USB FIFO transport needs only these members to serve the same client.

    Attributes
    ----------
    in_waiting : int
        Bytes that :meth:`read` can return at once. It may report fewer than there are
        (pyserial's socket handler says at most 1), never more; the client asks for
        ``max(in_waiting, bytes that complete the next frame)``.
    rate : float or None
        Payload bytes per second the link carries, for the progress bars' "% of link"; or
        :py:`None` when it does not say (a socket, a simulator). Optional: a link without it
        counts as :py:`None`.
    """

    in_waiting: int
    rate: float | None

    def read(self, size):
        """Return up to ``size`` bytes, waiting at most a short time of the link's own (tens of
        milliseconds) for them: fewer, or none, when they do not come in that time. The client
        keeps its own deadline and calls again."""

    def write(self, data):
        """Send all of ``data``, or raise an exception (any type: the client reports it as a
        :exc:`LinkError`)."""

    def close(self):
        """Release the link. The client calls it only on links it opened itself."""

    def unanswered(self):
        """Optional: return the likeliest reason why no device has answered on this link,
        naming the fix, or :py:`None`. The client adds it to its time-out message when a
        device never answered (see :meth:`SerialLink.unanswered`)."""


class SerialLink:
    """A pyserial port as a :class:`Transport`.

    Parameters
    ----------
    port : serial.SerialBase
        An open port or URL handler, from :func:`serial.serial_for_url`.
    rate : float or None
        Payload bytes per second of the link, or :py:`None` if it is not known.
    """

    def __init__(self, port, rate=None):
        self.port = port
        self.rate = rate

    @property
    def in_waiting(self):
        """Bytes received and not yet read."""
        return self.port.in_waiting

    def read(self, size=1):
        """Return up to ``size`` bytes, within the port's read time-out."""
        return self.port.read(size)

    def write(self, data):
        """Send ``data``; return its length."""
        return self.port.write(data)

    def reset_input_buffer(self):
        """Discard the bytes received and not yet read."""
        self.port.reset_input_buffer()

    def close(self):
        """Close the port."""
        self.port.close()

    def unanswered(self):
        """Return the likeliest reason why no device has answered on this link, naming the fix;
        or :py:`None` when there is none likelier than a wrong port or baud.

        The virtual board (``sim/vboard.cpp``) serves one client at a time and does not accept
        another connection until its client leaves: a second client connects, and then hears
        nothing. On a serial port, another program that has it open may be reading the
        replies.
        """
        url = getattr(self.port, "port", None)
        if not isinstance(url, str):
            return None
        if url.startswith("socket://"):
            return (f"the virtual board at {url} serves one client at a time, so most likely "
                    f"another tool is connected to it: let it finish or stop it, or start "
                    f"another board with `python -m sim.board --port N`")
        holders = _holders(url)
        if holders:
            return (f"another program has {url} open ({holders}) and may be taking the "
                    f"device's replies: close it (`lsof {url}` lists it)")
        return None


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
    auto-detection), exclusively and in low-latency mode where the driver supports it.

    A ``litepcie:///dev/litepcieN`` URL opens a PCIe card through LitePCIe's driver instead
    (:func:`host.pcie.open_pcie`); ``baud`` does not apply to it.

    Returns
    -------
    SerialLink or host.pcie.PCIeLink
        A :class:`SerialLink`'s :attr:`~SerialLink.rate` is ``baud / UART_BITS_PER_BYTE`` when
        pyserial opened a serial port (a UART, perhaps behind a USB bridge), :py:`None` for a
        socket or other URL handler.

    Raises
    ------
    LinkError
        If the port cannot be opened; the message names the fix.
    """
    port = port or os.environ.get(PORT_ENV) or find_port()
    if port.startswith("litepcie://"):
        # Imported here: serial users need none of it.
        from .pcie import open_pcie
        return open_pcie(port, timeout=timeout)
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
        if getattr(exc, "errno", None) in _HELD:
            raise LinkError(f"another program holds {port} ({_reason(exc)}): find it with "
                            f"`lsof {port}` and close it") from exc
        raise LinkError(f"cannot open {port}: {_reason(exc)}; check the cable and --port, "
                        f"and that no other program holds the port") from exc
    try:
        link.set_low_latency_mode(True)
    except (AttributeError, NotImplementedError, ValueError, OSError):
        # Only Linux serial ports support it; FTDI adapters otherwise hold small reads ~16 ms.
        pass
    sock = getattr(link, "_socket", None)       # pyserial's socket:// handler
    if sock is not None:
        try:
            # A request written just after another leaves at once, not after the device's
            # acknowledgement (Nagle's algorithm would hold it): pipelined frames stay back to
            # back on the virtual board's wire.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
    # Ask pyserial what it opened rather than parse the URL: `spy://` and `hwgrep://` open
    # serial ports too, and `socket://` (the virtual board) carries bytes at its own pace.
    uart = isinstance(link, serial.Serial)
    return SerialLink(link, baud / protocol.UART_BITS_PER_BYTE if uart else None)


def _reason(exc):
    text = str(exc).strip() or type(exc).__name__
    # pyserial wraps errno messages as "[Errno 2] could not open port ...: [Errno 2] ...".
    return text.splitlines()[0]


def _holders(path):
    """Return the other processes that have the device ``path`` open, as ``"pid N (name)"``
    joined by commas, from Linux's ``/proc``; empty where there is no ``/proc`` or none is
    found."""
    try:
        target = os.path.realpath(path)
        pids = [pid for pid in os.listdir("/proc") if pid.isdigit() and int(pid) != os.getpid()]
    except OSError:
        return ""
    found = []
    for pid in pids:
        fds = _listdir(f"/proc/{pid}/fd")
        if any(_link_target(f"/proc/{pid}/fd/{fd}") == target for fd in fds):
            try:
                with open(f"/proc/{pid}/comm") as comm:
                    found.append(f"pid {pid} ({comm.read().strip()})")
            except OSError:     # gone meanwhile
                continue
    return ", ".join(found)


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:             # a process that is gone, or another user's
        return []


def _link_target(path):
    try:
        return os.readlink(path)
    except OSError:
        return None
