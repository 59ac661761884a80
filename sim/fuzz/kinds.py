# SPDX-License-Identifier: BSD-2-Clause
"""The kinds of case the campaign sends, what the protocol alone says each must draw, and
the case itself."""

import dataclasses
import enum

from hw import protocol
from hw.boards.facts import VBOARD_CLK_FREQ
from hw.protocol import Command, Counter, Status

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

#: Lines of a boot log, as a board still running another design prints them (``%d``: a
#: number drawn for each).
_BOOT_LOG = (
    "U-Boot 2024.01 (build %d)\r\n", "DRAM:  %d MiB\r\n", "Loading kernel from 0x%x...\r\n",
    "[    %d.000000] Booting Linux on physical CPU 0x0\r\n", "login %d: ",
    "\x1b[0m\x1b[32m  OK  \x1b[0m Started service %d.\r\n",
)

#: A sync marker and a header that fails its CRC-8.
_BAD_HEADER = protocol.SYNC + bytes([Command.INFO, 0, 0, 0, protocol.crc8(bytes(4)) ^ 0x55])

#: The campaign's own frames have tags below this; the frames hidden in data (see
#: :meth:`Campaign._hidden_case`) have the tags from it up, so that a reply to one is known.
HIDDEN_TAGS = 0xf0

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
    HIDDEN_FRAMES   = "frames hidden in LEARN data, its sync or header corrupted"
    TWO_BIT_FAR     = "2 bit errors 32,767 bits apart in a 4096-byte payload"
    CHATTY_LINE     = "chatty line: boot log, noise, bad headers, then a frame"
    ABORT           = "ABORT (or a new OPEN) at a random point of a stream"
    # Host level: the client, host.device.MemGen, against ports that are no free MemGEN device.
    ECHOING_PORT    = "host: an echoing port"
    SECOND_CLIENT   = "host: a second client of the board"
    CHATTY_PORT     = "host: a port that never stops talking"

#: The kinds run by :func:`host_cases`, not by the campaign on the pins.
HOST_KINDS = (Kind.ECHOING_PORT, Kind.SECOND_CLIENT, Kind.CHATTY_PORT)

#: Relative frequency of each kind.
WEIGHTS = {
    Kind.VALID: 30, Kind.BIT_ERROR: 6, Kind.BURST_ERROR: 6, Kind.DROPPED_BYTE: 5,
    Kind.DUPLICATED_BYTE: 5, Kind.TRUNCATED: 5, Kind.OVERSIZE_LENGTH: 4, Kind.RANDOM_BYTES: 5,
    Kind.STRAY_SYNC: 4,
    Kind.UNKNOWN_COMMAND: 4, Kind.WRONG_ORDER: 6, Kind.BAD_ARGUMENT: 6, Kind.BAD_STOP: 5,
    Kind.BAD_STOP_B2B: 4, Kind.BAUD_SLOW: 4, Kind.BAUD_FAST: 4,
    Kind.HIDDEN_FRAMES: 4, Kind.TWO_BIT_FAR: 3, Kind.CHATTY_LINE: 4, Kind.ABORT: 4,
}

class CampaignError(Exception):
    """The device did something the protocol does not allow; the message says what."""


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
    hidden : set
        ``(reply cmd, tag)`` of the frames hidden inside the data of the case's frames: a reply
        OK to one of them is a command executed from inside data.
    """
    kind: Kind
    parts: list
    frames: int
    intended: set
    note: str
    expect: Expectation | None = None
    framing: int = 0
    follow_tag: int | None = None
    hidden: set = dataclasses.field(default_factory=set)


# What the protocol alone says a faulty frame draws. Offsets are bytes of the frame as sent:
# the sync marker, then the header, then the payload and the frame check.

def _corrupted_expectation(data, first, last, *, burst, drops_answered=True):
    """Return what a frame with bytes ``first .. last`` corrupted by a single bit error or, if
    ``burst``, a burst must draw, or :py:`None` if the protocol does not say.

    CRC-8 and CRC-32 detect every single-bit error, the CRC-8 every burst within one byte, the
    CRC-32 every burst within two adjacent bytes. A header that fails is answered only if
    ``drops_answered`` (no frame dropped in its header was answered since the last valid header).
    """
    what = "burst" if burst else "single bit error"
    if last < protocol.SYNC_SIZE and protocol.SYNC not in data:
        return Expectation.exact(f"{what} in the sync marker, no a5 5a left: no reply")
    if (protocol.SYNC_SIZE <= first and last < protocol.PAYLOAD_OFFSET and
            (not burst or first == last) and drops_answered):
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

def _truncated_expectation(at, drops_answered=True):
    """Return what a frame cut after ``at`` bytes, with nothing after it, must draw (a drop in
    the header only if ``drops_answered``, see :func:`_corrupted_expectation`)."""
    if at < protocol.SYNC_SIZE:
        return Expectation.exact("cut inside the sync marker: no reply (a lone a5 is not a "
                                 "frame)")
    if at < protocol.PAYLOAD_OFFSET and not drops_answered:
        return Expectation.exact("cut inside the header, a drop already answered since the "
                                 "last valid header: no reply")
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
            frame[protocol.PAYLOAD_OFFSET:-protocol.FCS_SIZE])
