# SPDX-License-Identifier: BSD-2-Clause
"""The UART receiver against a sender whose bits are 2.5% or 3% long or short."""

import random

from hw import protocol
from hw.boards.facts import VBOARD_CLK_FREQ
from hw.protocol import Command, Status

from .. import board

#: Clock cycles per bit of the board in :func:`uart_check`.
_UART_CHECK_CPB = (2, 4, 8)

#: How much longer than the frame timeout, in percent, :func:`uart_check` leaves the line idle
#: after each frame: a frame that lost bytes to framing errors is then surely dropped, and its
#: TRUNCATED sent, before the next one starts.
_TIMEOUT_MARGIN_PERCENT = 10

def uart_check(clk_freq=VBOARD_CLK_FREQ,
               bauds=tuple(VBOARD_CLK_FREQ // cpb for cpb in _UART_CHECK_CPB),
               skews=(30, -30, 25, -25), frames=4):
    """Measure whether the UART receiver takes back-to-back bytes from a skewed sender.

    Sends ``frames`` LEARN frames of 4 KiB of random data (refused with BAD_STATE, which proves
    they arrived intact) with every bit ``skew`` per mille long (positive) or short (negative),
    at each baud rate; returns one row per baud and skew.
    """
    rows = []
    rng = random.Random(0)
    for baud in bauds:
        timeout = protocol.frame_timeout_cycles(clk_freq, baud)
        idle = timeout * (100 + _TIMEOUT_MARGIN_PERCENT) // 100
        for skew in skews:
            flag = board.FaultFlag.SLOW if skew > 0 else board.FaultFlag.FAST
            with board.VirtualBoard(faults=True, baud=baud, skew=abs(skew)) as running, \
                    board.FaultPort(running.address) as port:
                ok = 0
                for i in range(frames):
                    frame = protocol.encode_frame(Command.LEARN,
                                                  rng.randbytes(protocol.MAX_PAYLOAD), tag=i)
                    port.send(frame, flag)
                    port.idle(idle)
                    received, _ = port.sync()
                    replies = protocol.FrameDecoder().feed(received)
                    ok += any(f.tag == i and f.payload[:1] == bytes([Status.BAD_STATE])
                              for f in replies)
                port.send(protocol.encode_frame(Command.INFO, tag=255))
                received, marker = port.sync()
                (reply,) = protocol.FrameDecoder().feed(received)
                info = protocol.parse_info(reply.payload)
            rows.append({"cpb": clk_freq // baud, "skew": skew / 1000,
                         "bytes": marker.bytes_in - protocol.FRAME_OVERHEAD, "frames": frames,
                         "ok": ok, "framing_errors": info["counters"]["framing_errors"]})
    return rows
