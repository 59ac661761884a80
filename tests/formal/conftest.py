# SPDX-License-Identifier: BSD-2-Clause
"""The ``prove`` fixture, and the table of results printed after the proofs.

Each proof runs in the test's temporary directory, or in ``$FORMAL_DIR/<name>/`` when
``FORMAL_DIR`` is set (``make formal`` sets ``build/formal``); then a missing tool fails the
proofs instead of skipping them.
"""

import os

import pytest

from . import sby

#: Seconds before a proof is stopped and reported as ``"timeout"``.
TIMEOUT = 900

# Rows of the results table, with the order they are printed in.
_rows = []


@pytest.fixture
def prove(request, tmp_path, record_property):
    """Return a function that runs a :class:`~.sby.Proof` and checks its expected outcome."""
    build_dir = os.environ.get("FORMAL_DIR") or tmp_path
    # The proof's place in its file's list, to print the table in that order.
    callspec = getattr(request.node, "callspec", None)
    order = [request.path.name, callspec.indices.get("proof", 0) if callspec else 0]

    def prove(proof):
        missing = sby.tools_available()
        if missing is not None:
            (pytest.fail if os.environ.get("FORMAL_DIR") else pytest.skip)(
                f"cannot run the proofs: {missing} not found")
        result = sby.run(proof, build_dir=build_dir, timeout=TIMEOUT)
        record_property("formal", [*order, *result.row()])
        assert result.ok, (
            f"{proof.name} ({proof.prop}): expected {proof.expect}, got {result.status}: "
            f"{result.detail} (files in {os.path.join(build_dir, proof.name)})")
        if proof.expect == "fail":
            # A counterexample trace from reset, not an induction step that failed.
            assert " at step " in result.detail, result.detail
    return prove


def pytest_runtest_logreport(report):
    # With pytest-xdist the reports, and their properties, come back from the workers.
    if report.when == "call":
        _rows.extend(value for name, value in report.user_properties if name == "formal")


def pytest_terminal_summary(terminalreporter):
    if _rows:
        terminalreporter.write_sep("=", "formal proofs")
        terminalreporter.write_line(sby.table([tuple(row[2:]) for row in sorted(_rows)]))
