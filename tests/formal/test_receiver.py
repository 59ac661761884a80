# SPDX-License-Identifier: BSD-2-Clause
"""Formal proof of :class:`hw.framing.receiver.FrameReceiver`: once the line goes idle, it drops
a partial frame and is idle within ``timeout + 9`` cycles (k-induction)."""

from amaranth import *
from amaranth.hdl import Assert

from hw import protocol
from hw.framing import receiver

from . import sby

#: The receiver's idle timeout in the proofs, in cycles.
TIMEOUT = 8


def replay_invariants(rx):
    """Return the assertions that bound the header bytes a receiver ``rx`` (a
    :class:`sby.Internals`) still has to examine again after a failed header: at most five, only
    while hunting or in a header, and never enough to complete a header by themselves (a sync
    marker found among them leaves at most three)."""
    replay, index = rx["replay"], rx["index"]
    hunting = rx.in_state("Sync-0") | rx.in_state("Sync-1") | rx.in_state("Header")
    return [
        Assert(replay <= protocol.FRAME_HEADER_SIZE, "replay count in range"),
        Assert((replay == 0) | hunting, "header bytes examined again only while hunting"),
        Assert(~rx.in_state("Sync-1") | (replay < protocol.FRAME_HEADER_SIZE),
               "the replayed sync byte taken"),
        Assert(~rx.in_state("Header") | (replay == 0) |
               (index + replay <= protocol.FRAME_HEADER_SIZE - protocol.SYNC_SIZE),
               "a replayed header needs bytes from the line"),
    ]


class ReceiverIdleProof(sby.Harness):
    """The frame receiver is back to hunting for a frame, with no token pending and no header
    byte left to examine again, at most ``timeout + 9`` cycles after the line goes idle, if its
    tokens are taken.

    ``i_stream`` and ``o_stream.ready`` are free, and so is reset. Once ``i_stream.valid`` has
    been low and ``o_stream.ready`` high for ``bound`` cycles in a row, the receiver is in its
    first state, ``o_stream.valid`` is low and no header byte is left to examine again: a
    partial frame was dropped by the idle timer and its token taken. Proven by k-induction from
    any state with the idle timer in range.

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
    def __init__(self, timeout, *, bound=None, invariants=True, block=receiver.FrameReceiver):
        self._timeout = timeout
        self._bound = self.bound(timeout) if bound is None else bound
        self._invariants = invariants
        self._block = block
        super().__init__()

    @staticmethod
    def bound(timeout):
        """Return the proven bound, in cycles, for a receiver with the given timeout: the
        ``timeout + 4`` of a partial frame, and five more to examine a failed header's bytes
        again, which can start the partial frame."""
        return timeout + 9

    def elaborate(self, platform):
        m = Module()
        dut = self._block(timeout=self._timeout)
        inner = sby.embed(m, "dut", dut, platform)
        sby.free(m, dut.i_stream.payload, dut.i_stream.valid, dut.o_stream.ready)
        quiet = sby.quiet_counter(m, ~dut.i_stream.valid & dut.o_stream.ready, self._bound)
        m.d.comb += Assert((quiet < self._bound) |
                           (inner.in_state("Sync-0") & ~dut.o_stream.valid &
                            (inner["replay"] == 0)),
                           "idle after a quiet line")
        if self._invariants:
            m.d.comb += [
                Assert(inner.valid_state(), "a state of the FSM"),
                Assert(inner["idle"] <= self._timeout, "idle timer in range"),
                *replay_invariants(inner),
            ]
        return m


def payload_never_expires():
    """Return the frame receiver class with a payload state that ignores its idle timer (a
    broken variant, which the command processor's proofs use too)."""
    return sby.variant(receiver, [
        ('m.next = "Trailer"\n            with m.Elif(r.expired):',
         'm.next = "Trailer"\n            with m.Elif(0):'),
    ], name="payload_never_expires").FrameReceiver


PROOFS = [
    sby.Proof("receiver_idle", f"FrameReceiver idle {ReceiverIdleProof.bound(TIMEOUT)} cycles "
              f"after the line (timeout {TIMEOUT})",
              lambda: ReceiverIdleProof(TIMEOUT), "prove", ReceiverIdleProof.bound(TIMEOUT) + 2),
    sby.Proof("receiver_idle_broken", "receiver whose payload state ignores its timer",
              lambda: ReceiverIdleProof(TIMEOUT, invariants=False,
                                        block=payload_never_expires()),
              "bmc", ReceiverIdleProof.bound(TIMEOUT) + 12, "fail"),
]


test_proof, test_proof_elaborates, test_every_property_can_fail = sby.proof_tests(PROOFS)
