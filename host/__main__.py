# SPDX-License-Identifier: BSD-2-Clause
"""``python -m host``: list the MemGEN command-line tools."""

import sys

__all__ = ["COMMANDS", "main"]

#: The tools: module, console script and what it does.
COMMANDS = (
    ("host.train", "memgen-train", "teach the device a data set by heart"),
    ("host.sample", "memgen-sample", "sample the device: every sample is a training example"),
    ("host.info", "memgen-info", "show what the device knows"),
)


def main(argv=None):
    """Print the tools and return 0."""
    print("MemGEN command-line tools (each takes --help):")
    for module, script, what in COMMANDS:
        print(f"  python -m {module:<12} {script:<14} {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
