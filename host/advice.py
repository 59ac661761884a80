# SPDX-License-Identifier: BSD-2-Clause
"""Mistakes with the link options caught before pyserial sees them, and advice added to the
errors it raises: each ends as one line naming the fix."""

import argparse
import errno
import re

from hw.argtypes import integer

from .link import LinkError

__all__ = ["MAX_BAUD", "baud_rate", "check_port", "with_advice"]

#: The fastest rate ``--baud`` takes: well above any USB-UART (FT2232H: 12 Mbaud), and what
#: the operating system's serial drivers take without overflowing.
MAX_BAUD = 50_000_000

_URL = re.compile(r"(?P<scheme>socket|rfc2217)://(?P<host>[^:/?]*)(?::(?P<port>[^/?]*))?")

_PERMISSION = (errno.EACCES, errno.EPERM)


def baud_rate(text):
    """Parse ``--baud``: a positive integer up to :data:`MAX_BAUD`."""
    value = integer(text)
    if not 0 < value <= MAX_BAUD:
        raise argparse.ArgumentTypeError(
            f"{text} is not a baud rate from 1 to {MAX_BAUD}; the boards run at 3000000 "
            f"(the Arty also at 12000000)")
    return value


def check_port(port):
    """Raise :exc:`~host.link.LinkError` if ``port`` is a ``socket://`` or ``rfc2217://`` URL
    without a host or a port number from 1 to 65535."""
    match = _URL.match(port)
    if match is None:
        return
    scheme, host, number = match["scheme"], match["host"], match["port"]
    example = f"{scheme}://{host or '127.0.0.1'}:7777"
    if not host:
        raise LinkError(f"--port {port} names no host: write {example}")
    if number is None or not number.isdigit() or not 0 < int(number) < 65536:
        what = "no port number" if not number else f"port {number!r}, not 1 to 65535"
        raise LinkError(f"--port {port} has {what}: write {example} (the virtual board "
                        f"listens on 7777 unless started with another --port)")


def with_advice(exc, port):
    """Return ``exc`` (a :exc:`~host.link.LinkError`), or a new one whose message adds the
    fix for a permission error on a serial device."""
    cause = exc.__cause__
    code = getattr(cause, "errno", None)
    text = str(exc)
    if code in _PERMISSION or "Permission denied" in text or "[Errno 13]" in text:
        return LinkError(
            f"{text.rstrip('.')}; no permission to open {port}: add yourself to the group that "
            f"owns it (on Debian and Ubuntu `sudo usermod -aG dialout $USER`, on Arch "
            f"`uucp`; then log in again), or install a udev rule giving your user the "
            f"board's USB-UART")
    return exc
