# SPDX-License-Identifier: BSD-2-Clause
"""Fault-injection and fuzzing campaign on the virtual board: ``python -m sim.fuzz``.

The whole top level (:class:`hw.top.SimTop`, compiled by Verilator) runs in the virtual board's
fault mode (:class:`sim.board.FaultPort`): every byte is driven onto the UART pin by the harness,
which can also drive a low stop bit or a bit time 3% long or short, hold the line idle for a
given number of cycles, and answer markers once the board has settled. Simulated time runs in
lockstep with the campaign, so a run is reproducible cycle for cycle from its seed.

A seeded host drives training sessions (BEGIN, LEARN..., COMMIT, READ back) and sampling, and
injects faults between and into its frames: random bytes, single and burst bit errors, dropped
and duplicated bytes, truncated frames, oversize lengths, stray sync markers right before a
frame, unknown commands, commands in the wrong order or with bad arguments, UART framing errors
and baud mismatch.

Every reply is predicted by :class:`hw.engine.cmdproc_model.CommandProcessorModel`, the
reference model of the frame receiver and the command processor written from
``docs/protocol.md``: the bytes the receiver sees go in, the exact reply frames and counters come
out. Each case's replies must equal the prediction,
and the device's error counters must equal the model's at every INFO and at the end. The one
kind whose outcome cannot be predicted byte for byte, a framing error followed at once by more
bytes (the receiver then re-frames the rest of the frame at arbitrary bit offsets), is checked
by invariants instead (see :meth:`Campaign._indeterminate`). A case whose corruption the CRCs
cannot detect (a corrupted frame that still passes both CRCs, about one in 2**16 for a dropped
or duplicated byte) is drawn again: it tests the CRC's strength, not the gateware's.

After the campaign: the device answers INFO, every committed record reads back byte-identical
to what the host sent in acknowledged frames, a READ past the end and a BEGIN beyond the
capacity are refused with the learned data intact, the counters match, no frame went
unanswered for longer than the frame timeout plus a margin (the harness watchdog), and no byte
was lost. The report goes to stdout and ``build/fuzz.md``.
"""

import argparse
import collections
import dataclasses
import enum
import logging
import random
import sys
import time
from pathlib import Path

from hw import protocol
from hw.argtypes import nonnegative_int, positive_int
from hw.boards.facts import VBOARD_CLK_FREQ
from hw.engine.cmdproc_model import CommandProcessorModel, describe_frame
from hw.protocol import Command, Counter, Mode, Reply, State, Status

from . import board

__all__ = [
    "CAMPAIGN_BAUD", "Kind", "Match", "Expectation", "Case",
    "CampaignError", "Campaign", "Report", "uart_check", "main",
]

_log = logging.getLogger(__name__)

#: Baud rate of the fault-mode board: 8 clock cycles per bit. At the virtual board's usual 2
#: cycles per bit the receiver cannot take a sender 3% fast (see :func:`uart_check`).
CAMPAIGN_CYCLES_PER_BIT = 8
CAMPAIGN_BAUD = VBOARD_CLK_FREQ // CAMPAIGN_CYCLES_PER_BIT

#: Bytes of a LEARN frame's arguments (its offset), and of the most data one can carry.
_LEARN_ARGS = protocol.fields_size(protocol.LEARN_FIELDS)
_LEARN_CHUNK = protocol.MAX_PAYLOAD - _LEARN_ARGS
_LENGTHS = protocol.REQUEST_LENGTHS
_COUNTER_NAMES = [c.name.lower() for c in Counter]
#: Where the TAG byte sits in an encoded frame.
_TAG_AT = protocol.SYNC_SIZE + protocol.field_offset(protocol.FRAME_HEADER_FIELDS, "tag")[0]
#: Clock cycles per bit of the board in :func:`uart_check`.
_UART_CHECK_CPB = (2, 4, 8)
#: How much longer than the frame timeout, in percent, :func:`uart_check` leaves the line idle
#: after each frame: a frame that lost bytes to framing errors is then surely dropped, and its
#: TRUNCATED sent, before the next one starts.
_TIMEOUT_MARGIN_PERCENT = 10


class Kind(enum.Enum):
    """Kinds of case the campaign sends; the value is the report's name."""
    VALID           = "valid frame"
    BIT_ERROR       = "single bit error"
    BURST_ERROR     = "burst error, 2-16 bits"
    DROPPED_BYTE    = "dropped byte"
    DUPLICATED_BYTE = "duplicated byte"
    TRUNCATED       = "truncated frame"
    OVERSIZE_LENGTH = "oversize length"
    RANDOM_BYTES    = "random bytes"
    STRAY_SYNC      = "stray sync marker before a frame"
    UNKNOWN_COMMAND = "unknown command"
    WRONG_ORDER     = "command in the wrong order"
    BAD_ARGUMENT    = "bad argument or length"
    BAD_STOP        = "bad stop bit, then a pause"
    BAD_STOP_B2B    = "bad stop bit, back to back"
    BAUD_SLOW       = "baud -3% (bits 3% long)"
    BAUD_FAST       = "baud +3% (bits 3% short)"


#: Relative frequency of each kind.
WEIGHTS = {
    Kind.VALID: 30, Kind.BIT_ERROR: 6, Kind.BURST_ERROR: 6, Kind.DROPPED_BYTE: 5,
    Kind.DUPLICATED_BYTE: 5, Kind.TRUNCATED: 5, Kind.OVERSIZE_LENGTH: 4, Kind.RANDOM_BYTES: 5,
    Kind.STRAY_SYNC: 4,
    Kind.UNKNOWN_COMMAND: 4, Kind.WRONG_ORDER: 6, Kind.BAD_ARGUMENT: 6, Kind.BAD_STOP: 5,
    Kind.BAD_STOP_B2B: 4, Kind.BAUD_SLOW: 4, Kind.BAUD_FAST: 4,
}


class CampaignError(Exception):
    """The device did something the protocol does not allow; the message says what."""


# The campaign ----------------------------------------------------------------------------------

class Match(enum.Enum):
    """How a case's reply statuses are held against its :class:`Expectation`."""
    #: The replies have exactly the expected statuses, no more.
    EXACT = "exact"
    #: The first replies have the expected statuses; more may follow.
    FIRST = "first"


@dataclasses.dataclass(frozen=True)
class Expectation:
    """What the protocol alone says a case must draw, set where the case is generated.

    The campaign checks every case against the reference model's prediction; a case whose
    outcome also follows from the protocol's rules (what the CRCs detect, which status a
    refusal carries) is checked against this too, and counted in the report under ``rule``.

    Attributes
    ----------
    match : Match
    statuses : tuple of hw.protocol.Status
        The statuses of the case's replies (besides a follow-up INFO's), in order; empty for
        no reply.
    rule : str
        The rule in words, for the report and for a failure's message.
    """
    match: Match
    statuses: tuple
    rule: str

    @classmethod
    def exact(cls, rule, *statuses):
        """Return the expectation that the replies have exactly ``statuses``."""
        return cls(Match.EXACT, statuses, rule)

    @classmethod
    def first(cls, rule, *statuses):
        """Return the expectation that the first replies have ``statuses``."""
        return cls(Match.FIRST, statuses, rule)

    def holds(self, statuses):
        """Return whether reply statuses (a list of ints) meet the expectation."""
        want = [int(status) for status in self.statuses]
        got = list(statuses) if self.match == Match.EXACT else list(statuses[:len(want)])
        return got == want


@dataclasses.dataclass
class Case:
    """One step of the campaign: bytes to drive, with their UART flags and pauses.

    Attributes
    ----------
    kind : Kind
    parts : list
        ``(data, flags, pause)``: bytes driven back to back with one flags value each
        (:class:`sim.board.FaultFlag`), then ``pause`` idle cycles.
    frames : int
        Frames the case sends (a burst of random bytes counts as one).
    intended : set
        ``(cmd, tag, payload)`` of the frames the host means the device to accept.
    note : str
        What was injected, in words, for the message of a failure; never interpreted.
    expect : Expectation or None
        What the protocol alone says the case must draw, if it says anything.
    framing : int
        UART framing errors the case must add.
    follow_tag : int or None
        Tag of the valid INFO sent right after the fault, if any.
    """
    kind: Kind
    parts: list
    frames: int
    intended: set
    note: str
    expect: Expectation | None = None
    framing: int = 0
    follow_tag: int | None = None


@dataclasses.dataclass
class KindStats:
    """What the campaign counted for one kind of case."""
    cases: int = 0
    frames: int = 0
    replies: int = 0
    detected: int = 0
    silent: int = 0
    redrawn: int = 0
    bytes_lost: int = 0
    follow_ups: int = 0
    follow_ups_answered: int = 0
    outcomes: collections.Counter = dataclasses.field(default_factory=collections.Counter)


@dataclasses.dataclass
class Report:
    """The result of a campaign; :meth:`markdown` formats it."""
    seed: int
    requested: int
    frames: int
    cases: int
    kinds: dict
    rules: dict
    counters_expected: dict
    counters_device: dict
    indeterminate: dict
    checks: list
    bytes_sent: int
    bytes_driven: int
    cycles: int
    wall_s: float
    clk_freq: int
    baud: int
    capacity: int
    timeout_cycles: int
    uart: list = dataclasses.field(default_factory=list)

    @property
    def bytes_lost(self):
        """Bytes lost anywhere: sent but not driven, plus those counted per kind."""
        return self.bytes_sent - self.bytes_driven + sum(
            stats.bytes_lost for stats in self.kinds.values())

    def markdown(self):
        """Return the report as Markdown."""
        cpb = self.clk_freq // self.baud
        lines = [
            "# MemGEN fault-injection campaign",
            "",
            (f"`python -m sim.fuzz --frames {self.requested} --seed {self.seed}`: "
             f"{self.frames} frames in {self.cases} cases and the final checks, "
             f"{self.bytes_sent} bytes, {self.cycles} cycles simulated in {self.wall_s:.1f} s "
             f"of wall time. Device: `hw.top.SimTop` at {self.clk_freq / 1e6:g} MHz and "
             f"{self.baud} baud ({cpb} clocks per bit), {self.capacity}-byte store, frame "
             f"timeout {self.timeout_cycles} cycles."),
            "",
            ("| fault kind | injected | frames sent | detected | answered | unanswered | "
             "INFO right after answered | bytes lost | outcomes (cases) |"),
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        total = KindStats()
        for kind in Kind:
            stats = self.kinds[kind]
            for name in ("cases", "frames", "detected", "replies", "silent", "follow_ups",
                         "follow_ups_answered", "bytes_lost", "redrawn"):
                setattr(total, name, getattr(total, name) + getattr(stats, name))
            outcomes = stats.outcomes.most_common()
            text = ", ".join(f"{name} {n}" for name, n in outcomes[:6])
            if len(outcomes) > 6:
                text += f", {len(outcomes) - 6} other outcomes {sum(n for _, n in outcomes[6:])}"
            if stats.redrawn:
                text += f"; {stats.redrawn} drawn again (the CRCs could not see them)"
            follow = (f"{stats.follow_ups_answered}/{stats.follow_ups}" if stats.follow_ups
                      else "-")
            lines.append(f"| {kind.value} | {stats.cases} | {stats.frames} | {stats.detected} | "
                         f"{stats.replies} | {stats.silent} | {follow} | {stats.bytes_lost} | "
                         f"{text or '-'} |")
        lines += [
            (f"| **total** | {total.cases} | {total.frames} | {total.detected} | {total.replies} "
            f"| {total.silent} | {total.follow_ups_answered}/{total.follow_ups} | "
            f"{self.bytes_lost} | {total.redrawn} drawn again |"),
            "",
            ("Per case: *detected*, the device reported the fault (an error reply or a UART "
             "framing error); *answered*, it sent at least one reply; *unanswered*, none, "
             "because the fault destroyed the sync marker (the device stays silent, as the "
             "protocol says, and a host recovers by its time-out). *INFO right after*: 30% of "
             "the faulty frames are followed at once by a valid INFO; it is answered unless the "
             "fault left the receiver inside a frame that swallows it, exactly as predicted. "
             "*Outcomes* lists the statuses of each case's replies (besides that INFO's). "
             "Every reply of every case but the back-to-back framing errors equalled the "
             "reference model's prediction frame for frame; those are checked by invariants. "
             "*Bytes lost*: bytes sent but never driven onto the UART, reply bytes missing or "
             "corrupted, receive overruns."),
            "",
            "## Expectations derived from the protocol",
            "",
            ("Besides the model, each fault whose outcome follows from the protocol alone is "
             "checked against that rule (CRC-8 and CRC-16 detect every single-bit error, the "
             "CRC-8 every burst within one byte, the CRC-16 every burst of up to 16 bits in "
             "its own bit order, which covers any burst within two adjacent bytes):"),
            "",
            "| fault kind | expectation | cases | held |",
            "| --- | --- | ---: | ---: |",
        ]
        for (kind, rule), n in sorted(self.rules.items(),
                                      key=lambda item: (list(Kind).index(item[0][0]),
                                                        item[0][1])):
            lines.append(f"| {kind.value} | {rule} | {n} | {n} |")
        lines += [
            "",
            "## Error counters",
            "",
            ("*expected*: the sum of every determinate case's predicted replies (one counter "
             "per reply: OK to frames_ok, HEADER_CRC to header_errors, FRAME_CRC to crc_errors, "
             "TRUNCATED to timeout_errors, any other error to rejected) and injected framing "
             "errors, plus what the back-to-back framing-error cases added, measured by an INFO "
             "around each and checked by invariants (last column)."),
            "",
            "| counter | expected | device | from back-to-back framing errors |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name in _COUNTER_NAMES:
            lines.append(f"| {name} | {self.counters_expected[name]} | "
                         f"{self.counters_device[name]} | {self.indeterminate.get(name, 0)} |")
        lines += ["", "## Checks after the campaign", ""]
        lines += [f"- {check}" for check in self.checks]
        if self.uart:
            lines += ["", "## UART receiver against a skewed sender", "",
                      ("4 KiB frames with every bit 2.5% or 3% long (sender slow) or short "
                       "(sender fast), back to back, on continuous time, so the start edges "
                       "fall at every phase of the clock."),
                      "",
                      "| clocks per bit | bit time | bytes | framing errors | frames intact |",
                      "| ---: | ---: | ---: | ---: | ---: |"]
            for row in self.uart:
                lines.append(f"| {row['cpb']} | {row['skew']:+.1%} | {row['bytes']} | "
                             f"{row['framing_errors']} | {row['ok']}/{row['frames']} |")
        return "\n".join(lines) + "\n"


class Campaign:
    """A seeded fault-injection campaign against a virtual board in fault mode.

    Parameters
    ----------
    port : sim.board.FaultPort
        The board.
    seed : int
        Seed of every random choice.
    clk_freq, baud : int
        The board's parameters (the capacity comes from its first INFO).
    """

    def __init__(self, port, seed, *, clk_freq, baud):
        self.port = port
        self.seed = seed
        self.rng = random.Random(seed)
        self.clk_freq = clk_freq
        self.baud = baud
        self.capacity = None
        self.cpb = clk_freq // baud
        self.timeout_cycles = protocol.frame_timeout_cycles(clk_freq, baud)
        # Idle time that ends any partly received frame: the timeout, plus the last bytes'
        # way through the UART and the receive FIFO, plus a reply in progress.
        self.grant = self.timeout_cycles + 256 * protocol.UART_BITS_PER_BYTE * self.cpb
        self.tag = 0
        self.model = None
        self.kinds = {kind: KindStats() for kind in Kind}
        self.indeterminate = collections.Counter()
        self.rules = collections.Counter()
        self._uptime = 0
        self.frames = 0
        self.cases = 0
        self.checks = []
        # What the host knows: the session it is teaching and what the device acknowledged.
        self.plan = b""
        self._plans = {}            # BEGIN tag -> the data of the session it starts
        self._sent = {}             # LEARN tag -> (offset, data), of the current case
        self._counters_before = []
        self.acked = bytearray()
        self.committed = None
        self.verify = False         # READ the committed session back next
        self.verified = 0
        self.last_learn = None
        self.marker = None

    # Frames.

    def _frame(self, cmd, payload=b""):
        self.tag = (self.tag + 1) & 0xff
        return protocol.encode_frame(cmd, payload, tag=self.tag)

    def _exchange(self, parts, *, grant=False):
        """Drive parts, idle if asked, wait for the marker; return the frames received."""
        for data, flags, pause in parts:
            self.port.send(data, flags)
            if pause:
                self.port.idle(pause)
        if grant:
            self.port.idle(self.grant)
        received, marker = self.port.sync()
        if not marker.settled:
            raise CampaignError(f"the device hung: busy for more than the watchdog's cycles "
                                f"without a byte in or out (marker {marker.id} at cycle "
                                f"{marker.cycles})")
        if marker.bytes_in != self.port.bytes_sent:
            raise CampaignError(f"{self.port.bytes_sent - marker.bytes_in} bytes sent were "
                                f"never driven onto the UART")
        if marker.tx_framing_errors:
            raise CampaignError(f"{marker.tx_framing_errors} bytes from the device had a low "
                                f"stop bit")
        self.marker = marker
        # Frame by frame, not through hw.transaction: every frame the device sends is compared
        # with the model's, those that no request asked for included.
        decoder = protocol.FrameDecoder()
        frames = decoder.feed(received)
        for frame in frames:
            if (frame.cmd == protocol.reply_code(Command.INFO) and
                    len(frame.payload) >= protocol.STATUS_SIZE + protocol.INFO_SIZE):
                # The device's own clock: it runs on, and never ahead of the simulation's.
                uptime = protocol.parse_info(frame.payload)["uptime"]
                if not self._uptime < uptime <= marker.cycles:
                    raise CampaignError(f"INFO reports an uptime of {uptime} cycles after "
                                        f"{self._uptime}, at cycle {marker.cycles}")
                self._uptime = uptime
        if decoder.errors or decoder.pending:
            raise CampaignError(f"the device sent bytes that are not valid frames "
                                f"({decoder.errors} bad, {decoder.pending} left over): "
                                f"{received[:200].hex()}")
        return frames

    # Generators.

    def _valid(self):
        """Return a valid frame for the device's state, as the host would send it."""
        m, rng = self.model, self.rng
        if self.verify and m.state == State.READY:
            return self._frame(Command.READ, protocol.pack_fields(
                protocol.READ_FIELDS, index=0, count=m.count))
        roll = rng.random()
        if m.state == State.LEARNING and m.write_ptr < m.total and roll < 0.8:
            return self._learn_next()
        if m.state == State.LEARNING and m.write_ptr == m.total and roll < 0.8:
            return self._frame(Command.COMMIT, protocol.pack_fields(
                protocol.COMMIT_FIELDS, crc32=protocol.crc32(bytes(self.acked))))
        if m.state == State.EMPTY and roll < 0.7 or roll < 0.08:
            return self._begin()
        if m.state == State.READY and roll < 0.45:
            count = rng.randint(0, max(1, 2048 // m.record_size))
            return self._frame(Command.SAMPLE,
                               protocol.pack_fields(protocol.SAMPLE_FIELDS, count=count))
        if m.state != State.EMPTY and roll < 0.6 and m.record_size:
            learned = m.write_ptr // m.record_size
            index = rng.randint(0, learned)
            count = rng.randint(0, min(learned - index, max(1, 2048 // m.record_size)))
            return self._frame(Command.READ, protocol.pack_fields(
                protocol.READ_FIELDS, index=index, count=count))
        choice = rng.choice([Command.INFO, Command.CHECKSUM, Command.SEED, Command.SEED,
                             Command.CLEAR])
        if choice == Command.SEED:
            return self._frame(Command.SEED, protocol.pack_fields(
                protocol.SEED_FIELDS, mode=rng.choice(list(Mode)), seed=rng.getrandbits(64)))
        return self._frame(choice)

    def _begin(self):
        rng = self.rng
        if rng.random() < 0.03:
            size = rng.choice([1, 16, 64, 256])
            count = self.capacity // size
        else:
            size = rng.choice([1, 3, 8, 33, 64, 100, 255, 512])
            count = rng.randint(1, max(1, rng.choice([512, 4096, 12288]) // size))
        return self._begin_frame(size, count, rng.randbytes(protocol.HEADER_SIZE),
                                 rng.randbytes(size * count))

    def _begin_frame(self, size, count, header, plan):
        frame = self._frame(Command.BEGIN, protocol.pack_fields(
            protocol.BEGIN_FIELDS, record_size=size, count=count) + header)
        self._plans[self.tag] = plan
        return frame

    def _learn_next(self):
        m, rng = self.model, self.rng
        roll = rng.random()
        size = (rng.randint(1, 256) if roll < 0.7 else rng.randint(257, 2048) if roll < 0.95
                else rng.randint(2049, _LEARN_CHUNK))
        start = m.write_ptr
        data = self.plan[start:start + min(size, m.total - start)]
        return self._frame(Command.LEARN,
                           protocol.pack_fields(protocol.LEARN_FIELDS, offset=start) + data)

    def _wrong_order(self):
        """Return ``(note, frame, status)``: a request the device's state forbids, and the
        status that refuses it."""
        m, rng = self.model, self.rng
        options = []
        if m.state != State.READY:
            options.append(("SAMPLE before COMMIT", Status.BAD_STATE, Command.SAMPLE,
                            protocol.pack_fields(protocol.SAMPLE_FIELDS, count=1)))
        if m.state != State.LEARNING:
            options.append(("LEARN after COMMIT or CLEAR, without BEGIN", Status.BAD_STATE,
                            Command.LEARN,
                            protocol.pack_fields(protocol.LEARN_FIELDS, offset=m.write_ptr) +
                            rng.randbytes(rng.randint(1, 64))))
        if m.state != State.LEARNING or m.write_ptr != m.total:
            options.append(("COMMIT before the last LEARN", Status.BAD_STATE, Command.COMMIT,
                            protocol.pack_fields(protocol.COMMIT_FIELDS,
                                                 crc32=protocol.crc32(bytes(self.acked)))))
        if m.state == State.EMPTY:
            options.append(("READ with nothing learned", Status.BAD_STATE, Command.READ,
                            protocol.pack_fields(protocol.READ_FIELDS, index=0, count=1)))
        if m.state == State.LEARNING:
            offset = rng.choice([m.write_ptr + rng.randint(1, 100),
                                 max(0, m.write_ptr - rng.randint(1, 100)) if m.write_ptr
                                 else m.write_ptr + 1])
            options.append(("LEARN at the wrong offset", Status.OUT_OF_ORDER, Command.LEARN,
                            protocol.pack_fields(protocol.LEARN_FIELDS, offset=offset) +
                            rng.randbytes(rng.randint(0, 64))))
            if self.last_learn is not None and self.last_learn[0] < m.write_ptr:
                offset, data = self.last_learn
                options.append(("LEARN sent twice", Status.OUT_OF_ORDER, Command.LEARN,
                                protocol.pack_fields(protocol.LEARN_FIELDS, offset=offset) +
                                data))
            if m.write_ptr == m.total:
                options.append(("COMMIT with the wrong CRC", Status.CRC_MISMATCH, Command.COMMIT,
                                protocol.pack_fields(protocol.COMMIT_FIELDS, crc32=(
                                    protocol.crc32(bytes(self.acked)) ^ 1 << rng.randrange(32)
                                ))))
        note, status, cmd, payload = rng.choice(options)
        return note, self._frame(cmd, payload), status

    def _bad_argument(self):
        """Return ``(note, frame, status)``: a request with a bad argument or length, and the
        status that refuses it."""
        m, rng = self.model, self.rng
        # A READ with nothing learned is refused for the state before its arguments are looked
        # at; a wrong length is refused before either.
        read_refusal = Status.BAD_STATE if m.state == State.EMPTY else Status.BAD_ARGUMENT
        options = [
            ("BEGIN beyond the capacity", Status.OVERFLOW, Command.BEGIN, protocol.pack_fields(
                protocol.BEGIN_FIELDS, record_size=rng.choice([1, 64, 4096]),
                count=self.capacity // 64 * 64 + rng.randint(1, 1 << 20)) +
             bytes(protocol.HEADER_SIZE)),
            ("BEGIN of 2**32 bytes", Status.OVERFLOW, Command.BEGIN, protocol.pack_fields(
                protocol.BEGIN_FIELDS, record_size=1 << 16, count=1 << 16) +
             bytes(protocol.HEADER_SIZE)),
            ("BEGIN of 2**31 or more records", Status.OVERFLOW, Command.BEGIN,
             protocol.pack_fields(
                protocol.BEGIN_FIELDS, record_size=rng.choice([1, 3]),
                count=rng.randint(1 << 31, (1 << 32) - 1)) + bytes(protocol.HEADER_SIZE)),
            ("BEGIN with a zero size or count", Status.BAD_ARGUMENT, Command.BEGIN,
             protocol.pack_fields(
                protocol.BEGIN_FIELDS, **dict(zip(
                    rng.choice([("record_size", "count"), ("count", "record_size")]),
                    (0, rng.choice([0, 1, 64])), strict=True))) + bytes(protocol.HEADER_SIZE)),
            ("SEED with an unknown mode", Status.BAD_ARGUMENT, Command.SEED, protocol.pack_fields(
                protocol.SEED_FIELDS, mode=rng.randint(3, 255), seed=rng.getrandbits(64))),
            ("INFO with a payload", Status.BAD_LENGTH, Command.INFO,
             rng.randbytes(rng.randint(1, 8))),
            ("BEGIN one byte short", Status.BAD_LENGTH, Command.BEGIN,
             rng.randbytes(_LENGTHS[Command.BEGIN] - 1)),
            ("LEARN without its offset", Status.BAD_LENGTH, Command.LEARN,
             rng.randbytes(rng.randint(0, 3))),
            ("SAMPLE with a long payload", Status.BAD_LENGTH, Command.SAMPLE, rng.randbytes(5)),
            ("READ past 2**31", read_refusal, Command.READ, protocol.pack_fields(
                protocol.READ_FIELDS, index=0xffffffff, count=rng.randint(1, 8))),
        ]
        if m.state != State.EMPTY and m.record_size:
            learned = m.write_ptr // m.record_size
            options.append(("READ past the end", Status.BAD_ARGUMENT, Command.READ,
                            protocol.pack_fields(
                                protocol.READ_FIELDS, index=rng.randint(0, learned),
                                count=learned + 1 + rng.randint(0, 3))))
        if m.state == State.READY and m.record_size:
            options.append(("SAMPLE of 2**31 bytes or more", Status.BAD_ARGUMENT, Command.SAMPLE,
                            protocol.pack_fields(protocol.SAMPLE_FIELDS, count=rng.randint(
                                -(-protocol.MAX_STREAM_BYTES // m.record_size),
                                (1 << 32) - 1))))
        if m.state == State.LEARNING and m.total - m.write_ptr < _LEARN_CHUNK:
            options.append(("LEARN past the session's end", Status.OVERFLOW, Command.LEARN,
                            protocol.pack_fields(protocol.LEARN_FIELDS, offset=m.write_ptr) +
                            rng.randbytes(m.total - m.write_ptr + rng.randint(1, 64))
                            [:_LEARN_CHUNK]))
        note, status, cmd, payload = rng.choice(options)
        payload = payload[:protocol.MAX_PAYLOAD]
        return note, self._frame(cmd, payload), status

    def _generate(self, kind):
        """Return a :class:`Case` of ``kind`` for the device's current state."""
        if kind == Kind.VALID:
            frame = self._valid()
            return Case(kind, [(frame, 0, 0)], 1, {_key(frame)}, "",
                        Expectation.exact("valid frame: OK", Status.OK))
        if kind in (Kind.WRONG_ORDER, Kind.BAD_ARGUMENT):
            generate = self._wrong_order if kind == Kind.WRONG_ORDER else self._bad_argument
            note, frame, status = generate()
            return Case(kind, [(frame, 0, 0)], 1, {_key(frame)}, note,
                        Expectation.exact(f"{note}: {status.name}", status))
        follow_up = self.rng.random() < 0.3
        if kind in (Kind.BAUD_SLOW, Kind.BAUD_FAST):
            return self._skewed_case(kind)
        generate = {
            Kind.UNKNOWN_COMMAND: self._unknown_command_case,
            Kind.RANDOM_BYTES:    self._random_bytes_case,
            Kind.OVERSIZE_LENGTH: self._oversize_case,
            Kind.STRAY_SYNC:      self._stray_sync_case,
            Kind.BAD_STOP:        self._bad_stop_case,
            Kind.BAD_STOP_B2B:    self._bad_stop_case,
        }.get(kind, self._corrupted_case)
        return self._with_follow_up(generate(kind, follow_up), follow_up)

    def _unknown_command_case(self, kind, follow_up):
        rng = self.rng
        cmd = rng.choice([c for c in range(256) if c not in Command._value2member_map_])
        frame = self._frame(cmd, rng.randbytes(rng.choice([0, 0, 4, 9, rng.randint(0, 64)])))
        return Case(kind, [(frame, 0, 0)], 1, {_key(frame)}, f"command {cmd:#04x}",
                    Expectation.exact("unknown command: UNKNOWN_COMMAND",
                                      Status.UNKNOWN_COMMAND))

    def _random_bytes_case(self, kind, follow_up):
        rng = self.rng
        data = rng.randbytes(rng.randint(1, 256))
        if rng.random() < 0.3:      # sync bytes are what can confuse the receiver
            data = bytes(rng.choice([0xa5, 0x5a, rng.randrange(256)]) for _ in data)
        expect = None
        if protocol.SYNC not in data:
            expect = Expectation.exact("random bytes without a5 5a: no reply")
        return Case(kind, self._paced(data), 1, set(), f"{len(data)} random bytes", expect)

    def _paced(self, data):
        """Return parts that drive ``data`` with a pause after each byte that draws replies, as
        long as the replies take to send.

        The bytes of a header that fails are examined again, so bytes rich in sync markers draw
        a 25-byte reply for as few as two: back to back they would overrun the receive FIFO,
        which the model does not predict.
        """
        model = self.model.clone()
        parts, start = [], 0
        for i, byte in enumerate(data):
            before = len(model.out)
            model.feed((byte,))
            if len(model.out) > before:
                sent = sum(protocol.FRAME_OVERHEAD + len(f.payload) for f in model.out[before:])
                parts.append((data[start:i + 1], 0, sent * protocol.UART_BITS_PER_BYTE * self.cpb))
                start = i + 1
        if start < len(data):
            parts.append((data[start:], 0, 0))
        return parts

    def _oversize_case(self, kind, follow_up):
        """A header with a valid CRC-8 and a length over ``MAX_PAYLOAD``, then random bytes."""
        rng = self.rng
        self.tag = (self.tag + 1) & 0xff
        length = rng.randint(protocol.MAX_PAYLOAD + 1, 0xffff)
        head = protocol.pack_fields(protocol.FRAME_HEADER_FIELDS[:-1],     # all but the HCRC
                                    cmd=rng.choice(list(Command)), tag=self.tag, length=length)
        data = protocol.SYNC + head + bytes([protocol.crc8(head)])
        data += rng.randbytes(rng.randint(0, 64))
        return Case(kind, [(data, 0, 0)], 1, set(), f"LEN {length}", Expectation.first(
            f"LEN > {protocol.MAX_PAYLOAD} with a valid header CRC: BAD_LENGTH first (the "
            f"payload is hunted for sync markers)", Status.BAD_LENGTH))

    def _stray_sync_case(self, kind, follow_up):
        """A sync marker and up to four random bytes right before a valid frame: the frame's own
        marker is among the bytes of the header the stray one starts, and must be found."""
        rng = self.rng
        frame = self._valid()
        stray = protocol.SYNC + rng.randbytes(rng.choice([0, 0, rng.randint(1, 4)]))
        data = stray + frame
        expect = None
        if len(stray) == protocol.SYNC_SIZE and \
                protocol.crc8(data[protocol.SYNC_SIZE:protocol.PAYLOAD_OFFSET]) != 0:
            expect = Expectation.exact("a5 5a right before a valid frame: HEADER_CRC, then the "
                                       "frame answered (the header's bytes are examined again)",
                                       Status.HEADER_CRC, Status.OK)
        return Case(kind, [(data, 0, 0)], 1, {_key(frame)},
                    f"{len(stray)} stray bytes before {len(frame)}", expect)

    def _skewed_case(self, kind):
        """A valid frame with every bit 3% long or short."""
        frame = self._valid()
        flag = board.FaultFlag.SLOW if kind == Kind.BAUD_SLOW else board.FaultFlag.FAST
        return Case(kind, [(frame, flag, 0)], 1, {_key(frame)}, "whole frame",
                    Expectation.exact(f"{kind.value}: received intact, OK", Status.OK))

    def _bad_stop_case(self, kind, follow_up):
        """A valid frame with one low stop bit, followed by a pause or, back to back, by the
        rest of the frame."""
        frame = self._valid()
        at = self.rng.randrange(len(frame))
        flags = [0] * len(frame)
        flags[at] = board.FaultFlag.BAD_STOP
        note = f"stop bit of byte {at} of {len(frame)}"
        if kind == Kind.BAD_STOP_B2B:
            return Case(kind, [(frame, flags, 0)], 1, set(), note, framing=1)
        # The pause, two byte times, lets the receiver see the line high before the next start
        # bit: exactly the one byte is lost.
        pause = 2 * protocol.UART_BITS_PER_BYTE * self.cpb
        parts = [(frame[:at + 1], flags[:at + 1], pause), (frame[at + 1:], 0, 0)]
        return Case(kind, parts, 1, set(), note,
                    _dropped_expectation(frame, at, follow_up, "bad stop bit"), framing=1)

    def _corrupted_case(self, kind, follow_up):
        """A valid frame with a bit error or burst, a byte dropped or sent twice, or cut."""
        frame = self._valid()
        data = bytearray(frame)
        corrupt = {
            Kind.BIT_ERROR:       self._flip_bit,
            Kind.BURST_ERROR:     self._flip_burst,
            Kind.DROPPED_BYTE:    self._drop_byte,
            Kind.DUPLICATED_BYTE: self._duplicate_byte,
            Kind.TRUNCATED:       self._cut,
        }[kind]
        note, expect = corrupt(frame, data, follow_up)
        return Case(kind, [(bytes(data), 0, 0)], 1, {_key(frame)}, note, expect)

    # Each corrupts ``data``, a copy of ``frame``, in place; returns a note and an expectation.

    def _flip_bit(self, frame, data, follow_up):
        bit = self.rng.randrange(8 * len(data))
        data[bit // 8] ^= 1 << (bit % 8)
        return (f"bit {bit} of {8 * len(frame)}",
                _corrupted_expectation(bytes(data), bit // 8, bit // 8, burst=False))

    def _flip_burst(self, frame, data, follow_up):
        # A burst in wire order: the UART sends each byte least significant bit first.
        rng = self.rng
        length = rng.randint(2, 16)
        start = rng.randrange(8 * len(data) - length + 1)
        pattern = 1 | 1 << (length - 1) | rng.getrandbits(length)
        for i in range(length):
            if pattern >> i & 1:
                data[(start + i) // 8] ^= 1 << ((start + i) % 8)
        return (f"{length}-bit burst at bit {start} of {8 * len(frame)}",
                _corrupted_expectation(bytes(data), start // 8, (start + length - 1) // 8,
                                       burst=True))

    def _drop_byte(self, frame, data, follow_up):
        at = self.rng.randrange(len(data))
        del data[at]
        return (f"byte {at} of {len(frame)} dropped",
                _dropped_expectation(frame, at, follow_up, "dropped byte"))

    def _duplicate_byte(self, frame, data, follow_up):
        at = self.rng.randrange(len(data))
        data.insert(at, data[at])
        return f"byte {at} of {len(frame)} sent twice", _duplicated_expectation(frame, at)

    def _cut(self, frame, data, follow_up):
        at = self.rng.randrange(1, len(data))
        del data[at:]
        # A follow-up INFO continues the frame: the protocol alone does not say what it draws.
        return (f"cut after {at} of {len(frame)} bytes",
                None if follow_up else _truncated_expectation(at))

    def _with_follow_up(self, case, follow_up):
        """Follow a faulty frame at once by a valid INFO, if asked: the device must find it
        wherever the fault left the receiver."""
        if follow_up:
            info = self._frame(Command.INFO)
            case.parts.append((info, 0, 0))
            case.intended.add(_key(info))
            case.frames += 1
            case.note += ", then INFO"
            case.follow_tag = self.tag
        return case

    # Running cases.

    def _predict(self, case):
        """Return the model after the case, whether it ends mid-frame, and its new frames."""
        model = self.model.clone()
        model.out = []
        model.accepted = []
        for data, flags, _ in case.parts:
            flags = [int(flags)] * len(data) if isinstance(flags, int) else flags
            for byte, flag in zip(data, flags, strict=True):
                if flag & board.FaultFlag.BAD_STOP:
                    model.framing_error()
                else:
                    model.feed((byte,))
        grant = model.midframe
        if grant:
            model.timeout()
        return model, grant

    def _run(self, case, *, record=True, predicted=None):
        """Run a determinate case: predict, drive, compare. Returns the frames received."""
        model, grant = predicted or self._predict(case)
        frames = self._exchange(case.parts, grant=grant)
        expected = [f for f in model.out]
        ok = len(frames) == len(expected) and all(
            e.matches(f) for e, f in zip(expected, frames, strict=True))
        if not ok:
            raise CampaignError(self._mismatch(case, expected, frames))
        self.model = model
        self._observe(frames)
        if record:
            self._record(case, frames, model)
        return frames

    def _mismatch(self, case, expected, frames):
        sent = b"".join(data for data, _, _ in case.parts)
        lines = [(f"case {self.cases} ({case.kind.value}: {case.note or 'as sent'}) was not "
                 f"answered as the protocol says"),
                 f"  sent {len(sent)} bytes: {sent[:96].hex()}{'...' if len(sent) > 96 else ''}",
                 "  expected:"]
        lines += [f"    {e.describe()}" for e in expected] or ["    nothing"]
        lines.append("  received:")
        lines += [f"    {describe_frame(f.cmd, f.tag, f.payload)}"
                  for f in frames] or ["    nothing"]
        return "\n".join(lines)

    def _observe(self, frames):
        """Update what the host knows from the replies it received."""
        for frame in frames:
            if frame.cmd == Reply.DATA or len(frame.payload) < protocol.STATUS_SIZE:
                continue
            if protocol.parse_status(frame.payload)["status"] != Status.OK:
                continue
            request = protocol.request_code(frame.cmd)
            if request == Command.BEGIN:
                self.plan = self._plans.get(frame.tag, b"")
                self.acked = bytearray()
                self.committed = None
                self.last_learn = None
            elif request == Command.LEARN:
                sent = self._sent.get(frame.tag)
                if sent is not None and sent[0] == len(self.acked):
                    self.acked += sent[1]
                    self.last_learn = sent
            elif request == Command.COMMIT:
                self.committed = bytes(self.acked)
                self.verify = True
            elif request == Command.READ and self.verify:
                data = b"".join(f.payload for f in frames if f.cmd == Reply.DATA)
                if data == self.committed:
                    self.verify = False
                    self.verified += 1
                elif len(data) == len(self.committed):
                    raise CampaignError("a committed session reads back different from the "
                                        "data of its acknowledged LEARN frames")
            elif request == Command.CLEAR:
                self.acked = bytearray()
                self.committed = None

    def _record(self, case, frames, model):
        """Count a case's outcome and check it against the expectation derived for it."""
        stats = self.kinds[case.kind]
        stats.cases += 1
        stats.frames += case.frames
        self.frames += case.frames
        self.cases += 1
        replies = []
        follow_up = None
        for frame in frames:
            if frame.cmd == Reply.DATA:
                continue
            if (case.follow_tag is not None and frame.tag == case.follow_tag and
                    frame.cmd == protocol.reply_code(Command.INFO) and
                    frame.payload[0] == Status.OK):
                follow_up = frame
            else:
                replies.append(frame)
        if case.follow_tag is not None:
            stats.follow_ups += 1
            stats.follow_ups_answered += follow_up is not None
        statuses = [frame.payload[0] for frame in replies]
        framing = model.counters[Counter.FRAMING_ERRORS] - \
            self._counters_before[Counter.FRAMING_ERRORS]
        stats.replies += bool(replies)
        stats.silent += not replies
        stats.detected += any(st != Status.OK for st in statuses) or framing > 0
        names = collections.Counter(_status_name(st) for st in statuses)
        if framing:
            names["framing"] = framing
        stats.outcomes[" + ".join(name if n == 1 else f"{n}x {name}"
                                  for name, n in sorted(names.items())) or "no reply"] += 1
        if case.expect is not None:
            if not (case.expect.holds(statuses) and framing == case.framing):
                raise CampaignError(
                    f"case {self.cases} ({case.kind.value}: {case.note}) broke the rule "
                    f"'{case.expect.rule}': replies {[_status_name(st) for st in statuses]}, "
                    f"{framing} framing errors")
            self.rules[case.kind, case.expect.rule] += 1

    def step(self):
        """Run one random case."""
        kinds = list(WEIGHTS)
        kind = self.rng.choices(kinds, [WEIGHTS[k] for k in kinds])[0]
        self._counters_before = list(self.model.counters)
        if kind == Kind.BAD_STOP_B2B:
            self._indeterminate(self._generate(kind))
            return
        for _ in range(20):
            tag = self.tag
            case = self._generate(kind)
            predicted = self._predict(case)
            unintended = [a for a in predicted[0].accepted if a not in case.intended]
            if not unintended:
                break
            # The fault slipped through both CRCs (or random bytes formed a valid frame):
            # that measures the CRC, not the device. Draw another.
            self.kinds[kind].redrawn += 1
            self.tag = tag
        else:
            raise CampaignError(f"could not draw a detectable {kind.value} case")
        self._remember(case)
        self._run(case, predicted=predicted)

    def _remember(self, case):
        """Note the LEARN frames a case means to send, by tag, to credit their
        acknowledgements."""
        self._sent = {
            tag: (protocol.unpack_fields(protocol.LEARN_FIELDS, payload)["offset"],
                  payload[_LEARN_ARGS:])
            for cmd, tag, payload in case.intended
            if cmd == Command.LEARN and len(payload) >= _LEARN_ARGS}

    def _indeterminate(self, case):
        """A framing error followed at once by more bytes.

        After the low stop bit the receiver waits for the line to go high and takes the next
        falling edge, wherever it is, as a start bit: the rest of the frame is re-framed at bit
        offsets that depend on its contents, giving a few garbage bytes and possibly more framing
        errors. The model cannot follow that byte for byte, so the case is checked by
        invariants: at least the one injected framing error is counted; no byte overruns; each
        reply frame received is counted by exactly one counter; nothing is applied (state,
        session, write pointer and header unchanged); and the device answers the INFO that
        follows. The counters then continue from the device's.
        """
        self._remember(case)
        frames = self._exchange(case.parts, grant=True)
        before = self.model.counters
        info_frame = self._frame(Command.INFO)
        replies = self._exchange([(info_frame, 0, 0)])
        if len(replies) != 1 or replies[0].tag != info_frame[_TAG_AT] or \
                replies[0].cmd != protocol.reply_code(Command.INFO):
            raise CampaignError(f"case {self.cases} ({case.kind.value}: {case.note}): no "
                                f"INFO reply after it; received {replies}")
        info = protocol.parse_info(replies[0].payload)
        after = [info["counters"][name] for name in _COUNTER_NAMES]
        delta = [a - b for a, b in zip(after, before, strict=True)]
        problems = []
        if delta[Counter.FRAMING_ERRORS] < 1:
            problems.append("the framing error was not counted")
        if delta[Counter.OVERRUN_ERRORS]:
            problems.append("bytes were lost to overruns")
        counted = sum(delta[c] for c in (Counter.FRAMES_OK, Counter.HEADER_ERRORS,
                                         Counter.CRC_ERRORS, Counter.TIMEOUT_ERRORS,
                                         Counter.REJECTED))
        if counted != len([f for f in frames if f.cmd != Reply.DATA]) + 1:
            problems.append(f"{len(frames)} replies but the counters moved by {counted - 1}")
        allowed = {(protocol.reply_code(cmd), tag) for cmd, tag, _ in case.intended}
        if any(f.cmd != Reply.DATA and f.payload[0] == Status.OK and
               (f.cmd, f.tag) not in allowed for f in frames):
            problems.append("a garbage frame was applied")
        m = self.model
        now = (info["state"], info["count"], info["write_ptr"], info["mode"], info["header"])
        if now != (m.state, m.count, m.write_ptr, m.mode, m.header):
            problems.append(f"the device's state changed: {now[:4]}, expected "
                            f"{(int(m.state), m.count, m.write_ptr, int(m.mode))}")
        if problems:
            raise CampaignError(f"case {self.cases} ({case.kind.value}: {case.note}): "
                                + "; ".join(problems))
        for name, d in zip(_COUNTER_NAMES, delta, strict=True):
            if name == "frames_ok":
                d -= 1      # the INFO itself
            self.indeterminate[name] += d
        m.counters = after
        m.resynchronise()
        case.frames += 1            # the INFO
        self._record(case, frames, m)

    # Start and end.

    def start(self):
        """Ask INFO of a freshly started board and set up the model from it."""
        info_frame = self._frame(Command.INFO)
        frames = self._exchange([(info_frame, 0, 0)])
        if len(frames) != 1:
            raise CampaignError(f"no answer to the first INFO: {frames}")
        info = protocol.parse_info(frames[0].payload)
        self.capacity = info["capacity"]
        self.model = CommandProcessorModel(capacity=self.capacity, clk_freq=self.clk_freq,
                                 baud=self.baud, index_bits=info["index_bits"])
        self.model.feed(info_frame)
        expected = self.model.out.pop()
        if not expected.matches(frames[0]):
            first = frames[0]
            raise CampaignError(f"the board does not start as reset: "
                                f"{describe_frame(first.cmd, first.tag, first.payload)}")
        self.frames += 1
        self._sent = {}

    def _valid_request(self, cmd, payload=b""):
        frame = self._frame(cmd, payload)
        case = Case(Kind.VALID, [(frame, 0, 0)], 1, {_key(frame)}, f"final {cmd.name}")
        self._remember(case)
        self._counters_before = list(self.model.counters)
        frames = self._run(case, record=False)
        self.frames += 1
        return frames

    def _read_all(self, count, record_size):
        """READ ``count`` records in requests of at most 64 KiB; return their bytes."""
        data = bytearray()
        per = max(1, 65536 // record_size)
        for index in range(0, count, per):
            n = min(per, count - index)
            frames = self._valid_request(Command.READ, protocol.pack_fields(
                protocol.READ_FIELDS, index=index, count=n))
            data += b"".join(f.payload for f in frames if f.cmd == Reply.DATA)
        return bytes(data)

    def finish(self):
        """Run the checks after the campaign; return the device's counters and the expected
        ones. The checks' descriptions go to :attr:`checks`."""
        m = self.model
        self._valid_request(Command.INFO)
        self.checks.append(f"{self.verified} committed sessions read back byte-identical to the "
                           f"data of their acknowledged LEARN frames right after their COMMIT")
        self.checks.append(f"the device answers INFO after {self.frames} frames (state "
                           f"{m.state.name.lower()}, {m.write_ptr} bytes learned)")
        if m.state != State.EMPTY and m.record_size:
            self._check_last_session()
        size = 64
        count = self._fill_store(size)
        self._check_refusals(count, size)
        device, expected = self._check_counters()
        self.checks.append(f"no frame went unanswered for longer than the frame timeout plus "
                           f"{self.grant - self.timeout_cycles} cycles: every case was answered "
                           f"as predicted by its marker, and the harness watchdog never fired")
        self.checks.append(f"bytes lost: 0 ({self.port.bytes_sent} bytes sent, "
                           f"{self.marker.bytes_in} driven onto the UART; 0 overruns; every "
                           f"reply byte accounted for; 0 TX framing errors)")
        return device, expected

    def _check_last_session(self):
        """Read back the records of the session the campaign ended in, and its CHECKSUM."""
        m = self.model
        learned = m.write_ptr // m.record_size
        data = self._read_all(learned, m.record_size)
        expect = bytes(self.acked[:learned * m.record_size])
        if data != expect:
            raise CampaignError("the records read back differ from the acknowledged data")
        crc = self._valid_request(Command.CHECKSUM)[-1]
        value = protocol.parse_status(crc.payload)["value"]
        if value != protocol.crc32(bytes(self.acked)):
            raise CampaignError("CHECKSUM differs from the CRC-32 of the acknowledged data")
        self.checks.append(f"the {learned} records of the last session read back "
                           f"byte-identical to the data of the acknowledged LEARN frames; "
                           f"CHECKSUM equals their CRC-32")

    def _fill_store(self, size):
        """Learn and commit records of ``size`` bytes filling the whole store, and try one
        byte more; return the record count."""
        count = self.capacity // size
        plan = self.rng.randbytes(self.capacity)
        frame = self._begin_frame(size, count, b"fuzz".ljust(protocol.HEADER_SIZE, b"\0"), plan)
        self.tag -= 1           # _valid_request numbers the frame again
        self._valid_request(Command.BEGIN, frame[protocol.PAYLOAD_OFFSET:-protocol.CRC16_SIZE])
        m = self.model
        while m.write_ptr < m.total:
            start = self.model.write_ptr
            chunk = self.plan[start:start + _LEARN_CHUNK]
            self._valid_request(Command.LEARN, protocol.pack_fields(
                protocol.LEARN_FIELDS, offset=start) + chunk)
            m = self.model
        self._valid_request(Command.LEARN, protocol.pack_fields(
            protocol.LEARN_FIELDS, offset=m.write_ptr) + b"x")
        if self.model.out[-1].payload[0] != Status.OVERFLOW:
            raise CampaignError(f"a LEARN past the full store was not refused: "
                                f"{self.model.out[-1].describe()}")
        self._valid_request(Command.COMMIT, protocol.pack_fields(
            protocol.COMMIT_FIELDS, crc32=protocol.crc32(self.plan)))
        if self.model.state != State.READY or self.acked != plan:
            raise CampaignError("the full store did not commit")
        self.checks.append(f"the whole store ({self.capacity} bytes) learned and committed; one "
                           f"more LEARN byte refused with OVERFLOW")
        return count

    def _check_refusals(self, count, size):
        """Try to read and learn past the full store; check that it still reads back whole."""
        plan = self.plan
        for note, cmd, payload in [
            ("READ of the record past the end", Command.READ,
             protocol.pack_fields(protocol.READ_FIELDS, index=count, count=1)),
            ("READ of the last record and one more", Command.READ,
             protocol.pack_fields(protocol.READ_FIELDS, index=count - 1, count=2)),
            ("BEGIN one byte beyond the capacity", Command.BEGIN, protocol.pack_fields(
                protocol.BEGIN_FIELDS, record_size=1, count=self.capacity + 1) +
             bytes(protocol.HEADER_SIZE)),
        ]:
            reply = self._valid_request(cmd, payload)[-1]
            status = Status(reply.payload[0])
            if status == Status.OK:
                raise CampaignError(f"{note} was not refused")
            self.checks.append(f"{note} refused with {status.name}")
        data = self._read_all(count, size)
        if data != plan:
            raise CampaignError("the full store does not read back as learned")
        self.checks.append(f"after the refusals the whole store still reads back byte-identical "
                           f"({self.capacity} bytes; state {self.model.state.name.lower()})")

    def _check_counters(self):
        """Check the device's counters against the model's; return both, by name."""
        frames = self._valid_request(Command.INFO)
        device = protocol.parse_info(frames[-1].payload)["counters"]
        expected = dict(zip(_COUNTER_NAMES, self.model.counters, strict=True))
        if device != expected:
            raise CampaignError(f"the device's counters {device} differ from the expected "
                                f"{expected}")
        self.checks.append("the device's error counters equal the expected ones (table above)")
        if device["overrun_errors"]:
            raise CampaignError("bytes were lost to receive overruns")
        return device, expected


# What the protocol alone says a faulty frame draws. Offsets are bytes of the frame as sent:
# the sync marker, then the header, then the payload and the CRC-16.

def _corrupted_expectation(data, first, last, *, burst):
    """Return what a frame with bytes ``first .. last`` corrupted by a single bit error or, if
    ``burst``, a burst must draw, or :py:`None` if the protocol does not say.

    CRC-8 and CRC-16 detect every single-bit error, the CRC-8 every burst within one byte, the
    CRC-16 every burst within two adjacent bytes.
    """
    what = "burst" if burst else "single bit error"
    if last < protocol.SYNC_SIZE and protocol.SYNC not in data:
        return Expectation.exact(f"{what} in the sync marker, no a5 5a left: no reply")
    if (protocol.SYNC_SIZE <= first and last < protocol.PAYLOAD_OFFSET and
            (not burst or first == last)):
        return Expectation.first(f"{what} in the header{' (one byte)' if burst else ''}: "
                                 f"HEADER_CRC first", Status.HEADER_CRC)
    if first >= protocol.PAYLOAD_OFFSET and last - first <= 1:
        return Expectation.exact(f"{what} in the payload or CRC"
                                 f"{' (at most two bytes)' if burst else ''}: "
                                 f"exactly one FRAME_CRC", Status.FRAME_CRC)
    return None


def _dropped_expectation(frame, at, follow_up, what):
    """Return what a frame missing its byte ``at`` (``what`` says how, in words) must draw,
    or :py:`None` if the protocol does not say."""
    if at >= protocol.PAYLOAD_OFFSET and not follow_up:
        return Expectation.exact(f"{what} in the payload or CRC: one TRUNCATED (the frame is a "
                                 f"byte short)", Status.TRUNCATED)
    if at >= protocol.PAYLOAD_OFFSET:
        return Expectation.first(f"{what} in the payload or CRC, INFO right after: FRAME_CRC "
                                 f"first (the INFO's first byte ends the frame)",
                                 Status.FRAME_CRC)
    if at < protocol.SYNC_SIZE and protocol.SYNC not in frame[:at] + frame[at + 1:]:
        return Expectation.exact(f"{what} in the sync marker, no a5 5a left: no reply")
    return None


def _duplicated_expectation(frame, at):
    """Return what a frame with its byte ``at`` sent twice must draw, or :py:`None` if the
    protocol does not say."""
    if at == 0:
        return Expectation.exact("first sync byte sent twice: harmless (a repeated a5 keeps the "
                                 "receiver armed), OK", Status.OK)
    if at >= protocol.PAYLOAD_OFFSET and len(set(frame[at:])) == 1:
        return Expectation.exact("payload or CRC byte sent twice, equal to every byte after it: "
                                 "harmless (the frame arrives intact, one byte spills over), OK",
                                 Status.OK)
    if at >= protocol.PAYLOAD_OFFSET:
        return Expectation.first("payload or CRC byte sent twice: FRAME_CRC first (the bytes "
                                 "after it shift, the frame's last byte spills over)",
                                 Status.FRAME_CRC)
    return None


def _truncated_expectation(at):
    """Return what a frame cut after ``at`` bytes, with nothing after it, must draw."""
    if at < protocol.SYNC_SIZE:
        return Expectation.exact("cut inside the sync marker: no reply (a lone a5 is not a "
                                 "frame)")
    if at < protocol.PAYLOAD_OFFSET:
        return Expectation.exact("cut inside the header: one TRUNCATED", Status.TRUNCATED)
    return Expectation.exact("cut after the header: one TRUNCATED", Status.TRUNCATED)


def _status_name(status):
    if status in Status._value2member_map_:
        return Status(status).name
    return f"{status:#04x}"


def _key(frame):
    """Return ``(cmd, tag, payload)`` of an encoded frame."""
    frame = bytes(frame)
    return (frame[protocol.SYNC_SIZE], frame[_TAG_AT],
            frame[protocol.PAYLOAD_OFFSET:-protocol.CRC16_SIZE])


def uart_check(clk_freq=VBOARD_CLK_FREQ,
               bauds=tuple(VBOARD_CLK_FREQ // cpb for cpb in _UART_CHECK_CPB),
               skews=(30, -30, 25, -25), frames=4):
    """Measure whether the UART receiver takes back-to-back bytes from a skewed sender.

    Sends ``frames`` LEARN frames of 4 KiB of random data (refused with BAD_STATE, which proves
    they arrived intact) with every bit ``skew`` per mille long (positive) or short (negative),
    at each baud rate; returns one row per baud and skew.
    """
    rows = []
    rng = random.Random(0)
    for baud in bauds:
        timeout = protocol.frame_timeout_cycles(clk_freq, baud)
        idle = timeout * (100 + _TIMEOUT_MARGIN_PERCENT) // 100
        for skew in skews:
            flag = board.FaultFlag.SLOW if skew > 0 else board.FaultFlag.FAST
            with board.VirtualBoard(faults=True, baud=baud, skew=abs(skew)) as running, \
                    board.FaultPort(running.address) as port:
                ok = 0
                for i in range(frames):
                    frame = protocol.encode_frame(Command.LEARN,
                                                  rng.randbytes(protocol.MAX_PAYLOAD), tag=i)
                    port.send(frame, flag)
                    port.idle(idle)
                    received, _ = port.sync()
                    replies = protocol.FrameDecoder().feed(received)
                    ok += any(f.tag == i and f.payload[:1] == bytes([Status.BAD_STATE])
                              for f in replies)
                port.send(protocol.encode_frame(Command.INFO, tag=255))
                received, marker = port.sync()
                (reply,) = protocol.FrameDecoder().feed(received)
                info = protocol.parse_info(reply.payload)
            rows.append({"cpb": clk_freq // baud, "skew": skew / 1000,
                         "bytes": marker.bytes_in - protocol.FRAME_OVERHEAD, "frames": frames,
                         "ok": ok, "framing_errors": info["counters"]["framing_errors"]})
    return rows


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sim.fuzz",
        description="Fault-injection and fuzzing campaign on the virtual board: frames with "
                    "bit errors, dropped, duplicated and truncated bytes, random bytes, bad "
                    "lengths and commands, UART framing errors and baud mismatch, every reply "
                    "checked against a reference model of the protocol.")
    parser.add_argument("--frames", type=positive_int, default=10000, metavar="N",
                        help="frames to send, at least (default: %(default)s)")
    parser.add_argument("--seed", type=nonnegative_int, default=1, metavar="S",
                        help="seed of every random choice; the same seed repeats the same "
                             "campaign (default: %(default)s)")
    parser.add_argument("--baud", type=positive_int, default=CAMPAIGN_BAUD, metavar="BAUD",
                        help=f"UART baud rate of the board; {VBOARD_CLK_FREQ} must be a "
                             f"multiple of it (default: %(default)s, 8 clocks per bit)")
    parser.add_argument("--capacity", type=positive_int, default=None, metavar="BYTES",
                        help="store capacity (default: the virtual board's)")
    parser.add_argument("--report", type=Path, default=Path("build/fuzz.md"), metavar="FILE",
                        help="where to write the Markdown report (default: %(default)s)")
    parser.add_argument("--uart-check", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the UART receiver against a sender 2.5%% and 3%% "
                             "off, at 2, 4 and 8 clocks per bit (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every case")
    return parser


def run(frames, seed, *, baud=CAMPAIGN_BAUD, capacity=None, progress=None,
        uart=False):
    """Run a campaign of at least ``frames`` frames on a fresh fault-mode board; return its
    :class:`Report`. Raises :exc:`CampaignError` on the first deviation from the protocol."""
    clk_freq = VBOARD_CLK_FREQ
    board.clocks_per_bit(clk_freq, baud)
    timeout = protocol.frame_timeout_cycles(clk_freq, baud)
    started = time.monotonic()
    with board.VirtualBoard(faults=True, baud=baud, capacity=capacity,
                            watchdog=timeout + timeout // 4) as running, \
            board.FaultPort(running.address, timeout=120) as port:
        campaign = Campaign(port, seed, clk_freq=clk_freq, baud=baud)
        campaign.start()
        while campaign.frames < frames:
            campaign.step()
            if progress is not None:
                progress(campaign)
        device, expected = campaign.finish()
        cycles = campaign.marker.cycles
    wall = time.monotonic() - started
    report = Report(
        seed=seed, requested=frames, frames=campaign.frames, cases=campaign.cases,
        kinds=campaign.kinds, rules=dict(campaign.rules),
        counters_expected=expected, counters_device=device,
        indeterminate=dict(campaign.indeterminate), checks=campaign.checks,
        bytes_sent=port.bytes_sent, bytes_driven=campaign.marker.bytes_in, cycles=cycles,
        wall_s=wall, clk_freq=clk_freq, baud=baud, capacity=campaign.capacity,
        timeout_cycles=timeout)
    if uart:
        report.uart = uart_check()
    return report


def main(argv=None):
    """Run the campaign from the command line; return the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s")
    last = [time.monotonic()]

    def progress(campaign):
        now = time.monotonic()
        if now - last[0] > 10:
            last[0] = now
            _log.info("%d frames, %d cases", campaign.frames, campaign.cases)

    try:
        report = run(args.frames, args.seed, baud=args.baud, capacity=args.capacity,
                     progress=progress, uart=args.uart_check)
    except (CampaignError, board.BoardError, ValueError, OSError) as exc:
        print(f"error: the fault campaign failed: {exc}", file=sys.stderr)
        return 1
    text = report.markdown()
    print(text)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)
    print(f"report written to {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
