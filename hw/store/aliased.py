# SPDX-License-Identifier: BSD-2-Clause
"""A test memory: a store's full address range (256 MB, 1 GB) over a small block RAM, so that
the engine's address, length and counter widths can be run end to end at a capacity no
simulation can hold."""

from amaranth import *
from amaranth.lib import memory, wiring
from amaranth.utils import ceil_log2, exact_log2

from .port import RAMPortSignature

__all__ = ["AliasedRAM", "fold", "aliased_image"]


def fold(high):
    """Return the XOR of the bytes of ``high`` (a non-negative integer): the byte
    :class:`AliasedRAM` mixes into the data of a window. Any single bit of ``high`` changes it."""
    value = 0
    while high:
        value ^= high & 0xff
        high >>= 8
    return value


def aliased_image(pattern, capacity):
    """Return the ``capacity`` bytes that :class:`AliasedRAM` of ``capacity`` bytes and a window
    of ``len(pattern)`` bytes holds consistently: window ``h`` (bytes ``h * len(pattern)`` on)
    is ``pattern`` XOR :func:`fold` ``(h)``. Learned at address 0, every byte reads back equal,
    as from a full memory; a byte written or read at another window's address does not.

    Raises
    ------
    ValueError
        If ``len(pattern)`` is not a power of two that divides ``capacity``.
    """
    window = len(pattern)
    if window < 1 or window & (window - 1) or capacity % window:
        raise ValueError(f"The pattern's length must be a power of two that divides the "
                         f"capacity {capacity}, not {window}")
    pattern = bytes(pattern)
    tables = {}
    parts = []
    for high in range(capacity // window):
        mask = fold(high)
        if mask not in tables:
            tables[mask] = bytes(b ^ mask for b in pattern)
        parts.append(tables[mask])
    return b"".join(parts)


class AliasedRAM(wiring.Component):
    """A memory of ``capacity`` bytes of address space over ``window`` bytes of block RAM behind
    a one-cycle port (:class:`~hw.store.port.RAMPortSignature`, for a
    :class:`~hw.store.port.PortStore`).

    Byte ``a`` lives in RAM cell ``a mod window``, stored XOR :func:`fold` ``(a // window)``
    and read back XOR the fold of the read address's window. Data that repeats from window to
    window in that way (:func:`aliased_image`) therefore reads back as from a full memory; a
    store user that writes or reads a byte at a wrong address in another window (a high address
    bit lost or carried wrongly) gets it back changed, which a CRC pass or a read-back shows.
    Only the last write of each cell is kept: a full-memory image other than
    :func:`aliased_image` does not read back.

    Parameters
    ----------
    capacity : int
        Address space in bytes.
    window : int
        Block RAM bytes, a power of two at most ``capacity``.

    Members
    -------
    write, read
        As :class:`~hw.store.port.RAMPortSignature` of ``capacity``; writes at or beyond
        ``capacity`` are dropped.

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer of at least 2, or ``window`` is not a power of two
        from 2 to ``capacity``.
    """
    def __init__(self, capacity, window=1 << 16):
        super().__init__(RAMPortSignature(capacity))
        if not isinstance(window, int) or window < 2 or window & (window - 1) or \
                window > capacity:
            raise ValueError(f"Window must be a power of two from 2 to the capacity "
                             f"{capacity}, not {window!r}")
        self._window = window

    @property
    def capacity(self):
        return self.signature.capacity

    @staticmethod
    def _fold(high):
        value = C(0, 8)
        for start in range(0, len(high), 8):
            value = value ^ high[start:start + 8]
        return value[:8]

    def elaborate(self, platform):
        m = Module()
        bits = exact_log2(self._window)
        width = ceil_log2(self.capacity)
        m.submodules.memory = mem = memory.Memory(shape=8, depth=self._window, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        # The read port holds its data while disabled; so does the window it was read from.
        read_high = Signal(max(1, width - bits))
        with m.If(self.read.en):
            m.d.sync += read_high.eq(self.read.addr[bits:])
        m.d.comb += [
            wr.addr.eq(self.write.addr[:bits]),
            wr.data.eq(self.write.data ^ self._fold(self.write.addr[bits:])),
            wr.en.eq(self.write.en & (self.write.addr < self.capacity)),
            rd.addr.eq(self.read.addr[:bits]),
            rd.en.eq(self.read.en),
            self.read.data.eq(rd.data ^ self._fold(read_high)),
        ]
        return m
