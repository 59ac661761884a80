# SPDX-License-Identifier: BSD-2-Clause
"""The transport slot: what a transport (UART, PCIe DMA, the virtual board's stream bridge)
gives the engine, and what the engine asks of it.

The engine (framing, command processor, sampler, store) consumes and produces bytes and knows
nothing of bauds, pins or DMA. A transport is any :class:`wiring.Component` with
:class:`TransportSignature` and two properties the engine is built from:

* ``frame_timeout``: idle clock cycles on the link after which the engine drops a partly
  received frame (:data:`hw.protocol.FRAME_TIMEOUT_BYTES` byte times for a UART);
* ``link_rate``: the link's rate in bits per second, which INFO reports (0 if it has none).
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
        Bytes received from the host, to the engine. The link has no flow control, so a
        transport buffers what arrives while the engine is busy.
    i_stream : :py:`In(stream.Signature(8))`
        Bytes from the engine, to send to the host.
    errors : :py:`Out(LinkErrors)`
        Link error strobes.
    idle : :py:`Out(1)`
        Nothing is buffered or in flight in either direction.
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
