# SPDX-License-Identifier: BSD-2-Clause
"""Formal proofs of :class:`hw.engine.cmdproc.CommandProcessor`, with the frame receiver and
transmitter of an :class:`hw.engine.engine.Engine`, whose store port's every response is free.

* Every write command it gives the store lies below the capacity and inside the training
  session, whatever bytes arrive and whatever the store does (k-induction with invariants
  relating the processor to its frame receiver).
* Once the line goes idle and the store takes what it is given, nothing waits for it: the
  processor leaves its receiving states (idle, or executing or reporting what arrived) within
  ``timeout + 11 + capacity`` cycles (the capacity bounds the filler a cut-short LEARN frame
  owes the store; the zeros a short BEGIN's header is filled with at its END count as its
  execution), and a reply is sent and the processor waits for the next frame within 121
  cycles of starting the reply (k-induction with a count of the cycles still needed).

Not covered: the cycles in between, in which a command executes (by reading the code: a
multiplication of at most 32 cycles for BEGIN, READ and SAMPLE; a CRC pass over at most the
capacity for COMMIT and CHECKSUM; the data frames of READ, at most the capacity, and of SAMPLE,
as long as the host asked for; each at the store's pace), and the sum of the phases. With an
idle line there are at most two frames to finish, one that arrived whole and a partial one
behind it: that composition is argued here, not proven.
"""

from amaranth import *
from amaranth.hdl import Assert
from amaranth.lib import data

from hw import protocol
from hw.engine import cmdproc, engine
from hw.engine import reply as reply_module
from hw.framing import receiver
from hw.framing.common import FrameHeader

from . import sby
from .test_receiver import payload_never_expires, replay_invariants

#: Clock and link rate the proofs use; only INFO reports them.
CLK_FREQ = 1_000_000
LINK_RATE = 115_200

#: BEGIN's longest payload: a short one's header is filled up to it.
_BEGIN_SIZE = protocol.REQUEST_LENGTHS[protocol.Command.BEGIN]

#: The frame receiver's idle timeout in the proofs, in cycles.
TIMEOUT = 8

_OFFSET_SIZE = protocol.fields_size(protocol.LEARN_FIELDS)


class _EngineHarness(sby.Harness):
    # An engine with free inputs and a free store, and the invariants its proofs share.
    def __init__(self, capacity, *, timeout, invariants, block):
        self._capacity = capacity
        self._timeout = timeout
        self._invariants = invariants
        self._block = block
        super().__init__()

    def _engine(self, m, platform):
        dut = self._block(capacity=self._capacity, clk_freq=CLK_FREQ, link_rate=LINK_RATE,
                          timeout=self._timeout)
        inner = sby.embed(m, "dut", dut, platform)
        store = dut.store       # every response of the store is free
        sby.free(m, dut.i_stream.payload, dut.i_stream.valid, dut.o_stream.ready,
                 dut.link_errors, store.cmd.ready, store.w_stream.ready, store.r_stream.valid,
                 store.r_stream.payload)
        return dut, inner

    def _session_invariants(self, m, dut, proc):
        # The session fits the store; a LEARN frame's write command fits the session and its
        # data follows the command.
        store = dut.store
        write_ptr, total, length = proc["write_ptr"], proc["total"], proc["length"]
        learn_ok, wleft, wcmd_valid = proc["learn_ok"], proc["wleft"], proc["wcmd_valid"]
        payload, execute = proc.in_state("Payload"), proc.in_state("Execute")
        reader = proc.block("reader")
        m.d.comb += [
            Assert(total <= self._capacity, "the session fits the store"),
            Assert(write_ptr <= total, "learned bytes inside the session"),
            Assert(~reader.cmd.payload.write, "the reader only reads"),
            Assert(~(wcmd_valid | (wleft != 0)) | (payload & learn_ok),
                   "a write only for a LEARN frame being received"),
            Assert(~wcmd_valid | (wleft != 0), "a command for some data"),
            Assert(~store.w_stream.valid | ~wcmd_valid, "no data offered before its command"),
        ]
        with m.If((payload | execute) & learn_ok):
            m.d.comb += [
                Assert((proc["cmd"] == protocol.Command.LEARN) & (length >= _OFFSET_SIZE),
                       "learning only from a LEARN frame"),
                Assert(write_ptr + (length - _OFFSET_SIZE) <= total, "the frame's data fits"),
                Assert(wleft <= length - _OFFSET_SIZE, "no more data owed than the frame has"),
            ]

    @staticmethod
    def _frame_invariants(m, proc, rx, rx_block):
        # How far the processor has got through a frame, against the frame receiver: while the
        # processor takes a frame's payload, the receiver is in the same frame, and the payload
        # tokens still to come make up the frame's length.
        token = rx_block.o_stream.payload
        kind = receiver.TokenKind
        header = data.View(FrameHeader, rx["header"])

        def pending(what):
            return rx_block.o_stream.valid & (token.kind == what)

        after_header = Signal()     # the receiver is past a good header, before its END
        m.d.comb += after_header.eq(
            rx.in_state("Payload") | rx.in_state("Trailer") | rx.in_state("End") |
            rx.in_state("End-Truncated") | rx.in_state("End-Bad-Length"))
        m.d.comb += replay_invariants(rx)
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
        taken = proc["index"] + pending(kind.PAYLOAD)   # payload bytes the receiver has taken
        with m.If(proc.in_state("Payload")):
            m.d.comb += [
                Assert(after_header | pending(kind.END), "the receiver is in the frame"),
                Assert(~pending(kind.HEADER) & ~pending(kind.DROP), "no other frame"),
                Assert(~after_header | (header.length == proc["length"]),
                       "the receiver's frame is the processor's"),
                Assert(~rx.in_state("Payload") | (taken == rx["index"]),
                       "payload bytes counted"),
                Assert(~(rx.in_state("Trailer") | rx.in_state("End")) |
                       (taken == proc["length"]), "whole payload counted"),
                Assert(~rx.in_state("End-Truncated") | (taken <= proc["length"]),
                       "truncated payload counted"),
                Assert(~pending(kind.END) | ~after_header,
                       "after a frame's END the receiver hunts the next"),
                Assert(~pending(kind.END) | (proc["index"] <= proc["length"]) |
                       ((proc["cmd"] == protocol.Command.BEGIN) & (proc["index"] <= _BEGIN_SIZE)),
                       "no payload after the end, but a short BEGIN's header filled"),
            ]
            with m.If(proc["learn_ok"] & ~pending(kind.END)):
                m.d.comb += Assert(proc["wleft"] + proc["index"] == proc["length"],
                                   "the data still owed is the data still to come")


class StoreWriteProof(_EngineHarness):
    """The command processor never writes the store at or beyond its capacity.

    Whatever arrives on the engine's input (payload and valid free), whatever its output and
    the store do (every response free), and from any state the invariants allow, every write
    command lies inside the training session, which lies inside the store. The invariants are
    proven along with it, by k-induction:

    * the session's size is at most the capacity, and the bytes learned at most the size;
    * a write command exists only while a LEARN frame whose data fits is received, and covers
      exactly that data;
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
        The engine class (a mutant for the broken variant).
    """
    def __init__(self, capacity, *, timeout=8, invariants=True, block=engine.Engine):
        super().__init__(capacity, timeout=timeout, invariants=invariants, block=block)

    def elaborate(self, platform):
        m = Module()
        dut, inner = self._engine(m, platform)
        proc = inner.sub("cmdproc")
        cmd = dut.store.cmd
        # The write the processor means, in full width (a store command's fields are only as
        # wide as the capacity needs), and the command the store sees.
        # While the command waits, no data has gone: its length is the data still owed.
        wcmd_valid, write_ptr, length = proc["wcmd_valid"], proc["write_ptr"], proc["wleft"]
        end = Signal(34)
        m.d.comb += [
            end.eq(write_ptr + length),
            Assert(~wcmd_valid | (end <= self._capacity), "written inside the store"),
        ]
        if not self._invariants:
            return m
        m.d.comb += [
            Assert(~wcmd_valid | (end <= proc["total"]), "written inside the session"),
            Assert((cmd.valid & cmd.payload.write) == wcmd_valid, "every write command meant"),
            Assert(~wcmd_valid | ((cmd.payload.addr == write_ptr) &
                                  (cmd.payload.length == length)), "the command as meant"),
        ]
        self._session_invariants(m, dut, proc)
        self._frame_invariants(m, proc, inner.sub("rx"), inner.block("rx"))
        return m


class ReceivePhaseProof(_EngineHarness):
    """The command processor never waits for the rest of a frame that is not coming.

    Whatever arrived before (inputs free, any state the invariants allow), once the line is
    idle (input ``valid`` low, output ``ready`` high) and the store takes commands and data,
    the processor spends at most ``bound`` cycles in its receiving states (waiting for a frame,
    taking its payload) before it is idle: its FSM waits for a frame, the frame receiver hunts
    for a sync marker with no token pending, the transmitter is idle and ``waiting`` is high.
    Or it leaves them first, to execute a frame that arrived whole or to report one the
    receiver dropped. Proven by k-induction.

    Parameters
    ----------
    capacity : int
        Elaboration parameter of the block.
    timeout : int
        The frame receiver's idle timeout, in cycles.
    bound : int or None
        :meth:`bound` by default.
    invariants : bool
        Assert the invariants the induction needs as well (the broken variant's bounded check
        leaves them out, to show the property itself fail).
    block : type
        The engine class (a mutant for the broken variant).
    """
    def __init__(self, capacity, *, timeout=8, bound=None, invariants=True,
                 block=engine.Engine):
        self._bound = self.bound(timeout, capacity) if bound is None else bound
        super().__init__(capacity, timeout=timeout, invariants=invariants, block=block)

    @staticmethod
    def bound(timeout, capacity):
        """Return the proven bound, in cycles, for a receiver timeout and a store capacity:
        the receiver's ``timeout + 9``, the filler a cut-short LEARN frame owes the store (at
        most the capacity) and its command."""
        return timeout + 11 + capacity

    def elaborate(self, platform):
        m = Module()
        dut, inner = self._engine(m, platform)
        proc = inner.sub("cmdproc")
        rx = inner.sub("rx")
        rx_block = inner.block("rx")
        tx_block = inner.block("tx")
        # A short BEGIN's header filled at its END is the frame's execution, not its receipt.
        receiving = (proc.in_state("Idle") | proc.in_state("Payload")) & ~proc["fill"]
        quiet_now = (~dut.i_stream.valid & dut.o_stream.ready & dut.store.cmd.ready &
                     dut.store.w_stream.ready)
        quiet = sby.quiet_counter(m, quiet_now & receiving, self._bound)
        idle = Signal()
        m.d.comb += [
            idle.eq(proc.in_state("Idle") & rx.in_state("Sync-0") & ~rx_block.o_stream.valid &
                    tx_block.idle & dut.waiting),
            Assert((quiet < self._bound) | ~(quiet_now & receiving) | idle,
                   "idle after a quiet line"),
        ]
        if not self._invariants:
            return m
        m.d.comb += [
            Assert(proc.valid_state() & rx.valid_state(), "states of the FSMs"),
            Assert(rx["idle"] <= self._timeout, "idle timer in range"),
            # Nothing is sent while receiving: the transmitter works only for a DATA frame or
            # a reply (taking requests between a stream's DATA frames included).
            Assert(proc.in_state("Data") | proc.in_state("Reply-Wait") | tx_block.idle,
                   "the transmitter is idle unless a frame is being sent"),
        ]
        # What makes it inductive: the cycles the receiver still needs to drop a partial frame
        # (its tokens are taken at once while the processor receives), then those the filler
        # of a cut-short LEARN frame needs, plus those spent.
        rx_left = Signal(range(self._timeout + 10))
        expires = self._timeout - rx["idle"] + 1
        with m.If(rx["replay"] != 0):
            # Header bytes to examine again, one a cycle, then a partial frame at most.
            m.d.comb += rx_left.eq(rx["replay"] + self._timeout + 3)
        with m.Elif(rx.in_state("Sync-1")):
            m.d.comb += rx_left.eq(expires + 1)
        with m.Elif(rx.in_state("Header") | rx.in_state("Payload") | rx.in_state("Trailer")):
            m.d.comb += rx_left.eq(expires + 2)
        with m.Elif(rx.in_state("Check")):
            m.d.comb += rx_left.eq(self._timeout + 9)
        with m.Elif(rx.in_state("Sync-0")):
            m.d.comb += rx_left.eq(rx_block.o_stream.valid)
        with m.Else():
            m.d.comb += rx_left.eq(2)
        left = rx_left + proc["wleft"] + proc["wcmd_valid"]
        m.d.comb += Assert(~receiving | ~quiet_now | (quiet + left <= self._bound) | idle,
                           "time spent and time left within the bound")
        self._session_invariants(m, dut, proc)
        self._frame_invariants(m, proc, rx, rx_block)
        return m


class ReplyPhaseProof(_EngineHarness):
    """The command processor finishes a reply frame and waits for the next frame at most
    ``bound`` cycles after it begins one, if its output is ready throughout.

    ``bound`` is the longest reply (INFO's or OPEN's: the status, the INFO fields and the
    stored header) plus 13 cycles: 11 bytes of framing and a cycle each to start and to
    finish. Inputs are
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
        The engine class (a mutant for the broken variant).
    """
    #: Payload bytes of the longest reply, INFO's.
    LONGEST = protocol.STATUS_SIZE + protocol.INFO_SIZE + protocol.HEADER_SIZE

    def __init__(self, capacity, *, timeout=8, block=engine.Engine):
        super().__init__(capacity, timeout=timeout, invariants=True, block=block)

    @classmethod
    def bound(cls):
        """Return the proven bound, in cycles."""
        return cls.LONGEST + protocol.FRAME_OVERHEAD + 2

    def elaborate(self, platform):
        m = Module()
        dut, inner = self._engine(m, platform)
        proc = inner.sub("cmdproc")
        tx = inner.sub("tx")
        tx_block = inner.block("tx")
        bound = self.bound()
        replying = proc.in_state("Reply") | proc.in_state("Reply-Wait")
        ready = dut.o_stream.ready
        spent = sby.quiet_counter(m, ready & replying, bound)

        # Cycles until the transmitter is idle, if every byte is taken at once.
        remaining = tx["remaining"]
        tx_left = Signal(17)
        steps = ["Sync-0", "Sync-1", "Cmd", "Tag", "Length-0", "Length-1", "HCRC"]
        with m.If(tx.in_state("Idle")):
            m.d.comb += tx_left.eq(0)
        fcs = protocol.FCS_SIZE
        for i, state in enumerate(steps):
            with m.Elif(tx.in_state(state)):
                m.d.comb += tx_left.eq(remaining + len(steps) + fcs - i)
        with m.Elif(tx.in_state("Payload")):
            m.d.comb += tx_left.eq(remaining + fcs)
        for i in range(fcs):
            with m.Elif(tx.in_state(f"FCS-{i}")):
                m.d.comb += tx_left.eq(fcs - i)

        is_info = (((proc["cmd"] == protocol.Command.INFO) |
                    (proc["cmd"] == protocol.Command.OPEN)) &
                   (proc["status"] == protocol.Status.OK))
        reply_length = Mux(is_info, self.LONGEST, protocol.STATUS_SIZE)
        left = Mux(proc.in_state("Reply"),
                   tx_left + reply_length + protocol.FRAME_OVERHEAD + 2, tx_left + 1)
        m.d.comb += [
            Assert(~(ready & replying) | (spent + left <= bound),
                   "time spent and time left within the bound"),
            Assert((spent < bound) | ~(ready & replying), "the reply ends in time"),
            Assert(proc.valid_state() & tx.valid_state(), "states of the FSMs"),
            Assert(proc.in_state("Reply-Wait") | proc.in_state("Data") | tx_block.idle,
                   "the transmitter is idle unless a frame is being sent"),
            Assert(~proc["send_data"] | proc.in_state("Data") | proc.in_state("Data-Header"),
                   "data only in a stream of data frames"),
        ]
        ser = proc.sub("serializer")
        ser_index, ser_valid = ser["index"], proc.block("serializer").o_stream.valid
        ser_length = ser["length"]
        with m.If(proc.in_state("Reply-Wait")):
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
# its own proof. Each is an engine whose processor (or its part) is broken.

def _engine_with(processor, name):
    return sby.variant(engine, name=name, replace={"CommandProcessor": processor}).Engine


def _unchecked_learn():
    processor = sby.variant(cmdproc, [
        ("with m.Elif(r.state != State.LEARNING):", "with m.Elif(0):"),
        ("with m.Elif(r.write_ptr + data_length > r.total):", "with m.Elif(0):"),
    ], name="unchecked_learn").CommandProcessor
    return _engine_with(processor, "unchecked_learn")


def _receiver_never_expires():
    return sby.variant(engine, name="receiver_never_expires",
                       replace={"FrameReceiver": payload_never_expires()}).Engine


def _short_reply():
    serializer = sby.variant(reply_module, [
        ("length.eq(self.length),", "length.eq(self.length - 1),"),
    ], name="short_reply").ReplySerializer
    processor = sby.variant(cmdproc, name="short_reply",
                            replace={"ReplySerializer": serializer}).CommandProcessor
    return _engine_with(processor, "short_reply")


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
              f"{ReceivePhaseProof.bound(TIMEOUT, 48)} cycles after the line",
              lambda: ReceivePhaseProof(48, timeout=TIMEOUT), "prove", 3),
    sby.Proof("receive_phase_broken", "command processor whose receiver's payload never expires",
              lambda: ReceivePhaseProof(8, timeout=TIMEOUT, invariants=False,
                                        block=_receiver_never_expires()),
              "bmc", ReceivePhaseProof.bound(TIMEOUT, 8) + 12, "fail", engine=sby.SYN),
    sby.Proof("reply_phase_48", f"CommandProcessor reply done in {ReplyPhaseProof.bound()} cycles",
              lambda: ReplyPhaseProof(48, timeout=TIMEOUT), "prove", 2),
    sby.Proof("reply_phase_broken", "reply serializer one byte short of the frame",
              lambda: ReplyPhaseProof(48, timeout=TIMEOUT, block=_short_reply()),
              "bmc", 14, "fail", engine=sby.SYN),
]


test_proof, test_proof_elaborates, test_every_property_can_fail = sby.proof_tests(PROOFS)
