# SPDX-License-Identifier: BSD-2-Clause
"""Where build outputs and caches go: ``build/`` in a source checkout, else the user's cache
directory (:func:`platformdirs.user_cache_dir`), never the installed package's folder."""

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "checkout", "build_root"]

#: Environment variable that overrides the cache directory of an installed MemGEN.
CACHE_ENV = "MEMGEN_CACHE"

_ROOT = Path(__file__).resolve().parent.parent


def checkout():
    """Return the source checkout MemGEN runs from, or None if it is installed."""
    return _ROOT if (_ROOT / "pyproject.toml").is_file() and (_ROOT / "hw").is_dir() else None


def build_root(*parts):
    """Return ``build/<parts>`` of the checkout, or ``<user cache>/<parts>`` when installed
    (``$MEMGEN_CACHE`` overrides the cache)."""
    root = checkout()
    if root is not None:
        return root.joinpath("build", *parts)
    cache = os.environ.get(CACHE_ENV)
    if not cache:
        import platformdirs

        cache = platformdirs.user_cache_dir("memgen", appauthor=False)
    return Path(cache).joinpath(*parts)
