# SPDX-License-Identifier: BSD-2-Clause
"""``memgen clear``: forget the device's model (it says ``empty`` after, and refuses to sample
until trained again)."""

import json
import sys

from . import cli
from . import info as info_tool

__all__ = ["build_parser", "main"]


def build_parser():
    """Return the argument parser of ``memgen clear``."""
    parser = cli.ArgumentParser(
        prog=cli.prog("memgen-clear", "host.clear"),
        description="Forget what a MemGEN device learned: its state becomes empty.")
    parser.add_argument("--json", action="store_true",
                        help="print the device's state after as one JSON object")
    cli.add_link_options(parser)
    return parser


def _clear(args):
    with cli.connect(args) as client:
        client.clear()
        after = client.info()
        port = getattr(client, "port", None)
    if args.json:
        print(json.dumps({"command": "clear", "device": info_tool.as_dict(after, port)}))
    else:
        print(f"cleared: the device holds no model (state: {after.state.name.lower()}, "
              f"capacity {after.capacity} bytes)")
    return cli.EXIT_OK


def main(argv=None):
    """Run ``memgen clear`` with ``argv``; return the exit status."""
    return cli.run(build_parser(), _clear, argv)


if __name__ == "__main__":
    sys.exit(main())
