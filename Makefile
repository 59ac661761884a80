# MemGEN: `make sim` runs the main job on the virtual board, `make test` runs the suite.
# Both create .venv and install everything on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
BOARD  ?= arty_a7
JOBS   ?= auto
TOOL   := $(PY) -m hw.toolenv

.PHONY: all venv test sim board bench stats bitstream synth program fuzz formal lint clean distclean

all: test

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)

test: $(STAMP)
	$(TOOL) $(PY) -m pytest -n $(JOBS)

# The main job: train, sample and recite on the virtual board (the design in Verilator).
sim: $(STAMP)
	$(TOOL) $(PY) -m sim.demo

# The virtual board alone, for the host tools: --port socket://127.0.0.1:7777 (its default port)
board: $(STAMP)
	$(TOOL) $(PY) -m sim.board

# Benchmarks against the targets: tables printed and written to build/bench.md.
bench: $(STAMP)
	$(TOOL) $(PY) -m sim.bench $(if $(QUICK),--quick)

# Statistical batteries on the sampler's index streams beside NumPy's PCG64 (NIST SP 800-22 through
# nistrng, dieharder when installed, and the order checks), written to build/stats.md. NIST needs
# the `stats` extra: $(PY) -m pip install -e '.[stats]'.
stats: $(STAMP)
	$(PY) -m sim.stats $(if $(QUICK),--quick)

# Fault-injection campaign on the virtual board: FRAMES frames from seed SEED, every reply
# checked against a reference model; the table is printed and written to build/fuzz.md.
FRAMES ?= 10000
SEED   ?= 1

fuzz: $(STAMP)
	$(TOOL) $(PY) -m sim.fuzz --frames $(FRAMES) --seed $(SEED)

# Formal proofs of the gateware invariants (SymbiYosys, z3), the tests in tests/formal/: prints
# every property with its mode, depth and time, and the broken variants the solver must refute;
# files in build/formal/.
formal: $(STAMP)
	FORMAL_DIR=build/formal $(TOOL) $(PY) -m pytest -q -n 2 tests/formal

# Board builds into build/$(BOARD)/ (hw/boards/build.py lists the boards and rejects unknown ones).
# BAUD is passed only when given on the command line or in the environment.
BUILD_BAUD = $(if $(filter command line environment,$(origin BAUD)),--baud $(BAUD))

bitstream synth program: $(STAMP)
	$(TOOL) $(PY) -m hw.boards.build $@ --board $(BOARD) $(BUILD_BAUD)

lint: $(STAMP)
	$(PY) -m ruff check hw host sim tests

clean:
	rm -rf build .pytest_cache sim_build

distclean: clean
	rm -rf $(VENV) *.egg-info
