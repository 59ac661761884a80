# SPDX-License-Identifier: BSD-2-Clause
"""What the frame receiver and transmitter share: the header layout and the CRC processors,
both derived from :mod:`hw.protocol`."""

from amaranth.lib import crc, data

from .. import protocol

__all__ = ["FrameHeader", "FrameStart", "crc_processor"]

#: The header bytes after the sync marker, from :data:`hw.protocol.FRAME_HEADER_FIELDS`.
FrameHeader = data.StructLayout({name: 8 * size for name, size in protocol.FRAME_HEADER_FIELDS})

#: What a frame's sender chooses: the header without its CRC, which the transmitter computes.
FrameStart = data.StructLayout({name: 8 * size for name, size in protocol.FRAME_HEADER_FIELDS
                                if name != "hcrc"})


def crc_processor(name, data_width=8):
    """Return an :class:`amaranth.lib.crc.Processor` for a CRC named in :mod:`hw.protocol`."""
    return getattr(crc.catalog, name)(data_width).create()
