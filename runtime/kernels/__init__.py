"""Runtime, kernels layer: kernel registry: every numba kernel and its numpy twin, by name.

Each kernel module defines ``JIT`` and ``NUMPY`` dicts with identical keys and signatures.
``MODULES`` lists them explicitly; ``pairs()`` yields ``(name, jit, numpy)`` for parity tests.
"""

from __future__ import annotations

import importlib

MODULES: tuple[str, ...] = (
    "runtime.kernels.conv",
    "runtime.kernels.gemm",
    "runtime.kernels.matmul",
    "runtime.kernels.elementwise",
    "runtime.kernels.pool",
    "runtime.kernels.window_max",
    "runtime.kernels.softmax",
    "runtime.kernels.special",
    "runtime.kernels.optim",
    "runtime.kernels.knn",
    "runtime.kernels.kdtree",
    "runtime.kernels.digest",
)


def pairs():
    """Yield ``(qualified_name, jit_function, numpy_function)`` for every kernel."""
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        assert module.JIT.keys() == module.NUMPY.keys(), module_name
        for key in module.JIT:
            yield f"{module_name.rsplit('.', 1)[-1]}.{key}", module.JIT[key], module.NUMPY[key]
