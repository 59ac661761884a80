# SPDX-License-Identifier: BSD-2-Clause
"""Fixtures shared by the tests; the helpers they use are in :mod:`tests.helpers`."""

import pytest

from host import cli
from hw import toolenv

from .helpers import SimulatedPort

toolenv.apply()


@pytest.fixture
def device(monkeypatch):
    """A :class:`~tests.helpers.SimulatedPort`: one simulated device behind every tool run of
    the test, at ``$MEMGEN_PORT``."""
    return SimulatedPort(monkeypatch)


@pytest.fixture
def no_device(monkeypatch):
    """Fail the test if a tool connects to a device (its data should have been refused)."""
    def connect(args):
        raise AssertionError("the tool connected although its data was bad")
    monkeypatch.setattr(cli, "connect", connect)
