# SPDX-License-Identifier: BSD-2-Clause
"""The virtual board, in modules of one concern each; :mod:`sim.board` is its command line and
re-exports the public names.

* :mod:`sim.vboard.verilog`: the top level's Verilog, checked and compacted, and the wrapper
  around it;
* :mod:`sim.vboard.build`: the Verilator build and its cache;
* :mod:`sim.vboard.process`: the harness process, started, listening and stopped;
* :mod:`sim.vboard.faults`: the client of the fault mode.
"""

__all__ = ["BoardError"]


class BoardError(RuntimeError):
    """The virtual board could not be built or started."""
