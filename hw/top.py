# SPDX-License-Identifier: BSD-2-Clause
"""Top level: a transport in the transport slot, the engine, LEDs."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from . import protocol
from .boards.facts import DEVICES, SIM_DEVICE, VBOARD_BAUD, VBOARD_CLK_FREQ, VBOARD_STORES
from .engine.engine import Engine
from .protocol import Leveling, Memory, State
from .store.bram import ExampleStore
from .transport.slot import check_transport
from .transport.stream import StreamTransport
from .transport.uart_transport import FIFO_DEPTH, UARTTransport

__all__ = [
    "MemGEN", "StreamMemGEN", "SimTop", "StreamSimTop", "FIFO_DEPTH", "SIM_CAPACITY",
    "STREAM_FRAME_TIMEOUT", "stream_link_rate",
]


def _store(capacity, store):
    if (capacity is None) == (store is None):
        raise ValueError("MemGEN needs either a store or the capacity of a block-RAM store")
    return ExampleStore(capacity) if store is None else store


#: Clock cycles a byte of the link must take at least for the engine to compute its CRCs a
#: bit per cycle (nine cycles a byte, with a margin): a UART's, not the stream board's.
SERIAL_CRC_CYCLES = 16


def _engine(clk_freq, transport, store, timeout, compact=False):
    check_transport(transport)
    rate = transport.link_rate      # bits per second, UART_BITS_PER_BYTE a byte
    serial = 0 < rate and clk_freq * protocol.UART_BITS_PER_BYTE >= SERIAL_CRC_CYCLES * rate
    return Engine(capacity=store.signature.capacity, clk_freq=clk_freq,
                  link_rate=transport.link_rate,
                  timeout=transport.frame_timeout if timeout is None else timeout,
                  serial_crc=serial, compact=compact,
                  control_width=store.signature.control_width,
                  memory=getattr(store, "memory_type", Memory.ON_CHIP),
                  leveling=getattr(store, "leveling", Leveling.NONE))


def _connect_engine(m, top, transport, engine, store):
    """Join a transport, the engine and the store, and drive the top level's LEDs and
    ``idle``."""
    m.submodules.transport = transport
    m.submodules.engine = engine
    m.submodules.store = store
    wiring.connect(m, engine.store, store)
    wiring.connect(m, transport.o_stream, engine.i_stream)
    wiring.connect(m, engine.o_stream, transport.i_stream)
    m.d.comb += [
        engine.link_errors.eq(transport.errors),
        top.leds[0].eq(engine.state == State.LEARNING),
        top.leds[1].eq(engine.state == State.READY),
        top.leds[2].eq(engine.error),
        top.idle.eq(engine.waiting & transport.idle),
    ]


class MemGEN(wiring.Component):
    """The whole device behind two UART pins: a :class:`~hw.transport.uart_transport.
    UARTTransport` in the transport slot and the :class:`~hw.engine.engine.Engine`.

    Parameters
    ----------
    clk_freq : int
        Clock frequency in Hz.
    baud : int
        UART baud rate.
    capacity : int or None
        Size of a block-RAM store in bytes (only when ``store`` is not given).
    store : :class:`wiring.Component` or None
        An example store with :class:`hw.store.interface.StoreSignature`; default an
        :class:`hw.store.bram.ExampleStore` in block RAM.
    timeout : int or None
        Frame timeout in cycles (default the transport's: :data:`hw.protocol.
        FRAME_TIMEOUT_BYTES` byte times).
    compact : bool
        Trade speed for logic (see :class:`~hw.engine.engine.Engine`): for a small FPGA.

    Members
    -------
    uart_rx : :py:`In(1, init=1)`
        Receive pin.
    uart_tx : :py:`Out(1, init=1)`
        Transmit pin.
    leds : :py:`Out(3)`
        Learning, ready, error.
    idle : :py:`Out(1)`
        The device is only waiting for input (used by the virtual board to throttle).

    Raises
    ------
    ValueError
        If neither or both of ``capacity`` and ``store`` are given, or ``baud`` is too
        high for ``clk_freq``.
    TypeError
        If the transport does not fit the transport slot.
    """
    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    leds:    Out(3)
    idle:    Out(1)

    def __init__(self, *, clk_freq, baud, capacity=None, store=None, timeout=None,
                 compact=False):
        self.transport = UARTTransport(clk_freq=clk_freq, baud=baud)
        self.store = _store(capacity, store)
        self.engine = _engine(clk_freq, self.transport, self.store, timeout, compact)
        super().__init__()

    @property
    def capacity(self):
        """Size of the store in bytes."""
        return self.engine.capacity

    def elaborate(self, platform):
        m = Module()
        _connect_engine(m, self, self.transport, self.engine, self.store)
        m.d.comb += [
            self.transport.rx.eq(self.uart_rx),
            self.uart_tx.eq(self.transport.tx),
        ]
        return m


#: Frame timeout of the stream board, in cycles: :data:`hw.protocol.FRAME_TIMEOUT_BYTES` byte
#: times of the UART virtual board (10 bits of 2 cycles at :data:`~hw.boards.facts.VBOARD_BAUD`,
#: 20 cycles a byte), not of the stream (a cycle a byte). While a client pauses mid-frame the
#: design is idle and the harness throttles to its idle rate (1 M cycles per wall second), so
#: this keeps the UART board's 82 ms of grace before a slow client's frame is dropped; 4,096
#: cycles would give 4 ms, less than a scheduler hiccup on a loaded machine.
STREAM_FRAME_TIMEOUT = protocol.frame_timeout_cycles(VBOARD_CLK_FREQ, VBOARD_BAUD)


def stream_link_rate(clk_freq):
    """Return the notional rate a stream board reports in INFO: the baud of a UART that carries
    a byte per clock cycle (``clk_freq`` x :data:`hw.protocol.UART_BITS_PER_BYTE`), so a host
    that counts ``baud / 10`` bytes per second finds the stream's ceiling, ``clk_freq`` bytes
    per second."""
    return clk_freq * protocol.UART_BITS_PER_BYTE


class StreamMemGEN(wiring.Component):
    """The whole device behind a byte stream each way: a :class:`~hw.transport.stream.
    StreamTransport` in the transport slot and the :class:`~hw.engine.engine.Engine`, for the
    virtual board's byte-level bridge.

    Parameters
    ----------
    clk_freq : int
        Clock frequency in Hz.
    capacity : int or None
        Size of a block-RAM store in bytes (only when ``store`` is not given).
    store : :class:`wiring.Component` or None
        An example store, as for :class:`MemGEN`.
    timeout : int or None
        Frame timeout in cycles (default :data:`STREAM_FRAME_TIMEOUT`).

    Members
    -------
    rx : :py:`In(stream.Signature(8))`
        Bytes from the host.
    tx : :py:`Out(stream.Signature(8))`
        Bytes to the host.
    leds : :py:`Out(3)`
        Learning, ready, error.
    idle : :py:`Out(1)`
        The device is only waiting for input (used by the virtual board to throttle).
    """
    rx:   In(stream.Signature(8))
    tx:   Out(stream.Signature(8))
    leds: Out(3)
    idle: Out(1)

    def __init__(self, *, clk_freq, capacity=None, store=None, timeout=None):
        self.transport = StreamTransport(
            frame_timeout=STREAM_FRAME_TIMEOUT if timeout is None else timeout,
            link_rate=stream_link_rate(clk_freq))
        self.store = _store(capacity, store)
        self.engine = _engine(clk_freq, self.transport, self.store, None)
        super().__init__()

    @property
    def frame_timeout(self):
        """The frame timeout, in clock cycles."""
        return self.transport.frame_timeout

    @property
    def capacity(self):
        """Size of the store in bytes."""
        return self.engine.capacity

    def elaborate(self, platform):
        m = Module()
        _connect_engine(m, self, self.transport, self.engine, self.store)
        wiring.connect(m, wiring.flipped(self.rx), self.transport.rx)
        wiring.connect(m, self.transport.tx, wiring.flipped(self.tx))
        return m


#: Store capacity of the simulated top level by default: the Arty A7-35T's, so the virtual board
#: holds what the first board holds.
SIM_CAPACITY = DEVICES[SIM_DEVICE].capacity


def _sim_store(capacity, store):
    """Return the keyword arguments of a simulated top's store: a block-RAM capacity
    (:data:`SIM_CAPACITY` by default) or a DRAM store (the whole memory by default)."""
    if store not in VBOARD_STORES:
        raise ValueError(f"Virtual board store must be one of {VBOARD_STORES}, not {store!r}")
    if store == "bram":
        return {"capacity": SIM_CAPACITY if capacity is None else capacity}
    from .store.dram.store import sim_store
    return {"store": sim_store(capacity, store)}


def SimTop(*, clk_freq=VBOARD_CLK_FREQ, baud=VBOARD_BAUD, capacity=None, timeout=None,
           store="bram"):
    """Return the top level of the UART board: a plain clock and the UART pins as ports.

    ``store`` and ``capacity`` are as for :func:`StreamSimTop`.
    """
    return MemGEN(clk_freq=clk_freq, baud=baud, timeout=timeout, **_sim_store(capacity, store))


def StreamSimTop(*, clk_freq=VBOARD_CLK_FREQ, capacity=None, timeout=None, store="bram"):
    """Return the top level of the stream board: a plain clock and the two byte streams as
    ports (``rx__payload``, ``rx__valid``, ``rx__ready``, and the same of ``tx``).

    ``store`` is one of :data:`hw.boards.facts.VBOARD_STORES`; ``capacity`` defaults to
    :data:`SIM_CAPACITY` in block RAM and to the whole memory in DRAM.
    """
    return StreamMemGEN(clk_freq=clk_freq, timeout=timeout, **_sim_store(capacity, store))
