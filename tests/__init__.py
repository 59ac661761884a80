# SPDX-License-Identifier: BSD-2-Clause
"""The test suite, a package so that its modules import their shared helpers as
``tests.helpers`` and ``tests.simutil`` wherever pytest is started."""
