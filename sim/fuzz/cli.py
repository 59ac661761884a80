# SPDX-License-Identifier: BSD-2-Clause
"""The command line, ``python -m sim.fuzz``, and :func:`run`."""

import argparse
import logging
import sys
import time
from pathlib import Path

from hw import protocol
from hw.argtypes import nonnegative_int, positive_int
from hw.boards.facts import VBOARD_CLK_FREQ
from hw.top import SIM_CAPACITY

from .. import board
from .campaign import Campaign
from .host import HOST_TIMEOUT, host_cases
from .kinds import CAMPAIGN_BAUD, CampaignError
from .report import Report
from .uart import uart_check

_log = logging.getLogger(__name__)


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sim.fuzz",
        description="Fault-injection and fuzzing campaign on the virtual board: frames with "
                    "bit errors, dropped, duplicated and truncated bytes, random bytes, bad "
                    "lengths and commands, UART framing errors and baud mismatch, every reply "
                    "checked against a reference model of the protocol.")
    parser.add_argument("--frames", type=positive_int, default=10000, metavar="N",
                        help="frames to send, at least (default: %(default)s)")
    parser.add_argument("--seed", type=nonnegative_int, default=1, metavar="S",
                        help="seed of every random choice; the same seed repeats the same "
                             "campaign (default: %(default)s)")
    parser.add_argument("--baud", type=positive_int, default=CAMPAIGN_BAUD, metavar="BAUD",
                        help=f"UART baud rate of the board; {VBOARD_CLK_FREQ} must be a "
                             f"multiple of it (default: %(default)s, 8 clocks per bit)")
    parser.add_argument("--capacity", type=positive_int, default=None, metavar="BYTES",
                        help="store capacity (default: the virtual board's)")
    parser.add_argument("--report", type=Path, default=Path("build/fuzz.md"), metavar="FILE",
                        help="where to write the Markdown report (default: %(default)s)")
    parser.add_argument("--uart-check", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the UART receiver against a sender 2.5%% and 3%% "
                             "off, at 2, 4 and 8 clocks per bit (default: %(default)s)")
    parser.add_argument("--host-cases", action=argparse.BooleanOptionalAction, default=True,
                        help=f"also time the host client against an echoing port, a second "
                             f"client of the board and ports that never stop talking, with a "
                             f"{HOST_TIMEOUT:g} s time-out (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every case")
    return parser

def run(frames, seed, *, baud=CAMPAIGN_BAUD, capacity=None, progress=None,
        uart=False, host=True):
    """Run a campaign of at least ``frames`` frames on a fresh fault-mode board, then, if
    ``host``, the :func:`host_cases` (the board serving the campaign); return its
    :class:`Report`. Raises :exc:`CampaignError` on the first deviation from the protocol."""
    clk_freq = VBOARD_CLK_FREQ
    board.clocks_per_bit(clk_freq, baud)
    timeout = protocol.frame_timeout_cycles(clk_freq, baud)
    started = time.monotonic()
    # The watchdog: the frame timeout with a margin, and a CRC pass over the whole store (a
    # COMMIT, 9 cycles a byte where the engine computes its CRC-32 a bit per cycle).
    store = SIM_CAPACITY if capacity is None else capacity
    with board.VirtualBoard(faults=True, baud=baud, capacity=capacity,
                            watchdog=timeout + timeout // 4 + 9 * store) as running, \
            board.FaultPort(running.address, timeout=120) as port:
        campaign = Campaign(port, seed, clk_freq=clk_freq, baud=baud)
        campaign.start()
        while campaign.frames < frames:
            campaign.step()
            if progress is not None:
                progress(campaign)
        device, expected = campaign.finish()
        cycles = campaign.marker.cycles
        hosted = host_cases(campaign.rng, running.address) if host else []
    wall = time.monotonic() - started
    report = Report(
        seed=seed, requested=frames, frames=campaign.frames, cases=campaign.cases,
        kinds=campaign.kinds, rules=dict(campaign.rules),
        counters_expected=expected, counters_device=device,
        indeterminate=dict(campaign.indeterminate), checks=campaign.checks,
        bytes_sent=port.bytes_sent, bytes_driven=campaign.marker.bytes_in, cycles=cycles,
        wall_s=wall, clk_freq=clk_freq, baud=baud, capacity=campaign.capacity,
        timeout_cycles=timeout, data_bytes=campaign.data_bytes,
        silently_wrong=campaign.silently_wrong, hidden_sent=campaign.hidden_sent,
        hidden_answered=campaign.hidden_answered, hidden_executed=campaign.hidden_executed,
        host=hosted)
    for case in hosted:
        stats = report.kinds[case.kind]
        stats.cases += 1
        stats.detected += 1
        stats.outcomes[case.outcome.split(":")[0]] += 1
    if uart:
        report.uart = uart_check()
    return report

def main(argv=None):
    """Run the campaign from the command line; return the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s")
    last = [time.monotonic()]

    def progress(campaign):
        now = time.monotonic()
        if now - last[0] > 10:
            last[0] = now
            _log.info("%d frames, %d cases", campaign.frames, campaign.cases)

    try:
        report = run(args.frames, args.seed, baud=args.baud, capacity=args.capacity,
                     progress=progress, uart=args.uart_check, host=args.host_cases)
    except (CampaignError, board.BoardError, ValueError, OSError) as exc:
        print(f"error: the fault campaign failed: {exc}", file=sys.stderr)
        return 1
    text = report.markdown()
    print(text)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)
    print(f"report written to {args.report}")
    if report.outlived:
        print(f"error: {report.outlived} host-level calls outlived their time-out",
              file=sys.stderr)
        return 1
    return 0
