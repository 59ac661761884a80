# MemGEN: `make sim` runs the main job on the virtual board, `make test` runs the suite.
# Both create .venv and install, on first use, what they need: `make sim` the virtual board's
# tools (the `sim` extra), `make test` everything the suite needs (the `dev` extra).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BOARD  ?= arty_a7
JOBS   ?= auto
TOOL   := $(PY) -m hw.toolenv
# The exact versions to install (pip constraints); pyproject.toml holds the ranges.
CONSTRAINTS ?= requirements/ci.txt

# One stamp per extra (pyproject.toml): a target installs only what it needs, once, and again
# when pyproject.toml or the constraints change. `dev` includes `boards`, `formal` and `sim`,
# so after `make test` the other stamps install nothing new.
STAMP_SIM    := $(VENV)/.installed-sim
STAMP_BOARDS := $(VENV)/.installed-boards
STAMP_FORMAL := $(VENV)/.installed-formal
STAMP_DEV    := $(VENV)/.installed-dev
STAMP_DRAM   := $(VENV)/.installed-dram
STAMP_STATS  := $(VENV)/.installed-stats
STAMP_PCIE   := $(VENV)/.installed-pcie
# STORE=dram also needs LiteDRAM (the `dram` extra).
STORE_STAMP   = $(if $(filter dram,$(STORE)),$(STAMP_DRAM))
# The PCIe cards also need LitePCIe (the `pcie` extra).
PCIE_STAMP    = $(if $(filter acorn_%,$(BOARD)),$(STAMP_PCIE))

.PHONY: all venv test sim board bench stats bitstream synth program fuzz formal lint clean distclean

all: test

$(VENV)/.installed-%: pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[$*]'
	@touch $@

venv: $(STAMP_DEV)

test: $(STAMP_DEV)
	$(TOOL) $(PY) -m pytest -n $(JOBS)

# The main job: train, sample and recite on the virtual board (the design in Verilator).
# STORE=dram: at scale, on the virtual board with the ULX3S's 32 MB SDRAM behind LiteDRAM's
# simulation model: DATA= an image data set (default: Fashion-MNIST's test images where Debian's
# dataset-fashion-mnist package puts them, else DATA=synthetic, 7.8 MB of generated images).
sim: $(STAMP_SIM) $(STORE_STAMP)
	$(TOOL) $(PY) -m sim.demo $(if $(filter dram,$(STORE)),--store sdram $(if $(DATA),--data $(DATA)))

# The virtual board alone, for the host tools: --port socket://127.0.0.1:7777 (its default port)
board: $(STAMP_SIM)
	$(TOOL) $(PY) -m sim.board

# Benchmarks against the targets: tables printed and written to build/bench.md.
bench: $(STAMP_SIM) $(STAMP_DRAM)
	$(TOOL) $(PY) -m sim.bench $(if $(QUICK),--quick)

# Statistical batteries on the sampler's index streams beside NumPy's PCG64 (NIST SP 800-22 through
# nistrng, dieharder when installed, and the order checks), written to build/stats.md; installs
# the `stats` extra.
stats: $(STAMP_STATS)
	$(PY) -m sim.stats $(if $(QUICK),--quick)

# Fault-injection campaign on the virtual board: FRAMES frames from seed SEED, every reply
# checked against a reference model; the table is printed and written to build/fuzz.md.
FRAMES ?= 10000
SEED   ?= 1

fuzz: $(STAMP_SIM)
	$(TOOL) $(PY) -m sim.fuzz --frames $(FRAMES) --seed $(SEED)

# Formal proofs of the gateware invariants (SymbiYosys, z3), the tests in tests/formal/: prints
# every property with its mode, depth and time, and the broken variants the solver must refute;
# files in build/formal/.
formal: $(STAMP_DEV)
	FORMAL_DIR=build/formal $(TOOL) $(PY) -m pytest -q -n 2 tests/formal

# Board builds into build/$(BOARD)/ (hw/boards/build.py lists the boards and rejects unknown ones).
# BAUD is passed only when given on the command line or in the environment.
BUILD_BAUD = $(if $(filter command line environment,$(origin BAUD)),--baud $(BAUD))
# STORE=dram: the board's external memory through LiteDRAM, built into build/$(BOARD)-dram/.
BUILD_STORE = $(if $(STORE),--store $(STORE))

bitstream synth: $(STAMP_BOARDS) $(STORE_STAMP) $(PCIE_STAMP)
	$(TOOL) $(PY) -m hw.boards.build $@ --board $(BOARD) $(BUILD_BAUD) $(BUILD_STORE)

program: $(STAMP_BOARDS)
	$(TOOL) $(PY) -m hw.boards.build $@ --board $(BOARD) $(BUILD_BAUD)

lint: $(STAMP_DEV)
	$(PY) -m ruff check hw host sim tests

clean:
	rm -rf build .pytest_cache sim_build

distclean: clean
	rm -rf $(VENV) *.egg-info
