# SPDX-License-Identifier: BSD-2-Clause
"""The frame receiver: finds and checks the frames of :mod:`hw.protocol` in a byte stream."""

import enum
from types import SimpleNamespace

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import protocol
from ..protocol import Status
from .common import ByteCRC, FrameHeader, crc_processor

__all__ = ["TokenKind", "RxToken", "FrameReceiver"]


class TokenKind(enum.IntEnum):
    """Kinds of token the :class:`FrameReceiver` emits."""
    #: A header that passed its CRC-8: ``cmd``, ``tag`` and ``length`` are valid, and ``quiet``
    #: says whether the frame's sync marker followed silence on the line.
    HEADER  = 0
    #: One payload byte in ``data``.
    PAYLOAD = 1
    #: The end of a frame that had a valid header; ``status`` says whether it is intact.
    END     = 2
    #: A frame dropped before its header was valid; ``status`` says why.
    DROP    = 3


#: What the frame receiver tells the command processor.
RxToken = data.StructLayout({
    "kind":   TokenKind,
    "status": Status,
    "data":   8,
    "cmd":    8,
    "tag":    8,
    "length": 16,
    "quiet":  1,
})



class FrameReceiver(wiring.Component):
    """Finds frames in a byte stream and checks them.

    It follows :class:`hw.protocol.ReceiveRules`, which ``tests/test_receiver.py`` checks it
    against byte for byte. For every frame whose header passes its CRC-8 it emits a ``HEADER``
    token, then one ``PAYLOAD`` token per payload byte, then an ``END`` token whose status is
    ``OK``, ``FRAME_CRC`` (the frame check with link key ``key`` failed; see
    :func:`hw.protocol.frame_key`), ``TRUNCATED`` (the line went idle for ``timeout``
    cycles in the middle of the frame) or ``BAD_LENGTH`` (longer than
    :data:`protocol.MAX_PAYLOAD`; the payload is then not consumed). A frame dropped before its
    header is valid gives one ``DROP`` token (``HEADER_CRC`` or ``TRUNCATED``). After any of
    them it hunts for the next sync marker; after a ``HEADER_CRC``, from the byte right after
    the sync marker: the five header bytes are examined again, one per cycle, before more input
    is taken. The idle timer only runs while the receiver is waiting for input.

    A frame's ``HEADER`` token says whether its sync marker is the first byte received after
    ``timeout`` cycles with no byte on ``i_stream`` (or since reset): ``quiet``.

    Parameters
    ----------
    timeout : int
        Idle cycles after which a partly received frame is dropped.
    serial_crc : bool
        Check frames a bit per cycle (:class:`~.common.ByteCRC`): the receiver then takes a byte
        at most every nine cycles.

    Members
    -------
    i_stream : :py:`In(stream.Signature(8))`
        Received bytes.
    key : :py:`In(32)`
        The link key.
    o_stream : :py:`Out(stream.Signature(RxToken))`
        Tokens.
    waiting : :py:`Out(1)`
        The receiver is waiting for input with no token pending.
    """
    i_stream: In(stream.Signature(8))
    key:      In(32)
    o_stream: Out(stream.Signature(RxToken))
    waiting:  Out(1)

    def __init__(self, *, timeout, serial_crc=False):
        if not isinstance(timeout, int) or timeout < 1:
            raise ValueError(f"Frame timeout must be a positive number of cycles, "
                             f"not {timeout!r}")
        self._timeout = timeout
        self._serial_crc = bool(serial_crc)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        r = SimpleNamespace()
        m.submodules.crc8 = r.crc8 = crc_processor(protocol.CRC8_ALGORITHM)
        m.submodules.fcs = r.fcs = ByteCRC(protocol.FCS_ALGORITHM, serial=self._serial_crc)
        r.header = Signal(FrameHeader)
        r.quiet = Signal()          # the frame being received followed silence
        r.index = Signal(range(max(protocol.MAX_PAYLOAD, 5) + 1))
        # After a failed header its bytes are examined again: taken from the header register,
        # which rotates, so that it holds them in order again after all five.
        r.replay = Signal(range(protocol.FRAME_HEADER_SIZE + 1))
        r.replaying = Signal()
        r.byte = Signal(8)
        r.ready = Signal()  # the state takes a byte
        r.take = Signal()   # a byte is consumed this cycle
        r.shift = Signal()  # the byte taken is a header byte
        r.expired = Signal()
        r.slot_free = ~self.o_stream.valid | self.o_stream.ready
        m.d.comb += [
            r.replaying.eq(r.replay != 0),
            r.byte.eq(Mux(r.replaying, r.header.as_value()[:8], self.i_stream.payload)),
            self.i_stream.ready.eq(r.ready & r.fcs.ready & ~r.replaying),
            r.take.eq(r.ready & r.fcs.ready & (r.replaying | self.i_stream.valid)),
            r.crc8.data.eq(r.byte),
            r.fcs.data.eq(r.byte),
        ]
        with m.If(self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)
        with m.If(r.take & (r.shift | r.replaying)):
            m.d.sync += r.header.as_value().eq(Cat(r.header.as_value()[8:], r.byte))
        with m.If(r.take & r.replaying):
            m.d.sync += r.replay.eq(r.replay - 1)
        self._silence_timer(m, r)
        with m.FSM(name="fsm"):
            self._header_states(m, r)
            self._payload_states(m, r)
            self._end_states(m, r)
        return m

    def _silence_timer(self, m, r):
        """Count the cycles with no byte offered, up to ``timeout``: when it is full, a frame
        being received has been left idle (``expired``), and a first sync byte taken (not one
        examined again) starts a quiet frame. One counter serves both."""
        idle = Signal(range(self._timeout + 1), init=self._timeout)
        r.silent = Signal()
        m.d.comb += [
            r.expired.eq(idle == self._timeout),
            r.silent.eq(r.expired & ~r.replaying),
        ]
        with m.If(self.i_stream.valid):
            m.d.sync += idle.eq(0)
        with m.Elif(idle != self._timeout):
            m.d.sync += idle.eq(idle + 1)

    def _emit(self, m, r, kind, status=Status.OK, data_=0):
        token = self.o_stream.payload
        m.d.sync += [
            self.o_stream.valid.eq(1),
            token.kind.eq(kind),
            token.status.eq(status),
            token.data.eq(data_),
            token.cmd.eq(r.header.cmd),
            token.tag.eq(r.header.tag),
            token.length.eq(r.header.length),
            token.quiet.eq(r.quiet),
        ]

    def _listening(self, m, r):
        """Take bytes, and say whether only waiting for input."""
        m.d.comb += [
            r.ready.eq(1),
            self.waiting.eq(~self.i_stream.valid & ~self.o_stream.valid & ~r.replaying),
        ]

    def _header_states(self, m, r):
        """Hunt the sync marker, take the header, check its CRC-8 before trusting the length."""
        take, byte, header, index = r.take, r.byte, r.header, r.index
        with m.State("Sync-0"):
            self._listening(m, r)
            with m.If(take & (byte == protocol.SYNC[0])):
                m.d.sync += r.quiet.eq(r.silent)
                m.next = "Sync-1"

        with m.State("Sync-1"):
            self._listening(m, r)
            with m.If(take):
                with m.If(byte == protocol.SYNC[1]):
                    m.d.sync += index.eq(0)
                    m.next = "Header"
                with m.Elif(byte != protocol.SYNC[0]):
                    m.next = "Sync-0"
            with m.Elif(r.expired):
                m.next = "Sync-0"   # a lone sync byte is not a frame

        with m.State("Header"):
            self._listening(m, r)
            m.d.comb += [
                r.crc8.valid.eq(take),
                r.crc8.start.eq(index == 0),
                r.fcs.valid.eq(take),
                r.fcs.start.eq(index == 0),
            ]
            m.d.comb += r.shift.eq(1)
            with m.If(take):
                m.d.sync += index.eq(index + 1)
                with m.If(index == protocol.FRAME_HEADER_SIZE - 1):
                    m.next = "Check"
            with m.Elif(r.expired):
                m.next = "Drop-Truncated"

        with m.State("Check"):
            with m.If(r.slot_free):
                m.d.sync += index.eq(0)
                with m.If(~r.crc8.match_detected):
                    self._emit(m, r, TokenKind.DROP, Status.HEADER_CRC)
                    m.d.sync += r.replay.eq(protocol.FRAME_HEADER_SIZE)
                    m.next = "Sync-0"
                with m.Else():
                    self._emit(m, r, TokenKind.HEADER)
                    with m.If(header.length > protocol.MAX_PAYLOAD):
                        m.next = "End-Bad-Length"
                    with m.Elif(header.length == 0):
                        m.next = "Trailer"
                    with m.Else():
                        m.next = "Payload"

    def _payload_states(self, m, r):
        """Pass the payload on byte by byte, then take the frame check."""
        take, index = r.take, r.index
        with m.State("Payload"):
            m.d.comb += [
                r.ready.eq(r.slot_free),
                self.waiting.eq(~self.i_stream.valid & ~self.o_stream.valid),
                r.fcs.valid.eq(take),
            ]
            with m.If(take):
                self._emit(m, r, TokenKind.PAYLOAD, data_=r.byte)
                m.d.sync += index.eq(index + 1)
                with m.If(index == r.header.length - 1):
                    m.d.sync += index.eq(0)
                    m.next = "Trailer"
            with m.Elif(r.expired):
                m.next = "End-Truncated"

        with m.State("Trailer"):
            self._listening(m, r)
            # The frame check with the key taken off is the CRC, little-endian: fed on, it
            # leaves the CRC's residue, which `match_detected` checks.
            key = Mux(r.header.cmd[:7] == protocol.Command.OPEN, 0, self.key)
            m.d.comb += [
                r.fcs.valid.eq(take),
                r.fcs.data.eq(r.byte ^ key.word_select(index[:2], 8)),
            ]
            with m.If(take):
                m.d.sync += index.eq(index + 1)
                with m.If(index == protocol.FCS_SIZE - 1):
                    m.next = "End"
            with m.Elif(r.expired):
                m.next = "End-Truncated"

    def _end_states(self, m, r):
        """One token that ends or drops the frame, then back to hunting."""
        ends = (
            ("Drop-Truncated", TokenKind.DROP, Status.TRUNCATED),
            ("End-Bad-Length", TokenKind.END, Status.BAD_LENGTH),
            ("End", TokenKind.END, Mux(r.fcs.match_detected, Status.OK, Status.FRAME_CRC)),
            ("End-Truncated", TokenKind.END, Status.TRUNCATED),
        )
        for name, kind, status in ends:
            with m.State(name):
                with m.If(r.slot_free & r.fcs.ready):
                    self._emit(m, r, kind, status)
                    m.next = "Sync-0"
