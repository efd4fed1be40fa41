# skbdrop — see README.md. `make report` and `make test` work on a fresh Debian machine.
PYTHON  ?= python3
KERNEL  ?= debian:6.12
OUT     ?= out/report
CACHE   ?= $(HOME)/.cache/skbdrop
APT_PKGS = gcc clang bpftool graphviz chromium chromium-driver xz-utils git
STAMP    = $(CACHE)/.deps-$(shell cat pyproject.toml Makefile | md5sum | cut -c1-12)

.PHONY: all deps report scan test bench kernels clean

all: report

$(STAMP):
	@mkdir -p $(CACHE)
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

deps: $(STAMP)

kernels: deps
	$(PYTHON) -m analyzer.source.fetch debian:6.1 debian:6.12

scan: deps
	$(PYTHON) -m analyzer.cli scan $(KERNEL) -o out/analysis.json

report: deps
	@mkdir -p $(dir $(OUT))
	$(PYTHON) -m analyzer.cli report $(KERNEL) -o $(OUT)

test: deps kernels
	$(PYTHON) -m pytest -q -ra tests

bench: deps kernels
	$(PYTHON) bench/bench.py

clean:
	rm -rf out build *.egg-info test-artifacts
