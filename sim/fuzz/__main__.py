# SPDX-License-Identifier: BSD-2-Clause
"""``python -m sim.fuzz``: the fault-injection campaign (see :mod:`sim.fuzz`)."""

import sys

from .cli import main

sys.exit(main())
