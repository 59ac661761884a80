# SPDX-License-Identifier: BSD-2-Clause
"""Software model of the maximal-length LFSRs in :mod:`hw.sampler.lfsr`, with their taps table.

Standard library only, so the host can predict the device's samples with it; the tests prove
:class:`LFSRModel` and the gateware :class:`hw.sampler.lfsr.LFSR` bit-exact.

The register is a Fibonacci LFSR shifting towards the most significant bit: each step shifts the
state left by one and feeds the parity of the tapped bits into bit 0. With taps ``(n, a, b, ...)``
its characteristic polynomial is ``x**n + x**a + x**b + ... + 1``, primitive for every entry of
:data:`TAPS`, so the register walks through all ``2**n - 1`` non-zero states.
"""

__all__ = ["TAPS", "MIN_WIDTH", "MAX_WIDTH", "taps_mask", "check_width", "step_matrix",
           "matrix_power", "apply_matrix", "seed_state", "LFSRModel"]


#: Feedback taps (1-based bit positions) of maximal-length LFSRs, from Xilinx XAPP052,
#: "Efficient Shift Registers, LFSR Counters, and Long Pseudo-Random Sequence Generators", table 3.
TAPS = {
     3: (3, 2),            4: (4, 3),            5: (5, 3),            6: (6, 5),
     7: (7, 6),            8: (8, 6, 5, 4),      9: (9, 5),           10: (10, 7),
    11: (11, 9),          12: (12, 6, 4, 1),    13: (13, 4, 3, 1),    14: (14, 5, 3, 1),
    15: (15, 14),         16: (16, 15, 13, 4),  17: (17, 14),         18: (18, 11),
    19: (19, 6, 2, 1),    20: (20, 17),         21: (21, 19),         22: (22, 21),
    23: (23, 18),         24: (24, 23, 22, 17), 25: (25, 22),         26: (26, 6, 2, 1),
    27: (27, 5, 2, 1),    28: (28, 25),         29: (29, 27),         30: (30, 6, 4, 1),
    31: (31, 28),         32: (32, 22, 2, 1),   33: (33, 20),         34: (34, 27, 2, 1),
    35: (35, 33),         36: (36, 25),         37: (37, 5, 4, 3, 2, 1),
    38: (38, 6, 5, 1),    39: (39, 35),         40: (40, 38, 21, 19), 41: (41, 38),
    42: (42, 41, 20, 19), 43: (43, 42, 38, 37), 44: (44, 43, 18, 17), 45: (45, 44, 42, 41),
    46: (46, 45, 26, 25), 47: (47, 42),         48: (48, 47, 21, 20), 49: (49, 40),
    50: (50, 49, 24, 23), 51: (51, 50, 36, 35), 52: (52, 49),         53: (53, 52, 38, 37),
    54: (54, 53, 18, 17), 55: (55, 31),         56: (56, 55, 35, 34), 57: (57, 50),
    58: (58, 39),         59: (59, 58, 38, 37), 60: (60, 59),         61: (61, 60, 46, 45),
    62: (62, 61, 6, 5),   63: (63, 62),         64: (64, 63, 61, 60),
}

MIN_WIDTH = min(TAPS)
MAX_WIDTH = max(TAPS)


def check_width(width):
    """Validate an LFSR width, raising :exc:`ValueError` naming the bad value."""
    if not isinstance(width, int) or isinstance(width, bool) or width not in TAPS:
        raise ValueError(f"LFSR width must be an integer from {MIN_WIDTH} to {MAX_WIDTH}, "
                         f"not {width!r}")


def taps_mask(width):
    """Return the tapped bits of a ``width``-bit LFSR as a mask (bit ``t - 1`` for tap ``t``)."""
    check_width(width)
    mask = 0
    for tap in TAPS[width]:
        mask |= 1 << (tap - 1)
    return mask


def seed_state(seed, width):
    """Return the state a ``width``-bit LFSR loads for ``seed``: its low bits, or 1 if those are
    all zero (the all-zero state would lock the register)."""
    state = seed & ((1 << width) - 1)
    return state if state else 1


def step_matrix(width):
    """Return the one-step transition matrix over GF(2) as a list of row masks: bit ``j`` of
    row ``i`` is set when new bit ``i`` depends on old bit ``j``."""
    rows = [taps_mask(width)]
    rows += [1 << (i - 1) for i in range(1, width)]
    return rows


def _mat_mul(a, b):
    # (a @ b) over GF(2), rows as masks: row i of the product is the XOR of b's rows selected
    # by the bits of a's row i.
    out = []
    for row in a:
        acc = 0
        j = 0
        while row:
            if row & 1:
                acc ^= b[j]
            row >>= 1
            j += 1
        out.append(acc)
    return out


def matrix_power(width, k):
    """Return the ``k``-step transition matrix (rows as masks), computed by squaring."""
    result = [1 << i for i in range(width)]
    base = step_matrix(width)
    while k:
        if k & 1:
            result = _mat_mul(base, result)
        base = _mat_mul(base, base)
        k >>= 1
    return result


def apply_matrix(rows, state):
    """Return the state after applying a transition matrix (rows as masks)."""
    out = 0
    for i, row in enumerate(rows):
        out |= (bin(row & state).count("1") & 1) << i
    return out


class LFSRModel:
    """Bit-exact software model of :class:`hw.sampler.lfsr.LFSR`.

    Parameters
    ----------
    width : int
        Register width, from :data:`MIN_WIDTH` to :data:`MAX_WIDTH`.
    seed : int
        Initial seed; see :func:`seed_state`.
    leap : int
        Steps taken per :meth:`next` call; the low ``leap`` bits of the new state are bits that
        were not in the previous state (for ``leap <= width``).
    """

    def __init__(self, width, seed=1, leap=1):
        check_width(width)
        if not isinstance(leap, int) or leap < 1:
            raise ValueError(f"LFSR leap must be a positive integer, not {leap!r}")
        self.width = width
        self.leap = leap
        self._mask = (1 << width) - 1
        self._taps = taps_mask(width)
        self.state = seed_state(seed, width)
        self._tables = _leap_tables(width, leap) if leap > 1 else None

    def seed(self, seed):
        """Load the state for ``seed``."""
        self.state = seed_state(seed, self.width)

    def step(self):
        """Advance one step and return the new state."""
        fb = (self.state & self._taps).bit_count() & 1
        self.state = ((self.state << 1) | fb) & self._mask
        return self.state

    def next(self):
        """Advance :attr:`leap` steps and return the new state."""
        if self._tables is None:
            return self.step()
        # The leap is linear over GF(2): XOR together the images of each byte of the state.
        state = self.state
        out = 0
        for table in self._tables:
            out ^= table[state & 0xff]
            state >>= 8
        self.state = out
        return out


def _leap_tables(width, leap):
    # One 256-entry table per byte of the state, holding the leap's image of that byte.
    rows = matrix_power(width, leap)
    columns = [apply_matrix(rows, 1 << j) for j in range(width)]
    tables = []
    for base in range(0, width, 8):
        table = [0] * 256
        for value in range(1, 256):
            low = (value & -value).bit_length() - 1
            if base + low < width:
                table[value] = table[value & (value - 1)] ^ columns[base + low]
            else:
                table[value] = table[value & (value - 1)]
        tables.append(table)
    return tables
