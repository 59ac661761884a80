# SPDX-License-Identifier: BSD-2-Clause
"""The engine in the Amaranth simulator, behind a pyserial-like byte link.

:class:`SimulatedLink` lets the real host client talk to the real gateware without a board or a
Verilator build: ``write()`` queues bytes for the engine's input stream, ``read()``
runs the simulation until the bytes it asks for have come out (or the simulated time-out
passes). The UART is bypassed here; the cocotb tests and the virtual board cover it.
"""

import collections

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hw import protocol
from hw.boards.facts import DEFAULT_BAUD, VBOARD_CLK_FREQ
from hw.engine.engine import Engine
from hw.protocol import Memory
from hw.store.bram import ExampleStore
from hw.store.interface import StoreSignature
from hw.store.stalling import StallingStore

__all__ = ["ControlledStore", "Device", "SimulatedLink", "STORES"]

CLOCK_PERIOD = 1e-8     # 100 MHz


class ControlledStore(wiring.Component):
    """A store with a control bus, for tests of the CSR command: ``store``'s streams, and
    :attr:`REGISTERS` 32-bit registers that answer :attr:`LATENCY` cycles after a request.
    Register 0 is read-only and holds :attr:`ID`; the others hold what is written (0 after
    reset). INFO reports the store as DDR3 that needs no leveling.

    Members
    -------
    cmd, w_stream, r_stream, control
        As :class:`hw.store.interface.StoreSignature` with a control bus of
        :attr:`ADDRESS_WIDTH` bits (addresses from :attr:`REGISTERS` on read 0).
    """
    REGISTERS = 4
    ADDRESS_WIDTH = 3
    ID = 0x4D454D47
    LATENCY = 3
    memory_type = Memory.DDR3

    def __init__(self, store):
        self._store = store
        super().__init__(StoreSignature(store.signature.capacity,
                                        control_width=self.ADDRESS_WIDTH))

    def elaborate(self, platform):
        m = Module()
        m.submodules.store = store = self._store
        wiring.connect(m, wiring.flipped(self.cmd), store.cmd)
        wiring.connect(m, wiring.flipped(self.w_stream), store.w_stream)
        wiring.connect(m, store.r_stream, wiring.flipped(self.r_stream))
        bus = self.control
        registers = Array(Signal(32, name=f"reg{i}", init=self.ID if i == 0 else 0)
                          for i in range(self.REGISTERS))
        wait = Signal(range(self.LATENCY + 1))
        with m.If(bus.stb & ~bus.ack):
            m.d.sync += wait.eq(wait + 1)
        with m.If(bus.stb & (wait == self.LATENCY)):
            m.d.comb += bus.ack.eq(1)
            m.d.sync += wait.eq(0)
            with m.If(bus.adr < self.REGISTERS):
                m.d.comb += bus.dat_r.eq(registers[bus.adr])
                with m.If(bus.we & (bus.adr != 0)):
                    m.d.sync += registers[bus.adr].eq(bus.dat_w)
        return m


#: Stores a simulated device can have: block RAM, or block RAM behind random latency and stalls
#: (:class:`hw.store.stalling.StallingStore`), which proves the engine independent of the
#: store's timing, or block RAM with a control bus (:class:`ControlledStore`).
STORES = {
    "bram": ExampleStore,
    "stalling": lambda capacity: StallingStore(ExampleStore(capacity), stall=40, seed=11),
    "control": lambda capacity: ControlledStore(ExampleStore(capacity)),
}


class Device(wiring.Component):
    """The engine (framing, command processor, sampler) and a store, the engine's byte streams
    exposed for tests.

    Parameters
    ----------
    capacity : int
        Store size in bytes.
    clk_freq, baud : int
        Clock and link rate INFO reports; with them the frame timeout is the UART's.
    timeout : int or None
        Frame timeout in cycles, instead of the UART's.
    store : str
        A key of :data:`STORES`.

    Members
    -------
    i_stream : :py:`In(stream.Signature(8))`
        Bytes to the engine.
    o_stream : :py:`Out(stream.Signature(8))`
        Bytes from the engine.
    """
    i_stream: In(stream.Signature(8))
    o_stream: Out(stream.Signature(8))

    def __init__(self, *, capacity, clk_freq=VBOARD_CLK_FREQ, baud=DEFAULT_BAUD, timeout=None,
                 store="bram", serial_crc=False, compact=False):
        if timeout is None:
            timeout = protocol.frame_timeout_cycles(clk_freq, baud)
        self.store = STORES[store](capacity)
        self.engine = Engine(capacity=capacity, clk_freq=clk_freq, link_rate=baud,
                             timeout=timeout, serial_crc=serial_crc, compact=compact,
                             control_width=self.store.signature.control_width,
                             memory=getattr(self.store, "memory_type", Memory.ON_CHIP))
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = self.engine
        m.submodules.store = self.store
        wiring.connect(m, self.engine.store, self.store)
        wiring.connect(m, wiring.flipped(self.i_stream), self.engine.i_stream)
        wiring.connect(m, self.engine.o_stream, wiring.flipped(self.o_stream))
        return m


class SimulatedLink:
    """A pyserial-like link to a simulated :class:`Device`.

    Parameters
    ----------
    capacity : int
        Store size in bytes.
    timeout : float
        Read time-out in *simulated* seconds, like pyserial's ``timeout``.
    frame_timeout : int or None
        The command processor's frame time-out in cycles.

    Attributes
    ----------
    rate : None
        The link's rate for :class:`host.link.Transport`: not a UART's, a byte per clock cycle
        of simulated time that passes only while the host reads.
    """

    rate = None

    def __init__(self, *, capacity=4096, timeout=0.05, frame_timeout=None, **kwargs):
        self.device = Device(capacity=capacity, timeout=frame_timeout, **kwargs)
        self.timeout = timeout
        self.is_open = True
        self._tx = collections.deque()      # host -> device
        self._rx = bytearray()              # device -> host
        self._sim = Simulator(self.device)
        self._sim.add_clock(CLOCK_PERIOD)
        self._sim.add_testbench(self._feed, background=True)
        self._sim.add_testbench(self._drain, background=True)
        self._now = 0.0
        self.cycles_written = 0

    async def _feed(self, ctx):
        i_stream = self.device.i_stream
        while True:
            if self._tx:
                ctx.set(i_stream.payload, self._tx[0])
                ctx.set(i_stream.valid, 1)
                await ctx.tick().until(i_stream.ready)
                self._tx.popleft()
                ctx.set(i_stream.valid, 0)
            else:
                await ctx.tick()

    async def _drain(self, ctx):
        o_stream = self.device.o_stream
        ctx.set(o_stream.ready, 1)
        async for _, _, valid, payload in ctx.tick().sample(o_stream.valid, o_stream.payload):
            if valid:
                self._rx.append(payload)

    def run(self, seconds):
        """Advance the simulation by ``seconds`` of simulated time."""
        self._now += seconds
        self._sim.run_until(self._now)

    # The :class:`host.link.Transport` interface, and pyserial's reset_input_buffer and flush.

    def write(self, data):
        if not self.is_open:
            raise OSError("link closed")
        self._tx.extend(data)
        return len(data)

    def flush(self):
        pass

    @property
    def in_waiting(self):
        return len(self._rx)

    def read(self, size=1):
        if not self.is_open:
            raise OSError("link closed")
        waited = 0.0
        # Small steps: stop simulating as soon as the bytes asked for are there (an INFO
        # exchange takes about 150 cycles).
        step = 200 * CLOCK_PERIOD
        while len(self._rx) < size:
            if self.timeout is not None and waited >= self.timeout:
                break
            self.run(step)
            waited += step
        data = bytes(self._rx[:size])
        del self._rx[:size]
        return data

    def reset_input_buffer(self):
        self._rx.clear()

    def close(self):
        self.is_open = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
