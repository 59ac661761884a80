# SPDX-License-Identifier: BSD-2-Clause
"""What the frame receiver and transmitter share: the header layout and the CRC processors,
both derived from :mod:`hw.protocol`."""

from amaranth import *
from amaranth.lib import crc, data, wiring
from amaranth.lib.wiring import In, Out

from .. import protocol

__all__ = ["FrameHeader", "FrameStart", "crc_processor", "ByteCRC"]

#: The header bytes after the sync marker, from :data:`hw.protocol.FRAME_HEADER_FIELDS`.
FrameHeader = data.StructLayout({name: 8 * size for name, size in protocol.FRAME_HEADER_FIELDS})

#: What a frame's sender chooses: the header without its CRC, which the transmitter computes.
FrameStart = data.StructLayout({name: 8 * size for name, size in protocol.FRAME_HEADER_FIELDS
                                if name != "hcrc"})


def crc_processor(name, data_width=8):
    """Return an :class:`amaranth.lib.crc.Processor` for a CRC named in :mod:`hw.protocol`."""
    return getattr(crc.catalog, name)(data_width).create()


class ByteCRC(wiring.Component):
    """A CRC named in :mod:`hw.protocol` over bytes, a byte per clock cycle or, ``serial``, a
    bit per cycle: eight cycles a byte for about a third of the logic (CRC-32 on iCE40: 45
    LUTs instead of 116), for a link whose bytes are further apart than that.

    Parameters
    ----------
    name : str
        The algorithm's name in :mod:`amaranth.lib.crc.catalog`.
    serial : bool
        A bit per cycle (in the algorithm's input bit order) instead of a byte.

    Members
    -------
    start : :py:`In(1)`
        Start over (alone, or with the first byte).
    data : :py:`In(8)`
    valid : :py:`In(1)`
        ``data`` is a byte of the message; it is taken when ``ready``.
    ready : :py:`Out(1)`
        A byte can be taken: always, unless ``serial`` and the last byte is still being fed in.
    crc : :py:`Out(width)`
        The CRC of the bytes taken so far, once ``ready``.
    match_detected : :py:`Out(1)`
        The bytes taken so far end with their own CRC (see
        :class:`amaranth.lib.crc.Processor`), once ``ready``.
    """

    def __init__(self, name, *, serial=False):
        self._algorithm = getattr(crc.catalog, name)
        self._serial = bool(serial)
        super().__init__({
            "start":          In(1),
            "data":           In(8),
            "valid":          In(1),
            "ready":          Out(1),
            "crc":            Out(self._algorithm.crc_width),
            "match_detected": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.processor = processor = self._algorithm(1 if self._serial else 8).create()
        m.d.comb += [
            self.crc.eq(processor.crc),
            self.match_detected.eq(processor.match_detected),
        ]
        if not self._serial:
            m.d.comb += [
                self.ready.eq(1),
                processor.start.eq(self.start),
                processor.data.eq(self.data),
                processor.valid.eq(self.valid),
            ]
            return m
        shift = Signal(8)
        left = Signal(range(9))
        first = Signal()
        lsb_first = self._algorithm.reflect_input
        m.d.comb += self.ready.eq(left == 0)
        with m.If(left != 0):
            m.d.comb += [
                processor.start.eq(first),
                processor.data.eq(shift[0] if lsb_first else shift[7]),
                processor.valid.eq(1),
            ]
            m.d.sync += [
                shift.eq(shift >> 1 if lsb_first else shift << 1),
                left.eq(left - 1),
                first.eq(0),
            ]
        with m.Elif(self.valid):
            m.d.sync += [
                shift.eq(self.data),
                left.eq(8),
                first.eq(self.start),
            ]
        with m.Else():
            m.d.comb += processor.start.eq(self.start)
        return m
