# SPDX-License-Identifier: BSD-2-Clause
"""The host needs no Amaranth: every host module, the command-line tools and what they share
with the gateware (the protocol, the transaction layer, argument types, board facts and the
software models) import, and the tools run, with Amaranth made unimportable."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: What the host shares with the gateware, besides the models (found below).
SHARED = ["hw.protocol", "hw.transaction", "hw.argtypes", "hw.boards.facts",
          "hw.transport.pcie_layout"]

#: The command-line tools, whose ``main`` is run with ``--help``.
TOOLS = ["host.train", "host.sample", "host.info"]

# Run in a child: an import blocker on sys.meta_path refuses Amaranth and records who asked.
_CHILD = """
import contextlib, importlib, io, json, sys

class NoAmaranth:
    def __init__(self):
        self.asked = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "amaranth" or name.startswith("amaranth_"):
            self.asked.append(name)
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

blocker = NoAmaranth()
sys.meta_path.insert(0, blocker)
modules, tools = json.loads(sys.argv[1])
imported = {name: callable(getattr(importlib.import_module(name), "main", None))
            for name in modules}
statuses = {}
for name in tools:
    with contextlib.redirect_stdout(io.StringIO()):
        statuses[name] = importlib.import_module(name).main(["--help"])
print(json.dumps({"imported": imported, "statuses": statuses, "asked": blocker.asked,
                  "loaded": sorted(m for m in sys.modules if m.startswith("amaranth"))}))
"""


def _host_modules():
    modules = [f"host.{path.stem}" for path in sorted((ROOT / "host").glob("*.py"))]
    models = [".".join(path.relative_to(ROOT).with_suffix("").parts)
              for path in sorted((ROOT / "hw").rglob("*_model.py"))]
    return modules + SHARED + models


def test_modules_are_found():
    modules = _host_modules()
    assert {"host.device", "host.link", "host.cli", *TOOLS, "host.__main__"} <= set(modules)
    assert {"hw.sampler.lfsr_model", "hw.sampler.addrgen_model"} <= set(modules)


def test_host_imports_without_amaranth():
    modules = _host_modules()
    result = subprocess.run([sys.executable, "-c", _CHILD, json.dumps([modules, TOOLS])],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["imported"]) == sorted(modules)
    assert all(report["imported"][name] for name in [*TOOLS, "host.__main__"])
    assert report["statuses"] == {name: 0 for name in TOOLS}
    # Not even tried: no host module imports Amaranth and copes with its absence.
    assert report["asked"] == [] and report["loaded"] == []
