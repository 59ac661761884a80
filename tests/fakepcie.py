# SPDX-License-Identifier: BSD-2-Clause
"""A fake LitePCIe device node for :class:`host.pcie.PCIeLink`: the system calls of LitePCIe's
Linux driver (``litepcie/software/kernel/main.c`` of the ``litepcie`` wheel: ``open``, the
ioctls of ``litepcie.h``, ``mmap`` of the two DMA rings) over a card that follows the buffer
rules of :class:`hw.transport.pcie_layout.CardBuffersModel`, with any engine behind it.

The ioctl structures are decoded here with :mod:`struct` formats written from the C header, not
with the host's :mod:`ctypes` ones, so a layout mistake on either side shows. The card's DMAs
run on every access the host makes to a ring (each slice read or written), so the reader can
catch the host half-way through writing a buffer, as a real one may.
"""

import errno
import struct

from hw.engine.cmdproc_model import CommandProcessorModel
from hw.protocol import encode_frame
from hw.transport import pcie_layout as layout

__all__ = ["FakeLitePCIe", "ModelEngine"]

TOTAL = layout.DMA_BUFFER_SIZE * layout.DMA_BUFFER_COUNT

# _IOC(dir, 'S', nr, size), sizes from litepcie.h with x86-64 alignment: litepcie_ioctl_reg is
# u32, u32, u8 (+3 padding) = 12; the DMA writer/reader u8 (+7), s64, s64 = 24; the lock six u8
# = 6; the mmap info six u64 = 48.
_REG = struct.Struct("<IIB3x")
_DMA = struct.Struct("<B7xqq")
_LOCK = struct.Struct("<6B")
_INFO = struct.Struct("<6Q")


def _ioc(direction, nr, size):
    return (direction << 30) | (size << 16) | (0x53 << 8) | nr


_REQUESTS = {
    _ioc(3, 0, _REG.size): "reg", _ioc(3, 21, _DMA.size): "writer",
    _ioc(3, 22, _DMA.size): "reader", _ioc(2, 24, _INFO.size): "info",
    _ioc(3, 25, _LOCK.size): "lock",
}


class _Ring:
    """A mapped DMA ring: a bytearray the card shares, that runs the card on each access."""

    def __init__(self, device, data):
        self._device = device
        self._data = data
        self.closed = False

    def __getitem__(self, key):
        assert not self.closed
        self._device.run()
        return bytes(self._data[key])

    def __setitem__(self, key, value):
        assert not self.closed
        self._data[key] = value
        self._device.run()

    def close(self):
        self.closed = True


class FakeLitePCIe:
    """The system calls of :class:`host.pcie.LinuxSystem` on a fake card.

    Parameters
    ----------
    engine : callable
        Takes the bytes the card delivers to its engine, returns the bytes the engine sends.
    node : str
        The device node that exists.
    driver, present, permitted : bool
        The driver is loaded; the node exists; the user may open it.
    ident : int
        What the ID register reads.
    ring : int
        The driver's buffers in each ring (its ``DMA_BUFFER_COUNT``).

    Attributes
    ----------
    card : hw.transport.pcie_layout.CardBuffersModel
    tx, rx : bytearray
        The host-to-card and card-to-host rings.
    calls : list of str
        The ioctls made, by name.
    """

    def __init__(self, engine, *, node="/dev/litepcie0", driver=True, present=True,
                 permitted=True, ident=layout.PCIE_ID, ring=layout.DMA_BUFFER_COUNT):
        self.engine = engine
        self.ring = ring
        self.node = node
        self.driver = driver
        self.present = present and driver
        self.permitted = permitted
        self.ident = ident
        self.card = layout.CardBuffersModel()
        self.tx = bytearray(TOTAL)
        self.rx = bytearray(TOTAL)
        self.calls = []
        self.reader = self.writer = False
        self.locks = {"reader": False, "writer": False}
        self.open_fds = set()
        self._owners = {}
        self._reader_slot = self._writer_slot = 0
        self._running = False

    # The system calls.

    def exists(self, path):
        return path == self.node and self.present

    def driver_loaded(self):
        return self.driver

    def open(self, path, flags):
        if not self.exists(path):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if not self.permitted:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        fd = 100 + len(self.open_fds)
        self.open_fds.add(fd)
        return fd

    def close(self, fd):
        self.open_fds.remove(fd)
        # The driver's release(): stop the DMAs this file locked, drop its locks.
        for which in ("reader", "writer"):
            if self._owners.get(which) == fd:
                setattr(self, which, False)
                self.locks[which] = False
                del self._owners[which]

    def mmap(self, fd, length, offset):
        assert fd in self.open_fds
        if length != TOTAL:
            raise OSError(errno.EINVAL, "Invalid argument")
        if offset == 0:
            return _Ring(self, self.tx)
        if offset == TOTAL:
            return _Ring(self, self.rx)
        raise OSError(errno.EINVAL, "Invalid argument")

    def ioctl(self, fd, request, arg):
        assert fd in self.open_fds
        name = _REQUESTS.get(request)
        if name is None:
            raise OSError(errno.ENOTTY, "Inappropriate ioctl for device")
        self.calls.append(name)
        view = memoryview(arg).cast("B")
        self._fd = fd
        view[:] = getattr(self, f"_{name}")(bytes(view))
        self.run()

    def _reg(self, raw):
        addr, val, is_write = _REG.unpack(raw)
        offset = addr - layout.MMAP_BASE
        if is_write:
            self.card.write_register(offset, val)
        elif offset == layout.Register.ID:
            val = self.ident
        else:
            val = self.card.read_register(offset)
        return _REG.pack(addr, val, is_write)

    def _dma(self, raw, which):
        enable, _hw, _sw = _DMA.unpack(raw)
        if enable and not getattr(self, which):
            # The driver's dma_*_start(): the engine restarts at the ring's first buffer.
            setattr(self, f"_{which}_slot", 0)
        setattr(self, which, bool(enable))
        return _DMA.pack(enable, 0, 0)

    def _reader(self, raw):
        return self._dma(raw, "reader")

    def _writer(self, raw):
        return self._dma(raw, "writer")

    def _info(self, raw):
        return _INFO.pack(0, layout.DMA_BUFFER_SIZE, self.ring,
                          TOTAL, layout.DMA_BUFFER_SIZE, self.ring)

    def _lock(self, raw):
        reader_req, writer_req, reader_rel, writer_rel, _, _ = _LOCK.unpack(raw)
        status = {}
        for which, request, release in (("reader", reader_req, reader_rel),
                                        ("writer", writer_req, writer_rel)):
            status[which] = 1
            if request:
                if self.locks[which]:
                    status[which] = 0
                else:
                    self.locks[which] = True
                    self._owners[which] = self._fd
            if release and self._owners.get(which) == self._fd:
                self.locks[which] = False
                del self._owners[which]
        return _LOCK.pack(reader_req, writer_req, reader_rel, writer_rel,
                          status["reader"], status["writer"])

    # The card.

    def run(self):
        """Let the DMA reader go once round its ring, the engine answer, and the DMA writer
        write what the card flushes."""
        if self._running:
            return
        self._running = True
        try:
            if self.reader:
                for _ in range(layout.DMA_BUFFER_COUNT):
                    base = self._reader_slot * layout.DMA_BUFFER_SIZE
                    payload = self.card.take(
                        memoryview(self.tx)[base:base + layout.DMA_BUFFER_SIZE])
                    self._reader_slot = (self._reader_slot + 1) % layout.DMA_BUFFER_COUNT
                    if payload:
                        self.card.send(self.engine(payload))
            if self.writer:
                for buffer in self.card.flush():
                    base = self._writer_slot * layout.DMA_BUFFER_SIZE
                    self.rx[base:base + layout.DMA_BUFFER_SIZE] = buffer
                    self._writer_slot = (self._writer_slot + 1) % layout.DMA_BUFFER_COUNT
        finally:
            self._running = False


class ModelEngine:
    """The engine as :class:`hw.engine.cmdproc_model.CommandProcessorModel`: bytes in, reply
    frames out, under the link key in force after them."""

    def __init__(self, capacity=64 * 1024, clk_freq=100_000_000, index_bits=16):
        self.model = CommandProcessorModel(capacity=capacity, clk_freq=clk_freq, baud=0,
                                           index_bits=index_bits)

    def __call__(self, data):
        self.model.feed(data)
        out = b"".join(encode_frame(frame.cmd, frame.payload, tag=frame.tag, key=self.model.key)
                       for frame in self.model.out)
        self.model.out.clear()
        return out
