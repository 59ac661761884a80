# SPDX-License-Identifier: BSD-2-Clause
"""MemGEN's host side: the Python API (:class:`MemGen`), the protocol client
(:mod:`host.device`), codecs, loaders and the command-line tools.

``from host import MemGen`` imports the API on first use, so the command-line tools start
without loading it.
"""

__all__ = ["MemGen", "__version__"]

#: The package version (pyproject.toml reads it from here).
__version__ = "0.2.0"


def __getattr__(name):
    if name == "MemGen":
        from .api import MemGen

        return MemGen
    raise AttributeError(f"module 'host' has no attribute {name!r}")
