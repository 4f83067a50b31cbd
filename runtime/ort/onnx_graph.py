"""Runtime, ONNX layer: A small ONNX graph builder that tracks Core ML blob names and per-example
shapes.

Core ML (non-ND) layers see every blob as ``[Seq, Batch, C, H, W]`` with ``Seq = 1``; in the
exported graph a blob is an ONNX tensor ``(N, C, H, W)`` (batch first, channels first: the
layout ONNX's Conv, pooling and normalisation operators expect). ``shapes`` records the
per-example ``(C, H, W)`` of every value so that converters can compute padding and output
sizes statically, as Core ML's own shape inference does.

Core ML lets a ``copy`` layer overwrite an existing blob; ONNX values are single-assignment, so
a blob produced twice gets a fresh ONNX name and :meth:`GraphBuilder.value` always returns the
latest one.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Per-example blob shape in Core ML order: (C, H, W).
CHW = tuple[int, int, int]

# The ONNX opset the exporter writes. ORT 1.19 runs it and builds gradients for it.
OPSET = 17
# ORT 1.19 refuses models whose IR version is newer than 10 (the onnx package writes 14).
IR_VERSION = 9
BATCH = "N"


class GraphBuilder:
    """Collects nodes, initializers, inputs and outputs of one ONNX graph."""

    def __init__(self, name: str):
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.shapes: dict[str, CHW] = {}
        self._used: set[str] = set()
        self._latest: dict[str, str] = {}  # Core ML blob name -> current ONNX value name
        self._constants: dict[tuple, str] = {}

    # -- names -----------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """An ONNX value name not used yet, derived from ``hint``."""
        name, i = hint, 1
        while name in self._used:
            i += 1
            name = f"{hint}#{i}"
        self._used.add(name)
        return name

    def has(self, blob: str) -> bool:
        return blob in self._latest

    def value(self, blob: str) -> str:
        """The ONNX value currently holding Core ML blob ``blob``."""
        return self._latest[blob]

    def define(self, blob: str) -> str:
        """Reserve the ONNX name of a newly produced Core ML blob."""
        name = self.fresh(blob)
        self._latest[blob] = name
        return name

    # -- graph parts -----------------------------------------------------------------------
    def add_input(self, blob: str, dims: list, elem_type: int = TensorProto.FLOAT) -> str:
        name = self.define(blob)
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, dims))
        return name

    def add_output(self, name: str, dims: list, elem_type: int = TensorProto.FLOAT) -> None:
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, dims))

    def node(
        self, op: str, inputs: list[str], outputs: list[str] | str | None = None, **attrs
    ) -> str:
        """Append a node; returns its first output (a fresh temporary when not given)."""
        if outputs is None:
            outputs = [self.fresh(f"{op}_{len(self.nodes)}")]
        elif isinstance(outputs, str):
            outputs = [outputs]
        self.nodes.append(
            helper.make_node(op, inputs, outputs, name=f"{op}_{len(self.nodes)}", **attrs)
        )
        return outputs[0]

    def param(self, name: str, array: np.ndarray) -> str:
        """A named float32 initializer (a layer's weights); the name is kept exactly."""
        self._used.add(name)
        self.initializers.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def const(self, array, dtype=np.float32) -> str:
        """An anonymous constant initializer (shapes, axes, scalars), shared when equal."""
        array = np.asarray(array, dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            name = self.fresh(f"const_{len(self._constants)}")
            self.initializers.append(numpy_helper.from_array(array, name))
            self._constants[key] = name
        return self._constants[key]

    def ints(self, values) -> str:
        return self.const(list(values), np.int64)

    def reshape(self, x: str, dims, output: str | None = None) -> str:
        """Reshape to ``dims`` (0 keeps the batch axis, -1 infers one axis)."""
        return self.node("Reshape", [x, self.ints(dims)], output)

    def to_model(self, metadata: dict[str, str] | None = None) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, self.name, self.inputs, self.outputs, self.initializers
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="coreml-updatable",
        )
        model.ir_version = IR_VERSION
        for key, value in (metadata or {}).items():
            model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
        return model
