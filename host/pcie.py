# SPDX-License-Identifier: BSD-2-Clause
"""A MemGEN card on PCIe, through LitePCIe's Linux driver (``/dev/litepcieN``), in pure Python:
``os.open``, ``fcntl.ioctl`` with the structures of the driver's ``litepcie.h``, and ``mmap`` of
its DMA rings. No C library to build on the host; the kernel driver itself is built from the
``litepcie`` wheel (README, "A PCIe card").

The bytes are MemGEN's ordinary frames; the buffer rules around them (headers, sequence numbers,
windows) are in :mod:`hw.transport.pcie_layout`. Open one with :func:`open_pcie` or give any
tool ``--port litepcie:///dev/litepcie0``.
"""

import ctypes
import fcntl
import logging
import mmap
import os
import time

from hw.transport import pcie_layout as layout

from .link import LinkError

__all__ = ["URL_SCHEME", "PCIeLink", "open_pcie", "parse_url", "ioctl_number"]

_log = logging.getLogger(__name__)

#: The URL scheme the tools' ``--port`` accepts for a card: ``litepcie:///dev/litepcie0``.
URL_SCHEME = "litepcie://"
_DEFAULT_NODE = "/dev/litepcie0"

_DRIVER_HINT = ("build it from the card's build tree and load it: `make -C "
                "build/acorn_cle215/driver && sudo insmod build/acorn_cle215/driver/litepcie.ko` "
                "(README, \"A PCIe card\")")
_PERMISSION_HINT = ("give your user access: `sudo chmod 666 {path}` for now, or a udev rule "
                    "such as `KERNEL==\"litepcie[0-9]*\", GROUP=\"plugdev\", MODE=\"0660\"` in "
                    "/etc/udev/rules.d/99-litepcie.rules and membership of that group")


# The driver's ioctl structures (litepcie/software/kernel/litepcie.h); ctypes lays them out as
# the C compiler does, padding included.

class _Reg(ctypes.Structure):
    _fields_ = [("addr", ctypes.c_uint32), ("val", ctypes.c_uint32),
                ("is_write", ctypes.c_uint8)]


class _DMAControl(ctypes.Structure):     # litepcie_ioctl_dma_writer and _reader
    _fields_ = [("enable", ctypes.c_uint8), ("hw_count", ctypes.c_int64),
                ("sw_count", ctypes.c_int64)]


class _Lock(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint8) for name in (
        "dma_reader_request", "dma_writer_request", "dma_reader_release", "dma_writer_release",
        "dma_reader_status", "dma_writer_status")]


class _MmapInfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "dma_tx_buf_offset", "dma_tx_buf_size", "dma_tx_buf_count",
        "dma_rx_buf_offset", "dma_rx_buf_size", "dma_rx_buf_count")]


def ioctl_number(direction, nr, size):
    """Return the Linux ioctl request number ``_IOC(direction, 'S', nr, size)`` of the driver
    (``LITEPCIE_IOCTL`` is ``'S'``); ``direction`` is a combination of 1 (write: user to
    kernel) and 2 (read), as in ``asm-generic/ioctl.h``."""
    return (direction << 30) | (size << 16) | (ord("S") << 8) | nr


_W, _R = 1, 2
IOCTL_REG = ioctl_number(_W | _R, 0, ctypes.sizeof(_Reg))
IOCTL_DMA_WRITER = ioctl_number(_W | _R, 21, ctypes.sizeof(_DMAControl))
IOCTL_DMA_READER = ioctl_number(_W | _R, 22, ctypes.sizeof(_DMAControl))
IOCTL_MMAP_DMA_INFO = ioctl_number(_R, 24, ctypes.sizeof(_MmapInfo))
IOCTL_LOCK = ioctl_number(_W | _R, 25, ctypes.sizeof(_Lock))


class LinuxSystem:
    """The operating system calls :class:`PCIeLink` makes; tests pass a fake device instead."""

    open = staticmethod(os.open)
    close = staticmethod(os.close)
    exists = staticmethod(os.path.exists)

    @staticmethod
    def ioctl(fd, request, arg):
        """Run ``ioctl(fd, request, arg)``, updating the structure ``arg`` in place."""
        fcntl.ioctl(fd, request, arg, True)

    @staticmethod
    def mmap(fd, length, offset):
        """Map ``length`` bytes of ``fd`` at ``offset``, shared, for reading and writing."""
        return mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                         offset=offset)

    @staticmethod
    def driver_loaded():
        """Whether the ``litepcie`` kernel module is loaded."""
        return os.path.isdir("/sys/module/litepcie")


def parse_url(url):
    """Return the device node of a ``litepcie://`` URL (``litepcie:///dev/litepcie1`` gives
    ``/dev/litepcie1``; ``litepcie://`` alone, ``/dev/litepcie0``).

    Raises
    ------
    LinkError
        If ``url`` is not a ``litepcie://`` URL with an absolute path.
    """
    if not url.startswith(URL_SCHEME):
        raise LinkError(f"{url!r} is not a {URL_SCHEME} URL; write {URL_SCHEME}{_DEFAULT_NODE}")
    path = url[len(URL_SCHEME):] or _DEFAULT_NODE
    if not path.startswith("/"):
        raise LinkError(f"{url!r} names no device node; write {URL_SCHEME}{_DEFAULT_NODE} "
                        f"(three slashes: the scheme's two and the path's)")
    return path


class PCIeLink:
    """A MemGEN card behind LitePCIe's driver, as a :class:`host.link.Transport`.

    Opening it takes both DMA directions of the node (another program holding them is an
    error), maps the two rings, checks that the card carries MemGEN's PCIe transport
    (:data:`~hw.transport.pcie_layout.Register.ID`), clears the rings and starts both DMAs.

    Parameters
    ----------
    path : str
        The device node, ``/dev/litepcie0``.
    timeout : float
        Seconds :meth:`read` waits for bytes before returning fewer.
    write_timeout : float
        Seconds :meth:`write` waits for the card to make room before it raises.
    system : LinuxSystem
        The system calls; tests pass a fake device.

    Raises
    ------
    LinkError
        If the driver is not loaded, the node is missing or not accessible, the DMAs are taken,
        or the card does not carry MemGEN; the message names the fix.
    """

    #: Payload bytes per second of the link, for "% of link": not stated (the engine, at a
    #: byte per clock, is far slower than PCIe Gen2 x4).
    rate = None

    def __init__(self, path=_DEFAULT_NODE, *, timeout=0.05, write_timeout=10.0,
                 system=None, poll_interval=2e-4):
        self.path = path
        self.timeout = timeout
        self.write_timeout = write_timeout
        self._sys = system if system is not None else LinuxSystem()
        self._poll = poll_interval
        self._fd = None
        self._tx = self._rx = None
        self._received = bytearray()
        self._fd = self._open()
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    # Opening.

    def _open(self):
        path, sys_ = self.path, self._sys
        if not sys_.exists(path):
            if not sys_.driver_loaded():
                raise LinkError(f"{path} does not exist: LitePCIe's driver is not loaded; "
                                f"{_DRIVER_HINT}")
            raise LinkError(f"{path} does not exist although LitePCIe's driver is loaded: no "
                            f"card with a LitePCIe core answered; check `lspci -d 10ee:` lists "
                            f"the card, and reboot or rescan after loading its bitstream")
        try:
            return sys_.open(path, os.O_RDWR | os.O_CLOEXEC)
        except PermissionError as exc:
            raise LinkError(f"no permission to open {path} ({exc.strerror}): "
                            f"{_PERMISSION_HINT.format(path=path)}") from exc
        except OSError as exc:
            raise LinkError(f"cannot open {path}: {exc.strerror or exc}; is LitePCIe's driver "
                            f"loaded? {_DRIVER_HINT}") from exc

    def _ioctl(self, request, arg):
        try:
            self._sys.ioctl(self._fd, request, arg)
        except OSError as exc:
            raise LinkError(f"{self.path}: the driver refused a request ({exc.strerror or exc});"
                            f" is the driver built from the same LitePCIe version as the "
                            f"card's core?") from exc
        return arg

    def _start(self):
        lock = self._ioctl(IOCTL_LOCK, _Lock(dma_reader_request=1, dma_writer_request=1))
        self._locked = (bool(lock.dma_reader_status), bool(lock.dma_writer_status))
        if not all(self._locked):
            raise LinkError(f"another program is using {self.path}'s DMA: close it (`lsof "
                            f"{self.path}` lists it)")
        ident = self.register(layout.Register.ID)
        if ident != layout.PCIE_ID:
            raise LinkError(f"the card at {self.path} does not carry MemGEN's PCIe transport "
                            f"(its ID register reads {ident:#010x}, not "
                            f"{layout.PCIE_ID:#010x}): load MemGEN's bitstream "
                            f"(`make bitstream BOARD=acorn_cle215`) and reboot or rescan")
        info = self._ioctl(IOCTL_MMAP_DMA_INFO, _MmapInfo())
        total = layout.DMA_BUFFER_SIZE * layout.DMA_BUFFER_COUNT
        for direction in ("tx", "rx"):
            size = getattr(info, f"dma_{direction}_buf_size")
            count = getattr(info, f"dma_{direction}_buf_count")
            if (size, count) != (layout.DMA_BUFFER_SIZE, layout.DMA_BUFFER_COUNT):
                raise LinkError(f"{self.path}'s driver has {count} DMA buffers of {size} bytes; "
                                f"MemGEN's transport needs {layout.DMA_BUFFER_COUNT} of "
                                f"{layout.DMA_BUFFER_SIZE}: build and load the driver "
                                f"from the tree `make bitstream` wrote (its driver/ folder)")
        try:
            self._tx = self._sys.mmap(self._fd, total, info.dma_tx_buf_offset)
            self._rx = self._sys.mmap(self._fd, total, info.dma_rx_buf_offset)
        except OSError as exc:
            raise LinkError(f"cannot map {self.path}'s DMA buffers ({exc.strerror or exc})") \
                from exc
        # Nothing of an earlier client may look valid: clear the headers of the host's ring and
        # the trailers of the card's, before the DMAs start.
        blank = bytes(layout.HEADER_SIZE)
        for slot in range(layout.DMA_BUFFER_COUNT):
            base = slot * layout.DMA_BUFFER_SIZE
            self._tx[base:base + layout.HEADER_SIZE] = blank
            end = base + layout.DMA_BUFFER_SIZE
            self._rx[end - layout.HEADER_SIZE:end] = blank
        # Carry on the card's numbering; let it send again whatever an earlier client left.
        self._to_card = self._taken = self.register(layout.Register.TO_CARD_BUFFERS)
        self._read = self.register(layout.Register.TO_HOST_BUFFERS)
        self._sent_at_open = self._taken
        self._rx_slot = 0       # the driver starts the writer at the ring's first slot
        self._ioctl(IOCTL_DMA_READER, _DMAControl(enable=1))
        self._ioctl(IOCTL_DMA_WRITER, _DMAControl(enable=1))
        self._started = True
        self.set_register(layout.Register.HOST_READ, self._read)
        _log.info("opened %s: card at buffer %d to it, %d from it", self.path, self._to_card,
                  self._read)

    # Registers.

    def register(self, offset):
        """Return the 32-bit transport register at byte ``offset`` of the MMAP window
        (:class:`~hw.transport.pcie_layout.Register`)."""
        reg = self._ioctl(IOCTL_REG, _Reg(addr=layout.MMAP_BASE + offset, is_write=0))
        return reg.val

    def set_register(self, offset, value):
        """Write ``value`` to the transport register at byte ``offset``."""
        self._ioctl(IOCTL_REG, _Reg(addr=layout.MMAP_BASE + offset, val=value & 0xFFFF_FFFF,
                                    is_write=1))

    def status(self):
        """Return the transport's registers by lower-case name (``link_up`` and the counters of
        :class:`~hw.transport.pcie_layout.Register`)."""
        values = {reg.name.lower(): self.register(reg) for reg in layout.Register}
        values["link_up"] = bool(values.pop("status") & layout.Status.LINK_UP)
        return values

    # Transport.

    def _collect(self):
        """Take the card's buffers that have landed; return whether there were any."""
        got = 0
        while True:
            base = self._rx_slot * layout.DMA_BUFFER_SIZE
            found = layout.to_host_payload(self._rx[base:base + layout.DMA_BUFFER_SIZE])
            if found is None:
                break
            seq, payload = found
            if seq != self._read:
                _log.warning("%s: card buffer %d arrived where %d was expected", self.path,
                             seq, self._read)
            end = base + layout.DMA_BUFFER_SIZE
            self._rx[end - layout.HEADER_SIZE:end] = bytes(layout.HEADER_SIZE)
            self._received += payload
            self._read = (seq + 1) & 0xFFFF_FFFF
            self._rx_slot = (self._rx_slot + 1) % layout.DMA_BUFFER_COUNT
            got += 1
        if got:
            self.set_register(layout.Register.HOST_READ, self._read)
        return bool(got)

    @property
    def in_waiting(self):
        """Bytes received and not yet read."""
        self._collect()
        return len(self._received)

    def read(self, size=1):
        """Return up to ``size`` bytes, waiting up to :attr:`timeout` for the first."""
        deadline = time.monotonic() + self.timeout
        while not self._received:
            if not self._collect():
                if time.monotonic() >= deadline:
                    break
                time.sleep(self._poll)
        data = bytes(self._received[:size])
        del self._received[:size]
        return data

    def write(self, data):
        """Send ``data`` in buffers of up to :data:`~hw.transport.pcie_layout.MAX_CHUNK` bytes;
        return its length.

        Raises
        ------
        LinkError
            If the card takes no buffer for :attr:`write_timeout` seconds.
        """
        data = bytes(data)
        for start in range(0, len(data) or 1, layout.MAX_CHUNK):
            chunk = data[start:start + layout.MAX_CHUNK]
            self._wait_for_room()
            seq = self._to_card
            base = (seq % layout.DMA_BUFFER_COUNT) * layout.DMA_BUFFER_SIZE
            buffer = layout.to_card_buffer(seq, chunk)
            # Payload first, header last: the card skips a buffer whose header is not yet whole.
            self._tx[base + layout.HEADER_SIZE:base + layout.DMA_BUFFER_SIZE] = \
                buffer[layout.HEADER_SIZE:]
            self._tx[base:base + layout.HEADER_SIZE] = buffer[:layout.HEADER_SIZE]
            self._to_card = (seq + 1) & 0xFFFF_FFFF
            if not data:
                break
        return len(data)

    def _wait_for_room(self):
        deadline = time.monotonic() + self.write_timeout
        while (self._to_card - self._taken) & 0xFFFF_FFFF >= layout.WINDOW:
            self._taken = self.register(layout.Register.TO_CARD_BUFFERS)
            if (self._to_card - self._taken) & 0xFFFF_FFFF < layout.WINDOW:
                return
            if time.monotonic() >= deadline:
                raise LinkError(f"the card at {self.path} took none of "
                                f"{layout.WINDOW} buffers in {self.write_timeout:g} s: its "
                                f"engine is stuck; reload the bitstream")
            time.sleep(self._poll)

    def unanswered(self):
        """Return why no device answered, naming the fix, or :py:`None`."""
        try:
            taken = self.register(layout.Register.TO_CARD_BUFFERS)
        except LinkError:
            return None
        if taken == self._sent_at_open and self._to_card != taken:
            return (f"the card at {self.path} has taken none of the buffers sent (its DMA reader "
                    f"does not run): reload the bitstream and the driver")
        return None

    def close(self):
        """Stop both DMAs, release them and the rings, and close the node."""
        if self._fd is None:
            return
        reader, writer = getattr(self, "_locked", (False, False))
        try:
            if getattr(self, "_started", False):
                for request in (IOCTL_DMA_READER, IOCTL_DMA_WRITER):
                    self._ioctl(request, _DMAControl(enable=0))
            if reader or writer:
                self._ioctl(IOCTL_LOCK, _Lock(dma_reader_release=int(reader),
                                              dma_writer_release=int(writer)))
        except LinkError as exc:
            _log.warning("%s", exc)
        finally:
            for ring in (self._tx, self._rx):
                if ring is not None:
                    ring.close()
            self._tx = self._rx = None
            fd, self._fd = self._fd, None
            self._sys.close(fd)


def open_pcie(url, *, timeout=0.05, system=None):
    """Open the card of the ``litepcie://`` URL ``url``; see :class:`PCIeLink`.

    Raises
    ------
    LinkError
        As :class:`PCIeLink` and :func:`parse_url`.
    """
    return PCIeLink(parse_url(url), timeout=timeout, system=system)

