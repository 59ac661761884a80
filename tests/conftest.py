# SPDX-License-Identifier: BSD-2-Clause
import os
import sys

from hw import toolenv

# The test modules import their helpers (simutil) from this folder.
sys.path.insert(0, os.path.dirname(__file__))
toolenv.apply()
