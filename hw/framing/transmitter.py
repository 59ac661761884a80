# SPDX-License-Identifier: BSD-2-Clause
"""The frame transmitter: wraps payloads into the frames of :mod:`hw.protocol`."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .. import protocol
from .common import ByteCRC, FrameHeader, FrameStart, crc_processor

__all__ = ["FrameTransmitter"]


class FrameTransmitter(wiring.Component):
    """Wraps payloads into frames: sync marker, header with its CRC-8, payload, frame check
    (CRC-32 XORed with the link key ``key``; see :func:`hw.protocol.fcs`).

    Members
    -------
    h_stream : :py:`In(stream.Signature(FrameStart))`
        One header per frame: ``cmd``, ``tag`` and the payload ``length``; a header is accepted
        only when the previous frame has been sent.
    i_stream : :py:`In(stream.Signature(8))`
        Payload bytes: exactly ``length`` of them per frame.
    key : :py:`In(32)`
        The link key.
    o_stream : :py:`Out(stream.Signature(8))`
        Frame bytes.
    idle : :py:`Out(1)`
        No frame is being sent.

    Parameters
    ----------
    serial_crc : bool
        Compute the frame check a bit per cycle (:class:`~.common.ByteCRC`): a byte then leaves
        at most every nine cycles.
    """
    h_stream: In(stream.Signature(FrameStart))
    i_stream: In(stream.Signature(8))
    key:      In(32)
    o_stream: Out(stream.Signature(8))
    idle:     Out(1)

    def __init__(self, *, serial_crc=False):
        self._serial_crc = bool(serial_crc)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc8 = crc8 = crc_processor(protocol.CRC8_ALGORITHM)
        m.submodules.fcs = fcs = ByteCRC(protocol.FCS_ALGORITHM, serial=self._serial_crc)

        header = Signal(FrameHeader)
        remaining = Signal(16)
        sent = Signal()
        m.d.comb += [
            sent.eq(self.o_stream.valid & self.o_stream.ready),
            crc8.data.eq(self.o_stream.payload),
            fcs.data.eq(self.o_stream.payload),
        ]
        check = Signal(8 * protocol.FCS_SIZE)
        m.d.comb += check.eq(fcs.crc ^ Mux(header.cmd[:7] == protocol.Command.OPEN, 0, self.key))

        def put(value, next_state, *, hcrc=False, fcrc=True, first=False):
            m.d.comb += [
                self.o_stream.payload.eq(value),
                self.o_stream.valid.eq(fcs.ready),
                crc8.valid.eq(sent & hcrc),
                crc8.start.eq(first),
                fcs.valid.eq(sent & fcrc),
                fcs.start.eq(first),
            ]
            with m.If(sent):
                m.next = next_state

        with m.FSM(name="fsm"):
            with m.State("Idle"):
                m.d.comb += [
                    self.idle.eq(1),
                    self.h_stream.ready.eq(1),
                ]
                start = self.h_stream.payload
                with m.If(self.h_stream.valid):
                    m.d.sync += [
                        header.cmd.eq(start.cmd),
                        header.tag.eq(start.tag),
                        header.length.eq(start.length),
                        remaining.eq(start.length),
                    ]
                    m.next = "Sync-0"
            with m.State("Sync-0"):
                put(protocol.SYNC[0], "Sync-1", fcrc=False)
            with m.State("Sync-1"):
                put(protocol.SYNC[1], "Cmd", fcrc=False)
            with m.State("Cmd"):
                put(header.cmd, "Tag", hcrc=True, first=True)
            with m.State("Tag"):
                put(header.tag, "Length-0", hcrc=True)
            with m.State("Length-0"):
                put(header.length[:8], "Length-1", hcrc=True)
            with m.State("Length-1"):
                put(header.length[8:], "HCRC", hcrc=True)
            with m.State("HCRC"):
                m.d.comb += [
                    self.o_stream.payload.eq(crc8.crc),
                    self.o_stream.valid.eq(fcs.ready),
                    fcs.valid.eq(sent),
                ]
                with m.If(sent):
                    with m.If(remaining == 0):
                        m.next = "FCS-0"
                    with m.Else():
                        m.next = "Payload"
            with m.State("Payload"):
                m.d.comb += [
                    self.o_stream.payload.eq(self.i_stream.payload),
                    self.o_stream.valid.eq(self.i_stream.valid & fcs.ready),
                    self.i_stream.ready.eq(self.o_stream.ready & fcs.ready),
                    fcs.valid.eq(sent),
                ]
                with m.If(sent):
                    m.d.sync += remaining.eq(remaining - 1)
                    with m.If(remaining == 1):
                        m.next = "FCS-0"
            for i in range(protocol.FCS_SIZE):      # little-endian
                last = i == protocol.FCS_SIZE - 1
                with m.State(f"FCS-{i}"):
                    put(check.word_select(i, 8), "Idle" if last else f"FCS-{i + 1}", fcrc=False)
        return m
