# minicomp: `make demo` and `make test` are all a newcomer needs (each runs `make setup` first).
#
#   make setup   .venv with torch 2.13.0 (CPU), minicomp (editable) and its dev/triton extras; graphviz and g++ if we can
#   make demo    compile a transformer block with minicomp and check it against eager PyTorch
#   make test    the test suite, on 2 workers
#   make bench   every script in benchmarks/ except _*.py helpers (never part of the tests)
#   make docs    every runnable tutorial in docs/
#
# Setup is recorded in a stamp file, so it runs once and again only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.minicomp-setup-done

.PHONY: setup demo test bench docs clean

setup: $(STAMP)

# torch is installed first and pinned exactly: see DEVELOPERS.md ("The torch==2.13.0 trap").
$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory venv
	@echo "installing torch 2.13.0 (CPU build) into $(VENV)"
	$(BIN)/python -m pip install --quiet torch==2.13.0
	@echo "installing minicomp (editable) with its dev and triton extras"
	$(BIN)/python -m pip install --quiet -e '.[dev,triton]'
	@$(MAKE) --no-print-directory graphviz
	@$(MAKE) --no-print-directory cxx
	@touch $(STAMP)

# A virtual environment with pip; on a fresh Debian `python3 -m venv` needs the python3-venv package.
.PHONY: venv
venv:
	@if [ ! -x $(BIN)/pip ]; then \
	  rm -rf $(VENV); \
	  if ! $(PYTHON) -m venv $(VENV); then \
	    rm -rf $(VENV); \
	    if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	      echo "python3 -m venv failed: installing Debian's python3-venv"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	      $(PYTHON) -m venv $(VENV); \
	    else \
	      echo "python3 -m venv failed: install your distribution's python3-venv package"; exit 1; \
	    fi; \
	  fi; \
	fi

# graphviz's `dot` renders dumps to SVG; without it dumps hold .dot text and SVG_SKIPPED.txt says so.
.PHONY: graphviz
graphviz:
	@if command -v dot >/dev/null; then \
	  true; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing graphviz (for SVG dumps)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) \
	    || echo "graphviz could not be installed: dumps will be .dot text, SVG skipped"; \
	else \
	  echo "graphviz's dot is not installed (needs root and apt-get): dumps will be .dot text, SVG skipped"; \
	fi

# target="cpp" (the default on CPU) compiles kernels with the system's C++ compiler: g++ unless one is there.
.PHONY: cxx
cxx:
	@if command -v c++ >/dev/null || command -v g++ >/dev/null || command -v clang++ >/dev/null; then \
	  true; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing g++ (the C++ backend's compiler)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null) \
	    || echo "g++ could not be installed: target='auto' will use the numpy backend"; \
	else \
	  echo "no C++ compiler (needs root and apt-get to install g++): target='auto' will use the numpy backend"; \
	fi

demo: setup
	$(BIN)/minicomp demo

test: setup
	$(BIN)/python -m pytest -q -n 2 tests/

bench: setup
	@found=0; failed=""; for script in benchmarks/*.py; do \
	  case "$$(basename $$script)" in _*) continue;; esac; \
	  [ -e "$$script" ] || continue; found=1; \
	  echo "== $$script"; $(BIN)/python "$$script" || failed="$$failed $$script"; \
	done; \
	[ $$found = 1 ] || echo "no benchmarks yet (benchmarks/ has no .py files)"; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

docs: setup
	@for script in docs/*.py; do \
	  [ -e "$$script" ] || continue; \
	  echo "== $$script"; $(BIN)/python "$$script" || exit 1; \
	done

clean:
	rm -rf $(VENV) dumps .pytest_cache .hypothesis
