"""What the runtime promises to be bit-identical, and the tolerance it promises across machines
(docs/reproducibility.md).

On one machine: every float32 product element is the same whatever the rows around it, so a
forward pass gives the same bits in any number of chunks, and training gives the same bits
with any BLAS thread count or BLAS kernel (CI runs this module, with the other bit-identity
tests, under several ``OPENBLAS_CORETYPE`` values: ``make test-reproducibility``). Across
machines: products are the same bits for any vector width (checked here by compiling the
kernels for a narrower CPU in a subprocess); the rest of the arithmetic (``exp``, ``tanh``...)
may differ in the last bit, so trained weights agree to the promised ``rtol = 1e-5``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import runtime
import updatable
from runtime.kernels import blas, microkernel, parallel
from runtime.kernels.jit import is_compiled
from runtime.kernels.matmul import matmul_into
from runtime.nn.graph import compile_network
from tests import builders
from tests.test_session_fixtures import provider, run

ROOT = Path(__file__).resolve().parents[1]
TRAINED = ("conv2", "dense_1", "dense_2")
CROSS_MACHINE_RTOL = 1e-5

pytestmark = pytest.mark.skipif(
    not is_compiled(matmul_into), reason="the reproducible products are compiled numba kernels"
)


@pytest.fixture(autouse=True)
def _policy_restored():
    yield
    parallel.configure(None)


def _product_cases(seed: int, count: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        m, n = int(rng.integers(1, 50)), int(rng.integers(1, 80))
        k = int(rng.choice([1, 5, 27, int(rng.integers(1, 1153))]))
        a = rng.standard_normal((m, k)).astype(np.float32)
        if rng.integers(0, 2):
            a = np.ascontiguousarray(a.T).T
        yield a, rng.standard_normal((k, n)).astype(np.float32), rng


def test_each_product_element_is_independent_of_the_rows_around_it():
    for a, b, rng in _product_cases(seed=3, count=60):
        whole = np.empty((a.shape[0], b.shape[1]), np.float32)
        matmul_into(a, b, whole)
        cuts = sorted(int(c) for c in rng.integers(0, a.shape[0] + 1, 3))
        pieces = np.empty_like(whole)
        for lo, hi in zip([0, *cuts], [*cuts, a.shape[0]], strict=True):
            matmul_into(a[lo:hi], b, pieces[lo:hi])
        np.testing.assert_array_equal(pieces, whole)
        row = int(rng.integers(0, a.shape[0]))
        alone = np.empty((1, b.shape[1]), np.float32)
        matmul_into(a[row : row + 1], b, alone)
        np.testing.assert_array_equal(alone[0], whole[row])
        column = int(rng.integers(0, b.shape[1]))  # a column alone: another block edge
        narrow = np.empty((a.shape[0], 1), np.float32)
        matmul_into(a, np.ascontiguousarray(b[:, column : column + 1]), narrow)
        np.testing.assert_array_equal(narrow[:, 0], whole[:, column])


@pytest.mark.parametrize("chunks", [2, 3, 7])
def test_a_forward_pass_gives_the_same_bits_in_any_number_of_chunks(chunks):
    network = compile_network(builders.fire_net())
    x = np.random.default_rng(0).standard_normal((7, 17, 17, 3)).astype(np.float32)
    parallel.configure(1)
    serial = network.run({"data": x}, outputs=["fire", "probs"])
    parallel.configure(chunks)
    split = network.run({"data": x}, outputs=["fire", "probs"])
    for name in serial:
        np.testing.assert_array_equal(split[name], serial[name], err_msg=name)


def _trained_weights(spec) -> dict[str, np.ndarray]:
    layers = {layer.name: layer for layer in spec.neuralNetworkClassifier.layers}
    weights = {}
    for name in TRAINED:
        params = getattr(layers[name], layers[name].WhichOneof("layer"))
        weights[name] = np.asarray(params.weights.floatValue, np.float32)
        weights[f"{name}/bias"] = np.asarray(params.bias.floatValue, np.float32)
    return weights


def _train_two_epochs() -> dict[str, np.ndarray]:
    spec = builders.updatable_mnist(layers=TRAINED, lr=0.05, batch=8, epochs=2)
    updatable.set_shuffle(spec, True, seed=7)
    params = runtime.TrainingSessionParameters(report_interval=1, iterations=2)
    result, _ = run(spec, provider(), params=params, feature_cache=False)
    return _trained_weights(result.spec)


def test_training_gives_the_same_bits_with_any_blas_thread_count_or_chunking():
    control = blas.thread_control()
    if control is None:
        pytest.skip("numpy's BLAS is not an OpenBLAS whose thread count can be set")
    set_threads, get_threads = control
    before = get_threads()
    results = []
    try:
        for threads, chunks in ((1, 1), (2, 1), (2, 2)):
            set_threads(threads)
            parallel.configure(chunks)
            results.append(_train_two_epochs())
    finally:
        set_threads(before)
    for other in results[1:]:
        for name, value in results[0].items():
            np.testing.assert_array_equal(other[name], value, err_msg=name)


# ---- across machines: the kernels compiled for a narrower CPU, in a subprocess -------------

_CHILD = """
import json, sys
import numpy as np
from runtime.kernels import microkernel
from runtime.kernels.matmul import matmul_into
from tests.test_reproducibility import _product_cases, _train_two_epochs
products = []
for a, b, _ in _product_cases(seed=5, count=20):
    out = np.empty((a.shape[0], b.shape[1]), np.float32)
    matmul_into(a, b, out)
    products.append(out.tolist())
weights = {k: v.tolist() for k, v in _train_two_epochs().items()}
json.dump({"width": microkernel.W, "products": products, "weights": weights}, sys.stdout)
"""


def _narrower_cpu() -> str:
    # AVX2 (8 lanes) under an AVX-512 host; SSE only (4 lanes, no hardware fma) otherwise
    return "haswell" if microkernel.W == 16 else "x86-64"


@pytest.mark.skipif(
    microkernel.W == 4, reason="the narrower target is an x86 CPU name; this host is not x86"
)
def test_products_are_the_same_bits_for_any_vector_width_and_weights_agree(tmp_path):
    env = {**os.environ, "NUMBA_CPU_NAME": _narrower_cpu(), "NUMBA_CACHE_DIR": str(tmp_path)}
    env.pop("NUMBA_CPU_FEATURES", None)
    child = subprocess.run(
        [sys.executable, "-c", _CHILD], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert child.returncode == 0, child.stderr[-3000:]
    narrow = json.loads(child.stdout)
    assert narrow["width"] < microkernel.W
    for (a, b, _), theirs in zip(_product_cases(seed=5, count=20), narrow["products"], strict=True):
        ours = np.empty((a.shape[0], b.shape[1]), np.float32)
        matmul_into(a, b, ours)
        np.testing.assert_array_equal(np.asarray(theirs, np.float32), ours)
    for name, value in _train_two_epochs().items():
        theirs = np.asarray(narrow["weights"][name], np.float32)
        np.testing.assert_allclose(theirs, value, rtol=CROSS_MACHINE_RTOL, atol=1e-7, err_msg=name)
