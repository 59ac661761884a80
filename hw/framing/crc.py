# SPDX-License-Identifier: BSD-2-Clause
"""The CRCs of :mod:`hw.protocol` as :mod:`amaranth.lib.crc` processors."""

from amaranth.lib import crc

__all__ = ["crc_processor"]


def crc_processor(name, data_width=8):
    """Return an :class:`amaranth.lib.crc.Processor` for a CRC named in :mod:`hw.protocol`."""
    return getattr(crc.catalog, name)(data_width).create()
