# SPDX-License-Identifier: BSD-2-Clause
"""A test store: any store behind pseudo-random latency and stalls on all three streams."""

from amaranth import *
from amaranth.lib import wiring

from ..sampler.lfsr import LFSR
from .interface import StoreSignature

__all__ = ["StallingStore"]


class StallingStore(wiring.Component):
    """Wraps a store and holds back each transfer of its three streams for a pseudo-random
    number of cycles, as a DRAM controller's latency, bursts and refresh would.

    Each stream passes through a gate that opens on a random cycle (with probability
    ``1 - stall`` per cycle) and, once open, stays open until the transfer, so both sides keep
    the stream rules: ``valid`` never drops before a transfer. The read data therefore arrives
    any number of cycles after its command, in random bursts. A user that is correct with this
    store does not depend on a store's latency. The random bits come from a 32-bit
    :class:`~hw.sampler.lfsr.LFSR` that leaps 18 steps per cycle: six fresh bits per gate.

    Parameters
    ----------
    store : :class:`wiring.Component` with :class:`~hw.store.interface.StoreSignature`
        The store to wrap.
    stall : int
        Chance that a closed gate stays closed in a cycle, in 64ths: 0 (never stalls) to 63.
    seed : int
        Seed of the random bits (a zero seed loads 1, as the LFSR's does).

    Members
    -------
    cmd, w_stream, r_stream
        As :class:`~hw.store.interface.StoreSignature`.

    Raises
    ------
    ValueError
        If ``stall`` is not an integer from 0 to 63.
    """
    def __init__(self, store, *, stall=32, seed=1):
        if not isinstance(stall, int) or not 0 <= stall < 64:
            raise ValueError(f"Stall chance must be an integer from 0 to 63 (64ths), "
                             f"not {stall!r}")
        self.store = store
        self._stall = stall
        self._seed = seed
        super().__init__(StoreSignature(store.signature.capacity))

    @property
    def capacity(self):
        """Size of the store in bytes."""
        return self.signature.capacity

    def elaborate(self, platform):
        m = Module()
        m.submodules.store = inner = self.store
        m.submodules.rng = rng = LFSR(32, leap=18)
        m.d.comb += [
            rng.seed.eq(self._seed),
            rng.en.eq(1),
        ]
        pairs = (
            (self.cmd, inner.cmd),                  # source is the user, sink the store
            (self.w_stream, inner.w_stream),
            (inner.r_stream, self.r_stream),        # source is the store, sink the user
        )
        for i, (source, sink) in enumerate(pairs):
            # Six random bits per gate: open with probability (64 - stall) / 64.
            chance = rng.state[6 * i:6 * i + 6]
            is_open = Signal(name=f"gate{i}_open")
            opens = Signal(name=f"gate{i}_opens")
            m.d.comb += [
                opens.eq(is_open | (chance >= self._stall)),
                sink.payload.eq(source.payload),
                sink.valid.eq(source.valid & opens),
                source.ready.eq(sink.ready & opens),
            ]
            with m.If(source.valid & sink.ready & opens):
                m.d.sync += is_open.eq(0)
            with m.Elif(source.valid & opens):
                m.d.sync += is_open.eq(1)
        return m
