# SPDX-License-Identifier: BSD-2-Clause
"""Argument types for the command lines (:mod:`argparse` ``type=`` callables), defined once.

Standard library only: the host tools use them too.
"""

import argparse

__all__ = ["integer", "positive_int", "nonnegative_int", "port_number", "seed_int"]


def integer(text):
    """Parse an integer, decimal or ``0x`` hexadecimal."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def positive_int(text):
    """Parse a positive integer."""
    value = integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not positive")
    return value


def nonnegative_int(text):
    """Parse an integer that is zero or more."""
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def port_number(text):
    """Parse a TCP port number, 0 (any free port) to 65535."""
    value = integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {text} is not in 0..65535")
    return value


def seed_int(text):
    """Parse a 64-bit seed."""
    value = integer(text)
    if not 0 <= value < 1 << 64:
        raise argparse.ArgumentTypeError(f"{text} is outside 0 to 2**64-1")
    return value
