# SPDX-License-Identifier: BSD-2-Clause
"""LiteDRAM cores, generated at build time and cached under ``build/litedram/<hash>/``.

:data:`CONFIGS` holds the ``litedram_gen`` configuration of each memory MemGEN drives; the
generator (:mod:`hw.store.dram.generate`) runs in a process of its own and writes the core's
Verilog and :class:`CoreFacts` (its ports, control registers, native port and init sequence), so
that every port name and width on the Amaranth side comes from the generator's output, never
retyped. LiteX, LiteDRAM and Migen are the optional ``dram`` dependencies.
"""

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CONFIGS", "CoreFacts", "DRAMMissing", "generate"]

_SDR_ULX3S = {
    "memtype": "SDR", "sdram_phy": "GENSDRPHY", "sdram_module": "IS42S16160",
    "sdram_module_nb": 2, "device": "LFE5U-85F-6BG381C", "sys_clk_freq": 25e6,
    "cpu": None, "user_ports": {"0": {"type": "native"}},
}

_DDR3_ARTY = {
    "memtype": "DDR3", "sdram_phy": "A7DDRPHY", "sdram_module": "MT41K128M16",
    "sdram_module_nb": 2, "sdram_rank_nb": 1, "speedgrade": -1, "cmd_latency": 0,
    "rtt_nom": "60ohm", "rtt_wr": "60ohm", "ron": "34ohm",
    "input_clk_freq": 100e6, "sys_clk_freq": 100e6, "iodelay_clk_freq": 200e6,
    "cpu": None, "user_ports": {"0": {"type": "native"}},
}

#: ``litedram_gen`` configurations by name. ``sdram_sim`` and ``ddr3_sim`` are the ULX3S's and
#: the Arty's memories behind LiteDRAM's ``SDRAMPHYModel`` at the virtual board's clock.
CONFIGS = {
    # The ULX3S's 16-bit SDR SDRAM (IS42S16160, 32 MB; ``sdram_module_nb`` counts byte
    # lanes), at the board's 25 MHz.
    "sdram_ulx3s": _SDR_ULX3S,
    "sdram_sim": {**_SDR_ULX3S, "sys_clk_freq": 100e6, "sim": True},
    # The Arty A7-35T's MT41K128M16 (256 MB), DDR3 at 100 MHz through the 7-series PHY.
    "ddr3_arty": _DDR3_ARTY,
    "ddr3_sim": {**_DDR3_ARTY, "sim": True},
}


class DRAMMissing(RuntimeError):
    """LiteDRAM is not installed, or the generator failed."""


@dataclass(frozen=True)
class CoreFacts:
    """What the generator says about a core.

    Members
    -------
    verilog : pathlib.Path
        The core's Verilog file.
    module : str
        Its module name.
    ports : dict of str to (str, int)
        Direction (``"input"``, ``"output"``) and width of each port of the module.
    csr : dict of str to int
        Word addresses of the control registers on the ``wb_ctrl`` Wishbone bus, all of them.
    address_width, data_width : int
        The native user port's word address and data widths.
    dfii : dict of str to int
        The bits of the DFI injector's control and command registers.
    init_sequence : list of dict
        The init steps: ``control`` (write the control register, else issue a command),
        ``value``, ``a``, ``ba`` and ``delay`` (cycles to wait after it).
    memtype : str
        ``"SDR"``, ``"DDR3"``.
    """
    verilog: Path
    module: str
    ports: dict
    csr: dict
    address_width: int
    data_width: int
    dfii: dict
    init_sequence: list
    memtype: str

    @property
    def capacity(self):
        """Size of the memory in bytes."""
        return (1 << self.address_width) * self.data_width // 8

    @classmethod
    def load(cls, directory):
        facts = json.loads((directory / "core.json").read_text())
        return cls(
            verilog=directory / f"{facts['module']}.v",
            module=facts["module"],
            ports={name: (direction, width) for name, direction, width in facts["ports"]},
            csr=facts["csr"],
            address_width=facts["native"]["address_width"],
            data_width=facts["native"]["data_width"],
            dfii=facts["dfii"],
            init_sequence=facts["init_sequence"],
            memtype=facts["memtype"],
        )


def _build_root():
    root = Path(__file__).resolve().parents[3]
    base = root if (root / "pyproject.toml").exists() else Path.cwd()
    return base / "build" / "litedram"


def _versions():
    from importlib.metadata import PackageNotFoundError, version
    try:
        return {name: version(name) for name in ("litex", "litedram", "migen")}
    except PackageNotFoundError as e:
        raise DRAMMissing(f"{e.name} is not installed; the DRAM store needs the `dram` extra: "
                          f"pip install -e '.[dram]'") from None


def generate(name, *, build_root=None):
    """Return the :class:`CoreFacts` of the core ``name`` of :data:`CONFIGS`, generating it the
    first time (a few seconds) and reusing it while its configuration, the generator and the
    LiteX versions are unchanged.

    Raises
    ------
    ValueError
        If ``name`` is not in :data:`CONFIGS`.
    DRAMMissing
        If LiteDRAM is not installed or the generator fails.
    """
    if name not in CONFIGS:
        raise ValueError(f"Unknown DRAM core {name!r}; known: {', '.join(sorted(CONFIGS))}")
    config = CONFIGS[name]
    generator = Path(__file__).with_name("generate.py").read_text()
    key = json.dumps([config, generator, _versions()], sort_keys=True)
    build_root = Path(build_root) if build_root is not None else _build_root()
    out = build_root / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (out / "core.json").exists():
        return CoreFacts.load(out)
    build_root.mkdir(parents=True, exist_ok=True)
    with open(build_root / f"{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "core.json").exists():
            _run_generator(config, out)
    return CoreFacts.load(out)


def _run_generator(config, out):
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-m", "hw.store.dram.generate", str(out / "config.json"), str(out)],
        cwd=Path(__file__).resolve().parents[3], env=env, capture_output=True, text=True)
    (out / "generate.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise DRAMMissing(f"the LiteDRAM generator failed (status {result.returncode}); see "
                          f"{out / 'generate.log'}:\n{tail}")
