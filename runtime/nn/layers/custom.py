"""Runtime, neural-network layer: Core ML ``custom`` layer: a layer the app implements.

``CustomLayerParams`` (NeuralNetwork.proto): ``className`` names the class that implements the
layer (on a device, a class conforming to ``MLCustomLayer`` that the app ships), with
``weights`` (``WeightParams``) and ``parameters`` (a map of double / string / int / long /
bool values). No code travels with the model, so the runtime refuses a custom layer
(``UnsupportedLayerError`` naming its class) unless the program has registered a Python
implementation for that class name with :func:`register_custom_layer`, as an app registers
its class; the implementation is looked up when the model loads.

The implementation's ``forward(inputs, *, weights, parameters)`` gets the batch: one array
``(N, *shape)`` per input, ``shape`` being the Core ML tensor shape of one prediction (``[C,
H, W]``-style rank 5 in old networks, the N-D shape otherwise), float32, Core ML's element
order; ``weights`` (one array per ``WeightParams``: float32 for float values, the bytes as
uint8 for ``rawValue``) and ``parameters`` (``dict``). It returns one array (or a list, one
per output) of ``(N, *out_shape)``. ``output_shapes(input_shapes, parameters)`` gives the
output shapes, like ``MLCustomLayer.outputShapes(forInputShapes:)``; without it the runtime
calls ``forward`` once, at load, on one example of zeros to learn them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where
from .base import ND, Built, CoreMLShape, LayerKind

_IMPLEMENTATIONS: dict[str, tuple[Callable, Callable | None]] = {}


def register_custom_layer(
    class_name: str, forward: Callable, *, output_shapes: Callable | None = None
) -> None:
    """Run Core ML custom layers of class ``class_name`` with ``forward`` in models loaded
    from now on (a model loaded earlier keeps what it found). Registering a name again
    replaces its implementation.

    Args:
        class_name: the layer's ``CustomLayerParams.className``.
        forward: ``forward(inputs, *, weights, parameters) -> array | list[array]`` (module
            docstring): batches in, batches out.
        output_shapes: ``output_shapes(input_shapes, parameters) -> list[shape]``, the Core ML
            shape of one example of each output; default: learned by one call of
            ``forward`` on zeros at load.
    """
    if not isinstance(class_name, str) or not class_name:
        raise ValueError(f"class_name must be a non-empty string; got {class_name!r}")
    if not callable(forward) or (output_shapes is not None and not callable(output_shapes)):
        raise TypeError("forward (and output_shapes, when given) must be callable")
    _IMPLEMENTATIONS[class_name] = (forward, output_shapes)


def unregister_custom_layer(class_name: str) -> None:
    """Forget the implementation of ``class_name`` (models loaded later refuse the layer)."""
    _IMPLEMENTATIONS.pop(class_name, None)


def registered_custom_layers() -> list[str]:
    """The custom layer class names that have an implementation, sorted."""
    return sorted(_IMPLEMENTATIONS)


@dataclass(frozen=True)
class CustomAttrs:
    name: str  # "layer 'x' (custom) of class 'C'", for errors
    forward: Callable
    weights: tuple
    parameters: dict
    out_shapes: tuple[CoreMLShape, ...]


def _weights(layer) -> tuple[np.ndarray, ...]:
    arrays = []
    for weights in layer.custom.weights:
        if len(weights.floatValue):
            arrays.append(np.asarray(weights.floatValue, np.float32))
        elif weights.float16Value:
            arrays.append(np.frombuffer(weights.float16Value, "<f2").astype(np.float32))
        else:
            arrays.append(np.frombuffer(weights.rawValue, np.uint8))
    return tuple(arrays)


def _parameters(layer) -> dict:
    items = layer.custom.parameters.items()
    return {key: getattr(v, which) for key, v in items if (which := v.WhichOneof("value"))}


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    class_name = layer.custom.className
    if class_name not in _IMPLEMENTATIONS:
        raise UnsupportedLayerError(
            f"{where(layer)}: custom layer class '{class_name}' has no implementation; Core ML "
            "runs it with the app's own code: register a Python one with "
            f"runtime.register_custom_layer({class_name!r}, forward)"
        )
    forward_fn, shapes_fn = _IMPLEMENTATIONS[class_name]
    weights, parameters = _weights(layer), _parameters(layer)
    name = f"{where(layer)} of class '{class_name}'"
    if shapes_fn is not None:
        out_shapes = shapes_fn([tuple(s) for s in in_shapes], dict(parameters))
    else:
        zeros = [np.zeros((1, *s), np.float32) for s in in_shapes]
        out_shapes = [
            y.shape[1:]
            for y in _outputs(name, forward_fn(zeros, weights=weights, parameters=dict(parameters)))
        ]
    out_shapes = tuple(tuple(int(d) for d in s) for s in out_shapes)
    if len(out_shapes) != len(layer.output):
        raise ShapeError(
            f"{name}: its implementation makes {len(out_shapes)} outputs; the "
            f"layer names {len(layer.output)}"
        )
    attrs = CustomAttrs(name, forward_fn, weights, parameters, out_shapes)
    return Built(attrs, {}, list(out_shapes))


def _outputs(name: str, result) -> list[np.ndarray]:
    results = list(result) if isinstance(result, list | tuple) else [result]
    if not all(hasattr(r, "shape") for r in results):
        raise ShapeError(
            f"{name}: the implementation must return an array or a list of arrays; "
            f"got {type(result).__name__}"
        )
    return [np.asarray(r) for r in results]


def forward(attrs: CustomAttrs, params, xs, keep=False, out=None):
    """The registered implementation on the batch; outputs checked against the shapes."""
    del params, keep, out
    batch = xs[0].shape[0] if xs else 1
    parameters = dict(attrs.parameters)
    ys = _outputs(attrs.name, attrs.forward(list(xs), weights=attrs.weights, parameters=parameters))
    expected = [(batch, *s) for s in attrs.out_shapes]
    if [y.shape for y in ys] != expected:
        raise ShapeError(
            f"{attrs.name}: the implementation returned arrays of shapes "
            f"{[list(y.shape) for y in ys]}; expected {[list(s) for s in expected]} (the batch "
            "first); give register_custom_layer the output_shapes it computes"
        )
    dtype = xs[0].dtype if xs else np.float32
    return [np.ascontiguousarray(y, dtype=dtype) for y in ys], None


KIND = LayerKind("custom", build, forward, layouts=(ND,))
