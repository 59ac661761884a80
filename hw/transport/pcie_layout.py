# SPDX-License-Identifier: BSD-2-Clause
"""The PCIe transport's buffers and registers, shared by the gateware
(:mod:`hw.transport.pcie`), the host (:mod:`host.pcie`) and the model of the card's buffer
handling (:class:`CardBuffersModel`). Standard library only.

Why buffers need a header of their own
--------------------------------------
LitePCIe's Linux driver (``litepcie/software/kernel/main.c`` in the ``litepcie`` wheel) gives
each direction a ring of :data:`DMA_BUFFER_COUNT` buffers of :data:`DMA_BUFFER_SIZE` bytes,
which the DMA engines run through *in a loop*, whole buffers at a time (the driver sets
``DMA_LAST_DISABLE`` on every descriptor, so a buffer never ends early):

* **Host to card** (the DMA *reader*): once enabled it reads every buffer of the ring, again and
  again, whether the host wrote it or not; only back-pressure from the card slows it. So each
  buffer starts with a :data:`HEADER_SIZE`-byte header (one 128-bit beat): magic, sequence
  number, payload length, check. The card takes a buffer only if its header is whole and its
  sequence number is the next it expects, and skips every other buffer (an old one, or one the
  host is still writing). The host writes buffer ``n`` into ring slot ``n %``
  :data:`DMA_BUFFER_COUNT`, payload first and header last, and never more than :data:`WINDOW`
  buffers ahead of the card's :data:`Register.TO_CARD_BUFFERS` count.
* **Card to host** (the DMA *writer*): the card writes a buffer only when it has bytes to send
  (or a partly filled buffer's flush timer expires), payload from offset 0, zeros, and a
  :data:`HEADER_SIZE`-byte *trailer* in the buffer's last beat. PCIe keeps posted writes in
  order, so once the host sees a whole trailer the payload before it has landed. The card writes
  at most :data:`WINDOW` buffers more than the host has reported read in
  :data:`Register.HOST_READ`: the driver's interrupt-driven counters advance only every 32
  buffers, so the host does not use them.

Both header and trailer are four little-endian 32-bit words: :data:`TO_CARD_MAGIC` or
:data:`TO_HOST_MAGIC`, the sequence number, the payload length in bytes, and the sequence number
inverted (a torn write rarely passes). The byte protocol inside (frames, CRCs, go-back-N) is
unchanged, so a buffer the card misses costs a resend, not a wrong answer.

Registers
---------
32-bit registers on LitePCIe's MMAP AXI-Lite window, at byte offset :data:`MMAP_BASE` +
:class:`Register` in BAR0 (what the driver's ``LITEPCIE_IOCTL_REG`` reads and writes).
"""

import enum
import struct

__all__ = [
    "DMA_BUFFER_SIZE", "DMA_BUFFER_COUNT", "WINDOW", "HEADER_SIZE", "MAX_CHUNK", "TO_CARD_MAGIC",
    "TO_HOST_MAGIC", "PCIE_ID", "MMAP_BASE", "MMAP_SIZE", "Register", "Status", "BEAT_BYTES",
    "pack_header", "unpack_header", "to_card_buffer", "to_host_payload", "CardBuffersModel",
]

#: Bytes in one DMA buffer: the driver's ``DMA_BUFFER_SIZE`` (``config.h``).
DMA_BUFFER_SIZE = 8192
#: Buffers in each ring: the driver's ``DMA_BUFFER_COUNT``, which the generated driver tree sets
#: (:mod:`hw.transport.litepcie.generate`; LitePCIe's default is 256). The DMA reader loops its
#: ring without pause, so a buffer the host writes waits up to a whole ring for the reader: 16
#: buffers (128 KB) take about 90 us at the reader's 11.6 bytes a cycle at 125 MHz, where 256
#: took 1.45 ms, which every request and its reply would wait on top of their own time. Half a
#: ring in flight still carries 64 KB per 90 us, seven times the engine's 100 MB/s.
DMA_BUFFER_COUNT = 16
#: Buffers either side may have in flight: half a ring, the driver's own limit for its
#: ``write()`` (so a slot is never rewritten before the other side has taken it).
WINDOW = DMA_BUFFER_COUNT // 2
#: Bytes of a DMA data beat (the LitePCIe core's 128-bit AXI-Stream).
BEAT_BYTES = 16
#: Bytes of a buffer's header (host to card) or trailer (card to host): one beat.
HEADER_SIZE = BEAT_BYTES
#: Payload bytes one buffer carries.
MAX_CHUNK = DMA_BUFFER_SIZE - HEADER_SIZE
#: First word of a host-to-card buffer's header ("MGH>" little-endian).
TO_CARD_MAGIC = 0x3E48474D
#: First word of a card-to-host buffer's trailer ("MGC<" little-endian).
TO_HOST_MAGIC = 0x3C43474D
#: What :data:`Register.ID` reads on a card with MemGEN's PCIe transport ("MGPe").
PCIE_ID = 0x6550474D

#: Byte offset of the MMAP AXI-Lite window in BAR0 (the LitePCIe core's ``mmap_base``).
MMAP_BASE = 0x00040000
#: Bytes of the window (``mmap_size``); the registers use the first few.
MMAP_SIZE = 0x00001000

_MASK = 0xFFFF_FFFF
_HEADER = struct.Struct("<4I")


class Register(enum.IntEnum):
    """Byte offsets of the transport's registers in the MMAP window. All read-only except
    :data:`HOST_READ`. Counters are 32 bits and wrap."""
    ID              = 0x00  # :data:`PCIE_ID`
    STATUS          = 0x04  # :class:`Status` bits
    TO_CARD_BUFFERS = 0x08  # host-to-card buffers taken: the next sequence number expected
    TO_HOST_BUFFERS = 0x0C  # card-to-host buffers written
    HOST_READ       = 0x10  # card-to-host buffers the host has read (the host writes it)
    TO_CARD_BYTES   = 0x14  # payload bytes taken from the host
    TO_HOST_BYTES   = 0x18  # payload bytes sent to the host
    SKIPPED         = 0x1C  # host-to-card buffers skipped (old, torn or out of order)


class Status(enum.IntFlag):
    """Bits of :data:`Register.STATUS`."""
    LINK_UP     = 0x1   # the PCIe link is up (the core's own status)
    TO_CARD     = 0x2   # bytes from the host are waiting for the engine
    TO_HOST     = 0x4   # bytes for the host are waiting for a buffer


def pack_header(magic, seq, length):
    """Return the 16 bytes of a header or trailer.

    Raises
    ------
    ValueError
        If ``length`` is more than :data:`MAX_CHUNK`.
    """
    if not 0 <= length <= MAX_CHUNK:
        raise ValueError(f"a buffer carries 0 to {MAX_CHUNK} payload bytes, not {length}")
    seq &= _MASK
    return _HEADER.pack(magic, seq, length, seq ^ _MASK)


def unpack_header(data, magic):
    """Return ``(seq, length)`` of the header or trailer ``data`` (16 bytes), or :py:`None` if
    it is not a whole one with ``magic``."""
    word, seq, length, check = _HEADER.unpack(bytes(data[:HEADER_SIZE]))
    if word != magic or check != seq ^ _MASK or length > MAX_CHUNK:
        return None
    return seq, length


def to_card_buffer(seq, payload):
    """Return the :data:`DMA_BUFFER_SIZE` bytes of host-to-card buffer ``seq`` carrying
    ``payload`` (at most :data:`MAX_CHUNK` bytes)."""
    header = pack_header(TO_CARD_MAGIC, seq, len(payload))
    return (header + bytes(payload)).ljust(DMA_BUFFER_SIZE, b"\0")


def to_host_payload(buffer):
    """Return ``(seq, payload)`` of the card-to-host buffer ``buffer``, or :py:`None` if its
    trailer is not (yet) whole."""
    found = unpack_header(buffer[DMA_BUFFER_SIZE - HEADER_SIZE:DMA_BUFFER_SIZE], TO_HOST_MAGIC)
    if found is None:
        return None
    seq, length = found
    return seq, bytes(buffer[:length])


class CardBuffersModel:
    """Model of the card's side of the buffer rules (:class:`hw.transport.pcie.PCIeTransport`):
    which host buffers it takes, and the buffers it writes. No time: a flush happens when the
    caller calls :meth:`flush`.

    Attributes
    ----------
    to_card_buffers, to_host_buffers, host_read, to_card_bytes, to_host_bytes, skipped : int
        The :class:`Register` counters.
    """

    def __init__(self):
        self.to_card_buffers = 0
        self.to_host_buffers = 0
        self.host_read = 0
        self.to_card_bytes = 0
        self.to_host_bytes = 0
        self.skipped = 0
        self._pending = bytearray()

    def take(self, buffer):
        """Return the payload of the host-to-card ``buffer`` the DMA reader just read, or
        :py:`None` if the card skips it."""
        found = unpack_header(buffer[:HEADER_SIZE], TO_CARD_MAGIC)
        if found is None or found[0] != self.to_card_buffers:
            self.skipped = (self.skipped + 1) & _MASK
            return None
        self.to_card_buffers = (self.to_card_buffers + 1) & _MASK
        self.to_card_bytes = (self.to_card_bytes + found[1]) & _MASK
        return bytes(buffer[HEADER_SIZE:HEADER_SIZE + found[1]])

    def send(self, data):
        """Queue bytes from the engine for the host."""
        self._pending += data

    def flush(self):
        """Return the card-to-host buffers to write now: every full one, and a partly filled one
        (its flush timer expired), as many as the host's window allows."""
        buffers = []
        while self._pending and (self.to_host_buffers - self.host_read) & _MASK < WINDOW:
            chunk = bytes(self._pending[:MAX_CHUNK])
            del self._pending[:MAX_CHUNK]
            trailer = pack_header(TO_HOST_MAGIC, self.to_host_buffers, len(chunk))
            buffers.append(chunk.ljust(DMA_BUFFER_SIZE - HEADER_SIZE, b"\0") + trailer)
            self.to_host_buffers = (self.to_host_buffers + 1) & _MASK
            self.to_host_bytes = (self.to_host_bytes + len(chunk)) & _MASK
        return buffers

    def read_register(self, offset, link_up=True):
        """Return the value of the register at byte ``offset`` of the window."""
        status = (Status.LINK_UP if link_up else 0) | (Status.TO_HOST if self._pending else 0)
        values = {
            Register.ID: PCIE_ID, Register.STATUS: int(status),
            Register.TO_CARD_BUFFERS: self.to_card_buffers,
            Register.TO_HOST_BUFFERS: self.to_host_buffers, Register.HOST_READ: self.host_read,
            Register.TO_CARD_BYTES: self.to_card_bytes, Register.TO_HOST_BYTES: self.to_host_bytes,
            Register.SKIPPED: self.skipped,
        }
        return values.get(offset, 0)

    def write_register(self, offset, value):
        """Write ``value`` to the register at byte ``offset`` (only :data:`Register.HOST_READ`
        is writable)."""
        if offset == Register.HOST_READ:
            self.host_read = value & _MASK
