# SPDX-License-Identifier: BSD-2-Clause
"""Formal proofs of :class:`hw.sampler.addrgen.AddressGenerator`.

It never emits an index at or past the latched count, in any mode (k-induction); it holds while
its output stalls (k-induction); and in shuffle mode it emits each index exactly once per epoch,
for every seed and every count up to ``max_count``, over the first two epochs (bounded), which
stand for all of them: see :class:`ShuffleEpochProof`.

The same :func:`.sby.variant` that builds the broken variants builds an abstraction for the
epoch proof: the generator with every new key arbitrary (:func:`free_keys`).
"""

from amaranth import *
from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import Assert, Assume, Cover

from hw.protocol import Mode
from hw.sampler import addrgen
from hw.sampler.addrgen_model import domain_bits, index_bits, key_chunks
from hw.sampler.feistel_model import ROUNDS

from . import sby

# The two places the generator loads a key from its LFSR: after the set-up, and between epochs.
_KEY_LOADS = [
    ("r.key.eq(r.rng.next_state),", "r.key.eq(AnySeq(64)),"),
    ("m.d.sync += r.key.eq(r.rng.next_state)", "m.d.sync += r.key.eq(AnySeq(64))"),
]


def free_keys(edits=(), *, name="free_keys"):
    """Return a copy of the address generator module, edited as :func:`.sby.variant` does, that
    loads an arbitrary key wherever the real one loads the next state of its LFSR.

    Every key sequence of the real block is one of these, so a safety property proven with the
    copy holds for the real block; the solver then need not follow the seed through the cipher
    into the key, only the key through the cipher into the indices.
    """
    return sby.variant(addrgen, [*_KEY_LOADS, *edits], name=name, replace={"AnySeq": AnySeq})


def _drive_addrgen(m, dut, max_count, *, mode=None):
    # Free inputs; a restart carries a count the block supports (and, if given, one mode).
    sby.free(m, dut.mode, dut.seed, dut.count, dut.restart, dut.o_stream.ready)
    with m.If(dut.restart):
        m.d.comb += Assume((dut.count >= 1) & (dut.count <= max_count))
        if mode is not None:
            m.d.comb += Assume(dut.mode == mode)


class AddressBoundProof(sby.Harness):
    """The address generator never emits an index at or beyond the latched count, in any mode.

    ``mode``, ``seed``, ``restart`` and ``o_stream.ready`` are free, and so is reset; a restart
    carries a count from 1 to ``max_count``. The wrapper latches the count itself and asserts
    that it equals the block's own latched count (which makes the property inductive) and that
    every valid index is below it. Covers show that an index ``max_count - 1`` is emitted in
    each mode, so the assumptions leave the interesting runs in.

    Parameters
    ----------
    max_count : int
        Elaboration parameter of the block.
    block : type
        The block class (a mutant for the broken variant).
    """
    def __init__(self, max_count, *, block=addrgen.AddressGenerator):
        self._max_count = max_count
        self._block = block
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        dut = self._block(self._max_count)
        inner = sby.embed(m, "dut", dut, platform)
        _drive_addrgen(m, dut, self._max_count)

        n = Signal(range(self._max_count + 1))
        mode = Signal(Mode)
        with m.If(dut.restart):
            m.d.sync += [n.eq(dut.count), mode.eq(dut.mode)]
        out = dut.o_stream
        m.d.comb += [
            Assert(n == inner["count"], "the block's latched count is the restart's"),
            Assert(~out.valid | (out.payload < n), "index below the count"),
        ]
        for each in Mode:
            m.d.comb += Cover(out.valid & (out.payload == self._max_count - 1) & (mode == each))
        return m


class AddressFreezeProof(sby.Harness):
    """While the stream stalls, the address generator holds.

    Every register of the block, of its LFSR and of its cipher keeps its value through a cycle
    in which the block is not restarted and its output is valid but not taken. So stalls only
    delay the index sequence, and :class:`ShuffleEpochProof` may leave them out. The set-up,
    which does not wait for the stream, never has a valid output. All inputs and reset are
    free.

    Parameters
    ----------
    max_count : int
        Elaboration parameter of the block.
    block : type
        The block class (a mutant for the broken variant).
    """
    def __init__(self, max_count, *, block=addrgen.AddressGenerator):
        self._max_count = max_count
        self._block = block
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        dut = self._block(self._max_count)
        inner = sby.embed(m, "dut", dut, platform)
        _drive_addrgen(m, dut, self._max_count)
        registers = [*sby.registers(inner.fragment),
                     *sby.registers(inner.sub("rng").fragment),
                     *sby.registers(inner.sub("cipher").fragment)]
        # The set-up (whose cipher advances every cycle) never meets a stall: the stream is idle.
        m.d.comb += Assert(~inner["setup"] | ~dut.o_stream.valid, "no index during set-up")
        hold = Signal()
        m.d.sync += hold.eq(~ResetSignal() & ~dut.restart &
                            dut.o_stream.valid & ~dut.o_stream.ready)
        for register in registers:
            previous = Signal.like(register, name=f"previous_{register.name}")
            m.d.sync += previous.eq(register)
            m.d.comb += Assert(~hold | (register == previous), "holds while stalled")
        return m


def epoch_end(count, max_count, epoch):
    """Return the cycle in which the last index of shuffle epoch ``epoch`` (from 0) is taken,
    the restart being in cycle 0 and the stream always ready: the set-up (the seed's chunks
    through the cipher, then the key load), ``2**m`` candidates an epoch, ``ROUNDS - 1`` cycles
    without one between epochs, and :data:`hw.sampler.addrgen.LATENCY` cycles to the stream."""
    chunks = key_chunks(index_bits(max_count))
    first = chunks + ROUNDS + 2         # the cycle the first candidate is issued in
    candidates = 1 << domain_bits(count)
    return first + epoch * (candidates + ROUNDS - 1) + candidates - 1 + addrgen.LATENCY


class ShuffleEpochProof(sby.Harness):
    """In shuffle mode every epoch emits each index below the count exactly once.

    A restart in the first cycle selects shuffle mode with a count ``N`` from 1 to
    ``max_count`` and any seed, and the stream is always ready. The wrapper keeps the set of
    indices taken since the restart or since the last complete epoch (``N`` indices), and
    asserts:

    * no index is taken twice in an epoch;
    * when the block's first and second epochs end (:func:`epoch_end`), exactly ``N`` and
      ``2 N`` indices have been taken: whole epochs, none of the next.

    With :func:`free_keys`, every epoch's key is arbitrary. An epoch's indices depend only on
    its key, the count and the counter, which starts each epoch at 0, and on the key holding
    while the epoch's candidates pass through the cipher; the second epoch starts as every
    later one does (the previous epoch's last candidates still in the cipher, the key just
    changed), so two epochs cover them all. One restart at the start stands for any (a restart
    sets every register that matters from the inputs), and :class:`AddressFreezeProof` shows
    that stalls only delay the sequence. A cover shows an epoch of ``max_count`` indices.

    Parameters
    ----------
    max_count : int
        Elaboration parameter of the block.
    block : type
        The block class (a mutant for the broken variant).
    """
    def __init__(self, max_count, *, block=None):
        self._max_count = max_count
        self._block = block or free_keys().AddressGenerator
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        dut = self._block(self._max_count)
        sby.embed(m, "dut", dut, platform)
        _drive_addrgen(m, dut, self._max_count, mode=Mode.SHUFFLE)
        m.d.comb += [
            Assume(dut.restart == Initial()),
            Assume(~ResetSignal()),
            Assume(dut.o_stream.ready),
        ]

        n = Signal(range(self._max_count + 1))
        seen = Signal(self._max_count)      # indices taken in this epoch
        taken = Signal(range(self._max_count + 1))
        epochs = Signal(2)
        out = dut.o_stream
        with m.If(dut.restart):
            m.d.sync += [n.eq(dut.count), seen.eq(0), taken.eq(0), epochs.eq(0)]
        with m.Elif(out.valid & out.ready):
            # One comparison per index: a shift by the index is far harder for the solver.
            for index in range(self._max_count):
                with m.If(out.payload == index):
                    m.d.comb += Assert(~seen[index], "no index twice in an epoch")
                    m.d.sync += seen[index].eq(1)
            m.d.sync += taken.eq(taken + 1)
            with m.If(taken + 1 == n):
                m.d.sync += [
                    seen.eq(0),
                    taken.eq(0),
                    epochs.eq(Mux(epochs == 3, 3, epochs + 1)),
                ]
        m.d.comb += Cover((epochs == 1) & (n == self._max_count))

        horizon = self.depth(self._max_count)
        cycle = Signal(range(horizon + 1))
        with m.If(cycle != horizon):
            m.d.sync += cycle.eq(cycle + 1)
        for epoch in (0, 1):
            end = Array(Const(epoch_end(count, self._max_count, epoch) + 1, len(cycle))
                        for count in range(1, self._max_count + 1))[n - 1]
            with m.If((n != 0) & (cycle == end)):
                m.d.comb += Assert((epochs == epoch + 1) & (taken == 0),
                                   "whole epochs of N indices")
        return m

    @staticmethod
    def depth(max_count):
        """Return the steps that reach the second epoch's end for every count."""
        return max(epoch_end(count, max_count, 1) for count in range(1, max_count + 1)) + 2


# Broken variants, built when a proof runs, so that a mutation site that has moved breaks only
# its own proof.

def _no_rejection():
    return sby.variant(addrgen, [
        ("self.o_stream.valid.eq(cipher.o_valid & (cipher.o_value < r.count))",
         "self.o_stream.valid.eq(cipher.o_valid)"),
    ], name="no_rejection").AddressGenerator


def _ignores_stall():
    return sby.variant(addrgen, [
        ("r.advance.eq(~self.o_stream.valid | self.o_stream.ready)", "r.advance.eq(1)"),
    ], name="ignores_stall").AddressGenerator


def _no_drain():
    # The key changes while the epoch's last candidates are still in the cipher.
    return free_keys([
        ("m.d.sync += r.drain.eq(ROUNDS - 1)", "m.d.sync += r.drain.eq(1)"),
    ], name="no_drain").AddressGenerator


PROOFS = [
    *(sby.Proof(f"addrgen_bound_{n}", f"AddressGenerator({n}) index < latched N, all modes",
                lambda n=n: AddressBoundProof(n), "prove", 2)
      for n in (6, 8, 48)),
    sby.Proof("addrgen_bound_cover", "AddressGenerator(8) emits N-1 in every mode (cover)",
              lambda: AddressBoundProof(8, block=free_keys().AddressGenerator), "cover",
              ShuffleEpochProof.depth(8)),
    sby.Proof("addrgen_bound_broken", "address generator without its rejection check",
              lambda: AddressBoundProof(6, block=_no_rejection()), "bmc",
              ShuffleEpochProof.depth(6), "fail"),
    sby.Proof("addrgen_freeze_8", "AddressGenerator(8) holds while stalled",
              lambda: AddressFreezeProof(8), "prove", 3),
    sby.Proof("addrgen_freeze_broken", "address generator that advances while stalled",
              lambda: AddressFreezeProof(8, block=_ignores_stall()), "bmc",
              ShuffleEpochProof.depth(8), "fail"),
    *(sby.Proof(f"shuffle_epoch_{n}", f"shuffle, N <= {n}: each index once per epoch",
                lambda n=n: ShuffleEpochProof(n), "bmc", ShuffleEpochProof.depth(n),
                engine=sby.SYN)
      for n in (5, 8)),
    sby.Proof("shuffle_epoch_cover", "shuffle, N = 8: an epoch completes (cover)",
              lambda: ShuffleEpochProof(8), "cover", ShuffleEpochProof.depth(8)),
    sby.Proof("shuffle_epoch_broken", "shuffle with the key changed before the epoch is out",
              lambda: ShuffleEpochProof(8, block=_no_drain()), "bmc",
              ShuffleEpochProof.depth(8), "fail", engine=sby.SYN),
]


test_proof, test_proof_elaborates, test_every_property_can_fail = sby.proof_tests(PROOFS)
