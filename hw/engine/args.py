# SPDX-License-Identifier: BSD-2-Clause
"""Request arguments: their layout, built from the field tables of :mod:`hw.protocol`, and the
block that captures them from a frame's payload."""

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .. import protocol

__all__ = ["RequestArgs", "ARGS_SIZE", "ArgumentCapture"]


def _layout(fields):
    return data.StructLayout({name: 8 * size for name, size in fields})


#: The fixed arguments at the start of a request's payload, one view per command, from the
#: protocol's field tables (LEARN's data and BEGIN's header follow them).
RequestArgs = data.UnionLayout({
    "begin":  _layout(protocol.BEGIN_FIELDS),
    "learn":  _layout(protocol.LEARN_FIELDS),
    "commit": _layout(protocol.COMMIT_FIELDS),
    "seed":   _layout(protocol.SEED_FIELDS),
    "sample": _layout(protocol.SAMPLE_FIELDS),
    "read":   _layout(protocol.READ_FIELDS),
    "open":   _layout(protocol.OPEN_FIELDS),
    "csr":    _layout(protocol.CSR_FIELDS),
})

#: Bytes of the largest argument block.
ARGS_SIZE = RequestArgs.size // 8

# The capture keeps its bytes in registers of at most 64 bits: far cheaper to simulate.
_WORD_BYTES = 8


class ArgumentCapture(wiring.Component):
    """Keeps the first :data:`ARGS_SIZE` bytes of a request's payload.

    Members
    -------
    clear : :py:`In(1)`
        Zero the arguments (a new frame begins); takes priority over ``en``.
    en : :py:`In(1)`
        Payload byte ``index`` is ``byte``.
    index : :py:`In(16)`
        Position of ``byte`` in the payload; bytes from :data:`ARGS_SIZE` on are ignored.
    byte : :py:`In(8)`
    args : :py:`Out(RequestArgs)`
        The arguments captured so far (combinational view of the registers).
    """
    clear: In(1)
    en:    In(1)
    index: In(16)
    byte:  In(8)
    args:  Out(RequestArgs)

    def elaborate(self, platform):
        m = Module()
        words = []
        for start in range(0, ARGS_SIZE, _WORD_BYTES):
            size = min(_WORD_BYTES, ARGS_SIZE - start)
            word = Signal(8 * size, name=f"word{start // _WORD_BYTES}")
            words.append(word)
            with m.If(self.clear):
                m.d.sync += word.eq(0)
            with m.Elif(self.en & (self.index >= start) & (self.index < start + size)):
                select = (self.index - start)[:max(1, (size - 1).bit_length())]
                m.d.sync += word.word_select(select, 8).eq(self.byte)
        m.d.comb += self.args.eq(Cat(*words))
        return m
