"""The machine a benchmark ran on, printed above its figures, and its float32 GEMM peak.

``describe()`` gives the lines of the header: the CPU model and its vector features (AVX2,
FMA, AVX-512), numpy's BLAS with the core type OpenBLAS selected at run time, every
``OPENBLAS_*`` variable in effect, the vector width the runtime's micro-kernel was compiled
for, and a warning for each way the environment makes a kernel narrower than the CPU:
``OPENBLAS_CORETYPE`` naming an older core (numpy's GEMM then runs at half the CPU's width on
an AVX-512 machine; the runtime's products do not use BLAS and are unaffected) or numba
compiling for a narrower target (``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``).

``peaks(threads)`` measures a large square float32 GEMM both through numpy's BLAS and through
the runtime's own micro-kernel (``runtime.kernels.matmul``, rows split over ``threads``
threads, each a single-threaded call without the GIL), so that "% of peak" in the benchmarks
is measured against the best the machine runs, not only against numpy's default.
"""

from __future__ import annotations

import ctypes
import importlib
import itertools
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np

VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f")
# OpenBLAS core names (lower case) whose kernels use 256-bit or 128-bit vectors at most
_CORE_BITS = {
    "haswell": 256, "zen": 256, "skylake": 256, "sandybridge": 256, "excavator": 256,
    "nehalem": 128, "core2": 128, "penryn": 128, "prescott": 128, "atom": 128,
    "barcelona": 128, "bulldozer": 128, "piledriver": 128, "steamroller": 128,
}  # fmt: skip
_CORENAME_SYMBOLS = (
    "scipy_openblas_get_corename64_",
    "openblas_get_corename64_",
    "scipy_openblas_get_corename",
    "openblas_get_corename",
)


def cpu_model_and_flags() -> tuple[str, list[str]]:
    """The CPU's model name and which of ``VECTOR_FLAGS`` it has (Linux ``/proc/cpuinfo``)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            model = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
            break
    return model, [flag for flag in VECTOR_FLAGS if flag in flags]


def openblas_core() -> str | None:
    """The core type OpenBLAS selected at run time (``None`` for another BLAS)."""
    for module_name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            library = ctypes.CDLL(importlib.import_module(module_name).__file__)
        except (ImportError, OSError, AttributeError, TypeError):
            continue
        for symbol in _CORENAME_SYMBOLS:
            if hasattr(library, symbol):
                function = getattr(library, symbol)
                function.restype = ctypes.c_char_p
                return function().decode()
    return None


def _blas_name() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (TypeError, KeyError, AttributeError):
        return "unknown"


def describe() -> list[str]:
    """Header lines (module docstring), warnings last, each starting with ``WARNING``."""
    from runtime.kernels import microkernel

    model, flags = cpu_model_and_flags()
    core = openblas_core()
    variables = {k: v for k, v in sorted(os.environ.items()) if k.startswith("OPENBLAS_")}
    lines = [
        f"CPU: {model}, {os.cpu_count()} logical CPUs; vector features: "
        f"{', '.join(flags) or 'none reported'}",
        f"numpy {np.__version__}, BLAS {_blas_name()}, OpenBLAS core type in use: "
        f"{core or 'n/a (not OpenBLAS)'}",
        "OPENBLAS_* in effect: " + (", ".join(f"{k}={v}" for k, v in variables.items()) or "none"),
        f"runtime micro-kernel: {microkernel.W} float lanes ({32 * microkernel.W} bits), "
        f"blocks {microkernel.MR}x{microkernel.NR} and {microkernel.MR_NARROW}x{microkernel.W}",
    ]
    cpu_bits = 512 if "avx512f" in flags else 256 if "avx" in flags else 128
    core_bits = _CORE_BITS.get((core or "").lower())
    if core_bits is not None and core_bits < cpu_bits:
        forced = "OPENBLAS_CORETYPE" in variables
        lines.append(
            f"WARNING: OpenBLAS runs its {core} kernels ({core_bits}-bit) on a CPU with "
            f"{cpu_bits}-bit vectors{' (forced by OPENBLAS_CORETYPE)' if forced else ''}: "
            "numpy's GEMM runs narrower than the CPU allows (the runtime's products do not "
            "use BLAS)"
        )
    if 32 * microkernel.W < cpu_bits:
        lines.append(
            f"WARNING: numba compiles for {32 * microkernel.W}-bit vectors on a CPU with "
            f"{cpu_bits}-bit ones (NUMBA_CPU_NAME / NUMBA_CPU_FEATURES): the runtime's "
            "kernels run narrower than the CPU allows"
        )
    return lines


def _best_seconds(run, repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def peaks(threads: int = 2, size: int = 2048, repeats: int = 6) -> dict[str, float]:
    """GFLOP/s of a float32 ``size x size`` product: ``numpy`` (BLAS with its configured
    threads), ``micro-kernel`` (ours over ``threads`` threads) and the ``best`` of both."""
    from runtime.kernels.matmul import matmul_into

    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    out = np.empty_like(a)
    flop = 2 * size**3 / 1e9
    numpy_peak = flop / _best_seconds(lambda: np.matmul(a, a, out=out), repeats)
    bounds = np.linspace(0, size, threads + 1).astype(int)

    def ours():
        workers = [
            threading.Thread(target=matmul_into, args=(a[lo:hi], a, out[lo:hi]))
            for lo, hi in itertools.pairwise(bounds)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    kernel_peak = flop / _best_seconds(ours, repeats)
    return {
        "numpy": numpy_peak,
        "micro-kernel": kernel_peak,
        "best": max(numpy_peak, kernel_peak),
    }


def peak_line(found: dict[str, float], threads: int = 2) -> str:
    return (
        f"float32 GEMM peak, 2048x2048, {threads} threads: numpy {found['numpy']:.0f} GFLOP/s, "
        f"runtime micro-kernel {found['micro-kernel']:.0f} GFLOP/s; % of peak below is of "
        f"the best, {found['best']:.0f}"
    )
