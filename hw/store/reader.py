# SPDX-License-Identifier: BSD-2-Clause
"""The record reader: turns record indices into store read commands."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .interface import StoreCommand, check_capacity

__all__ = ["RecordReader"]


class RecordReader(wiring.Component):
    """Streams whole records out of a store.

    For each index it receives, it issues one read command for the ``record_size`` bytes of
    that record, and passes the store's read data through. The command for the next record is
    computed while the current one streams, so a block-RAM store gives consecutive records at
    one byte per clock with no gap; any other store gives them in order, at its own pace.

    Parameters
    ----------
    capacity : int
        Size of the store in bytes.

    Members
    -------
    i_stream : :py:`In(stream.Signature(range(capacity)))`
        Record indices; ``(index + 1) * record_size`` must not exceed ``capacity``.
    record_size : :py:`In(range(capacity + 1))`
        Record size in bytes (at least 1); must not change while records are being read.
    cmd : :py:`Out(stream.Signature(StoreCommand(capacity)))`
        Read commands, to a store's ``cmd``.
    r_stream : :py:`In(stream.Signature(8))`
        A store's read data.
    o_stream : :py:`Out(stream.Signature(8))`
        Record bytes.

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer of at least 2.
    """
    def __init__(self, capacity):
        check_capacity(capacity)
        self._capacity = capacity
        super().__init__({
            "i_stream":    In(stream.Signature(range(capacity))),
            "record_size": In(range(capacity + 1)),
            "cmd":         Out(stream.Signature(StoreCommand(capacity))),
            "r_stream":    In(stream.Signature(8)),
            "o_stream":    Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        # Two stages: the index is registered, then multiplied into the command's address, so
        # the multiplier (28 by 29 bits for a 256 MB store) has a whole cycle between
        # registers. Each stage takes a new value whenever the one after it does.
        index = Signal.like(self.i_stream.payload)
        index_valid = Signal()
        cmd_free = Signal()
        index_free = Signal()
        m.d.comb += [
            cmd_free.eq(~self.cmd.valid | self.cmd.ready),
            index_free.eq(~index_valid | cmd_free),
            self.i_stream.ready.eq(index_free),
            # The record size holds while records are read: no register of its own.
            self.cmd.payload.length.eq(self.record_size),
        ]
        with m.If(self.i_stream.valid & index_free):
            m.d.sync += [
                index.eq(self.i_stream.payload),
                index_valid.eq(1),
            ]
        with m.Elif(cmd_free):
            m.d.sync += index_valid.eq(0)
        with m.If(index_valid & cmd_free):
            m.d.sync += [
                self.cmd.payload.addr.eq(index * self.record_size),
                self.cmd.valid.eq(1),
            ]
        with m.Elif(self.cmd.ready):
            m.d.sync += self.cmd.valid.eq(0)
        wiring.connect(m, wiring.flipped(self.r_stream), wiring.flipped(self.o_stream))
        return m
