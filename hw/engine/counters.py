# SPDX-License-Identifier: BSD-2-Clause
"""The device's error and activity counters and its uptime, which INFO reports."""

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .. import protocol
from ..protocol import Counter, Status
from ..transport.slot import LinkErrors

__all__ = ["CounterValues", "Counters", "UPTIME_BITS"]

#: The counters by lower-case :class:`~hw.protocol.Counter` name, 32 bits each.
CounterValues = data.StructLayout({c.name.lower(): 32 for c in Counter})

#: Width of the uptime counter: 2900 years at 100 MHz, and 63 bits keep its adder in a word.
UPTIME_BITS = 63


class Counters(wiring.Component):
    """Counts every reply by its outcome (:func:`hw.protocol.counter_for`), the link's error
    strobes, and clock cycles since reset.

    Parameters
    ----------
    width : int
        Bits of each counter, 1 to 32: they wrap at ``2**width`` (a small FPGA saves a carry
        chain and its flip-flops per bit); ``values`` are always 32 bits wide.
    uptime_bits : int
        Bits of the uptime counter, 1 to :data:`UPTIME_BITS`: it wraps at ``2**uptime_bits``
        cycles (48 bits: 271 days at 12 MHz).

    Members
    -------
    count : :py:`In(1)`
        A reply with ``status`` is being sent: count it.
    status : :py:`In(Status)`
    link_errors : :py:`In(LinkErrors)`
        The transport's error strobes.
    values : :py:`Out(CounterValues)`
        The counters (wrapping at ``2**width``).
    uptime : :py:`Out(uptime_bits)`
        Clock cycles since reset.
    """

    def __init__(self, width=32, *, uptime_bits=UPTIME_BITS):
        if not isinstance(width, int) or not 1 <= width <= 32:
            raise ValueError(f"Counter width must be an integer from 1 to 32, not {width!r}")
        if not isinstance(uptime_bits, int) or not 1 <= uptime_bits <= UPTIME_BITS:
            raise ValueError(f"Uptime width must be an integer from 1 to {UPTIME_BITS}, not "
                             f"{uptime_bits!r}")
        self._width = width
        super().__init__({
            "count":       In(1),
            "status":      In(Status),
            "link_errors": In(LinkErrors),
            "values":      Out(CounterValues),
            "uptime":      Out(uptime_bits),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.uptime.eq(self.uptime + 1)
        registers = {c: Signal(self._width, name=f"counter_{c.name.lower()}") for c in Counter}
        m.d.comb += [self.values[c.name.lower()].eq(reg) for c, reg in registers.items()]

        for strobe, counter in ((self.link_errors.framing, Counter.FRAMING_ERRORS),
                                (self.link_errors.overrun, Counter.OVERRUN_ERRORS)):
            with m.If(strobe):
                m.d.sync += registers[counter].eq(registers[counter] + 1)

        with m.If(self.count):
            with m.Switch(self.status):
                for status, counter in protocol.STATUS_COUNTERS.items():
                    with m.Case(status):
                        m.d.sync += registers[counter].eq(registers[counter] + 1)
                with m.Default():
                    m.d.sync += registers[Counter.REJECTED].eq(registers[Counter.REJECTED] + 1)
        return m
