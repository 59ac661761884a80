# SPDX-License-Identifier: BSD-2-Clause
"""The client of the virtual board's fault mode (``--faults``, for :mod:`sim.fuzz`): bytes with
UART faults, idle time and markers, in the record protocol described at the top of
``sim/vboard.cpp``."""

import dataclasses
import enum
import socket
import struct
import time

__all__ = ["FaultFlag", "ALL_FLAGS", "Record", "ReplyRecord", "Marker", "FaultPort"]


class FaultFlag(enum.IntFlag):
    """How the fault-mode harness drives one byte onto ``uart_rx``."""
    NONE     = 0
    #: The stop bit is low: the receiver sees a framing error.
    BAD_STOP = 1
    #: Every bit lasts ``skew`` per mille longer (a sender 3% slow by default).
    SLOW     = 2
    #: Every bit lasts ``skew`` per mille shorter (a sender 3% fast by default).
    FAST     = 4


#: Every flag at once: a byte record's code is at most this.
ALL_FLAGS = FaultFlag.BAD_STOP | FaultFlag.SLOW | FaultFlag.FAST


class Record(enum.IntEnum):
    """Codes of the records a fault-mode client sends besides bytes (a byte record's code is its
    :class:`FaultFlag` value, at most :data:`ALL_FLAGS`). The harness is compiled with the same
    codes (see :mod:`sim.vboard.config`)."""
    #: Followed by a little-endian u32: hold the line idle for that many cycles.
    IDLE   = 0x10
    #: Followed by a little-endian u32 ID: answered once the board has settled.
    MARKER = 0x11


class ReplyRecord(enum.IntEnum):
    """Codes of the records the fault-mode harness sends back."""
    #: Followed by a byte decoded from ``uart_tx``.
    BYTE   = 0x00
    #: Followed by the marker's fields (:data:`_MARKER_FORMAT`).
    MARKER = 0x01


#: A marker's answer: settled (0) or hung (1), ID, cycles, bytes in, TX framing errors.
_MARKER_FORMAT = "<BIQQI"
_MARKER_SIZE = struct.calcsize(_MARKER_FORMAT)


@dataclasses.dataclass(frozen=True)
class Marker:
    """A marker answered by the fault-mode harness.

    Attributes
    ----------
    id : int
    settled : bool
        The board settled (design idle, both wires quiet) after everything queued before the
        marker; :py:`False` if the harness watchdog expired instead: the design stayed busy for
        ``watchdog`` cycles without a byte driven or decoded.
    cycles : int
        Simulated cycle at which the marker was answered.
    bytes_in : int
        Bytes driven onto ``uart_rx`` so far.
    tx_framing_errors : int
        Bytes from ``uart_tx`` with a low stop bit so far.
    """
    id: int
    settled: bool
    cycles: int
    bytes_in: int
    tx_framing_errors: int


class FaultPort:
    """Client of a virtual board in fault mode (``VirtualBoard(faults=True)``).

    Records are buffered until :meth:`sync`, which sends them with a marker and returns what the
    board sent back up to that marker.

    Parameters
    ----------
    address : tuple
        ``(host, port)`` of the board.
    timeout : float
        Wall-clock seconds :meth:`sync` waits for its marker.
    """

    def __init__(self, address, *, timeout=60.0):
        self._sock = socket.create_connection(address, timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._timeout = timeout
        self._out = bytearray()
        self._in = bytearray()
        self._next_id = 0
        #: Bytes queued with :meth:`send` so far.
        self.bytes_sent = 0

    def send(self, data, flags=FaultFlag.NONE):
        """Queue bytes to drive back to back, each with ``flags`` (one flag value for all, or a
        sequence of one per byte)."""
        data = bytes(data)
        if isinstance(flags, int):
            flags = [int(flags)] * len(data)
        if len(flags) != len(data):
            raise ValueError(f"{len(flags)} flags for {len(data)} bytes")
        for byte, flag in zip(data, flags, strict=True):
            if not 0 <= flag <= ALL_FLAGS:
                raise ValueError(f"unknown fault flags {flag:#x}")
            self._out += bytes((flag, byte))
        self.bytes_sent += len(data)

    def idle(self, cycles):
        """Queue ``cycles`` cycles of idle line (at most 2**32-1 per call)."""
        while cycles > 0:
            step = min(cycles, (1 << 32) - 1)
            self._out += struct.pack("<BI", Record.IDLE, step)
            cycles -= step

    def sync(self):
        """Send what is queued and a marker; return ``(bytes received, Marker)``.

        Raises
        ------
        TimeoutError
            If the marker does not come back within ``timeout`` wall-clock seconds.
        ConnectionError
            If the board closes the connection.
        """
        marker_id = self._next_id
        self._next_id = (self._next_id + 1) & 0xffffffff
        self._out += struct.pack("<BI", Record.MARKER, marker_id)
        self._sock.sendall(self._out)
        self._out.clear()
        received = bytearray()
        deadline = time.monotonic() + self._timeout
        while True:
            buf = self._in
            i = 0
            while i < len(buf):
                if buf[i] == ReplyRecord.BYTE:
                    if len(buf) - i < 2:
                        break
                    received.append(buf[i + 1])
                    i += 2
                elif buf[i] == ReplyRecord.MARKER:
                    if len(buf) - i < 1 + _MARKER_SIZE:
                        break
                    status, got_id, cycles, bytes_in, tx_framing = struct.unpack_from(
                        _MARKER_FORMAT, buf, i + 1)
                    i += 1 + _MARKER_SIZE
                    if got_id != marker_id:
                        raise ConnectionError(f"marker {got_id} answered, {marker_id} expected")
                    del buf[:i]
                    return bytes(received), Marker(got_id, status == 0, cycles, bytes_in,
                                                   tx_framing)
                else:
                    raise ConnectionError(f"unknown fault-mode record {buf[i]:#04x}")
            del buf[:i]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the virtual board did not answer marker {marker_id} "
                                   f"within {self._timeout:g} s")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(1 << 16)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError("the virtual board closed the connection")
            buf += chunk

    def close(self):
        """Close the connection."""
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
