# SPDX-License-Identifier: BSD-2-Clause
"""The MemGEN wire protocol, defined once.

Both the gateware (:mod:`hw.engine.cmdproc`) and the host (:mod:`host.device`) import this
module; it uses only the standard library so that the host never loads Amaranth.
``docs/protocol.md`` describes the same thing byte by byte.

Every frame, in either direction, is::

    SYNC0 SYNC1 | CMD TAG LEN_LO LEN_HI HCRC | PAYLOAD (LEN bytes) | FCS0 FCS1 FCS2 FCS3

* ``HCRC`` is CRC-8/SMBUS over ``CMD TAG LEN_LO LEN_HI``; a frame whose header fails it is
  rejected before its length is trusted, so a corrupted length never swallows the next frame.
* ``FCS``, the frame check, is CRC-32/ISO-HDLC over everything after the sync marker up to the
  end of the payload, XORed with the *link key* (:func:`fcs`). CRC-32/ISO-HDLC detects every
  error of up to 3 bits in messages of up to 91,607 bits, 11,450 bytes, well past the longest
  frame (Koopman, "32-Bit Cyclic Redundancy Codes for Internet Applications", DSN 2002, table
  1; CRC-16/XMODEM, the frame check of version 1, only up to 32,751 bits).
* The link key is 0 after reset; OPEN sets it, and frames whose command is OPEN (the request
  and its reply) always use key 0. A frame inside another frame's payload, written without
  knowing the key, passes the frame check with probability 2**-32.
* Multi-byte integers in headers and payloads are little-endian.

Requests carry a command code; replies carry ``REPLY | command`` and echo the request's tag;
sample and read data travel in ``DATA`` frames before the reply.
"""

import binascii
import dataclasses
import enum
import struct

__all__ = [
    "VERSION", "SYNC", "MAX_PAYLOAD", "HEADER_SIZE", "FRAME_OVERHEAD", "FRAME_TIMEOUT_BYTES",
    "UART_BITS_PER_BYTE", "MAX_STREAM_BYTES", "SYNC_SIZE", "FRAME_HEADER_SIZE", "PAYLOAD_OFFSET",
    "FCS_SIZE", "STATUS_SIZE", "INFO_SIZE",
    "frame_timeout_cycles", "reply_code", "request_code", "STATUS_COUNTERS", "counter_for",
    "field_offset", "parse_status", "parse_info",
    "Command", "Reply", "Status", "State", "Mode", "Counter", "Memory", "Leveling",
    "FRAME_HEADER_FIELDS", "STATUS_FIELDS", "INFO_FIELDS", "SHORT_REQUESTS",
    "BEGIN_FIELDS", "LEARN_FIELDS", "COMMIT_FIELDS", "SEED_FIELDS", "SAMPLE_FIELDS", "READ_FIELDS",
    "OPEN_FIELDS", "CSR_FIELDS", "CSR_READ", "CSR_WRITE", "LEVELING_CSRS", "REQUEST_LENGTHS",
    "STREAM_COMMANDS",
    "CRC8_ALGORITHM", "FCS_ALGORITHM", "CRC32_ALGORITHM",
    "crc8", "crc32", "frame_key", "fcs", "begin_payload", "begin_request", "session_crc",
    "fields_size", "fields_format", "pack_fields", "unpack_fields",
    "encode_frame", "FrameDecoder", "Frame", "ProtocolError",
    "RxState", "Received", "ReceiveRules",
]


#: Protocol version, returned by INFO; bump it on any incompatible change to this module.
VERSION = 2

#: Sync marker that starts every frame.
SYNC = b"\xa5\x5a"

#: Largest payload of any frame. Large enough that the 9 bytes of framing and the 4-byte
#: offset of a LEARN frame cost less than 0.4% of the link.
MAX_PAYLOAD = 4096

#: Size of the header region the device keeps for the host (kind, shape, dtype, ...).
HEADER_SIZE = 32

#: Framing bytes around a payload: sync, header, frame check.
FRAME_OVERHEAD = 2 + 5 + 4

#: Receiver idle time, in UART byte times, after which a partly received frame is dropped
#: (answered with :attr:`Status.TRUNCATED`), and the silence that must come before an OPEN.
#: :func:`frame_timeout_cycles` converts it to clock cycles for a link.
FRAME_TIMEOUT_BYTES = 4096

#: Bits on the wire per byte of a UART link: 8N1 is a start bit, 8 data bits and a stop bit.
#: A UART link carries ``baud / UART_BITS_PER_BYTE`` bytes per second.
UART_BITS_PER_BYTE = 10

#: One SAMPLE or READ streams fewer than this many bytes (the device's 31-bit multiplier and
#: byte counters); a request for more is refused with :attr:`Status.BAD_ARGUMENT`.
MAX_STREAM_BYTES = 1 << 31


class Command(enum.IntEnum):
    """Request command codes."""
    #: Report the device's state, capacity, counters and stored header.
    INFO     = 0x01
    #: Forget the model: state becomes EMPTY.
    CLEAR    = 0x02
    #: Start a training session: record size, record count and header (:data:`BEGIN_FIELDS`).
    BEGIN    = 0x03
    #: Append bytes at a byte offset (:data:`LEARN_FIELDS` followed by the data).
    LEARN    = 0x04
    #: Finish training if the CRC-32 of the stored bytes matches (:data:`COMMIT_FIELDS`).
    COMMIT   = 0x05
    #: Report the CRC-32 of the bytes stored so far, without changing state.
    CHECKSUM = 0x06
    #: Restart the address generator with a mode and seed (:data:`SEED_FIELDS`).
    SEED     = 0x07
    #: Stream the next K records chosen by the address generator (:data:`SAMPLE_FIELDS`).
    SAMPLE   = 0x08
    #: Stream records ``index .. index + count - 1`` (:data:`READ_FIELDS`).
    READ     = 0x09
    #: Start a connection: set the link key (:data:`OPEN_FIELDS`) and end any SAMPLE or READ
    #: still streaming; answered like INFO. Taken only after :data:`FRAME_TIMEOUT_BYTES` of
    #: silence on the line, and always framed with key 0.
    OPEN     = 0x0A
    #: End the SAMPLE or READ being streamed at its next DATA frame boundary.
    ABORT    = 0x0B
    #: Read or write one 32-bit control register of the store (:data:`CSR_FIELDS`): a DRAM
    #: controller's, for read leveling from the host. A store without a control bus answers
    #: :attr:`Status.UNKNOWN_COMMAND`; a write is taken only while the state is EMPTY.
    CSR      = 0x0C


class Reply(enum.IntEnum):
    """Codes of frames the device sends."""
    #: ``REPLY | command``: the answer to a request; payload starts with :data:`STATUS_FIELDS`.
    REPLY = 0x80
    #: A chunk of sampled or read record bytes; the reply follows the last chunk.
    DATA  = 0x40


class Status(enum.IntEnum):
    """First byte of every reply payload."""
    OK              = 0x00
    #: The frame header failed its CRC-8; the tag and command in the reply are unreliable.
    HEADER_CRC      = 0x01
    #: The frame failed its frame check (corrupted, or sent with another link key); nothing
    #: was applied.
    FRAME_CRC       = 0x02
    #: The line went idle in the middle of a frame; nothing was applied.
    TRUNCATED       = 0x03
    UNKNOWN_COMMAND = 0x04
    #: The payload length is wrong for the command, or larger than :data:`MAX_PAYLOAD`.
    BAD_LENGTH      = 0x05
    #: The command is not allowed in the current state (e.g. SAMPLE before COMMIT).
    BAD_STATE       = 0x06
    #: The data would not fit in the store; ``value`` holds the capacity.
    OVERFLOW        = 0x07
    #: A LEARN offset is not the device's write pointer; resend from ``write_ptr``.
    OUT_OF_ORDER    = 0x08
    #: The store's CRC-32 does not match the host's; ``value`` holds the device's CRC.
    CRC_MISMATCH    = 0x09
    #: An argument is out of range (zero record size, unknown mode, index past the end).
    BAD_ARGUMENT    = 0x0A
    #: A SAMPLE or READ is streaming; the request was not applied. Send it again after the
    #: stream's reply, or ABORT the stream.
    BUSY            = 0x0B
    #: The final reply of a SAMPLE or READ that ABORT or OPEN ended early.
    ABORTED         = 0x0C
    #: An OPEN that did not follow :data:`FRAME_TIMEOUT_BYTES` of silence on the line: send
    #: nothing for that long, then OPEN again.
    NOT_QUIET       = 0x0D


class State(enum.IntEnum):
    """What the device has learned."""
    #: Nothing: after reset or CLEAR.
    EMPTY    = 0
    #: A training session began and has not been committed: the model is unfinished.
    LEARNING = 1
    #: Training committed and verified: the device can sample.
    READY    = 2


class Mode(enum.IntEnum):
    """Address generator modes."""
    #: Uniform on [0, N) with replacement, without modulo bias.
    RANDOM  = 0
    #: Every index exactly once per epoch, in a pseudo-random order.
    SHUFFLE = 1
    #: 0, 1, ..., N-1, 0, 1, ...
    RECITE  = 2


class Memory(enum.IntEnum):
    """What the store is, as INFO reports it."""
    #: The FPGA's own memory: block RAM or SPRAM.
    ON_CHIP = 0
    #: External SDR SDRAM (the ULX3S's).
    SDR     = 1
    #: External DDR3 SDRAM (the Arty's).
    DDR3    = 2


class Leveling(enum.IntEnum):
    """The calibration the host must run before the store is used, as INFO reports it."""
    #: None: the store works from power-up (block RAM, SDR SDRAM, a simulated DDR3 PHY).
    NONE     = 0
    #: Read leveling of LiteDRAM's 7-series DDR3 PHY (A7DDRPHY), through CSR with the
    #: register map :data:`LEVELING_CSRS` gives: ``host/leveling.py``.
    A7DDRPHY = 1


class Counter(enum.IntEnum):
    """Error and activity counters returned by INFO, in order."""
    FRAMES_OK      = 0
    HEADER_ERRORS  = 1
    CRC_ERRORS     = 2
    TIMEOUT_ERRORS = 3
    FRAMING_ERRORS = 4
    OVERRUN_ERRORS = 5
    REJECTED       = 6


# Field tables: (name, size in bytes), little-endian, in wire order. The gateware builds its
# `data.StructLayout`s from these and the host its `struct` formats.

#: The five header bytes after the sync marker.
FRAME_HEADER_FIELDS = (
    ("cmd",    1),
    ("tag",    1),
    ("length", 2),
    ("hcrc",   1),
)

#: Start of every reply payload.
STATUS_FIELDS = (
    ("status",    1),   # Status
    ("cmd",       1),   # command this replies to
    ("state",     1),   # State
    ("mode",      1),   # Mode of the address generator
    ("count",     4),   # N, records in the training session (BEGIN)
    ("write_ptr", 4),   # bytes learned so far
    ("value",     4),   # command-specific: CRC-32, records sent, capacity, ...
)

#: What INFO appends to the status when it succeeds; the stored header follows.
INFO_FIELDS = (
    ("version",     1),
    ("index_bits",  1),   # width of record indices in the address generator
    ("max_payload", 2),
    ("capacity",    4),   # store size in bytes
    ("record_size", 4),
    ("clk_freq",    4),   # Hz
    ("baud",        4),
    ("header_size", 2),
    ("memory",      1),   # Memory
    ("leveling",    1),   # Leveling
    *((f"counter_{c.name.lower()}", 4) for c in Counter),
    ("uptime",      8),   # clock cycles since reset: the device's own time
)

BEGIN_FIELDS = (
    ("record_size", 4),
    ("count",       4),
    # followed by HEADER_SIZE bytes of header
)

LEARN_FIELDS = (
    ("offset", 4),
    # followed by the data bytes
)

COMMIT_FIELDS = (
    ("crc32", 4),
)

SEED_FIELDS = (
    ("mode", 1),
    ("seed", 8),
)

SAMPLE_FIELDS = (
    ("count", 4),
)

READ_FIELDS = (
    ("index", 4),
    ("count", 4),
)

OPEN_FIELDS = (
    ("key", 4),     # the link key of every later frame but OPEN's; the reply's value echoes it
)

CSR_FIELDS = (
    ("write",   1),     # CSR_READ or CSR_WRITE
    ("address", 2),     # word address on the store's control bus
    ("value",   4),     # written by a write; a read's reply carries the register in `value`
)

#: CSR's ``write`` field: read the register (the reply's ``value`` is its contents) ...
CSR_READ = 0
#: ... or write ``value`` to it.
CSR_WRITE = 1

#: Word addresses of the control registers the host's leveling uses, per :class:`Leveling`:
#: those of the LiteDRAM core ``hw.store.dram.core`` generates for the Arty (``ddr3_arty``),
#: which ``tests/test_leveling.py`` compares with the generator's output.
LEVELING_CSRS = {
    Leveling.A7DDRPHY: {
        "ddrctrl_init_done": 0, "ddrctrl_init_error": 1,
        "ddrphy_rst": 512, "ddrphy_dly_sel": 513, "ddrphy_half_sys8x_taps": 514,
        "ddrphy_wlevel_en": 515, "ddrphy_wlevel_strobe": 516, "ddrphy_rdly_dq_rst": 517,
        "ddrphy_rdly_dq_inc": 518, "ddrphy_rdly_dq_bitslip_rst": 519,
        "ddrphy_rdly_dq_bitslip": 520, "ddrphy_wdly_dq_bitslip_rst": 521,
        "ddrphy_wdly_dq_bitslip": 522, "ddrphy_rdphase": 523, "ddrphy_wrphase": 524,
        "sdram_dfii_control": 1024,
        **{f"sdram_dfii_pi{p}_{name}": 1025 + 6 * p + i
           for p in range(4)
           for i, name in enumerate(("command", "command_issue", "address", "baddress",
                                     "wrdata", "rddata"))},
    },
}


#: Payload length of each request (for LEARN, the least: its offset, then the data).
REQUEST_LENGTHS = {
    Command.INFO:     0,
    Command.CLEAR:    0,
    Command.BEGIN:    sum(size for _, size in BEGIN_FIELDS) + HEADER_SIZE,
    Command.LEARN:    sum(size for _, size in LEARN_FIELDS),
    Command.COMMIT:   sum(size for _, size in COMMIT_FIELDS),
    Command.CHECKSUM: 0,
    Command.SEED:     sum(size for _, size in SEED_FIELDS),
    Command.SAMPLE:   sum(size for _, size in SAMPLE_FIELDS),
    Command.READ:     sum(size for _, size in READ_FIELDS),
    Command.OPEN:     sum(size for _, size in OPEN_FIELDS),
    Command.ABORT:    0,
    Command.CSR:      sum(size for _, size in CSR_FIELDS),
}

#: Requests whose payload may end early, and the least it carries; the device takes the bytes
#: missing up to :data:`REQUEST_LENGTHS` as zeros. BEGIN may cut its header short or leave it
#: out (:func:`begin_request`), so that a session without a header costs 8 bytes, not 40.
SHORT_REQUESTS = {
    Command.BEGIN:    sum(size for _, size in BEGIN_FIELDS),
}

#: The commands that answer with DATA frames before their reply, whose value is then the
#: CRC-32 of all the DATA payload bytes.
STREAM_COMMANDS = frozenset({Command.SAMPLE, Command.READ})


#: Byte sizes and offsets within a frame.
SYNC_SIZE = len(SYNC)
FRAME_HEADER_SIZE = sum(size for _, size in FRAME_HEADER_FIELDS)
PAYLOAD_OFFSET = SYNC_SIZE + FRAME_HEADER_SIZE
FCS_SIZE = 4
STATUS_SIZE = sum(size for _, size in STATUS_FIELDS)
INFO_SIZE = sum(size for _, size in INFO_FIELDS)
assert FRAME_OVERHEAD == PAYLOAD_OFFSET + FCS_SIZE

#: The error counter each reply status increments; every other status counts as REJECTED.
STATUS_COUNTERS = {
    Status.OK:         Counter.FRAMES_OK,
    Status.HEADER_CRC: Counter.HEADER_ERRORS,
    Status.FRAME_CRC:  Counter.CRC_ERRORS,
    Status.TRUNCATED:  Counter.TIMEOUT_ERRORS,
}


def counter_for(status):
    """Return the :class:`Counter` a reply with ``status`` increments."""
    return STATUS_COUNTERS.get(status, Counter.REJECTED)


def frame_timeout_cycles(clk_freq, baud, bits_per_byte=UART_BITS_PER_BYTE):
    """Return :data:`FRAME_TIMEOUT_BYTES` byte times in clock cycles of ``clk_freq`` Hz on a
    link of ``baud`` bits per second."""
    return FRAME_TIMEOUT_BYTES * bits_per_byte * int(clk_freq) // int(baud)


def reply_code(cmd):
    """Return the CMD byte of the reply to request ``cmd``: ``REPLY | cmd``."""
    return Reply.REPLY | (int(cmd) & 0x7f)


def request_code(reply_cmd):
    """Return the request command a reply's CMD byte answers, or :py:`None` if it is no
    reply."""
    return int(reply_cmd) & 0x7f if int(reply_cmd) & Reply.REPLY else None


def field_offset(fields, name):
    """Return ``(offset, size)`` in bytes of field ``name`` in a field table."""
    offset = 0
    for field, size in fields:
        if field == name:
            return offset, size
        offset += size
    raise KeyError(f"no field {name!r}")


def fields_size(fields):
    """Return the size in bytes of a field table."""
    return sum(size for _, size in fields)


def fields_format(fields):
    """Return the :mod:`struct` format of a field table."""
    codes = {1: "B", 2: "H", 4: "I", 8: "Q"}
    return "<" + "".join(codes[size] for _, size in fields)


def pack_fields(fields, **values):
    """Pack keyword values into bytes; fields not given are zero."""
    unknown = set(values) - {name for name, _ in fields}
    if unknown:
        raise TypeError(f"unknown fields {sorted(unknown)}")
    return struct.pack(fields_format(fields), *(int(values.get(name, 0)) for name, _ in fields))


def unpack_fields(fields, data):
    """Unpack bytes (at least :func:`fields_size` long) into a dict."""
    size = fields_size(fields)
    if len(data) < size:
        raise ProtocolError(f"payload of {len(data)} bytes is shorter than the {size} expected")
    values = struct.unpack(fields_format(fields), bytes(data[:size]))
    return dict(zip((name for name, _ in fields), values, strict=True))


def parse_status(payload):
    """Return the :data:`STATUS_FIELDS` of a reply payload as a dict, with ``status``, ``cmd``,
    ``state`` and ``mode`` as their enums where they are known values.

    Raises
    ------
    ProtocolError
        If the payload is shorter than the status.
    """
    fields = unpack_fields(STATUS_FIELDS, payload)
    for name, enum_type in (("status", Status), ("state", State), ("mode", Mode)):
        try:
            fields[name] = enum_type(fields[name])
        except ValueError:
            pass
    return fields


def parse_info(payload):
    """Return everything an INFO reply carries as one dict: the status fields, the
    :data:`INFO_FIELDS`, ``counters`` (a dict by lower-case :class:`Counter` name) and ``header``
    (the stored header's bytes).

    Raises
    ------
    ProtocolError
        If the payload is shorter than an INFO reply.
    """
    size = STATUS_SIZE + INFO_SIZE
    if len(payload) < size:
        raise ProtocolError(f"INFO reply of {len(payload)} bytes is shorter than the {size} "
                            f"expected")
    info = parse_status(payload)
    info.update(unpack_fields(INFO_FIELDS, payload[STATUS_SIZE:]))
    info["counters"] = {c.name.lower(): info.pop(f"counter_{c.name.lower()}") for c in Counter}
    info["header"] = bytes(payload[size:size + info["header_size"]])
    return info


# CRCs. The gateware uses `amaranth.lib.crc.catalog.<name>`; the host uses the fast functions
# below, which the tests prove equal to the catalog's `compute()`.

CRC8_ALGORITHM  = "CRC8_SMBUS"
CRC32_ALGORITHM = "CRC32_ISO_HDLC"
#: The frame check's CRC, before the link key is applied.
FCS_ALGORITHM   = CRC32_ALGORITHM


def _crc8_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xff if crc & 0x80 else (crc << 1) & 0xff
        table.append(crc)
    return bytes(table)


_CRC8_TABLE = _crc8_table()


def crc8(data, crc=0):
    """Return CRC-8/SMBUS (polynomial 0x07, no reflection, no final XOR) of ``data``."""
    for byte in data:
        crc = _CRC8_TABLE[crc ^ byte]
    return crc


def crc32(data, crc=0):
    """Return CRC-32/ISO-HDLC (zlib's CRC-32) of ``data``."""
    return binascii.crc32(data, crc)


def frame_key(cmd, key):
    """Return the link key a frame with command byte ``cmd`` is checked with: 0 for OPEN and
    its reply, ``key`` for every other frame."""
    return 0 if int(cmd) & 0x7f == Command.OPEN else int(key)


def fcs(frame, key=0):
    """Return the frame check of ``frame``, the bytes from CMD to the end of the payload: their
    CRC-32 XORed with the frame's key (:func:`frame_key`)."""
    return crc32(frame) ^ frame_key(frame[0], key)


def begin_payload(record_size, count, header=b""):
    """Return BEGIN's payload: :data:`BEGIN_FIELDS`, then ``header`` padded with zeros to
    :data:`HEADER_SIZE` bytes.

    Raises
    ------
    ValueError
        If ``header`` is longer than :data:`HEADER_SIZE`.
    """
    header = bytes(header)
    if len(header) > HEADER_SIZE:
        raise ValueError(f"header of {len(header)} bytes exceeds {HEADER_SIZE}")
    return pack_fields(BEGIN_FIELDS, record_size=record_size, count=count) + \
        header.ljust(HEADER_SIZE, b"\0")


def begin_request(record_size, count, header=b""):
    """Return BEGIN's payload as a host sends it: :func:`begin_payload` without the header's
    trailing zeros, which the device fills in (:data:`SHORT_REQUESTS`). The session CRC-32 is
    still over :func:`begin_payload`, as the device holds it.

    Raises
    ------
    ValueError
        If ``header`` is longer than :data:`HEADER_SIZE`.
    """
    full = begin_payload(record_size, count, header)
    fields = SHORT_REQUESTS[Command.BEGIN]
    return full[:fields] + full[fields:].rstrip(b"\0")


def session_crc(begin_payload, data=b""):
    """Return the CRC-32 that COMMIT and CHECKSUM compare: over BEGIN's payload (record size,
    count and header, as the device holds them) followed by the learned bytes. A BEGIN that
    replaced the session's therefore fails COMMIT."""
    return crc32(data, crc32(begin_payload))


class ProtocolError(Exception):
    """A frame or payload does not follow the protocol."""


def encode_frame(cmd, payload=b"", tag=0, key=0):
    """Return the bytes of one frame, checked with link key ``key`` (see :func:`frame_key`)."""
    payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds MAX_PAYLOAD ({MAX_PAYLOAD})")
    head = struct.pack("<BBH", int(cmd), tag & 0xff, len(payload))
    head += bytes([crc8(head)])
    return SYNC + head + payload + struct.pack("<I", fcs(head + payload, key))


class Frame:
    """A decoded frame."""
    __slots__ = ("cmd", "tag", "payload")

    def __init__(self, cmd, tag, payload):
        self.cmd = cmd
        self.tag = tag
        self.payload = payload

    def __repr__(self):
        return f"Frame(cmd={self.cmd:#04x}, tag={self.tag}, payload={len(self.payload)} bytes)"

    def __eq__(self, other):
        return (isinstance(other, Frame) and
                (self.cmd, self.tag, self.payload) == (other.cmd, other.tag, other.payload))


#: Where CMD and TAG sit in the header register.
_CMD_AT = field_offset(FRAME_HEADER_FIELDS, "cmd")[0]
_TAG_AT = field_offset(FRAME_HEADER_FIELDS, "tag")[0]


class RxState(enum.Enum):
    """Where the :class:`ReceiveRules` are in a frame; the gateware receiver's states of the same
    names."""
    #: Hunting for the first sync byte.
    SYNC_0  = "Sync-0"
    #: The first sync byte seen; another ``a5`` keeps it here.
    SYNC_1  = "Sync-1"
    #: Taking the five header bytes.
    HEADER  = "Header"
    #: Taking LEN payload bytes.
    PAYLOAD = "Payload"
    #: Taking the frame check.
    TRAILER = "Trailer"


@dataclasses.dataclass(frozen=True)
class Received:
    """What the :class:`ReceiveRules` made of one frame: a frame, or a drop.

    Attributes
    ----------
    status : Status
        After a valid header: :attr:`Status.OK`, :attr:`Status.FRAME_CRC` (the frame check
        failed),
        :attr:`Status.TRUNCATED` (the line went idle in the payload or CRC) or
        :attr:`Status.BAD_LENGTH` (LEN over :data:`MAX_PAYLOAD`). A drop before the header was
        valid: :attr:`Status.HEADER_CRC` or :attr:`Status.TRUNCATED`.
    cmd, tag : int or None
        The header's; for a drop, the first two bytes of the header register (see
        :class:`ReceiveRules`), :py:`None` where they are unknown.
    length : int or None
        LEN of a valid header; :py:`None` for a drop.
    payload : bytes
        The payload bytes taken: all of them, or those before the line went idle; none for
        :attr:`Status.BAD_LENGTH`.
    quiet : bool
        The frame's sync marker came after :data:`FRAME_TIMEOUT_BYTES` of silence on the line
        (or first after reset): the condition for an OPEN to be taken.
    """
    status: Status
    cmd: int | None
    tag: int | None
    length: int | None
    payload: bytes = b""
    quiet: bool = False

    @property
    def header_ok(self):
        """Whether the frame's header passed its CRC-8."""
        return self.length is not None


class ReceiveRules:
    """The receive rules, defined once: a byte-at-a-time state machine that finds and checks
    frames.

    The host's :class:`FrameDecoder` and the device's reference model
    (:class:`hw.engine.cmdproc_model.CommandProcessorModel`) run it, and
    ``tests/test_receiver.py`` proves the gateware receiver (:mod:`hw.framing.receiver`) gives
    the same outcome for the same bytes. ``docs/protocol.md`` states the rules in words:

    * **Hunt.** Look for :data:`SYNC`; a repeated first sync byte keeps the hunt armed, so
      ``a5 a5 5a`` starts a frame.
    * **Header.** Take five bytes and check their CRC-8 before trusting any of them.
    * **Resync.** A header that fails is no header: hunt again from the byte right after its
      sync marker, so that the five bytes are examined again and a frame starting among them
      is found. Nothing is skipped.
    * **Length.** A valid header's LEN over :data:`MAX_PAYLOAD` ends the frame at once with
      :attr:`Status.BAD_LENGTH`; its payload is not consumed but hunted for the next frame.
    * **Payload.** Otherwise LEN payload bytes and the frame check follow and are consumed,
      whether or not the check passes: a valid header is trusted. The check uses the link key,
      :attr:`key` (see :func:`frame_key`).
    * **Idle.** :meth:`timeout` (the line stayed idle :data:`FRAME_TIMEOUT_BYTES` byte times
      inside a frame) drops it with :attr:`Status.TRUNCATED`; a lone first sync byte is forgotten
      silently.

    The header register holds the last five bytes taken as header bytes; each header byte, and
    each byte examined again, shifts into it (so that the examined bytes come back round). A
    frame dropped before its header was valid reports the register's first two bytes as its
    CMD and TAG, as the gateware does.
    """

    def __init__(self, key=0):
        #: The link key frames are checked with (see :func:`frame_key`).
        self.key = key
        self.state = RxState.SYNC_0
        self._quiet = True                      # silence since the last byte (or reset)
        self._frame_quiet = False               # the frame being received followed silence
        self._reg = [0] * FRAME_HEADER_SIZE    # the header register; None where unknown
        self._replay = 0                        # header bytes still to examine again
        self._index = 0
        self._frame = bytearray()               # bytes after the sync marker, for the check
        self._cmd = self._tag = self._length = 0

    @property
    def midframe(self):
        """Whether the rules are inside a frame (:meth:`timeout` would end it)."""
        return self.state != RxState.SYNC_0

    @property
    def pending(self):
        """Number of bytes taken that belong to the frame being received, sync marker
        included."""
        return {
            RxState.SYNC_0:  0,
            RxState.SYNC_1:  1,
            RxState.HEADER:  SYNC_SIZE + self._index,
            RxState.PAYLOAD: PAYLOAD_OFFSET + self._index,
            RxState.TRAILER: PAYLOAD_OFFSET + self._length + self._index,
        }[self.state]

    @property
    def wanted(self):
        """Number of bytes that could complete the frame being received (at least 1)."""
        return {
            RxState.SYNC_0:  FRAME_OVERHEAD,
            RxState.SYNC_1:  FRAME_OVERHEAD - 1,
            RxState.HEADER:  FRAME_HEADER_SIZE + FCS_SIZE - self._index,
            RxState.PAYLOAD: self._length - self._index + FCS_SIZE,
            RxState.TRAILER: FCS_SIZE - self._index,
        }[self.state]

    def feed(self, data):
        """Take received bytes; return the :class:`Received` outcomes they complete, in
        order."""
        data = bytes(data)
        out = []
        pos, end = 0, len(data)
        quiet, self._quiet = self._quiet, self._quiet and not data
        while pos < end:
            if self.state == RxState.SYNC_0:
                # The hunt and the payload go by slices: the host decodes megabytes this way.
                found = data.find(SYNC[0], pos)
                if found < 0:
                    break
                self._frame_quiet = quiet and found == 0
                self.state = RxState.SYNC_1
                pos = found + 1
            elif self.state == RxState.PAYLOAD:
                chunk = data[pos:pos + self._length - self._index]
                self._frame += chunk
                self._index += len(chunk)
                pos += len(chunk)
                if self._index == self._length:
                    self.state, self._index = RxState.TRAILER, 0
            else:
                self._step(data[pos], out)
                pos += 1
            quiet = False
            while self._replay:
                self._replay -= 1
                self._step(self._reg[0], out, replay=True)
        return out

    def timeout(self):
        """The line stayed idle for :data:`FRAME_TIMEOUT_BYTES`: drop a partly received frame,
        and let the next one count as following silence. Return the :class:`Received` outcomes
        (none between frames or after a lone first sync byte)."""
        self._quiet = True
        state, self.state = self.state, RxState.SYNC_0
        if state == RxState.HEADER:
            return [self._drop(Status.TRUNCATED)]
        if state in (RxState.PAYLOAD, RxState.TRAILER):
            return [self._end(Status.TRUNCATED)]
        return []

    def resynchronise(self):
        """Hunt for a sync marker, with the header register unknown: for a model that could not
        follow the bytes the receiver saw."""
        self.state = RxState.SYNC_0
        self._replay = 0
        self._reg = [None] * FRAME_HEADER_SIZE

    def _step(self, byte, out, *, replay=False):
        state = self.state
        if replay or state == RxState.HEADER:
            self._reg = [*self._reg[1:], byte]
        if state == RxState.SYNC_0:
            if byte == SYNC[0]:
                self._frame_quiet = False       # found among replayed bytes
                self.state = RxState.SYNC_1
        elif state == RxState.SYNC_1:
            if byte == SYNC[1]:
                self.state, self._index, self._frame = RxState.HEADER, 0, bytearray()
            elif byte != SYNC[0]:
                self.state = RxState.SYNC_0
        elif state == RxState.HEADER:
            self._frame.append(byte)
            self._index += 1
            if self._index == FRAME_HEADER_SIZE:
                self._check_header(out)
        elif state == RxState.PAYLOAD:
            self._frame.append(byte)
            self._index += 1
            if self._index == self._length:
                self.state, self._index = RxState.TRAILER, 0
        else:
            self._frame.append(byte)
            self._index += 1
            if self._index == FCS_SIZE:
                self.state = RxState.SYNC_0
                frame, check = self._frame[:-FCS_SIZE], self._frame[-FCS_SIZE:]
                good = fcs(bytes(frame), self.key) == int.from_bytes(check, "little")
                out.append(self._end(Status.OK if good else Status.FRAME_CRC))

    def _check_header(self, out):
        self.state, self._index = RxState.SYNC_0, 0
        head = bytes(self._reg)
        if crc8(head) != 0:
            out.append(self._drop(Status.HEADER_CRC))
            self._replay = FRAME_HEADER_SIZE
            return
        fields = unpack_fields(FRAME_HEADER_FIELDS, head)
        self._cmd, self._tag, self._length = fields["cmd"], fields["tag"], fields["length"]
        if self._length > MAX_PAYLOAD:
            out.append(self._end(Status.BAD_LENGTH))
        elif self._length == 0:
            self.state = RxState.TRAILER
        else:
            self.state = RxState.PAYLOAD

    def _drop(self, status):
        return Received(status, self._reg[_CMD_AT], self._reg[_TAG_AT], None)

    def _end(self, status):
        payload = b"" if status == Status.BAD_LENGTH else \
            bytes(self._frame[FRAME_HEADER_SIZE:FRAME_HEADER_SIZE + self._length])
        return Received(status, self._cmd, self._tag, self._length, payload, self._frame_quiet)


class FrameDecoder:
    """Incremental frame decoder, following the :class:`ReceiveRules`.

    Feed it bytes with :meth:`feed`; it returns the valid frames completed so far. Frames the
    rules drop are counted in :attr:`errors`, and the bytes that are part of no valid frame in
    :attr:`skipped`.
    """

    def __init__(self, key=0):
        self._rules = ReceiveRules(key)
        self._fed = 0
        self._framed = 0
        self.errors = 0

    @property
    def key(self):
        """The link key frames are checked with (see :func:`frame_key`)."""
        return self._rules.key

    @key.setter
    def key(self, key):
        self._rules.key = key

    def feed(self, data):
        """Add received bytes; return a list of complete, valid :class:`Frame` objects."""
        self._fed += len(data)
        frames = []
        for received in self._rules.feed(data):
            if received.status == Status.OK:
                frames.append(Frame(received.cmd, received.tag, received.payload))
                self._framed += FRAME_OVERHEAD + received.length
            else:
                self.errors += 1
        return frames

    @property
    def skipped(self):
        """Number of bytes fed that are part of no valid frame, and not :attr:`pending`."""
        return self._fed - self._framed - self.pending

    @property
    def wanted(self):
        """Number of bytes that could complete the next frame (at least 1): what a reader can
        ask for without waiting for bytes that are not coming."""
        return self._rules.wanted

    @property
    def pending(self):
        """Number of buffered bytes not yet part of a frame: those of a frame being received."""
        return self._rules.pending
