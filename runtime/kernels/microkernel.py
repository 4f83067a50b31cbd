"""Runtime, kernels layer: the float32 GEMM micro-kernel, one register-blocked ``MR x NR``
block of ``C = A B``, emitted as LLVM vector IR from numba.

``tile(a, a_rs, a_ks, b, b_ks, k_size, c, ldc, accumulate)`` (addresses and element strides)
computes::

    C[r, j] = fma(A[r, k], B[k, j], C[r, j])    for k = 0, 1, ..., k_size - 1

starting from ``C = 0``, or from C's current values when ``accumulate`` is not 0 (the next
block of K continuing the same chains: the float32 value stored between two blocks is the
value the register held, so a chain split over K blocks is the same chain),
for ``r < MR`` and ``j < NR``, with ``A[r, k]`` at ``a + r*a_rs + k*a_ks``, ``B[k, j]`` at
``b + k*b_ks + j`` and ``C[r, j]`` at ``c + r*ldc + j``. The ``MR x NR`` accumulators live
in vector registers for the whole ``k`` loop; per step it loads ``NR`` values of ``B``,
broadcasts ``MR`` values of ``A`` and issues ``MR * NR / W`` fused multiply-adds.

Why an element is reproducible by construction: it is one chain of correctly rounded
``fma`` operations over ``k`` in order, which depends only on its row of ``A``, its column of
``B`` and ``k_size``, never on where the block sits in the matrix, how many rows the call
has, which thread runs it, the vector width of the machine, or which BLAS is installed
(docs/reproducibility.md). ``llvm.fma`` is exact on every target: where
the CPU has no fused multiply-add, LLVM calls the C library's ``fmaf``.

Why IR and not numba loops: written as nested loops, LLVM unrolls the constant column loop
first and then vectorizes the row loop with gathers and scatters, keeping the accumulators
in memory (measured 2.5 GFLOP/s on one core against OpenBLAS's 80). Emitting the vector
loop directly gives 95-110 GFLOP/s on one Zen 4 core for K = 16..1152.

Block shape, chosen from the features numba compiles for (``numba.config.CPU_FEATURES``, or
the host's): ``W`` = 16 float lanes with AVX-512 (32 vector registers), 8 with AVX/AVX2 (16
registers), 4 elsewhere (NEON, SSE); ``MR = 6`` rows and ``NR = 2*W`` columns (``4*W`` for
``W = 4``), so the ``MR * NR / W`` accumulators, the ``B`` vectors and a broadcast fit in the
register file.
"""

from __future__ import annotations

import platform

from runtime.kernels.jit import HAVE_NUMBA


def _vector_width() -> int:
    """Float lanes per vector register of the target numba compiles for (see module doc)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return 4
    if not HAVE_NUMBA:
        return 8
    from numba.core import config

    # numba sets these from NUMBA_CPU_NAME / NUMBA_CPU_FEATURES at import; its config module
    # declares them only at run time, so a type checker cannot see them
    features = getattr(config, "CPU_FEATURES", None) or ""
    if not getattr(config, "CPU_NAME", None) and not features:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features().flatten()
    return 16 if "+avx512f" in features else 8


W = _vector_width()
NV = 4 if W == 4 else 2  # vectors per row of the block
MR = 6
NR = NV * W


class _Emitter:
    """Emits the IR of one block at ``builder``. ``rows``/``cols`` are ``None`` for a whole
    ``MR x NR`` block, or IR values for a ragged one: block rows past ``rows`` re-read the last
    valid row of ``A`` and are not stored, columns past ``cols`` load zeros from ``B`` and are
    not stored, and the lanes that are kept compute exactly the same chains."""

    def __init__(self, builder, rows=None, cols=None):
        from llvmlite import ir

        self.ir, self.builder = ir, builder
        self.f32, self.i64, self.i32 = ir.FloatType(), ir.IntType(64), ir.IntType(32)
        self.vec = ir.VectorType(self.f32, W)
        self.mask_type = ir.VectorType(ir.IntType(1), W)
        self.rows, self.cols = rows, cols
        self.masks = None if cols is None else [self._lane_mask(j) for j in range(NV)]

    def constant(self, value: int):
        return self.ir.Constant(self.i64, value)

    def splat(self, value, vector_type):
        """``value`` in every lane of a ``vector_type`` vector."""
        ir, builder = self.ir, self.builder
        single = builder.insert_element(ir.Constant(vector_type, None), value, self._lane(0))
        zeros = ir.Constant(ir.VectorType(self.i32, W), [0] * W)
        return builder.shuffle_vector(single, ir.Constant(vector_type, None), zeros)

    def _lane(self, index: int):
        return self.ir.Constant(self.i32, index)

    def _intrinsic(self, name: str, returns, arguments):
        module = self.builder.module
        found = module.globals.get(name)
        return found or self.ir.Function(module, self.ir.FunctionType(returns, arguments), name)

    def _lane_mask(self, j: int):
        # lane l of vector j is column j*W + l: kept when it is below ``cols``
        columns = self.ir.VectorType(self.i64, W)
        lanes = self.ir.Constant(columns, [j * W + lane for lane in range(W)])
        return self.builder.icmp_signed("<", lanes, self.splat(self.cols, columns))

    def _vector_pointer(self, base, offset):
        return self.builder.bitcast(self.builder.gep(base, [offset]), self.vec.as_pointer())

    def fma(self, a, b, accumulator):
        function = self._intrinsic(f"llvm.fma.v{W}f32", self.vec, [self.vec] * 3)
        return self.builder.call(function, [a, b, accumulator])

    def load(self, base, offset, j: int):
        """Vector ``j`` of a block row at ``base + offset`` (masked columns read as 0)."""
        pointer = self._vector_pointer(base, offset)
        if self.masks is None:
            return self.builder.load(pointer, align=4)
        arguments = [self.vec.as_pointer(), self.i32, self.mask_type, self.vec]
        load = self._intrinsic(f"llvm.masked.load.v{W}f32.p0", self.vec, arguments)
        zeros = self.ir.Constant(self.vec, [0.0] * W)
        return self.builder.call(load, [pointer, self._lane(4), self.masks[j], zeros])

    def a_row(self, r: int):
        """The row of ``A`` that block row ``r`` reads (the last valid one past ``rows``)."""
        if self.rows is None:
            return self.constant(r)
        builder = self.builder
        inside = builder.icmp_signed("<", self.constant(r), self.rows)
        return builder.select(inside, self.constant(r), builder.sub(self.rows, self.constant(1)))

    def store(self, value, base, offset, r: int, j: int):
        builder = self.builder
        pointer = self._vector_pointer(base, offset)
        if self.masks is None:
            builder.store(value, pointer, align=4)
            return
        arguments = [self.vec, self.vec.as_pointer(), self.i32, self.mask_type]
        store = self._intrinsic(f"llvm.masked.store.v{W}f32.p0", self.ir.VoidType(), arguments)
        with builder.if_then(builder.icmp_signed("<", self.constant(r), self.rows)):
            builder.call(store, [value, pointer, self._lane(4), self.masks[j]])


def _starting_values(emit, c, ldc, accumulate):
    """Per block element, the chain's start: C's current value when ``accumulate`` is not 0
    (a block of K continuing a chain), else 0; C is read only when accumulating."""
    builder, zero = emit.builder, emit.ir.Constant(emit.vec, [0.0] * W)
    entry = builder.block
    with builder.if_then(builder.icmp_signed("!=", accumulate, emit.constant(0))):
        loaded = [
            [emit.load(c, _c_offset(emit, ldc, emit.a_row(r), j), j) for j in range(NV)]
            for r in range(MR)
        ]
        loaded_in = builder.block
    starts = []
    for r in range(MR):
        row = []
        for j in range(NV):
            start = builder.phi(emit.vec)
            start.add_incoming(loaded[r][j], loaded_in)
            start.add_incoming(zero, entry)
            row.append(start)
        starts.append(row)
    return starts


def _c_offset(emit, ldc, row, j: int):
    return emit.builder.add(emit.builder.mul(row, ldc), emit.constant(j * W))


def _emit_tile(context, builder, args, ragged: bool):
    """LLVM IR of one block (the module docstring's loop), at ``builder``."""
    a_addr, a_rs, a_ks, b_addr, b_ks, k_size, c_addr, ldc = args[:8]
    emit = _Emitter(builder, *(args[8:10] if ragged else ()))
    pointer = emit.f32.as_pointer()
    a, b, c = (builder.inttoptr(address, pointer) for address in (a_addr, b_addr, c_addr))
    a_rows = [builder.mul(emit.a_row(r), a_rs) for r in range(MR)]
    starts = _starting_values(emit, c, ldc, args[-1])
    entry = builder.block
    header, body, done = (builder.function.append_basic_block(f"tile.{n}") for n in "hbd")
    builder.branch(header)

    builder.position_at_end(header)
    k = builder.phi(emit.i64)
    k.add_incoming(emit.constant(0), entry)
    accumulators = [[builder.phi(emit.vec) for _ in range(NV)] for _ in range(MR)]
    for r in range(MR):
        for j in range(NV):
            accumulators[r][j].add_incoming(starts[r][j], entry)
    builder.cbranch(builder.icmp_signed("<", k, k_size), body, done)

    builder.position_at_end(body)
    b_row, a_column = builder.mul(k, b_ks), builder.mul(k, a_ks)
    b_vectors = [emit.load(b, builder.add(b_row, emit.constant(j * W)), j) for j in range(NV)]
    for r in range(MR):
        a_value = builder.load(builder.gep(a, [builder.add(a_rows[r], a_column)]), align=4)
        broadcast = emit.splat(a_value, emit.vec)
        for j in range(NV):
            accumulators[r][j].add_incoming(
                emit.fma(broadcast, b_vectors[j], accumulators[r][j]), builder.block
            )
    k.add_incoming(builder.add(k, emit.constant(1)), builder.block)
    builder.branch(header)

    builder.position_at_end(done)
    for r in range(MR):
        for j in range(NV):
            emit.store(accumulators[r][j], c, _c_offset(emit, ldc, emit.constant(r), j), r, j)
    return context.get_dummy_value()


def _make_tiles():
    from numba import types
    from numba.extending import intrinsic

    def typed(count: int, ragged: bool):
        def codegen(context, builder, sig, values):
            del sig
            return _emit_tile(context, builder, values, ragged)

        return types.void(*([types.intp] * count)), codegen

    @intrinsic
    def tile(typingctx, a, a_rs, a_ks, b, b_ks, k_size, c, ldc, accumulate):
        del typingctx, a, a_rs, a_ks, b, b_ks, k_size, c, ldc, accumulate
        return typed(9, ragged=False)

    @intrinsic
    def ragged_tile(typingctx, a, a_rs, a_ks, b, b_ks, k_size, c, ldc, rows, cols, accumulate):
        del typingctx, a, a_rs, a_ks, b, b_ks, k_size, c, ldc, rows, cols, accumulate
        return typed(11, ragged=True)

    return tile, ragged_tile


# tile(a, a_rs, a_ks, b, b_ks, k_size, c, ldc, accumulate): a whole MR x NR block;
# ragged_tile(a, ..., ldc, rows, cols, accumulate): its first ``rows`` rows and ``cols`` columns
tile, ragged_tile = _make_tiles() if HAVE_NUMBA else (None, None)
