# SPDX-License-Identifier: BSD-2-Clause
"""The example store's interface: a command stream, a write data stream and a read data stream.

Every store (block RAM, SPRAM, external DRAM) implements :class:`StoreSignature`, and every user
of a store (the command processor's LEARN path, the record reader, the CRC pass) drives it
through streams with back-pressure, so that no user depends on a store's latency.
"""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["check_capacity", "CapacitySignature", "StoreCommand", "ControlSignature",
           "StoreSignature"]


def check_capacity(capacity):
    """Validate a store capacity in bytes, raising :exc:`ValueError` naming the bad value."""
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 2:
        raise ValueError(f"Store capacity must be an integer of at least 2 bytes, "
                         f"not {capacity!r}")


class StoreCommand(data.StructLayout):
    """One store command: read or write ``length`` bytes from byte address ``addr`` on.

    Parameters
    ----------
    capacity : int
        Size of the store in bytes.

    Fields
    ------
    write : 1
        1 for a write (``length`` bytes follow on the write data stream), 0 for a read
        (``length`` bytes come back on the read data stream).
    addr : ``ceil_log2(capacity)`` bits
        Byte address of the first byte.
    length : ``range(capacity + 1)``
        Number of bytes, at least 1.

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer of at least 2.
    """
    def __init__(self, capacity):
        check_capacity(capacity)
        super().__init__({
            "write":  1,
            "addr":   ceil_log2(capacity),
            "length": range(capacity + 1),
        })


class CapacitySignature(wiring.Signature):
    """A signature of a store or memory of ``capacity`` bytes: equal to another of its class
    with the same capacity.

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer of at least 2.
    """
    def __init__(self, capacity, members):
        check_capacity(capacity)
        self._capacity = capacity
        super().__init__(members)

    @property
    def capacity(self):
        """Size in bytes."""
        return self._capacity

    def __eq__(self, other):
        return type(other) is type(self) and other.capacity == self.capacity

    def __repr__(self):
        return f"{type(self).__name__}(capacity={self.capacity})"


class ControlSignature(wiring.Signature):
    """A store's control bus, seen from the master: one access at a time to 32-bit registers by
    word address, with the handshake of a classic Wishbone cycle.

    The master raises ``stb`` with ``we``, ``adr`` and ``dat_w`` and holds them until ``ack``;
    in the ``ack`` cycle ``dat_r`` holds the register's contents (for a read). A store may hold
    ``ack`` back as long as it needs (a DRAM store until its controller is started).

    Parameters
    ----------
    address_width : int
        Width of the word address.

    Members
    -------
    stb : :py:`Out(1)`
    we : :py:`Out(1)`
    adr : :py:`Out(address_width)`
    dat_w : :py:`Out(32)`
    ack : :py:`In(1)`
    dat_r : :py:`In(32)`

    Raises
    ------
    ValueError
        If ``address_width`` is not a positive integer.
    """
    def __init__(self, address_width):
        if not isinstance(address_width, int) or isinstance(address_width, bool) or \
                address_width < 1:
            raise ValueError(f"Control bus address width must be a positive integer, "
                             f"not {address_width!r}")
        self._address_width = address_width
        super().__init__({
            "stb":   Out(1),
            "we":    Out(1),
            "adr":   Out(address_width),
            "dat_w": Out(32),
            "ack":   In(1),
            "dat_r": In(32),
        })

    @property
    def address_width(self):
        """Width of the word address."""
        return self._address_width

    def __eq__(self, other):
        return type(other) is type(self) and other.address_width == self.address_width

    def __repr__(self):
        return f"ControlSignature({self.address_width})"


class StoreSignature(CapacitySignature):
    """The interface every example store implements, seen from the store.

    The rules, which every store keeps and every user relies on, whatever the store's latency:

    * A command is a :class:`StoreCommand` with ``length`` at least 1. Commands execute in the
      order they are accepted; a read sees every byte written by the commands before it. A store
      may accept a command before the previous one is finished (and queue it) or not; it bounds
      how many it holds.
    * A write command of ``length`` bytes takes exactly ``length`` bytes from ``w_stream``, in
      address order, and changes no byte outside ``[addr, addr + length)`` (writes are byte
      granular: a store of wider words masks or merges). The store takes no byte of a command
      before it has accepted the command. The user offers the bytes of its write commands in
      order.
    * A read command of ``length`` bytes gives exactly ``length`` bytes on ``r_stream``, in
      address order, after any latency and with any stalls. The user takes every byte it asked
      for (there is no abort).
    * A store never writes at or beyond its capacity; the user keeps ``addr + length`` within
      it. A read beyond the capacity still gives ``length`` bytes, of unspecified value.
    * All three are :mod:`amaranth.lib.stream` interfaces in the ``sync`` domain of the engine:
      ``valid`` never waits for ``ready``, and a payload holds until it is accepted. A store on
      another clock (a DRAM controller's) crosses domains inside itself.
    * The link has no flow control: while a store stalls ``w_stream``, the engine stops taking
      bytes and the transport's receive buffer fills (64 byte times for the UART transport).
      A store takes write data at least at the link's rate on average and stalls no longer
      than that buffer covers; a store that needs time to start (DRAM initialisation) is
      ready before the engine is used.

    A store whose memory has registers of its own (a DRAM controller's) may also have a
    control bus, ``control``, that the protocol's CSR command reaches; block-RAM stores have
    none.

    A block-RAM store (:class:`~hw.store.port.PortStore`) executes one command at a time: it
    accepts a read command in the cycle after the previous read's last address is issued and
    gives one byte per clock with one cycle of latency, so back-to-back reads leave no gap. A
    DRAM store has variable latency, bursts and refresh stalls.

    Parameters
    ----------
    capacity : int
        Size of the store in bytes.
    control_width : int or None
        Word address width of the store's control bus, or :py:`None` for a store without one.

    Members
    -------
    cmd : :py:`In(stream.Signature(StoreCommand(capacity)))`
        Commands.
    w_stream : :py:`In(stream.Signature(8))`
        Bytes of write commands.
    r_stream : :py:`Out(stream.Signature(8))`
        Bytes of read commands.
    control : :py:`In(ControlSignature(control_width))`
        The control bus (only with ``control_width``).

    Raises
    ------
    ValueError
        If ``capacity`` is not an integer of at least 2, or ``control_width`` not a positive
        integer.
    """
    def __init__(self, capacity, *, control_width=None):
        members = {
            "cmd":      In(stream.Signature(StoreCommand(capacity))),
            "w_stream": In(stream.Signature(8)),
            "r_stream": Out(stream.Signature(8)),
        }
        if control_width is not None:
            members["control"] = In(ControlSignature(control_width))
        self._control_width = control_width
        super().__init__(capacity, members)

    @property
    def control_width(self):
        """Word address width of the control bus, or :py:`None` without one."""
        return self._control_width

    def __eq__(self, other):
        return super().__eq__(other) and other.control_width == self.control_width

    def __repr__(self):
        if self.control_width is None:
            return super().__repr__()
        return (f"{type(self).__name__}(capacity={self.capacity}, "
                f"control_width={self.control_width})")
