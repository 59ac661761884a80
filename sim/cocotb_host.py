# SPDX-License-Identifier: BSD-2-Clause
"""The host's side of MemGEN's protocol in a cocotb testbench, whatever carries the bytes: the
UART pins (``sim/top/test_top.py``) or PCIe DMA buffers (:mod:`sim.pcie.pcie_tb`)."""

import json
import os
from pathlib import Path

from cocotb.triggers import Timer

from hw.transaction import Data, Exchange, Garbage, Response

__all__ = ["ProtocolHost", "report"]


def report(name, value):
    """Add ``name: value`` to the JSON file ``$MEMGEN_RESULTS`` names, if it names one: how a
    testbench hands its measurements to the pytest that ran it."""
    path = os.environ.get("MEMGEN_RESULTS")
    if path:
        results = json.loads(Path(path).read_text()) if Path(path).exists() else {}
        results[name] = value
        Path(path).write_text(json.dumps(results, indent=1))


class ProtocolHost:
    """Requests numbered by a :class:`hw.transaction.Exchange` and their replies paired.

    A testbench subclasses it, defines ``async send(data)`` (bytes to the device) and hands
    every byte it receives from the device to :meth:`feed`.

    Parameters
    ----------
    poll_us : int
        How often :meth:`receive` looks for a frame, in microseconds of simulated time.
    timeout_us : int
        How long :meth:`receive` waits for one, in microseconds of simulated time.
    device : str
        What the device is called in :meth:`receive`'s failure ("the device", "the card").
    """

    def __init__(self, *, poll_us, timeout_us, device="the device"):
        self.exchange = Exchange()
        self.events = []            # replies and DATA frames received, not yet taken
        self._poll_us = poll_us
        self._timeout_us = timeout_us
        self._device = device

    def feed(self, data):
        """Take bytes from the device; the frames they complete become :attr:`events`."""
        self.events += [event for event in self.exchange.feed(bytes(data))
                        if not isinstance(event, Garbage)]

    def frame(self, cmd, payload=b""):
        """Return the frame of a new request, whose reply is then awaited."""
        return self.exchange.request(cmd, payload).frame

    async def receive(self):
        """Return the next event from the device: a reply (a :class:`~hw.transaction.Response`)
        or DATA. Fails after ``timeout_us`` microseconds of simulated time without one."""
        waited = 0
        while not self.events:
            await Timer(self._poll_us, unit="us")
            waited += self._poll_us
            assert waited < self._timeout_us, f"no frame from {self._device}"
        return self.events.pop(0)

    async def call(self, cmd, payload=b""):
        """Send one request; return its :class:`~hw.transaction.Response`, with the DATA it
        streamed in ``data``."""
        request = self.exchange.request(cmd, payload, collect=True)
        await self.send(request.frame)
        while True:
            event = await self.receive()
            if isinstance(event, Data) and event.request is request:
                continue
            assert isinstance(event, Response) and event.request is request, event
            return event
