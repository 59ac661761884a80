# SPDX-License-Identifier: BSD-2-Clause
"""``python -m host.info`` (``memgen-info``): what a MemGEN device knows.

Prints the device's state, capacity, store (its memory, and whether the host levels it),
number of examples ``N``, record size, records learned,
the data set described by its stored header, the error counters, the protocol version, clock
and baud; ``--json`` prints the same as one JSON object.
"""

import enum
import json
import logging
import sys

from hw.protocol import Counter, Leveling, Memory, State

from . import cli, codecs

__all__ = ["build_parser", "as_dict", "format_info", "main"]

_log = logging.getLogger(__name__)


def build_parser():
    """Return the argument parser of ``host.info``."""
    parser = cli.ArgumentParser(
        prog=cli.prog("memgen-info", "host.info"),
        description="Show what a MemGEN device knows: its state, capacity, the data set it "
                    "learned, its error counters, protocol version, clock and baud.")
    parser.add_argument(
        "--json", action="store_true",
        help="print one machine-readable JSON object instead of a table")
    cli.add_link_options(parser)
    return parser


def _header_dict(header):
    try:
        meta = codecs.Header.unpack(header)
    except codecs.DataError:
        return None
    return {
        "kind": meta.kind.name.lower(),
        "shape": list(meta.shape),
        "dtype": meta.dtype.name.lower(),
        "length": meta.length,
        "flags": [flag.name.lower() for flag in codecs.Flag if flag & meta.flags],
        "record_size": meta.record_size,
    }


def _description(info):
    # An empty device (after CLEAR) may still hold the last header: it describes nothing.
    return None if info.state == State.EMPTY else cli.describe_header(info.header)


def _name(value):
    """An enum's lower-case name, or the number a newer device sent."""
    return value.name.lower() if isinstance(value, enum.Enum) else value


_MEMORIES = {Memory.ON_CHIP: "on-chip memory", Memory.SDR: "SDR SDRAM", Memory.DDR3: "DDR3 SDRAM"}


def _store(info):
    text = _MEMORIES.get(info.memory, f"memory {info.memory}")
    if info.leveling != Leveling.NONE:
        text += f", reads leveled by the host on connect ({_name(info.leveling)})"
    return text


def as_dict(info, port=None):
    """Return a :class:`~host.device.DeviceInfo` as a JSON-ready dict."""
    return {
        "port": port,
        "version": info.version,
        "state": info.state.name.lower(),
        "capacity": info.capacity,
        "memory": _name(info.memory),
        "leveling": _name(info.leveling),
        "count": info.count,
        "record_size": info.record_size,
        "learned": info.learned,
        "write_ptr": info.write_ptr,
        "total": info.total,
        "mode": info.mode.name.lower(),
        "index_bits": info.index_bits,
        "max_payload": info.max_payload,
        "clk_freq": info.clk_freq,
        "baud": info.baud,
        "header": info.header.hex(),
        "data": _header_dict(info.header) if info.state != State.EMPTY else None,
        "description": _description(info),
        "counters": dict(info.counters),
    }


def format_info(info, port=None):
    """Return a :class:`~host.device.DeviceInfo` as an aligned text table."""
    state = info.state.name.lower()
    if info.state == State.LEARNING:
        state += (f" (unfinished: {info.write_ptr} of {info.total} bytes learned; run "
                  f"`python -m host.train DATA --resume` to finish it)")
    elif info.state == State.EMPTY:
        state += " (no model; train it with `python -m host.train DATA`)"
    errors = ", ".join(f"{c.name.lower().removesuffix('_errors')} "
                       f"{info.counters.get(c.name.lower(), 0)}"
                       for c in Counter if c != Counter.FRAMES_OK)
    rows = [
        ("port", port or "-"),
        ("protocol", f"version {info.version}"),
        ("state", state),
        ("capacity", f"{info.capacity} bytes"),
        ("store", _store(info)),
        ("examples (N)", str(info.count)),
        ("record size", f"{info.record_size} bytes"),
        ("learned", f"{info.learned} records ({info.write_ptr} of {info.total} bytes)"),
        ("data", _description(info) or "none"),
        ("sampler", f"{info.mode.name.lower()} mode, {info.index_bits}-bit indices"),
        ("clock", f"{info.clk_freq / 1e6:g} MHz"),
        ("baud", str(info.baud)),
        ("frames", f"{info.counters.get('frames_ok', 0)} received correctly"),
        ("errors", errors),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def _info(args):
    with cli.connect(args) as client:
        info = cli.device_info(client)
        port = getattr(client, "port", None)
    if args.json:
        print(json.dumps(as_dict(info, port), indent=2))
    else:
        print(format_info(info, port))
    return cli.EXIT_OK


def main(argv=None):
    """Run ``host.info`` with ``argv`` (default: the command line); return the exit status."""
    return cli.run(build_parser(), _info, argv)


if __name__ == "__main__":
    sys.exit(main())
