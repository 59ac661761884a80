# SPDX-License-Identifier: BSD-2-Clause
"""Fault-injection and fuzzing campaign on the virtual board: ``python -m sim.fuzz``.

The whole top level (:class:`hw.top.SimTop`, compiled by Verilator) runs in the virtual board's
fault mode (:class:`sim.board.FaultPort`): every byte is driven onto the UART pin by the harness,
which can also drive a low stop bit or a bit time 3% long or short, hold the line idle for a
given number of cycles, and answer markers once the board has settled. Simulated time runs in
lockstep with the campaign, so a run is reproducible cycle for cycle from its seed.

A seeded host starts as every tool does, with an OPEN and a link key drawn from the seed, so
that every later frame is checked with that key; it drives training sessions (BEGIN, LEARN...,
COMMIT with the session CRC-32, READ back) and sampling, and
injects faults between and into its frames: random bytes, single and burst bit errors, dropped
and duplicated bytes, truncated frames, oversize lengths, stray sync markers right before a
frame, unknown commands, commands in the wrong order or with bad arguments, UART framing errors
and baud mismatch; and the faults protocol version 2 answers: frames hidden in LEARN data
behind a corrupted sync or header byte (none may be executed), two bit errors 32,767 bits apart
in a 4096-byte payload (which CRC-16/XMODEM misses), a chatty line (a boot log, noise, bad
headers, back to back, with no receive overrun), and ABORT at a random point of a SAMPLE or
READ. At the host level, the client (:class:`host.device.MemGen`) is timed against an echoing
port, a second client of the board and ports that never stop talking.

Every reply is predicted by :class:`hw.engine.cmdproc_model.CommandProcessorModel`, the
reference model of the frame receiver and the command processor written from
``docs/protocol.md``: the bytes the receiver sees go in, the exact reply frames and counters come
out. Each case's replies must equal the prediction,
and the device's error counters must equal the model's at every INFO and at the end. The one
kind whose outcome cannot be predicted byte for byte, a framing error followed at once by more
bytes (the receiver then re-frames the rest of the frame at arbitrary bit offsets), is checked
by invariants instead (see :meth:`Campaign._indeterminate`). A case whose corruption the CRCs
cannot detect (a corrupted frame that still passes both CRCs, about one in 2**32 for a dropped
or duplicated byte) is drawn again: it tests the CRC's strength, not the gateware's.

After the campaign: the device answers INFO, every committed record reads back byte-identical
to what the host sent in acknowledged frames, a READ past the end and a BEGIN beyond the
capacity are refused with the learned data intact, the counters match, no frame went
unanswered for longer than the frame timeout plus a margin and a CRC pass over the store (the
harness watchdog), and no byte
was lost. The report goes to stdout and ``build/fuzz.md``; it leads with the three numbers that
must be 0: bytes silently wrong, commands executed from inside data, tools that outlived their
timeout.

The package's modules: :mod:`.kinds` (the kinds of case and what the protocol alone says each
draws), :mod:`.generators` (the cases), :mod:`.campaign` (driving and checking them),
:mod:`.report`, :mod:`.host` (the host-level calls), :mod:`.uart` (the UART receiver against a
skewed sender) and :mod:`.cli` (``python -m sim.fuzz`` and :func:`run`).
"""

from .campaign import Campaign
from .cli import main, run
from .host import HOST_MARGIN, HOST_TIMEOUT, HostCase, host_cases
from .kinds import (
    CAMPAIGN_BAUD,
    HIDDEN_TAGS,
    HOST_KINDS,
    WEIGHTS,
    CampaignError,
    Case,
    Expectation,
    Kind,
    Match,
)
from .report import KindStats, Report
from .uart import uart_check

__all__ = [
    "CAMPAIGN_BAUD", "HIDDEN_TAGS", "HOST_KINDS", "WEIGHTS", "Kind", "Match", "Expectation",
    "Case", "CampaignError", "Campaign", "KindStats", "Report", "HOST_TIMEOUT", "HOST_MARGIN",
    "HostCase", "host_cases", "uart_check", "run", "main",
]
