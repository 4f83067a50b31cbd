"""Runtime, neural-network layer: Core ML ``constantPad`` layer: pad any axes of an N-D tensor with
a constant.

``ConstantPaddingLayerParams`` (NeuralNetwork.proto, Core ML 3): ``padAmounts`` (or the
values of a second input) holds two numbers per axis of the first input, ``[before_0,
after_0, before_1, after_1, ...]``, its length twice the rank::

    y.shape[i] = x.shape[i] + before_i + after_i,    y = value outside x

With ``padToGivenOutputSizeMode`` the numbers are output sizes instead, at most one
non-zero per axis: ``y.shape[i] = max(x.shape[i], before_i or after_i)``, the padding on the
side that names the size (before when ``before_i`` is set).

Reading of what the proto leaves open: amounts given as a second input must be known when
the model loads (computed from constants), since the runtime compiles static shapes; a
second input fed by the data is refused. Values are rounded down to whole numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class ConstantPadAttrs:
    widths: tuple[tuple[int, int], ...]  # (before, after) per array axis, the example axis first
    value: float


def _amounts(layer, values) -> list[int]:
    if len(layer.input) == 2:
        if values[1] is None:
            raise UnsupportedLayerError(
                f"{where(layer)}: its pad amounts (input '{layer.input[1]}') depend on the model "
                "inputs; the runtime compiles static shapes and pads by amounts known at load"
            )
        return [int(np.floor(v)) for v in np.asarray(values[1]).ravel()]
    return [int(v) for v in layer.constantPad.padAmounts]


def widths(layer, amounts: list[int], shape, to_size: bool) -> list[tuple[int, int]]:
    """``(before, after)`` per Core ML axis (module docstring)."""
    if len(amounts) != 2 * len(shape) or any(a < 0 for a in amounts):
        raise ShapeError(
            f"{where(layer)}: padAmounts {amounts} must hold 2 non-negative numbers per axis of "
            f"the input, shape {list(shape)}: {2 * len(shape)} numbers"
        )
    pairs = list(zip(amounts[::2], amounts[1::2], strict=True))
    if not to_size:
        return pairs
    if any(before and after for before, after in pairs):
        raise ShapeError(
            f"{where(layer)}: with padToGivenOutputSizeMode, at most one of each "
            f"axis' two padAmounts may be non-zero; got {amounts}"
        )
    return [
        (max(0, before - size) if before else 0, max(0, after - size) if after else 0)
        for (before, after), size in zip(pairs, shape, strict=True)
    ]


def build(layer, in_shapes: list[CoreMLShape], values=None) -> Built:
    input_count(layer, in_shapes, 1, 2)
    shape = tuple(in_shapes[0])
    params = layer.constantPad
    pairs = widths(
        layer, _amounts(layer, values or [None, None]), shape, params.padToGivenOutputSizeMode
    )
    out = tuple(size + before + after for size, (before, after) in zip(shape, pairs, strict=True))
    return Built(ConstantPadAttrs(((0, 0), *pairs), float(params.value)), {}, [out])


def forward(attrs: ConstantPadAttrs, params, xs, keep=False, out=None):
    """``numpy.pad`` with the constant (module docstring); the example axis is not padded."""
    del params, keep, out
    return [np.pad(xs[0], attrs.widths, constant_values=attrs.value)], None


KIND = LayerKind("constantPad", build, forward, layouts=(ND,), value_inputs=(1,))
