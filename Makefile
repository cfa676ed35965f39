# The two commands of the course (see README.md):
#   make lab    install what is missing, start the emulator, open JupyterLab
#   make test   install what is missing, run every test and every notebook
# Both are idempotent: the second run only checks and starts.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.course-installed
LAB_PORT ?= 8888
# JupyterLab refuses to run as root unless told; containers and CI machines are root.
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test doctor notebooks bench graphviz install clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + "): install it, or run: make PYTHON=python3.12 ...")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# Graphviz's dot draws the diagrams. As root with apt (CI, containers) it is
# installed here; elsewhere the exact install line is printed.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Graphviz (dot) with apt-get ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "Graphviz's 'dot' is missing: the diagrams need it. Install it, then run make again:"; \
	    echo "    Debian/Ubuntu:  sudo apt-get install graphviz"; \
	    echo "    macOS:          brew install graphviz"; \
	    echo "    conda:          conda install -c conda-forge graphviz"; \
	    exit 1; \
	  fi; }

lab: install graphviz
	@$(PY) -m helpers emulator start
	$(VENV)/bin/jupyter lab --port=$(LAB_PORT) --ServerApp.root_dir=notebooks $(LAB_ROOT) $(LAB_ARGS)

test: install graphviz
	$(PY) -m pytest $(PYTEST_ARGS)

# Maintainers: re-execute every notebook so the committed outputs are fresh.
notebooks: install graphviz
	$(PY) -m helpers notebooks

# Speed and size budgets, printed and written to bench/latest.json (never asserted
# in tests). Graphviz is not a prerequisite here: bench/run.py times its install.
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

doctor: install graphviz
	$(PY) -m helpers doctor

clean:
	-@test -x $(PY) && $(PY) -m helpers emulator stop
	rm -rf $(VENV) .course .course-test .pytest_cache
