# SPDX-License-Identifier: BSD-2-Clause
"""LiteX cores (LiteDRAM's, LitePCIe's) generated at build time in a process of their own and
cached under ``build/<kind>/<name>-<hash>/``, the one mechanism behind
:func:`hw.store.dram.core.generate` and :func:`hw.transport.litepcie.core.generate`."""

import fcntl
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["generated_core"]

_ROOT = Path(__file__).resolve().parents[1]


def generated_core(name, config, *, kind, generator, packages, missing, user, extra, tool,
                   build_root=None):
    """Return the directory of the core ``name`` built from ``config``, running the generator
    module the first time (a few seconds) and reusing its output while the configuration, the
    generator's source and the versions of ``packages`` are unchanged. A lock file makes
    processes that build at once wait for one another.

    Parameters
    ----------
    name : str
    config : dict
        What the generator reads (JSON).
    kind : str
        The folder under ``build/`` (``"litedram"``).
    generator : str
        The generator's module, run as ``python -m generator CONFIG OUT``.
    packages : tuple of str
        The distributions whose versions key the cache.
    missing : type
        The exception raised when a package is missing or the generator fails.
    user, extra, tool : str
        For those messages: what needs the core (``"the DRAM store"``), the extra that
        installs it (``"dram"``), the generator's name (``"LiteDRAM"``).
    build_root : path-like or None
        Instead of ``build/<kind>/``.

    Raises
    ------
    missing
        If a package is not installed or the generator fails (with its log's last lines).
    """
    from importlib.metadata import PackageNotFoundError, version
    try:
        versions = {package: version(package) for package in packages}
    except PackageNotFoundError as e:
        raise missing(f"{e.name} is not installed; {user} needs the `{extra}` extra: "
                      f"pip install -e '.[{extra}]'") from None
    source = Path(importlib.util.find_spec(generator).origin).read_text()
    key = json.dumps([config, source, versions], sort_keys=True)
    if build_root is None:
        base = _ROOT if (_ROOT / "pyproject.toml").exists() else Path.cwd()
        build_root = base / "build" / kind
    build_root = Path(build_root)
    out = build_root / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (out / "core.json").exists():
        return out
    build_root.mkdir(parents=True, exist_ok=True)
    with open(build_root / f"{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "core.json").exists():
            _run(generator, config, out, missing, tool)
    return out


def _run(generator, config, out, missing, tool):
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-m", generator, str(out / "config.json"), str(out)],
        cwd=_ROOT, env=env, capture_output=True, text=True)
    (out / "generate.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise missing(f"the {tool} generator failed (status {result.returncode}); see "
                      f"{out / 'generate.log'}:\n{tail}")
