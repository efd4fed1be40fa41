# skbdrop — see README.md. `make report` and `make test` work on a fresh Debian machine:
# everything runs in a project virtual environment (.venv, made from $(PYTHON)); nothing is
# installed into the system Python (Debian's is externally managed, PEP 668).
PYTHON  ?= python3
KERNEL  ?= debian:6.12
OUT     ?= out/report
VENV    ?= .venv
VPY      = $(VENV)/bin/python
# Debian packages the tests and the report use (installed when missing, as root or via sudo)
APT_PKGS = gcc clang bpftool graphviz chromium chromium-driver xz-utils git
STAMP    = $(VENV)/.skbdrop-deps
SUDO     = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps venv report scan test bench kernels clean distclean

all: report

# The interpreter must be >= 3.11 and able to make a venv with pip: Debian splits ensurepip
# out of python3 into python3-venv (python3.X-venv), installed here when it is missing.
$(VPY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "skbdrop needs Python >= 3.11; $(PYTHON) is $$($(PYTHON) -V 2>&1) (make PYTHON=...)" >&2; exit 2; }
	@if ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then \
	  pkg=$$($(PYTHON) -c 'import sys; print("python%d.%d-venv" % sys.version_info[:2])'); \
	  command -v apt-get >/dev/null || { echo "$(PYTHON) cannot make a venv (no ensurepip) and apt-get is missing" >&2; exit 2; }; \
	  echo "installing Debian's $$pkg (python3-venv): $(PYTHON) has no ensurepip"; \
	  $(SUDO) apt-get install -y -qq python3-venv $$pkg >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv $$pkg >/dev/null; }; \
	fi
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)

venv: $(VPY)

$(STAMP): pyproject.toml Makefile | $(VPY)
	@if command -v dpkg >/dev/null; then \
	  missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	fi
	$(VPY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

# bytecode for the package, written even where PYTHONDONTWRITEBYTECODE is set (each CLI
# run would otherwise compile its ~50 modules again: 0.1 s of a `check`); stale files are
# recompiled by Python as usual, so this only saves time
deps: $(STAMP)
	@$(VPY) -m compileall -q analyzer >/dev/null

# the trees the tests and the bench read, pinned in tests/kernels (their expectations were
# read from those versions; apt keeps earlier revisions of a series)
TEST_KERNELS = $(shell sed -e 's/\#.*//' tests/kernels)

kernels: deps
	$(VPY) -m analyzer.source.fetch $(TEST_KERNELS)

scan: deps
	@mkdir -p out
	$(VPY) -m analyzer.cli scan $(KERNEL) -o out/analysis.json

report: deps
	@mkdir -p $(dir $(OUT))
	$(VPY) -m analyzer.cli report $(KERNEL) -o $(OUT)

test: deps kernels
	$(VPY) -m pytest -q -ra tests

bench: deps kernels
	$(VPY) bench/bench.py

clean:
	rm -rf out build dist *.egg-info test-artifacts

distclean: clean
	rm -rf $(VENV)
