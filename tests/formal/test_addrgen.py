# SPDX-License-Identifier: BSD-2-Clause
"""Formal proofs of :class:`hw.sampler.addrgen.AddressGenerator`.

It never emits an index at or past the latched count, in any mode (k-induction), and in shuffle
mode emits each index exactly once per epoch (bounded over one whole epoch, for every count up
to ``max_count``, which covers every epoch: see :class:`ShuffleEpochProof`), with the facts that
bounded proof rests on proven by k-induction (:class:`MixerHandshakeProof`,
:class:`AddressFreezeProof`).

The same :func:`.sby.variant` that builds the broken variants builds an abstraction: the address
generator with its seed scrambler replaced by :class:`FreeMixer`, whose result and latency are
arbitrary.
"""

from amaranth import *
from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import Assert, Assume, Cover

from hw.protocol import Mode
from hw.sampler import addrgen
from hw.sampler.addrgen_model import index_bits, walk_width

from . import sby


class FreeMixer(Elaboratable):
    """Stand-in for :class:`hw.sampler.addrgen.SplitMix64` with the same ports and handshake but any
    latency and any result.

    After ``start`` it is ``busy`` for one or more cycles, then ``done`` for one cycle; its
    ``result`` is arbitrary in every cycle. Every behaviour of the real scrambler is one of these
    (:class:`MixerHandshakeProof` proves the handshake; its result, a bijection of the seed, is
    one of the arbitrary values), so a safety property proven with the stand-in holds for the
    real block, and it lets a bounded proof reach a walk without the 130 cycles of scrambling.

    Parameters
    ----------
    latency : int or None
        Cycles of ``busy``, or :py:`None` for any number. A fixed latency of at least
        :func:`settle_cycles` is enough where :class:`AddressFreezeProof` shows that the block
        does nothing in the scrambler's later cycles.
    """
    def __init__(self, latency=None):
        self._latency = latency
        self.seed = Signal(64)
        self.start = Signal()
        self.busy = Signal()
        self.done = Signal()
        self.result = Signal(64)

    def elaborate(self, platform):
        m = Module()
        if self._latency is None:
            finish = AnySeq(1)
        else:
            elapsed = Signal(range(self._latency + 1))
            finish = elapsed == self._latency - 1
            with m.If(self.busy):
                m.d.sync += elapsed.eq(elapsed + 1)
            with m.Else():
                m.d.sync += elapsed.eq(0)
        m.d.comb += self.result.eq(AnySeq(64))
        m.d.sync += self.done.eq(0)
        with m.If(self.start):
            m.d.sync += self.busy.eq(1)
        with m.Elif(self.busy & finish):
            m.d.sync += [
                self.busy.eq(0),
                self.done.eq(1),
            ]
        return m


def settle_cycles(max_count):
    """Return the cycles after a restart the address generator may still use to set itself up
    while its seed is scrambled (growing its masks); it holds in the scrambler's later cycles.
    The real scrambler takes :data:`hw.sampler.addrgen.MIX_CYCLES`, far more."""
    return index_bits(max_count) + 2


def abstract_addrgen(edits=(), *, name="free_mixer", latency=None):
    """Return a copy of the address generator module, edited as :func:`.sby.variant` does, whose
    seed scrambler is a :class:`FreeMixer` of the given latency."""
    def mixer():
        return FreeMixer(latency)
    return sby.variant(addrgen, edits, name=name, replace={"SplitMix64": mixer})


class MixerHandshakeProof(sby.Harness):
    """The seed scrambler keeps the handshake :class:`FreeMixer` assumes.

    ``busy`` rises only after ``start``; ``done`` is high for one cycle only, in the first cycle
    after a run of ``busy`` that no ``start`` cut short, and never together with ``busy``.
    ``seed`` and ``start`` are free.

    Parameters
    ----------
    block : type
        The scrambler class (a mutant for the broken variant).
    """
    def __init__(self, *, block=addrgen.SplitMix64):
        self._block = block
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        dut = self._block()
        m.submodules.dut = dut
        sby.free(m, dut.seed, dut.start)
        last_busy = Signal()
        last_start = Signal()
        last_done = Signal()
        m.d.sync += [last_busy.eq(dut.busy), last_start.eq(dut.start), last_done.eq(dut.done)]
        m.d.comb += [
            Assert(~dut.busy | last_busy | last_start, "busy rises only after start"),
            Assert(~dut.done | (last_busy & ~last_start & ~dut.busy), "done ends a busy run"),
            Assert(~(dut.done & last_done), "done lasts one cycle"),
        ]
        return m


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
    each mode, so the assumptions leave the interesting runs in (use them with a
    :class:`FreeMixer` block, or the scrambler's 130 cycles come first).

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
    """While the stream stalls, or the seed scrambler runs past :func:`settle_cycles`, the
    address generator holds.

    Every register of the block and of its random-number LFSR keeps its value through a cycle
    in which the block is neither restarted nor loading the scrambled seed, and either its
    output is valid but not taken or the scrambler has been busy for :func:`settle_cycles`
    cycles or more. So stalls and the scrambler's latency beyond that only delay the index
    sequence, and :class:`ShuffleEpochProof` may leave them out. All inputs and reset are free.
    Proven by k-induction of depth :func:`settle_cycles` + 3, which covers the set-up.

    Parameters
    ----------
    max_count : int
        Elaboration parameter of the block.
    block : type
        The block class; by default the real one with a :class:`FreeMixer` of any latency (the
        scrambler's own registers are not among those that must hold).
    """
    def __init__(self, max_count, *, block=None):
        self._max_count = max_count
        self._block = block or abstract_addrgen().AddressGenerator
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        dut = self._block(self._max_count)
        inner = sby.embed(m, "dut", dut, platform)
        _drive_addrgen(m, dut, self._max_count)
        mixer = inner.block("mix")
        registers = [*sby.registers(inner.fragment),
                     *sby.registers(inner.sub("rng").fragment)]

        settle = settle_cycles(self._max_count)
        scrambling = Signal(range(settle + 1))     # cycles the scrambler has been busy
        with m.If(dut.restart | ~mixer.busy):
            m.d.sync += scrambling.eq(0)
        with m.Elif(scrambling != settle):
            m.d.sync += scrambling.eq(scrambling + 1)
        hold = Signal()
        m.d.sync += hold.eq(~ResetSignal() & ~dut.restart & ~mixer.done &
                            ((dut.o_stream.valid & ~dut.o_stream.ready) |
                             (mixer.busy & (scrambling == settle))))
        for register in registers:
            previous = Signal.like(register, name=f"previous_{register.name}")
            m.d.sync += previous.eq(register)
            m.d.comb += Assert(~hold | (register == previous), "holds while stalled")
        return m


class ShuffleEpochProof(sby.Harness):
    """In shuffle mode every epoch emits each index below the count exactly once.

    A restart in the first cycle selects shuffle mode with a count ``N`` from 1 to
    ``max_count`` and any seed, the stream is always ready, and the seed scrambler is a
    :class:`FreeMixer` of latency :func:`settle_cycles`, so the first epoch starts from an
    arbitrary walker start and key. The wrapper keeps the set of indices taken since the
    restart or since the last complete epoch (``N`` indices), and asserts:

    * no index is taken twice in an epoch;
    * when the block's first epoch ends (after ``2**m`` candidates, ``m`` the walker's width),
      exactly ``N`` indices have been taken: one whole epoch, none of the next;
    * the walker is then back at its start with a new key: the state the first epoch started
      from, with the key arbitrary again.

    A cover shows an epoch of ``max_count`` indices. The depth needed is one epoch; every later
    epoch starts from a state of the kind the first one did, so the bounded proof covers them.
    One restart at the start stands for any (a restart sets every register from the inputs and
    the scrambler's result), and :class:`AddressFreezeProof` shows that stalls and the
    scrambler's latency beyond :func:`settle_cycles` only delay the sequence.

    Parameters
    ----------
    max_count : int
        Elaboration parameter of the block.
    block : type
        The block class (a mutant for the broken variant).
    """
    def __init__(self, max_count, *, block=None):
        self._max_count = max_count
        self._block = block or abstract_addrgen(latency=settle_cycles(max_count)).AddressGenerator
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        dut = self._block(self._max_count)
        inner = sby.embed(m, "dut", dut, platform)
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

        # Restart, the scrambler's cycles, the walk loaded, then one candidate per cycle, each
        # visible on the stream the cycle after: the first epoch's last candidate (the key)
        # has been taken by the cycle below.
        horizon = self.epoch_cycles(self._max_count, self._max_count) + 1
        cycle = Signal(range(horizon + 1))
        with m.If(cycle != horizon):
            m.d.sync += cycle.eq(cycle + 1)
        epoch_end = Array(Const(self.epoch_cycles(count, self._max_count), len(cycle))
                          for count in range(self._max_count + 1))[n]
        with m.If((n != 0) & (cycle == epoch_end - 1)):
            # The key was the last candidate; the next epoch's first is being computed.
            m.d.comb += Assert((inner["walk"] == inner["walk_start"]) & ~inner["last"],
                               "the walker is back at its start")
        with m.If((n != 0) & (cycle == epoch_end)):
            m.d.comb += Assert((epochs == 1) & (taken == 0), "the first epoch took N indices")
        return m

    @staticmethod
    def epoch_cycles(count, max_count):
        """Return the cycle by which the first epoch of ``count`` indices has been taken."""
        return 3 + settle_cycles(max_count) + (1 << walk_width(count))


# Broken variants, built when a proof runs, so that a mutation site that has moved breaks only
# its own proof.

def _mixer_done_on_restart():
    return sby.variant(addrgen, [
        ("self.done.eq(self.busy & second & (step == 63) & ~self.start)",
         "self.done.eq(self.busy & second & (step == 63))"),
    ], name="done_on_restart").SplitMix64


def _no_rejection():
    return abstract_addrgen([
        ("self.o_stream.valid.eq(r.value < r.count)", "self.o_stream.valid.eq(1)"),
    ], name="no_rejection").AddressGenerator


def _ignores_stall():
    return abstract_addrgen([
        ("advance.eq(~self.o_stream.valid | self.o_stream.ready)", "advance.eq(1)"),
    ], name="ignores_stall").AddressGenerator


def _no_key():
    return abstract_addrgen([
        ("m.d.comb += r.value.eq(r.walk ^ r.key)", "m.d.comb += r.value.eq(r.walk)"),
    ], name="no_key", latency=settle_cycles(8)).AddressGenerator


PROOFS = [
    sby.Proof("mixer_handshake", "seed scrambler keeps the FreeMixer handshake",
              lambda: MixerHandshakeProof(), "prove", 2),
    sby.Proof("mixer_handshake_broken", "scrambler signals done despite a restart",
              lambda: MixerHandshakeProof(block=_mixer_done_on_restart()), "bmc", 132, "fail",
              engine=sby.SYN),
    *(sby.Proof(f"addrgen_bound_{n}", f"AddressGenerator({n}) index < latched N, all modes",
                lambda n=n: AddressBoundProof(n), "prove", 2)
      for n in (6, 8, 48)),
    sby.Proof("addrgen_bound_cover", "AddressGenerator(8) emits N-1 in every mode (cover)",
              lambda: AddressBoundProof(8, block=abstract_addrgen().AddressGenerator),
              "cover", 16),
    sby.Proof("addrgen_bound_broken", "address generator without its rejection check",
              lambda: AddressBoundProof(6, block=_no_rejection()), "bmc", 6, "fail"),
    sby.Proof("addrgen_freeze_8", "AddressGenerator(8) holds while stalled or scrambling",
              lambda: AddressFreezeProof(8), "prove", settle_cycles(8) + 3),
    sby.Proof("addrgen_freeze_broken", "address generator that advances while stalled",
              lambda: AddressFreezeProof(8, block=_ignores_stall()), "bmc", 10, "fail"),
    *(sby.Proof(f"shuffle_epoch_{n}", f"shuffle, N <= {n}: each index once per epoch",
                lambda n=n: ShuffleEpochProof(n), "bmc",
                ShuffleEpochProof.epoch_cycles(n, n) + 1, engine=sby.SYN)
      for n in (5, 8)),
    sby.Proof("shuffle_epoch_cover", "shuffle, N = 8: an epoch completes (cover)",
              lambda: ShuffleEpochProof(8), "cover", ShuffleEpochProof.epoch_cycles(8, 8) + 1),
    sby.Proof("shuffle_epoch_broken", "shuffle without the epoch key",
              lambda: ShuffleEpochProof(8, block=_no_key()), "bmc",
              ShuffleEpochProof.epoch_cycles(8, 8) + 1, "fail", engine=sby.SYN),
]


test_proof, test_proof_elaborates, test_every_property_can_fail = sby.proof_tests(PROOFS)
