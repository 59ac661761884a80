# SPDX-License-Identifier: BSD-2-Clause
"""Progress off a terminal: a plain line every few seconds, for logs and CI, where a tqdm bar
would be a stream of carriage returns."""

import sys
import time

__all__ = ["INTERVAL", "LineProgress"]

#: Seconds between two progress lines.
INTERVAL = 5.0


class LineProgress:
    """A context manager with tqdm's ``update(n)`` that prints ``<description>: 42% (3300000 of
    7840000 bytes)`` to ``stream`` at most every ``interval`` seconds, the first after
    ``interval`` seconds (short work prints nothing).

    Parameters
    ----------
    total : int
        Bytes to do.
    description : str
        What is being done, e.g. ``learning``.
    """

    def __init__(self, total, description, *, stream=None, interval=INTERVAL,
                 clock=time.monotonic):
        self.total = total
        self.description = description
        self.n = 0
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._clock = clock
        self._next = clock() + interval

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, count):
        """Count ``count`` more bytes done; print a line if one is due."""
        self.n += count
        now = self._clock()
        if now >= self._next:
            self._next = now + self._interval
            share = f"{self.n / self.total:.0%} " if self.total else ""
            print(f"{self.description}: {share}({self.n} of {self.total} bytes)",
                  file=self._stream, flush=True)

    def set_postfix_str(self, text, refresh=True):
        """Accept tqdm's postfix (the link use), which the lines leave out."""
