# SPDX-License-Identifier: BSD-2-Clause
"""Formal proofs of the gateware invariants, run with SymbiYosys and z3.

One file per block (``test_<block>.py``) holds its proof wrappers, their :class:`~.sby.Proof`
list ``PROOFS`` and three tests: every proof gives its expected outcome (``test_proof``, marked
slow, skipped when ``yowasp-sby`` or ``z3`` is missing), every wrapper elaborates without a
solver, and every property has a broken variant the solver must refute. :mod:`.sby` holds what
the files share. ``make formal`` runs them all into ``build/formal/`` and prints a table.

What is proven:

* the LFSR never holds zero (:mod:`.test_lfsr`);
* the example store never writes its memory at or past its capacity (:mod:`.test_store`);
* the address generator never emits an index at or past the latched count, in any mode, and in
  shuffle mode emits each index exactly once per epoch (:mod:`.test_addrgen`);
* the frame receiver drops a partial frame and is idle within ``timeout + 4`` cycles of the
  line going idle (:mod:`.test_receiver`);
* the command processor writes the store only below its capacity, at the place the LEARN
  frame's offset gives and inside the training session, whatever bytes arrive; it leaves its
  receiving states within ``timeout + 4`` cycles of the line going idle, and sends a reply
  within 119 cycles of starting it (:mod:`.test_cmdproc`, which also argues what is not
  proven).
"""
