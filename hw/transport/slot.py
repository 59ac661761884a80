# SPDX-License-Identifier: BSD-2-Clause
"""The transport slot: what a transport (UART, PCIe DMA, the virtual board's stream bridge)
gives the engine, and what the engine asks of it.

The engine (framing, command processor, sampler) consumes and produces bytes and knows nothing
of bauds, pins or DMA. A transport is any :class:`wiring.Component` whose signature has the
members of :class:`TransportSignature` (and may have pins besides), with two properties the
engine is built from (:func:`check_transport` checks all of it):

* ``frame_timeout``: cycles of the engine's clock. The engine's frame receiver counts them
  while it waits for input inside a frame, and drops the frame when they run out. The transport
  chooses the value because it knows its link: for a UART, :data:`hw.protocol.
  FRAME_TIMEOUT_BYTES` byte times; a fast link (PCIe) chooses one longer than the gaps between
  a host program's writes (tens of milliseconds), not 4096 of its byte times.
* ``link_rate``: the link's rate in bits per second, which INFO reports in a 32-bit field (0 if
  it has no such rate or it does not fit).

Everything is in the engine's ``sync`` domain; a transport on another clock (PCIe's) crosses
domains inside itself.
"""

from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["LinkErrors", "TransportSignature", "check_transport"]

#: Error strobes of a link, one cycle each; the engine counts them for INFO.
LinkErrors = data.StructLayout({
    "framing": 1,   # a byte arrived damaged (a UART's low stop bit) and was dropped
    "overrun": 1,   # a byte arrived while the previous one was still not accepted; dropped
})


class TransportSignature(wiring.Signature):
    """The interface of a transport, seen from the transport.

    Members
    -------
    o_stream : :py:`Out(stream.Signature(8))`
        Bytes received from the host, to the engine. The engine holds ``ready`` low for as long
        as it executes a command or sends a reply (a long SAMPLE: seconds), so a link without
        flow control (a UART) buffers what arrives meanwhile; a link with flow control (PCIe
        DMA) may simply hold its data back.
    i_stream : :py:`In(stream.Signature(8))`
        Bytes from the engine, to send to the host. A transport delivers each byte to the host
        within a bounded time even when no more follow (replies are short): a DMA transport
        flushes a partly filled buffer on a timer.
    errors : :py:`Out(LinkErrors)`
        Link error strobes; a link that has no such errors ties them to 0.
    idle : :py:`Out(1)`
        Nothing is buffered for the engine or for the host, and nothing is being sent; a byte
        still arriving may not count. Used only to let a simulation rest (the virtual board
        slows its clock while the engine waits and the transport is idle).
    """
    def __init__(self):
        super().__init__({
            "o_stream": Out(stream.Signature(8)),
            "i_stream": In(stream.Signature(8)),
            "errors":   Out(LinkErrors),
            "idle":     Out(1),
        })

    def __eq__(self, other):
        return isinstance(other, TransportSignature)

    def __repr__(self):
        return "TransportSignature()"


def check_transport(transport):
    """Check that ``transport`` fits the transport slot: its signature has every member of
    :class:`TransportSignature`, and it has ``frame_timeout`` and ``link_rate``.

    Raises
    ------
    TypeError
        Naming what is missing.
    """
    members = getattr(getattr(transport, "signature", None), "members", {})
    missing = [name for name, member in TransportSignature().members.items()
               if name not in members or members[name] != member]
    missing += [name for name in ("frame_timeout", "link_rate")
                if not hasattr(transport, name)]
    if missing:
        raise TypeError(f"{transport!r} does not fit the transport slot: it lacks "
                        f"{', '.join(missing)}")
