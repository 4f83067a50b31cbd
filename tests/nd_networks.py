"""Small N-D networks for tests of the tensor-shaped layer kinds, built with coremltools' builder
(an independent writer of the layer protobufs) with ``EXACT_ARRAY_MAPPING``: every multiArray
input is a tensor of its declared rank, as converters write them.

:func:`run` feeds arrays ``(N, *Core ML shape)`` in any dtype (float64 for exact references)
and returns every requested blob in the same form, whatever layout the compiler chose for it.
"""

from __future__ import annotations

import numpy as np
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder

from runtime.nn.graph import compile_network
from runtime.nn.tensors import ND, convert


def network(inputs: dict, add, outputs=("out",)):
    """Inputs ``{name: Core ML shape}``, layers from ``add(builder)``, outputs declared without
    a shape."""
    builder = NeuralNetworkBuilder(
        [(name, datatypes.Array(*shape)) for name, shape in inputs.items()],
        [(name, None) for name in outputs],
        disable_rank5_shape_mapping=True,
    )
    add(builder)
    return builder.spec


def run(spec, arrays: dict, outputs=("out",), *, fuse: bool = True) -> dict:
    """Run the compiled network on ``arrays`` (``{name: (N, *shape)}``); returns ``{name:
    (N, *Core ML shape)}`` for ``outputs``, checking each against its compiled tensor."""
    net = compile_network(spec, fuse=fuse)
    feeds = {
        name: convert(
            np.ascontiguousarray(a), net.tensors[name].as_layout(ND), net.tensors[name].layout
        )
        for name, a in arrays.items()
    }
    result = net.run(feeds, outputs=list(outputs))
    values = {}
    for name in outputs:
        tensor = net.tensors[name]
        values[name] = convert(result[name], tensor, ND)
        assert values[name].shape[1:] == tensor.shape, (name, values[name].shape, tensor)
    return values


def shapes(spec) -> dict:
    """Every blob's compiled Core ML shape."""
    return {name: t.shape for name, t in compile_network(spec).tensors.items()}
