"""Small networks for layer tests: built with coremltools' builder, run by ``runtime.nn.graph``.

A network is built with ``NeuralNetworkBuilder`` (so the layer protobufs come from an
independent writer), compiled with ``runtime.nn.graph.compile_network`` and run in float64 on
NCHW data (fed as NHWC); tests compare the NCHW results with torch or numpy references.
"""

from __future__ import annotations

import numpy as np

from runtime.nn.graph import compile_network
from tests import builders
from tests.optional import optional_import

torch = optional_import("torch")  # used only by tests marked needs("torch")

RTOL = 1e-12


def network(inputs: dict, add_layers, outputs=("out",)):
    """``tests.builders.multi_input_nn``: ``inputs`` ({name: [C, H, W]}), layers from
    ``add_layers(builder)``."""
    return builders.multi_input_nn(inputs, add_layers, outputs)


def run(spec, arrays: dict, outputs=("out",)) -> dict:
    """Run the compiled network on NCHW float64 ``arrays``; returns NCHW float64 outputs."""
    net = compile_network(spec)
    feeds = {name: np.ascontiguousarray(a.transpose(0, 2, 3, 1)) for name, a in arrays.items()}
    result = net.run(feeds, outputs=list(outputs))
    for name in outputs:
        assert result[name].dtype == np.float64
        assert result[name].shape[1:] == net.shapes[name], name
    return {name: value.transpose(0, 3, 1, 2) for name, value in result.items()}


def rand(rng, *shape):
    return rng.standard_normal(shape)


def close(actual, expected, what, rtol=RTOL, atol=1e-12):
    if torch is not None and isinstance(expected, torch.Tensor):
        expected = expected.numpy()
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)
