# SPDX-License-Identifier: BSD-2-Clause
"""The campaign's report: per kind, the rules held, the counters, the numbers that must be 0."""

import collections
import dataclasses

from .host import HOST_MARGIN, HOST_TIMEOUT
from .kinds import _COUNTER_NAMES, Kind


@dataclasses.dataclass
class KindStats:
    """What the campaign counted for one kind of case."""
    cases: int = 0
    frames: int = 0
    replies: int = 0
    detected: int = 0
    silent: int = 0
    redrawn: int = 0
    bytes_lost: int = 0
    follow_ups: int = 0
    follow_ups_answered: int = 0
    outcomes: collections.Counter = dataclasses.field(default_factory=collections.Counter)

@dataclasses.dataclass
class Report:
    """The result of a campaign; :meth:`markdown` formats it."""
    seed: int
    requested: int
    frames: int
    cases: int
    kinds: dict
    rules: dict
    counters_expected: dict
    counters_device: dict
    indeterminate: dict
    checks: list
    bytes_sent: int
    bytes_driven: int
    cycles: int
    wall_s: float
    clk_freq: int
    baud: int
    capacity: int
    timeout_cycles: int
    uart: list = dataclasses.field(default_factory=list)
    #: What the numbers that must be 0 were measured on (see :meth:`zero_lines`).
    data_bytes: int = 0
    silently_wrong: int = 0
    hidden_sent: int = 0
    hidden_answered: int = 0
    hidden_executed: int = 0
    #: The :class:`HostCase` of each host-level call.
    host: list = dataclasses.field(default_factory=list)

    @property
    def outlived(self):
        """Host-level calls that outlived their time-out (see :attr:`HostCase.outlived`)."""
        return sum(case.outlived for case in self.host)

    def zero_lines(self):
        """Return the Markdown lines of the three numbers that must be 0."""
        slowest = max((case.wall_s for case in self.host), default=0.0)
        return [
            "## Must be 0",
            "",
            (f"- **bytes silently wrong: {self.silently_wrong}**, of {self.data_bytes} bytes "
             f"of DATA frames received, each compared with the reference model's: bytes that "
             f"differ in a stream whose reply says it is good (OK, or ABORTED for the part sent, "
             f"with the CRC-32 of the bytes received)."),
            (f"- **commands executed from inside data: {self.hidden_executed}**, of "
             f"{self.hidden_sent} frames hidden in LEARN data behind a corrupted sync or header "
             f"byte; the device hunted inside the data and answered {self.hidden_answered} of "
             f"them, each with an error (another key: FRAME_CRC; an OPEN: NOT_QUIET)."),
            (f"- **tools that outlived their timeout: {self.outlived}**, of {len(self.host)} "
             f"calls of the host client with a {HOST_TIMEOUT:g} s time-out and no retries "
             f"(more than {HOST_MARGIN:g} s past it counts); the slowest took {slowest:.2f} s."
             if self.host else
             "- tools that outlived their timeout: not measured (`--no-host-cases`)."),
            "",
        ]

    def host_lines(self):
        """Return the Markdown lines of the host-level calls."""
        if not self.host:
            return []
        lines = [
            "## Host level",
            "",
            (f"`host.device.MemGen(..., timeout={HOST_TIMEOUT:g}, retries=0)` against ports "
             f"that are no free MemGEN device: wall time of each call (opening the client and, "
             f"without OPEN, one INFO; closing the port included), and the error it ended "
             f"with."),
            "",
            "| kind | call | wall time | outlived its time-out | error |",
            "| --- | --- | ---: | --- | --- |",
        ]
        for case in self.host:
            lines.append(f"| {case.kind.value} | {case.note} | {case.wall_s:.2f} s | "
                         f"{'yes' if case.outlived else 'no'} | {case.outcome} |")
        return [*lines, ""]

    @property
    def bytes_lost(self):
        """Bytes lost anywhere: sent but not driven, plus those counted per kind."""
        return self.bytes_sent - self.bytes_driven + sum(
            stats.bytes_lost for stats in self.kinds.values())

    def markdown(self):
        """Return the report as Markdown."""
        cpb = self.clk_freq // self.baud
        lines = [
            "# MemGEN fault-injection campaign",
            "",
            (f"`python -m sim.fuzz --frames {self.requested} --seed {self.seed}`: "
             f"{self.frames} frames in {self.cases} cases and the final checks, "
             f"{self.bytes_sent} bytes, {self.cycles} cycles simulated in {self.wall_s:.1f} s "
             f"of wall time. Device: `hw.top.SimTop` at {self.clk_freq / 1e6:g} MHz and "
             f"{self.baud} baud ({cpb} clocks per bit), {self.capacity}-byte store, frame "
             f"timeout {self.timeout_cycles} cycles."),
            "",
            *self.zero_lines(),
            "## Fault kinds",
            "",
            ("| fault kind | injected | frames sent | detected | answered | unanswered | "
             "INFO right after answered | bytes lost | outcomes (cases) |"),
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        total = KindStats()
        for kind in Kind:
            stats = self.kinds[kind]
            for name in ("cases", "frames", "detected", "replies", "silent", "follow_ups",
                         "follow_ups_answered", "bytes_lost", "redrawn"):
                setattr(total, name, getattr(total, name) + getattr(stats, name))
            outcomes = stats.outcomes.most_common()
            text = ", ".join(f"{name} {n}" for name, n in outcomes[:6])
            if len(outcomes) > 6:
                text += f", {len(outcomes) - 6} other outcomes {sum(n for _, n in outcomes[6:])}"
            if stats.redrawn:
                text += f"; {stats.redrawn} drawn again (the CRCs could not see them)"
            follow = (f"{stats.follow_ups_answered}/{stats.follow_ups}" if stats.follow_ups
                      else "-")
            lines.append(f"| {kind.value} | {stats.cases} | {stats.frames} | {stats.detected} | "
                         f"{stats.replies} | {stats.silent} | {follow} | {stats.bytes_lost} | "
                         f"{text or '-'} |")
        lines += [
            (f"| **total** | {total.cases} | {total.frames} | {total.detected} | {total.replies} "
            f"| {total.silent} | {total.follow_ups_answered}/{total.follow_ups} | "
            f"{self.bytes_lost} | {total.redrawn} drawn again |"),
            "",
            ("Per case: *detected*, the device reported the fault (an error reply or a UART "
             "framing error); *answered*, it sent at least one reply; *unanswered*, none, "
             "because the fault destroyed the sync marker (the device stays silent, as the "
             "protocol says, and a host recovers by its time-out). *INFO right after*: 30% of "
             "the faulty frames are followed at once by a valid INFO; it is answered unless the "
             "fault left the receiver inside a frame that swallows it, exactly as predicted. "
             "*Outcomes* lists the statuses of each case's replies (besides that INFO's). "
             "Every reply of every case but the back-to-back framing errors equalled the "
             "reference model's prediction frame for frame; those are checked by invariants. "
             "*Bytes lost*: bytes sent but never driven onto the UART, reply bytes missing or "
             "corrupted, receive overruns."),
            "",
            *self.host_lines(),
            "## Expectations derived from the protocol",
            "",
            ("Besides the model, each fault whose outcome follows from the protocol alone is "
             "checked against that rule (CRC-8 and CRC-32 detect every single-bit error, the "
             "CRC-8 every burst within one byte, the CRC-32 every burst of up to 32 bits in "
             "its own bit order, which covers any burst within two adjacent bytes):"),
            "",
            "| fault kind | expectation | cases | held |",
            "| --- | --- | ---: | ---: |",
        ]
        for (kind, rule), n in sorted(self.rules.items(),
                                      key=lambda item: (list(Kind).index(item[0][0]),
                                                        item[0][1])):
            lines.append(f"| {kind.value} | {rule} | {n} | {n} |")
        lines += [
            "",
            "## Error counters",
            "",
            ("*expected*: the sum of every determinate case's predicted replies (one counter "
             "per reply: OK to frames_ok, HEADER_CRC to header_errors, FRAME_CRC to crc_errors, "
             "TRUNCATED to timeout_errors, any other error to rejected) and injected framing "
             "errors, plus what the back-to-back framing-error cases added, measured by an INFO "
             "around each and checked by invariants (last column)."),
            "",
            "| counter | expected | device | from back-to-back framing errors |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name in _COUNTER_NAMES:
            lines.append(f"| {name} | {self.counters_expected[name]} | "
                         f"{self.counters_device[name]} | {self.indeterminate.get(name, 0)} |")
        lines += ["", "## Checks after the campaign", ""]
        lines += [f"- {check}" for check in self.checks]
        if self.uart:
            lines += ["", "## UART receiver against a skewed sender", "",
                      ("4 KiB frames with every bit 2.5% or 3% long (sender slow) or short "
                       "(sender fast), back to back, on continuous time, so the start edges "
                       "fall at every phase of the clock."),
                      "",
                      "| clocks per bit | bit time | bytes | framing errors | frames intact |",
                      "| ---: | ---: | ---: | ---: | ---: |"]
            for row in self.uart:
                lines.append(f"| {row['cpb']} | {row['skew']:+.1%} | {row['bytes']} | "
                             f"{row['framing_errors']} | {row['ok']}/{row['frames']} |")
        return "\n".join(lines) + "\n"
