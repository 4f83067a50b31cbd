"""Runtime, neural-network layer: tensors and weights of Core ML's recurrent layers, shared by
simpleRecurrent, gru, uniDirectionalLSTM and biDirectionalLSTM.

Input (NeuralNetwork.proto, "Recurrent Layers"): a rank-5 tensor ``[Seq, Batch,
inputVectorSize, 1, 1]``, held ``nd`` as ``(N, Seq, Batch, D, 1, 1)``. The ``N * Batch``
sequences of a run are independent, so the kernels see ``(Seq, M, D)`` with ``M = N *
Batch`` rows per step, and write ``(Seq or 1, M, H)`` back as ``[Seq or 1, Batch, H, 1, 1]``.

Initial states are read by their values, not their shape: a state input holds ``Batch *
outputVectorSize`` values per example, ``Batch``-major. Converters write ``[1, Batch, H, 1,
1]`` (Keras, and coremltools for LSTMs) but also ``[1, H, 1, 1, 1]`` (coremltools' torch
frontend for ``nn.RNN``'s ``h0``: the hidden values on the Batch axis); both are ``Batch *
H`` values, which is what a layer that reads a flat buffer sees. A state input left out
(the layer lists fewer inputs) is zeros.
"""

from __future__ import annotations

import math

import numpy as np

from updatable.errors import ShapeError

from ._common import weight_array, where
from .base import CoreMLShape


def sequence_shape(layer, shape: CoreMLShape, input_size: int) -> tuple[int, int]:
    """``(Seq, Batch)`` of a recurrent layer's input ``[Seq, Batch, input_size, 1, 1]``."""
    shape = tuple(shape)
    if len(shape) != 5 or shape[2:] != (input_size, 1, 1):
        raise ShapeError(
            f"{where(layer)}: the input must have shape [Seq, Batch, inputVectorSize = "
            f"{input_size}, 1, 1] (rank 5); got {list(shape)}"
        )
    return shape[0], shape[1]


def check_state(layer, shape: CoreMLShape, batch: int, hidden: int, what: str) -> None:
    """Refuse a state input that does not hold ``batch * hidden`` values (module docstring)."""
    if math.prod(shape) != batch * hidden:
        raise ShapeError(
            f"{where(layer)}: {what} must hold Batch * outputVectorSize = {batch} * {hidden} "
            f"values, as [1, {batch}, {hidden}, 1, 1]; got shape {list(shape)}"
        )


def check_counts(layer, in_shapes, low: int, high: int, outputs: int) -> None:
    """Core ML's input and output counts of a recurrent layer (its validator's)."""
    if not low <= len(in_shapes) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise ShapeError(f"{where(layer)}: takes {expected} inputs; got {len(in_shapes)}")
    if len(layer.output) != outputs:
        raise ShapeError(
            f"{where(layer)}: produces {outputs} outputs; the layer names {len(layer.output)}"
        )


def matrix(layer, field: str, weights, rows: int, cols: int) -> np.ndarray:
    """A row-major ``[rows, cols]`` Core ML matrix, transposed to ``(cols, rows)``: the
    runtime multiplies rows of inputs from the left (``x @ W``)."""
    return weight_array(layer, field, weights, rows * cols).reshape(rows, cols).T


def vector(layer, field: str, weights, size: int) -> np.ndarray:
    return weight_array(layer, field, weights, size)


def to_steps(x: np.ndarray) -> np.ndarray:
    """``(N, Seq, Batch, D, 1, 1)`` -> contiguous ``(Seq, N * Batch, D)``."""
    n, seq, batch, size = x.shape[:4]
    return np.ascontiguousarray(x.reshape(n, seq, batch, size).transpose(1, 0, 2, 3)).reshape(
        seq, n * batch, size
    )


def from_steps(y: np.ndarray, n: int) -> np.ndarray:
    """``(Seq, N * Batch, H)`` -> contiguous ``(N, Seq, Batch, H, 1, 1)``."""
    seq, rows, hidden = y.shape
    grouped = y.reshape(seq, n, rows // n, hidden).transpose(1, 0, 2, 3)
    return np.ascontiguousarray(grouped).reshape(n, seq, rows // n, hidden, 1, 1)


def state_rows(xs: list, index: int, rows: int, hidden: int, dtype) -> np.ndarray:
    """Initial state ``index`` as ``(N * Batch, H)`` rows, zeros when not an input."""
    if index >= len(xs) or xs[index] is None:
        return np.zeros((rows, hidden), dtype)
    return np.ascontiguousarray(xs[index], dtype=dtype).reshape(rows, hidden)


def state_blob(rows: np.ndarray, n: int) -> np.ndarray:
    """``(N * Batch, H)`` -> the ``(N, 1, Batch, H, 1, 1)`` blob of a final state."""
    return from_steps(rows[None], n)
