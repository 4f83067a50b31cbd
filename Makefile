# Two commands for a newcomer (see README):
#   make demo   set up a virtual environment and run the personalization demo
#   make test   set up a virtual environment with the test extras and run the test suite
# Others: make test-py313 (the suite on Python 3.13, in .venv313), make test-wheel (build the
# wheel, install it outside the repo, run it), make test-reproducibility (the bit-identity
# tests under each OpenBLAS core type), make test-slow (the slow end-to-end tests),
# make test-sklearn (scikit-learn pipelines converted by coremltools, in .venv-sklearn),
# make bench (all benchmarks), make lint, make docs (the API reference, into build/api/).
#
# Variables: PYTHON (the interpreter that creates the venv), VENV (its directory),
# TEST_EXTRAS (the extras `make test` installs), TORCH (installed first when TEST_EXTRAS has
# test-parity; empty: none), PYTHON313 (the interpreter of test-py313).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# Tests run in two worker processes; each keeps BLAS to one thread so they do not fight.
PYTEST_ARGS ?= -n 2 --dist loadfile
DEMO_ARGS ?=
# test: what every supported machine installs; test-parity: torch, the parity references.
TEST_EXTRAS ?= test,test-parity,demo
# torch is installed on its own, before the extras resolve, so that test-parity's range is
# already met by this version: left to itself pip would pick the newest torch, which on Linux
# comes with gigabytes of CUDA libraries.
TORCH ?= torch==2.13.0
# Python 3.13: pyenv's newest 3.13, else python3.13 on PATH (each must really be 3.13).
PYTHON313 ?= $(shell for p in $$(ls -d "$$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python \
	2>/dev/null | sort -rV) python3.13; do "$$p" -c 'import sys; assert sys.version_info[:2] \
	== (3, 13); print(sys.executable)' 2>/dev/null && break; done)

.PHONY: demo test test-py313 test-wheel test-reproducibility test-slow test-sklearn bench lint \
	docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(PY)
	$(PIP) -e '.[demo]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(PY)
	$(if $(and $(TORCH),$(findstring test-parity,$(TEST_EXTRAS))),$(PIP) '$(TORCH)')
	$(PIP) -e '.[$(TEST_EXTRAS)]'
	touch $@

demo: $(VENV)/.demo-installed
	$(VENV)/bin/updatable demo $(DEMO_ARGS)

test: $(VENV)/.test-installed
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest $(PYTEST_ARGS)

# The same suite on Python 3.13 in its own venv, with the extras that have 3.13 wheels on
# every platform: no torch here (its parity tests skip), and plain onnxruntime instead of
# onnxruntime-training (the ORT training tests skip; export and inference run).
test-py313:
	@test -n "$(PYTHON313)" || { echo "make test-py313: no Python 3.13 found (looked for \
	pyenv's versions/3.13*/bin/python and python3.13 on PATH); install one or pass \
	PYTHON313=/path/to/python3.13" >&2; exit 1; }
	$(MAKE) test PYTHON='$(PYTHON313)' VENV=.venv313 TEST_EXTRAS=test,demo TORCH=

# Builds the sdist and, from it, the wheel; installs the wheel into a new venv in a temporary
# directory and runs `updatable` from there (tests/test_wheel.py).
test-wheel: $(VENV)/.test-installed
	$(PY) -m pytest -m wheel -p no:cacheprovider tests/test_wheel.py

# The tests of results promised bit-identical (batch split, thread count, feature cache,
# resume, sweep executors), once under each OpenBLAS core type this CPU can execute and once
# with OpenBLAS's own choice: a result that depended on the BLAS kernel would fail here.
REPRODUCIBILITY_TESTS := tests/test_reproducibility.py tests/test_parallel.py \
	tests/test_feature_cache.py tests/test_session_resume.py tests/test_sweep_executors.py

test-reproducibility: $(VENV)/.test-installed
	@for core in default $$(sh .ci/openblas-core-types); do \
		echo "== OPENBLAS_CORETYPE=$$core"; \
		if [ $$core = default ]; then set -- env -u OPENBLAS_CORETYPE; \
		else set -- env OPENBLAS_CORETYPE=$$core; fi; \
		"$$@" OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q $(REPRODUCIBILITY_TESTS) \
			-k "not vector_width" || exit 1; \
	done

# coremltools' scikit-learn converters need scikit-learn <= 1.5.1 (and numpy < 2.4 for gradient
# boosting), older than the main test environment's: their tests (tests/test_sklearn_pipelines.py,
# which skip elsewhere) run in a venv of their own. SKLEARN_PYTHON must be 3.9-3.12 (1.5.1's
# wheels).
SKLEARN_PYTHON ?= $(PYTHON)
SKLEARN_VENV ?= .venv-sklearn
SKLEARN_PINS ?= 'scikit-learn==1.5.1' 'numpy<2.4'

$(SKLEARN_VENV)/.installed: pyproject.toml
	$(SKLEARN_PYTHON) -c 'import sys; assert (3, 9) <= sys.version_info[:2] <= (3, 12), \
		"make test-sklearn: scikit-learn 1.5.1 needs Python 3.9-3.12; pass SKLEARN_PYTHON"'
	$(SKLEARN_PYTHON) -m venv $(SKLEARN_VENV)
	$(SKLEARN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		$(SKLEARN_PINS) pytest -e .
	touch $@

test-sklearn: $(SKLEARN_VENV)/.installed
	OPENBLAS_NUM_THREADS=1 $(SKLEARN_VENV)/bin/python -m pytest -q -p no:cacheprovider \
		tests/test_sklearn_pipelines.py

test-slow: $(VENV)/.test-installed
	$(PY) -m pytest -m slow

# Rewrites benchmarks/*.txt; benchmarks/RESULTS.md explains each figure.
bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -c
bench: $(VENV)/.test-installed
	$(PY) scripts/bench_forward.py --rounds 10 | tee benchmarks/forward.txt
	$(PY) scripts/bench_update_task.py --rounds 5 | tee benchmarks/update_task.txt
	$(PY) scripts/bench_ort.py --epochs 3 --rounds 3 | tee benchmarks/ort.txt
	$(PY) scripts/bench_session.py --rounds 3 | tee benchmarks/session.txt
	$(PY) scripts/bench_knn.py | tee benchmarks/knn.txt
	$(PY) scripts/bench_sweep.py | tee benchmarks/sweep.txt

# The API reference of the public names, generated from their docstrings by pdoc into
# build/api/ (open build/api/index.html). Every public name is imported to document it, and a
# module that fails to import fails the build (pdoc reports it as a RuntimeWarning).
DOCS_MODULES := runtime runtime.ort runtime.sweeps updatable

$(VENV)/.docs-installed: pyproject.toml | $(PY)
	$(PIP) -e '.[docs,ort]'
	touch $@

docs: $(VENV)/.docs-installed
	rm -rf build/api
	OPENBLAS_NUM_THREADS=1 $(PY) -W error::RuntimeWarning -m pdoc -o build/api $(DOCS_MODULES)
	@echo "wrote build/api/index.html"

# ruff's lint rules, ruff's format (line length 100) and mypy (pyproject's [tool.mypy]: strict on
# updatable/); the tools come with the lint extra.
LINT_PATHS := updatable runtime scripts tests

$(VENV)/.lint-installed: pyproject.toml | $(PY)
	$(PIP) -e '.[lint]'
	touch $@

lint: $(VENV)/.lint-installed
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .venv313 $(SKLEARN_VENV) build dist *.egg-info .pytest_cache
