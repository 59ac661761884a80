# SPDX-License-Identifier: BSD-2-Clause
"""The stored header: what the host says it trained (kind, shape, ...), kept by the device so
that sampling needs no side file."""

from amaranth import *
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .. import protocol

__all__ = ["HeaderBanks"]

_INDEX_BITS = ceil_log2(protocol.HEADER_SIZE)


class HeaderBanks(wiring.Component):
    """Two banks of :data:`hw.protocol.HEADER_SIZE` bytes: the current header, and a spare one
    that a BEGIN fills as its payload arrives and that becomes current only when the BEGIN
    succeeds, so a rejected BEGIN leaves the stored header as it was.

    Members
    -------
    w_en : :py:`In(1)`
        Write ``w_data`` at ``w_index`` of the spare bank.
    w_index : :py:`In(range(HEADER_SIZE))`
    w_data : :py:`In(8)`
    swap : :py:`In(1)`
        The spare bank becomes current (and the current one spare).
    r_en : :py:`In(1)`
        Read byte ``r_index`` of the current bank: ``r_data`` shows it in the next cycle and
        holds while ``r_en`` is low.
    r_index : :py:`In(range(HEADER_SIZE))`
    r_data : :py:`Out(8)`
    """
    w_en:    In(1)
    w_index: In(_INDEX_BITS)
    w_data:  In(8)
    swap:    In(1)
    r_en:    In(1)
    r_index: In(_INDEX_BITS)
    r_data:  Out(8)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=8, depth=2 * protocol.HEADER_SIZE, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        bank = Signal()             # the current bank
        with m.If(self.swap):
            m.d.sync += bank.eq(~bank)
        m.d.comb += [
            wr.addr.eq(Cat(self.w_index, ~bank)),
            wr.data.eq(self.w_data),
            wr.en.eq(self.w_en),
            rd.addr.eq(Cat(self.r_index, bank)),
            rd.en.eq(self.r_en),
            self.r_data.eq(rd.data),
        ]
        return m
