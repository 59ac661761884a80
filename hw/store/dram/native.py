# SPDX-License-Identifier: BSD-2-Clause
"""LiteDRAM's native user port, the sequencer that serves the store's byte streams from it, and a
behavioural model of the port for the tests."""

from amaranth import *
from amaranth.lib import data, fifo, memory, wiring
from amaranth.lib import stream as lib_stream
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from ...sampler.lfsr import LFSR
from ..interface import StoreSignature, check_capacity

__all__ = ["NativeCommand", "NativeWriteData", "NativePortSignature", "NativeSequencer",
           "NativePortModel", "ModelDRAMStore"]


class NativeCommand(data.StructLayout):
    """A native port command: read or write the word at ``addr``."""
    def __init__(self, address_width):
        super().__init__({"we": 1, "addr": address_width})


class NativeWriteData(data.StructLayout):
    """The data of a native write command, with a write enable per byte."""
    def __init__(self, data_width):
        super().__init__({"data": data_width, "we": data_width // 8})


class NativePortSignature(wiring.Signature):
    """LiteDRAM's native user port, seen from its user.

    LiteDRAM keeps fewer of the stream rules than :mod:`amaranth.lib.stream`: its crossbar
    returns the read data of each read command in order on ``rdata`` whether ``rdata.ready`` is
    high or not, and takes each write command's data in order when it pulses ``wdata.ready``,
    whether ``wdata.valid`` is high or not. A user therefore keeps room for every read it has
    issued, and offers a write's data no later than the cycle after the write command is taken.

    Parameters
    ----------
    address_width : int
        Width of a word address.
    data_width : int
        Width of a word in bits, a multiple of 8.

    Members
    -------
    cmd : :py:`Out(stream.Signature(NativeCommand(address_width)))`
    wdata : :py:`Out(stream.Signature(NativeWriteData(data_width)))`
    rdata : :py:`In(stream.Signature(data_width))`
    """
    def __init__(self, address_width, data_width):
        if not isinstance(data_width, int) or data_width < 8 or data_width % 8:
            raise ValueError(f"Native port data width must be a positive multiple of 8, "
                             f"not {data_width!r}")
        exact_log2(data_width // 8)
        self.address_width = address_width
        self.data_width = data_width
        super().__init__({
            "cmd":   Out(lib_stream.Signature(NativeCommand(address_width))),
            "wdata": Out(lib_stream.Signature(NativeWriteData(data_width))),
            "rdata": In(lib_stream.Signature(data_width)),
        })

    def __eq__(self, other):
        return (type(other) is type(self) and other.address_width == self.address_width and
                other.data_width == self.data_width)

    def __repr__(self):
        return f"NativePortSignature({self.address_width}, {self.data_width})"


class _ReadDescriptor(data.StructLayout):
    def __init__(self, capacity, lanes):
        super().__init__({"offset": range(lanes), "length": range(capacity + 1)})


class NativeSequencer(wiring.Component):
    """Serves the store's command and data streams from a LiteDRAM native port.

    Writes: bytes are packed into words with a write enable per byte; a word is complete at its
    last lane or the command's last byte, waits in a register until the port takes its command,
    and its data then waits in a 4-word buffer until the port asks for it. Bytes keep coming
    while one word waits, so the write stream moves at one byte per clock while the port takes a
    word per ``data_width / 8`` cycles. Reads: each read command becomes one native read per word it
    touches, issued as fast as the port takes them while fewer than ``depth`` words are issued
    and not yet served (the read data buffer holds ``depth`` words, so the port never gives a
    word with nowhere to go); a serializer gives the words' bytes from the command's first byte
    on, one per clock, and the next command is taken while earlier reads are in flight.

    Commands are taken only while ``enable`` is high (the memory is initialised).

    Parameters
    ----------
    capacity : int
        Size of the store in bytes, at most the port's.
    address_width, data_width : int
        The native port's widths.
    depth : int
        Words of read data in flight or buffered.

    Members
    -------
    store : :py:`Out(StoreSignature(capacity))`
    port : :py:`Out(NativePortSignature(address_width, data_width))`
    enable : :py:`In(1)`
    """
    def __init__(self, capacity, *, address_width, data_width, depth=16):
        check_capacity(capacity)
        self._port_signature = NativePortSignature(address_width, data_width)
        if capacity > (1 << address_width) * data_width // 8:
            raise ValueError(f"Store capacity {capacity} is larger than the native port's "
                             f"{(1 << address_width) * data_width // 8} bytes")
        if not isinstance(depth, int) or depth < 2:
            raise ValueError(f"Read depth must be an integer of at least 2, not {depth!r}")
        self._capacity = capacity
        self._lanes = data_width // 8
        self._depth = depth
        super().__init__({
            "store":  Out(StoreSignature(capacity)),
            "port":   Out(self._port_signature),
            "enable": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self._lanes
        shift = exact_log2(lanes)
        address_width = self._port_signature.address_width
        m.submodules.desc = desc = fifo.SyncFIFO(
            width=Shape.cast(_ReadDescriptor(self._capacity, lanes)).width, depth=4)
        m.submodules.rdata = rdata = fifo.SyncFIFO(width=lanes * 8, depth=self._depth)
        m.submodules.wdata = wdata = fifo.SyncFIFO(
            width=Shape.cast(NativeWriteData(lanes * 8)).width, depth=4)

        # The write word waiting for the port, and the read words still to issue.
        pending = Signal(NativeCommand(address_width))
        pending_data = Signal(NativeWriteData(lanes * 8))
        pending_valid = Signal()
        read_addr = Signal(address_width)
        read_words = Signal(range((self._capacity >> shift) + 2))
        reserved = Signal(range(self._depth + 1))      # reads issued and not yet served

        self._issue(m, pending, pending_data, pending_valid, read_addr, read_words, reserved,
                    wdata, rdata)
        self._front(m, shift, pending, pending_data, pending_valid, read_addr, read_words,
                    desc, wdata)
        self._serializer(m, lanes, desc, rdata, reserved)
        return m

    def _issue(self, m, pending, pending_data, pending_valid, read_addr, read_words, reserved,
               wdata, rdata):
        """The native port: a waiting write word first, else the next read word."""
        port = self.port
        issue_read = Signal()
        served = Signal()
        m.d.comb += [
            served.eq(rdata.r_en & rdata.r_rdy),
            issue_read.eq(~pending_valid & (read_words != 0) & (reserved < self._depth)),
            port.cmd.valid.eq((pending_valid & wdata.w_rdy) | issue_read),
            port.cmd.payload.we.eq(pending_valid),
            port.cmd.payload.addr.eq(Mux(pending_valid, pending.addr, read_addr)),
            # A write's data enters the buffer as its command is taken and is at the buffer's
            # head from the next cycle on, before the port can ask for it.
            wdata.w_data.eq(pending_data),
            wdata.w_en.eq(pending_valid & port.cmd.ready),
            port.wdata.valid.eq(wdata.r_rdy),
            port.wdata.payload.eq(wdata.r_data),
            wdata.r_en.eq(port.wdata.ready),
            # Every word the port gives has room: ``reserved`` never exceeds the depth.
            port.rdata.ready.eq(1),
            rdata.w_en.eq(port.rdata.valid),
            rdata.w_data.eq(port.rdata.payload),
        ]
        issued = Signal()
        m.d.comb += issued.eq(issue_read & port.cmd.ready)
        with m.If(issued):
            m.d.sync += [
                read_addr.eq(read_addr + 1),
                read_words.eq(read_words - 1),
            ]
        m.d.sync += reserved.eq(reserved + issued - served)
        with m.If(pending_valid & port.cmd.ready & wdata.w_rdy):
            m.d.sync += pending_valid.eq(0)

    def _front(self, m, shift, pending, pending_data, pending_valid, read_addr, read_words, desc,
               wdata):
        """Take commands one at a time; pack a write's bytes into words."""
        cmd = self.store.cmd
        w_stream = self.store.w_stream
        lanes = 1 << shift
        addr = Signal.like(cmd.payload.addr)
        left = Signal.like(cmd.payload.length)
        acc = Signal(lanes * 8)
        acc_we = Signal(lanes)
        lane = Signal(range(lanes))
        m.d.comb += lane.eq(addr[:shift] if shift else 0)
        last = cmd.payload.addr + cmd.payload.length - 1
        descriptor = Signal(_ReadDescriptor(self._capacity, lanes))

        with m.FSM():
            with m.State("Idle"):
                m.d.comb += cmd.ready.eq(self.enable & (cmd.payload.write | desc.w_rdy) &
                                         (read_words == 0))
                with m.If(cmd.valid & cmd.ready):
                    m.d.sync += [
                        addr.eq(cmd.payload.addr),
                        left.eq(cmd.payload.length),
                    ]
                    with m.If(cmd.payload.write):
                        m.next = "Write"
                    with m.Else():
                        m.d.comb += [
                            desc.w_en.eq(1),
                            descriptor.offset.eq(cmd.payload.addr),
                            descriptor.length.eq(cmd.payload.length),
                            desc.w_data.eq(descriptor),
                        ]
                        m.d.sync += [
                            read_addr.eq(cmd.payload.addr >> shift),
                            read_words.eq((last >> shift) - (cmd.payload.addr >> shift) + 1),
                        ]
            with m.State("Write"):
                completes = Signal()
                word = Signal(lanes * 8)
                word_we = Signal(lanes)
                m.d.comb += [
                    completes.eq((lane == lanes - 1) | (left == 1)),
                    word.eq(acc),
                    word_we.eq(acc_we),
                    word.word_select(lane, 8).eq(w_stream.payload),
                    word_we.bit_select(lane, 1).eq(1),
                    # A completed word moves to ``pending`` if that is free or leaves now.
                    w_stream.ready.eq(~completes | ~pending_valid |
                                      (self.port.cmd.ready & wdata.w_rdy)),
                ]
                with m.If(w_stream.valid & w_stream.ready):
                    m.d.sync += [
                        addr.eq(addr + 1),
                        left.eq(left - 1),
                    ]
                    with m.If(completes):
                        m.d.sync += [
                            pending.addr.eq(addr >> shift),
                            pending_data.data.eq(word),
                            pending_data.we.eq(word_we),
                            pending_valid.eq(1),
                            acc_we.eq(0),
                        ]
                    with m.Else():
                        m.d.sync += [
                            acc.eq(word),
                            acc_we.eq(word_we),
                        ]
                    with m.If(left == 1):
                        m.next = "Idle"

    def _serializer(self, m, lanes, desc, rdata, reserved):
        """Give the bytes of each read command from its words, one per clock."""
        r_stream = self.store.r_stream
        layout = _ReadDescriptor(self._capacity, lanes)
        head = layout(desc.r_data)
        offset = Signal(range(lanes))
        left = Signal(range(self._capacity + 1))
        active = Signal()
        finishing = Signal()
        m.d.comb += [
            r_stream.valid.eq(active & rdata.r_rdy),
            r_stream.payload.eq(rdata.r_data.word_select(offset, 8)),
            finishing.eq(r_stream.valid & r_stream.ready & (left == 1)),
        ]
        with m.If(r_stream.valid & r_stream.ready):
            m.d.sync += [
                offset.eq(offset + 1),
                left.eq(left - 1),
            ]
            with m.If((offset == lanes - 1) | (left == 1)):
                m.d.comb += rdata.r_en.eq(1)
            with m.If(left == 1):
                m.d.sync += active.eq(0)
        # The next command's bytes follow the last byte of the current one with no gap.
        with m.If((~active | finishing) & desc.r_rdy):
            m.d.comb += desc.r_en.eq(1)
            m.d.sync += [
                offset.eq(head.offset),
                left.eq(head.length),
                active.eq(1),
            ]


class NativePortModel(wiring.Component):
    """A behavioural model of LiteDRAM's native port, for the tests: a word memory behind a
    command queue, with random stalls and periodic refresh pauses, keeping LiteDRAM's rules (it
    gives read data whether ``rdata.ready`` is high or not, and pulses ``wdata.ready`` whether
    ``wdata.valid`` is high or not) and flagging a user that breaks them.

    Parameters
    ----------
    address_width, data_width : int
        The port's widths; the memory holds ``2 ** address_width`` words.
    memory_words : int or None
        Hold only this many words (a power of two), addressed by the low bits of the word
        address, so that a test can use the full widths of a large memory.
    stall : int
        Chance, in 64ths, that the port takes no command, or serves none, in a cycle.
    refresh : (int, int) or None
        Every ``refresh[0]`` cycles the port pauses for ``refresh[1]`` cycles.
    seed : int
        Seed of the stalls.

    Members
    -------
    port : :py:`In(NativePortSignature(address_width, data_width))`
    error : :py:`Out(1)`
        Sticky: the user was given read data with ``rdata.ready`` low, or had its write data
        taken with ``wdata.valid`` low.
    """
    def __init__(self, address_width, data_width, *, memory_words=None, stall=16,
                 refresh=(97, 12), seed=1):
        self._address_width = address_width
        self._memory_bits = (address_width if memory_words is None
                             else min(address_width, exact_log2(memory_words)))
        self._data_width = data_width
        self._stall = stall
        self._refresh = refresh
        self._seed = seed
        super().__init__({
            "port":  In(NativePortSignature(address_width, data_width)),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        port = self.port
        m.submodules.mem = mem = memory.Memory(shape=self._data_width,
                                               depth=1 << self._memory_bits, init=[])
        wr = mem.write_port(granularity=8)
        rd = mem.read_port(domain="comb")
        m.submodules.queue = queue = fifo.SyncFIFO(width=1 + self._address_width, depth=4)
        m.submodules.rng = rng = LFSR(32, leap=12)
        m.d.comb += [rng.seed.eq(self._seed), rng.en.eq(1)]

        paused = Signal()
        if self._refresh is not None:
            interval, length = self._refresh
            count = Signal(range(interval))
            m.d.sync += count.eq(Mux(count == interval - 1, 0, count + 1))
            m.d.comb += paused.eq(count < length)
        take = Signal()
        serve = Signal()
        m.d.comb += [
            take.eq(~paused & (rng.state[0:6] >= self._stall)),
            serve.eq(~paused & (rng.state[6:12] >= self._stall)),
        ]
        head = NativeCommand(self._address_width)(queue.r_data)
        m.d.comb += [
            port.cmd.ready.eq(queue.w_rdy & take),
            queue.w_en.eq(port.cmd.valid & port.cmd.ready),
            queue.w_data.eq(port.cmd.payload),
            queue.r_en.eq(serve),
            rd.addr.eq(head.addr[:self._memory_bits]),
            wr.addr.eq(head.addr[:self._memory_bits]),
            wr.data.eq(port.wdata.payload.data),
            port.rdata.payload.eq(rd.data),
        ]
        with m.If(serve & queue.r_rdy):
            with m.If(head.we):
                m.d.comb += [
                    port.wdata.ready.eq(1),
                    wr.en.eq(port.wdata.payload.we),
                ]
                with m.If(~port.wdata.valid):
                    m.d.sync += self.error.eq(1)
            with m.Else():
                m.d.comb += port.rdata.valid.eq(1)
                with m.If(~port.rdata.ready):
                    m.d.sync += self.error.eq(1)
        return m


class ModelDRAMStore(wiring.Component):
    """A :class:`NativeSequencer` on a :class:`NativePortModel`: the DRAM store's adaptation
    under test in the Amaranth simulator, with the model's stalls and refresh pauses.

    Parameters
    ----------
    capacity : int
        Size of the store in bytes.
    data_width : int
        Width of the model's words.
    init_cycles : int
        Cycles after reset before the store takes commands, as a memory's initialisation.
    **kwargs
        Passed to :class:`NativePortModel`.

    Members
    -------
    cmd, w_stream, r_stream
        As :class:`~hw.store.interface.StoreSignature`; ``model.error`` says whether the
        sequencer broke the port's rules.
    """
    def __init__(self, capacity, *, data_width=16, init_cycles=20, **kwargs):
        check_capacity(capacity)
        address_width = max(1, ceil_log2(-(-capacity // (data_width // 8))))
        # Passed to the model: ``memory_words`` keeps a large store's memory small.
        self.sequencer = NativeSequencer(capacity, address_width=address_width,
                                         data_width=data_width, depth=8)
        self.model = NativePortModel(address_width, data_width, **kwargs)
        self._init_cycles = init_cycles
        super().__init__(StoreSignature(capacity))

    def elaborate(self, platform):
        m = Module()
        m.submodules.sequencer = sequencer = self.sequencer
        m.submodules.model = self.model
        wiring.connect(m, sequencer.port, self.model.port)
        wiring.connect(m, wiring.flipped(self.cmd), sequencer.store.cmd)
        wiring.connect(m, wiring.flipped(self.w_stream), sequencer.store.w_stream)
        wiring.connect(m, sequencer.store.r_stream, wiring.flipped(self.r_stream))
        countdown = Signal(range(self._init_cycles + 1), init=self._init_cycles)
        with m.If(countdown != 0):
            m.d.sync += countdown.eq(countdown - 1)
        m.d.comb += sequencer.enable.eq(countdown == 0)
        return m
