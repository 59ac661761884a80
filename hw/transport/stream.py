# SPDX-License-Identifier: BSD-2-Clause
"""The stream transport: the transport slot's byte streams on the outside, with no pins, for the
virtual board's byte-level bridge (as LiteX's ``litex_sim`` bridges its UART to TCP).

The outside has flow control, unlike a UART: the bridge offers a byte only while it has one and
takes bytes only while it can, so neither side ever drops one, and a byte can cross each way on
every clock cycle.
"""

from amaranth import *
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import protocol
from .slot import TransportSignature

__all__ = ["FIFO_DEPTH", "StreamTransport"]

#: Depth of the FIFO each way. It is a register stage more than a buffer: the outside sees
#: ``ready``, ``valid`` and ``payload`` straight from registers, never combinationally from its
#: own inputs, so a bridge that evaluates the design once per cycle knows before the clock edge
#: whether a byte crosses on it. Two entries would do for a byte per clock; four leave margin.
FIFO_DEPTH = 4

#: Largest rate INFO's ``baud`` field holds.
_MAX_LINK_RATE = 2 ** (8 * dict(protocol.INFO_FIELDS)["baud"]) - 1


class StreamTransport(wiring.Component):
    """A byte stream each way between the outside and the engine, in the transport slot
    (:class:`~hw.transport.slot.TransportSignature`).

    Parameters
    ----------
    frame_timeout : int
        Idle cycles after which the engine drops a partly received frame.
    link_rate : int
        The rate INFO reports, in bits per second (the transport does not depend on it).

    Members
    -------
    rx : :py:`In(stream.Signature(8))`
        Bytes from the host.
    tx : :py:`Out(stream.Signature(8))`
        Bytes to the host.
    o_stream, i_stream, errors, idle
        As :class:`~hw.transport.slot.TransportSignature`; ``errors`` never strobes (a stream
        carries whole bytes and holds them until taken).

    Raises
    ------
    ValueError
        If ``frame_timeout`` is not a positive integer, or ``link_rate`` not an integer from 0
        to ``2**32 - 1`` (INFO's field).
    """
    def __init__(self, *, frame_timeout, link_rate=0):
        if not isinstance(frame_timeout, int) or isinstance(frame_timeout, bool) or \
                frame_timeout < 1:
            raise ValueError(f"Frame timeout must be a positive integer, not {frame_timeout!r}")
        if not isinstance(link_rate, int) or isinstance(link_rate, bool) or \
                not 0 <= link_rate <= _MAX_LINK_RATE:
            raise ValueError(f"Link rate must be an integer from 0 to {_MAX_LINK_RATE}, not "
                             f"{link_rate!r}")
        self._frame_timeout = frame_timeout
        self._link_rate = link_rate
        super().__init__({
            **TransportSignature().members,
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
        })

    @property
    def frame_timeout(self):
        """The frame timeout, in clock cycles."""
        return self._frame_timeout

    @property
    def link_rate(self):
        """The rate INFO reports, in bits per second."""
        return self._link_rate

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx_fifo = rx_fifo = fifo.SyncFIFOBuffered(width=8, depth=FIFO_DEPTH)
        m.submodules.tx_fifo = tx_fifo = fifo.SyncFIFOBuffered(width=8, depth=FIFO_DEPTH)
        wiring.connect(m, wiring.flipped(self.rx), rx_fifo.w_stream)
        wiring.connect(m, rx_fifo.r_stream, wiring.flipped(self.o_stream))
        wiring.connect(m, wiring.flipped(self.i_stream), tx_fifo.w_stream)
        wiring.connect(m, tx_fifo.r_stream, wiring.flipped(self.tx))
        m.d.comb += [
            self.errors.eq(0),
            self.idle.eq((rx_fifo.level == 0) & (tx_fifo.level == 0)),
        ]
        return m
