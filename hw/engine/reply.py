# SPDX-License-Identifier: BSD-2-Clause
"""The reply serializer: the status of every reply, and for INFO everything INFO reports."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .. import protocol

__all__ = ["ReplyFields", "ReplySerializer"]

#: Every field of a status and an INFO reply, in wire order, from the protocol's field tables.
ReplyFields = data.StructLayout({name: 8 * size for name, size in
                                 protocol.STATUS_FIELDS + protocol.INFO_FIELDS})

_FIXED_SIZE = protocol.STATUS_SIZE + protocol.INFO_SIZE
_INFO_LENGTH = _FIXED_SIZE + protocol.HEADER_SIZE


class ReplySerializer(wiring.Component):
    """Sends a reply's payload: the :data:`hw.protocol.STATUS_FIELDS` of ``fields`` or, for an
    INFO reply, all of ``fields`` and then the stored header, read from a
    :class:`~hw.engine.headers.HeaderBanks`.

    The fields are taken as each byte leaves, except those named in ``snapshot``, which are
    taken when the reply starts: a counter that runs every cycle, sent one byte per UART byte
    time, would otherwise be torn by a carry between two of its bytes.

    Parameters
    ----------
    snapshot : tuple of str
        Fields of :data:`ReplyFields` kept as they were at ``start``.

    Members
    -------
    start : :py:`In(1)`
        Start a reply (a status reply, or with ``info`` an INFO reply).
    info : :py:`In(1)`
    length : :py:`Out(range(...))`
        Payload length of the reply that ``info`` selects (combinational).
    fields : :py:`In(ReplyFields)`
    header_en, header_index : :py:`Out(1)`, :py:`Out(ceil_log2(HEADER_SIZE))`
        Read port of the header, one cycle of latency, holding while disabled.
    header_data : :py:`In(8)`
    o_stream : :py:`Out(stream.Signature(8))`
        The payload bytes.
    """
    def __init__(self, *, snapshot=()):
        unknown = set(snapshot) - set(ReplyFields.members)
        if unknown:
            raise ValueError(f"Snapshot fields must be fields of a reply, not {sorted(unknown)}")
        self._snapshot = tuple(snapshot)
        super().__init__({
            "start":        In(1),
            "info":         In(1),
            "length":       Out(range(_INFO_LENGTH + 1)),
            "fields":       In(ReplyFields),
            "header_en":    Out(1),
            "header_index": Out(ceil_log2(protocol.HEADER_SIZE)),
            "header_data":  In(8),
            "o_stream":     Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        fields = {name: self.fields[name] for name in ReplyFields.members}
        for name in self._snapshot:
            fields[name] = Signal.like(self.fields[name], name=f"{name}_at_start")
            with m.If(self.start):
                m.d.sync += fields[name].eq(self.fields[name])
        fixed_bytes = []
        for name in ReplyFields.members:
            value = Value.cast(fields[name])
            fixed_bytes += [value[i:i + 8] for i in range(0, len(value), 8)]

        length = Signal.like(self.length)
        index = Signal.like(self.length)
        from_header = Signal()
        byte = Signal(8)
        advance = Signal()
        m.d.comb += [
            self.length.eq(Mux(self.info, _INFO_LENGTH, protocol.STATUS_SIZE)),
            advance.eq(~self.o_stream.valid | self.o_stream.ready),
            self.header_en.eq(advance),
            self.header_index.eq((index - _FIXED_SIZE)[:len(self.header_index)]),
            self.o_stream.payload.eq(Mux(from_header, self.header_data, byte)),
        ]
        with m.If(self.start):
            m.d.sync += [
                index.eq(0),
                length.eq(self.length),
                self.o_stream.valid.eq(0),
            ]
        with m.Elif(advance):
            with m.If(index < length):
                # A case per byte rather than a shift of one wide vector: far cheaper to
                # simulate, and the same multiplexer in hardware.
                with m.Switch(index):
                    for i, field_byte in enumerate(fixed_bytes):
                        with m.Case(i):
                            m.d.sync += byte.eq(field_byte)
                m.d.sync += [
                    from_header.eq(index >= _FIXED_SIZE),
                    index.eq(index + 1),
                    self.o_stream.valid.eq(1),
                ]
            with m.Else():
                m.d.sync += self.o_stream.valid.eq(0)
        return m
