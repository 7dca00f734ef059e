# ferrolog developer commands. `make help` lists them.
# Everything installs into ./.venv; the Rust build cache lives in ./target.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# release: what benchmarks and CI measure. dev-release: faster local rebuilds.
PROFILE ?= release
NATIVE_STAMP := $(VENV)/.native-$(PROFILE)
RUST_SOURCES := $(shell find rust -name '*.rs' -o -name Cargo.toml 2>/dev/null) Cargo.toml
LOOM_TARGET  := target/loom
SANITIZE_TARGET := target/sanitize

.DEFAULT_GOAL := help
.PHONY: help demo test test-rust test-loom test-sanitize test-python stress test-wheel test-matrix lint fmt bench bench-compare build clean toolchain

help: ## show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

toolchain: ## check that python3 (>= 3.10, with venv) and cargo are installed
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "ferrolog: $(PYTHON) not found: install Python >= 3.10 (e.g. apt-get install python3 python3-venv)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "ferrolog: Python >= 3.10 is needed, $(PYTHON) is $$($(PYTHON) -V 2>&1): set PYTHON=/path/to/python3.x"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { echo "ferrolog: $(PYTHON) lacks venv/ensurepip: install them (e.g. apt-get install python3-venv)"; exit 1; }
	@command -v cargo >/dev/null 2>&1 || { echo "ferrolog: cargo not found: install the Rust toolchain with rustup (rustup.rs), then open a new shell"; exit 1; }

$(VENV)/bin/python: | toolchain
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "maturin>=1.9,<2"

# Builds the extension into python/ferrolog (editable install) and installs the dev extras.
# This interpreter's stale .so is removed first so an old build can never shadow a new one
# (other interpreters' builds, from `make test-matrix`, have other names and stay).
$(NATIVE_STAMP): $(VENV)/bin/python $(RUST_SOURCES) pyproject.toml
	rm -f python/ferrolog/_native$$($(PY) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))') $(VENV)/.native-*
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --quiet --profile $(PROFILE) --extras dev,shipping-tests,stress
	touch $@

build: $(NATIVE_STAMP) ## build the extension (PROFILE=release|dev-release) into the venv

demo: $(NATIVE_STAMP) ## run examples/quickstart.py through the zero-config default
	$(PY) examples/quickstart.py

test: test-rust test-loom test-sanitize test-python ## run the whole test suite (cargo, loom, sanitizers, pytest)

test-rust: toolchain ## cargo tests of the workspace
	cargo test --workspace --quiet

test-loom: toolchain ## model-check the ring and the writer's wake-up protocols with loom
	RUSTFLAGS="--cfg loom" cargo test --quiet -p ferrolog-core --release --target-dir $(LOOM_TARGET) --test loom_ring --test loom_wake

# The sanitizers need a nightly toolchain; --target keeps build scripts uninstrumented. std is
# not rebuilt with them (that needs rust-src), so ThreadSanitizer cannot see std's Mutex and
# Condvar and runs only the lock-free ring's tests; rust/core/sanitize/tsan.supp says which
# std-internal reports it suppresses and why. The OutOfMemory test limits the address space,
# which AddressSanitizer's shadow memory cannot live with, so it is skipped there.
test-sanitize: toolchain ## AddressSanitizer (ring, writer, pipeline) + ThreadSanitizer (ring) on nightly
	@if ! cargo +nightly --version >/dev/null 2>&1; then \
		echo "test-sanitize: skipped: no nightly toolchain (cargo +nightly) to build with -Zsanitizer"; \
		exit 0; \
	fi; \
	set -e; host=$$(rustc +nightly -vV | sed -n 's/^host: //p'); \
	echo "AddressSanitizer: ring, writer and pipeline tests"; \
	RUSTFLAGS="-Zsanitizer=address" cargo +nightly test --quiet -p ferrolog-core --target $$host \
		--target-dir $(SANITIZE_TARGET) --lib --test pipeline -- --skip failed_allocation; \
	echo "ThreadSanitizer: ring tests"; \
	TSAN_OPTIONS="suppressions=$(CURDIR)/rust/core/sanitize/tsan.supp" \
		RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer" \
		cargo +nightly test --quiet -p ferrolog-core --target $$host \
		--target-dir $(SANITIZE_TARGET)/tsan --lib ring::

test-python: $(NATIVE_STAMP) ## pytest: unit, native, property and integration tests
	@echo "native boundary tests under PYTHONMALLOC=debug (catches refcount and buffer misuse):"
	PYTHONMALLOC=debug $(PY) -m pytest -q -p no:cacheprovider tests/native
	@echo "the rest of the suite (the native tests ran above):"
	$(PY) -m pytest -q --ignore=tests/native

# The fault-injection suite (tests/stress) in full: its short variants run in test-python, the
# long ones (marked `stress`) only here. Prints its figures, one line each, at the end. Takes
# about 20 minutes: STRESS_FUZZ_SECONDS (default 600) is the fuzzing budget, STRESS_SEED replays
# the random moments. The pre-fork server test needs wrk: installed with apt-get when root.
stress: $(NATIVE_STAMP) ## fault-injection suite in full (crash, disk full, sinks, shutdown, fork, server, fuzz); prints figures
	@if ! command -v wrk >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "stress: installing wrk with apt-get"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 \
				|| { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1; } \
				|| echo "stress: apt-get could not install wrk; the gunicorn test under wrk will be skipped"; \
		else \
			echo "stress: wrk not found and not root; the gunicorn test under wrk will be skipped (install wrk to run it)"; \
		fi; \
	fi
	STRESS=1 $(PY) -m pytest -q -p no:cacheprovider --timeout 3600 -m stress tests/stress

lint: $(NATIVE_STAMP) ## ruff, mypy --strict, stubtest, cargo fmt --check, cargo clippy -D warnings
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m mypy.stubtest ferrolog._native --allowlist .stubtest-allowlist
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: $(VENV)/bin/python ## format Rust and Python sources
	cargo fmt --all
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix --quiet .

# Short runs: the pytest-benchmark suites, then the in-process service benchmark (paired CPU per
# request against no logging) and the low-rate one; `make bench-compare` runs them in full.
bench: $(NATIVE_STAMP) ## pytest-benchmark suites, short in-process service and low-rate runs
	$(PY) -m pytest benches -q -p no:cacheprovider --benchmark-only --benchmark-columns=median,min,max,rounds -o testpaths=benches
	@$(PY) benches/bench_requirements.py | while IFS= read -r req; do \
		$(PY) -m pip install --quiet --disable-pip-version-check "$$req" >/dev/null 2>&1 \
			|| echo "bench: could not install '$$req'; the peers that need it are skipped"; \
	done
	$(PY) benches/service/inproc.py --quick
	$(PY) benches/lowrate.py --runs 1 --seconds 2

# ARGS is passed to benches/compare.py, e.g. `make bench-compare ARGS=--quick` (20,000 events,
# 2 runs, 3 s per wrk run) or ARGS='--only structlog,ferrolog --no-service'.
ARGS ?=
bench-compare: $(NATIVE_STAMP) ## peer comparison + service benchmark -> bench-results/ (ARGS=--quick)
	@$(PY) benches/bench_requirements.py | while IFS= read -r req; do \
		$(PY) -m pip install --quiet --disable-pip-version-check "$$req" >/dev/null 2>&1 \
			|| echo "bench-compare: could not install '$$req' for this Python; that peer will be skipped"; \
	done
	@if ! command -v strace >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null 2>&1 \
			|| echo "bench-compare: apt-get could not install strace; caller syscalls are not counted"; \
	fi
	@if ! command -v wrk >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "bench-compare: installing wrk with apt-get"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 \
				|| { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1; } \
				|| echo "bench-compare: apt-get could not install wrk; the service comparison will be skipped"; \
		else \
			echo "bench-compare: wrk not found and not root; the service comparison will be skipped (install wrk to run it)"; \
		fi; \
	fi
	$(PY) benches/compare.py $(ARGS)

clean: ## remove the venv, build outputs and caches (keeps target/ unless ALL=1)
	rm -rf $(VENV) python/ferrolog/_native*.so .pytest_cache .mypy_cache .ruff_cache .hypothesis
	if [ -n "$(ALL)" ]; then rm -rf target; fi

# The wheel as a user gets it: built by maturin, installed with pip into a fresh venv outside
# the source tree, then the console script, `python -m ferrolog` and a zero-config log call.
WHEEL_DIR := target/wheel-test
test-wheel: $(VENV)/bin/python ## build the wheel, install it into a fresh venv and smoke-test it
	rm -rf $(WHEEL_DIR)
	$(VENV)/bin/maturin build --quiet --profile $(PROFILE) --interpreter $(abspath $(PY)) --out $(WHEEL_DIR)/dist
	$(PYTHON) -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/python -m pip install --quiet --disable-pip-version-check $(WHEEL_DIR)/dist/*.whl
	cd $(WHEEL_DIR) && ./venv/bin/ferrolog --version && ./venv/bin/python -m ferrolog --version
	cd $(WHEEL_DIR) && ./venv/bin/python -c "import threading, ferrolog; assert threading.active_count() == 1" \
		&& ./venv/bin/python ../../examples/quickstart.py >/dev/null

# The Python matrix the README claims: the whole pytest suite on every CPython 3.10-3.13 found
# (pyenv's or on PATH), each with its own venv and target dir. A missing version is named.
MATRIX ?= 3.10 3.11 3.12 3.13
test-matrix: toolchain ## run pytest on each CPython in MATRIX (default 3.10-3.13) that is installed
	@for v in $(MATRIX); do \
		py=; for c in $$(ls -d $$HOME/.pyenv/versions/$$v.*/bin/python$$v 2>/dev/null) $$(command -v python$$v); do \
			if $$c -c 'import venv, ensurepip' >/dev/null 2>&1; then py=$$c; break; fi; \
		done; \
		if [ -z "$$py" ]; then echo "test-matrix: no working python$$v found, skipped"; continue; fi; \
		echo "test-matrix: Python $$v ($$py)"; \
		$(MAKE) --no-print-directory test-python PYTHON=$$py VENV=.venv-$$v CARGO_TARGET_DIR=$(CURDIR)/target/py$$v PROFILE=dev-release || exit 1; \
	done

# The documentation site (mkdocs-material + mkdocstrings, the `docs` extra of pyproject.toml,
# installed here into .venv; `make test` does not need it). docs/settings-reference.md is
# regenerated from python/ferrolog/config.py first; the build is strict (mkdocs.yml), so a
# broken link, anchor or reference fails it. The site goes to target/site.
.PHONY: docs docs-serve docs-check
DOCS_STAMP := $(VENV)/.docs-extra
$(DOCS_STAMP): $(NATIVE_STAMP) pyproject.toml
	@mkdir -p target
	$(PY) -c 'import sys; t = __import__("tomllib" if sys.version_info >= (3, 11) else "tomli"); \
		print("\n".join(t.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["docs"]))' \
		> target/docs-requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r target/docs-requirements.txt
	touch $@

docs: $(DOCS_STAMP) ## build the documentation site (strict) into target/site
	$(PY) docs/_tools/settings_reference.py
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet

DOCS_PORT ?= 8000
docs-serve: $(DOCS_STAMP) ## serve the docs with live reload on 127.0.0.1:8000 (DOCS_PORT=...)
	$(PY) docs/_tools/settings_reference.py
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve --strict -a 127.0.0.1:$(DOCS_PORT)

# The built site in a real browser: headless Chromium (Debian package `chromium`, installed
# with apt-get when root and missing) opens the home and configuration pages, saves
# screenshots to target/docs-screenshots/, and fails on a console error or a broken internal
# link (every internal link of the site is crawled). Then the docs' code blocks run with the
# docs extra installed, so the structlog and loguru halves of the migration guide run too.
docs-check: docs ## build the docs, check them in headless Chromium, run every docs example
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "docs-check: installing chromium with apt-get"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
				|| { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; } \
				|| echo "docs-check: apt-get could not install chromium"; \
		fi; \
	fi
	@if command -v chromium >/dev/null 2>&1; then \
		$(PY) docs/_tools/browser_check.py target/site --out target/docs-screenshots; \
	else \
		echo "docs-check: SKIPPED the browser check: no chromium (install the Debian package 'chromium', or run as root so this target installs it)"; \
		if [ -n "$(DOCS_REQUIRE_BROWSER)" ]; then echo "docs-check: DOCS_REQUIRE_BROWSER is set: failing"; exit 1; fi; \
	fi
	$(PY) -m pytest -q -p no:cacheprovider tests/docs
