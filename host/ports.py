# SPDX-License-Identifier: BSD-2-Clause
"""``memgen ports``: the serial ports a board may be on, with their USB IDs."""

import json
import sys

from . import cli

__all__ = ["FTDI_VID", "list_ports", "build_parser", "main"]

#: FTDI's USB vendor ID: the Arty's, iCEBreaker's and ULX3S's USB-UART bridges.
FTDI_VID = 0x0403


def list_ports():
    """Return the serial ports as dicts: ``device``, ``vid``, ``pid`` (None for a port that is
    not USB), ``serial``, ``description`` and ``ftdi`` (a likely board)."""
    from serial.tools import list_ports as tools

    ports = []
    for port in sorted(tools.comports(), key=lambda p: p.device):
        ports.append({
            "device": port.device, "vid": port.vid, "pid": port.pid,
            "serial": port.serial_number, "description": port.description,
            "ftdi": port.vid == FTDI_VID,
        })
    return ports


def build_parser():
    """Return the argument parser of ``memgen ports``."""
    parser = cli.ArgumentParser(
        prog=cli.prog("memgen-ports", "host.ports"),
        description="List the serial ports with their USB vendor and product IDs; FTDI ports "
                    "(0403:xxxx) are the boards' USB-UARTs, and the first is the default "
                    "--port.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log what happens")
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    return parser


def _ports(args):
    ports = list_ports()
    if args.json:
        print(json.dumps({"command": "ports", "ports": ports}))
        return cli.EXIT_OK
    if not ports:
        print("no serial ports found; connect the board's USB cable, or use the virtual "
              "board (`memgen board`)")
        return cli.EXIT_OK
    for port in ports:
        ids = f"{port['vid']:04x}:{port['pid']:04x}" if port["vid"] is not None else "-"
        mark = "  (FTDI: a board?)" if port["ftdi"] else ""
        print(f"{port['device']:<16} {ids:<10} {port['description'] or ''}{mark}")
    return cli.EXIT_OK


def main(argv=None):
    """Run ``memgen ports`` with ``argv``; return the exit status."""
    return cli.run(build_parser(), _ports, argv)


if __name__ == "__main__":
    sys.exit(main())
