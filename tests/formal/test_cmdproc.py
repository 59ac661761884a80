# SPDX-License-Identifier: BSD-2-Clause
"""Formal proofs of :class:`hw.engine.cmdproc.CommandProcessor`.

* It writes the store only below its capacity, at the place the LEARN frame's offset gives and
  inside the training session, whatever bytes arrive (k-induction with invariants relating the
  processor to its frame receiver).
* Once the line goes idle, nothing waits for it: the processor leaves its receiving states
  (idle, or executing or reporting what arrived) within ``timeout + 4`` cycles, and a reply is
  sent and the processor waits for the next frame within 119 cycles of starting the reply
  (k-induction with a count of the cycles still needed).

Not covered: the cycles in between, in which a command executes (by reading the code: a
multiplication of at most 32 cycles for BEGIN, READ and SAMPLE; a CRC pass over at most the
capacity for COMMIT and CHECKSUM; the data frames of READ, at most the capacity, and of SAMPLE,
as long as the host asked for), and the sum of the phases. With an idle line there are at most
two frames to finish, one that arrived whole and a partial one behind it, so the processor is
idle within ``(timeout + 4) + E + 119 + (timeout + 4) + 27`` cycles, ``E`` the execution time:
that composition is argued here, not proven.
"""

import pytest
from amaranth import *
from amaranth.back import rtlil
from amaranth.hdl import Assert
from amaranth.lib import data

from hw import protocol
from hw.engine import cmdproc
from hw.framing import receiver
from hw.framing.common import FrameHeader

from . import sby
from .test_receiver import payload_never_expires

#: Clock and baud rate the proofs use; only INFO reports them.
CLK_FREQ = 1_000_000
BAUD = 115_200

#: The frame receiver's idle timeout in the proofs, in cycles.
TIMEOUT = 8


class _ProcessorHarness(sby.Harness):
    # A command processor with free inputs, and the invariants its proofs share.
    def __init__(self, capacity, *, timeout, invariants, block):
        self._capacity = capacity
        self._timeout = timeout
        self._invariants = invariants
        self._block = block
        super().__init__()

    def _processor(self, m, platform):
        dut = self._block(capacity=self._capacity, clk_freq=CLK_FREQ, baud=BAUD,
                          timeout=self._timeout)
        inner = sby.embed(m, "dut", dut, platform)
        sby.free(m, dut.i_stream.payload, dut.i_stream.valid, dut.o_stream.ready,
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
        kind = receiver.TokenKind
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
                 block=cmdproc.CommandProcessor):
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
                 block=cmdproc.CommandProcessor):
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
        quiet = sby.quiet_counter(m, quiet_now & receiving, self._bound)
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
    LONGEST = protocol.STATUS_SIZE + protocol.INFO_SIZE + protocol.HEADER_SIZE

    def __init__(self, capacity, *, timeout=8, block=cmdproc.CommandProcessor):
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
        spent = sby.quiet_counter(m, ready & replying, bound)

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
        reply_length = Mux(is_info, self.LONGEST, protocol.STATUS_SIZE)
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


# Broken variants, built when a proof runs, so that a mutation site that has moved breaks only
# its own proof.

def _unchecked_learn():
    return sby.variant(cmdproc, [
        ("with m.If(state != State.LEARNING):", "with m.If(0):"),
        ("with m.Elif(write_ptr + data_length > total):", "with m.Elif(0):"),
    ], name="unchecked_learn").CommandProcessor


def _receiver_never_expires():
    return sby.variant(cmdproc, name="receiver_never_expires",
                       replace={"FrameReceiver": payload_never_expires()}).CommandProcessor


def _short_reply():
    return sby.variant(cmdproc, [
        ("m.d.sync += ser_length.eq(reply_length)",
         "m.d.sync += ser_length.eq(reply_length - 1)"),
    ], name="short_reply").CommandProcessor


PROOFS = [
    # It writes the store only inside it.
    *(sby.Proof(f"store_write_{capacity}", f"CommandProcessor({capacity}) writes below capacity",
                lambda capacity=capacity: StoreWriteProof(capacity, timeout=TIMEOUT), "prove", 2)
      for capacity in (48, 64)),
    sby.Proof("store_write_broken", "LEARN without its state and size checks, 3-byte store",
              lambda: StoreWriteProof(3, timeout=TIMEOUT, invariants=False,
                                      block=_unchecked_learn()),
              "bmc", 22, "fail", engine=sby.SYN),

    # Nothing waits forever for a line that went idle.
    sby.Proof("receive_phase_48", f"CommandProcessor idle or executing "
              f"{ReceivePhaseProof.bound(TIMEOUT)} cycles after the line",
              lambda: ReceivePhaseProof(48, timeout=TIMEOUT), "prove", 3),
    sby.Proof("receive_phase_broken", "command processor whose receiver's payload never expires",
              lambda: ReceivePhaseProof(48, timeout=TIMEOUT, invariants=False,
                                        block=_receiver_never_expires()),
              "bmc", 24, "fail", engine=sby.SYN),
    sby.Proof("reply_phase_48", f"CommandProcessor reply done in {ReplyPhaseProof.bound()} cycles",
              lambda: ReplyPhaseProof(48, timeout=TIMEOUT), "prove", 2),
    sby.Proof("reply_phase_broken", "reply serializer one byte short of the frame",
              lambda: ReplyPhaseProof(48, timeout=TIMEOUT, block=_short_reply()),
              "bmc", 14, "fail", engine=sby.SYN),
]


@pytest.mark.slow
@pytest.mark.parametrize("proof", PROOFS, ids=[proof.name for proof in PROOFS])
def test_proof(proof, prove):
    prove(proof)


@pytest.mark.parametrize("proof", PROOFS, ids=[proof.name for proof in PROOFS])
def test_proof_elaborates(proof):
    # Without a solver: every wrapper (and mutant) still builds against the current block.
    assert "$check" in rtlil.convert(proof.make(), name="top")


def test_every_property_can_fail():
    sby.check_variants(PROOFS)
