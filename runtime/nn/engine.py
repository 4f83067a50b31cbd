"""Runtime, neural-network layer: the engine that runs NeuralNetwork, NeuralNetworkClassifier and
NeuralNetworkRegressor models.

Feature batches in, feature batches out (docs/ARCHITECTURE.md, "Features at the API boundary"):

* ``to_blobs`` turns multiArrays ``(N, *declared shape)`` into blobs in the layout the
  network holds each input in (``runtime.nn.inputs``): ``(N, H, W, C)`` for ``chw`` (under
  Core ML's rank-5 mapping ``[C]`` is ``[1, 1, C, 1, 1]``, ``[C, H, W]`` is
  ``[1, 1, C, H, W]``), the array itself for ``nd``; it applies each image input's
  preprocessing. An optional multiArray input (``isOptional``) left out of the batch is fed
  as zeros: NeuralNetwork.proto's recurrent layers start from zero states when their initial
  states are not given, and converters mark those state inputs optional for that (the Keras
  converter adds every ``<layer>_h_in`` / ``_c_in`` so);
* ``from_blobs`` turns output blobs, in either layout, back into the declared shapes, in Core
  ML's element order. An output declared without a shape comes back with its tensor's Core ML
  shape, leading axes of size 1 dropped down to rank 3 (so ``[C, H, W]`` for the rank-5 and
  ``[1, C, H, W]`` tensors of image networks).
* A classifier (``NeuralNetworkClassifier``) also returns, like Core ML, the predicted label
  (``predictedFeatureName``: the class with the highest probability, the first one on a tie)
  and, when the description lists ``predictedProbabilitiesName`` as a dictionary, the
  ``{label: probability}`` dictionary. The probabilities are the blob
  ``labelProbabilityLayerName`` (the last layer's output when unset).

Load-time parameters ``WEIGHTS.scoped(layer)`` / ``BIASES.scoped(layer)`` replace a layer's
initial weights, given in Core ML's layout.

A network whose shapes depend on the model inputs' values (a ``reshapeDynamic`` fed from an
input...) compiles per set of such values (``runtime.nn.dynamic.SpecializedNetwork``); it
predicts, but cannot train or take weight parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.kernels import elementwise, memory, parallel
from runtime.kernels.jit import is_compiled
from runtime.nn.dynamic import SpecializedNetwork
from runtime.nn.graph import Network, compile_network, probability_blob
from runtime.nn.layers.base import NeedsValues
from runtime.nn.tensors import CHW, ND, convert
from updatable import proto
from updatable import spec as spec_io
from updatable.errors import FeatureError, ParameterError, ShapeError

# load-time parameter name -> key of a LayerKind.export / import_ dictionary
WEIGHT_PARAMETERS = {"weights": "weights", "biases": "bias"}


def _channels_last(value: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """A batch of Core ML ``[C, H, W]`` multiArrays -> ``(N, H, W, C)`` float32 blobs."""
    channels, height, width = chw
    source = np.ascontiguousarray(value, dtype=np.float32).reshape(-1, channels, height, width)
    blob = np.empty((source.shape[0], height, width, channels), np.float32)
    # compiled: the kernel on both chunk threads; without numba (or with its JIT disabled) the
    # same loop in Python would take seconds per batch of images, so numpy's transpose does it
    if is_compiled(elementwise.channels_last):
        kernel = elementwise.channels_last
        parallel.each_chunk(lambda lo, hi: kernel(source[lo:hi], blob[lo:hi]), len(blob))
    else:
        elementwise.NUMPY["channels_last"](source, blob)
    return blob


def _check_example_memory(network: Network) -> None:
    """Refuse a network whose blobs for a single example exceed the memory bound (a mutated
    input size, an upsampling by a million): it could never run one prediction."""
    values = sum(math.prod(int(d) for d in shape) for shape in network.shapes.values())
    memory.check(
        f"one example through the network ({len(network.shapes)} blobs of float32 values)",
        4 * values,
        "check the declared sizes of the model's inputs and the layers' output sizes",
    )


@dataclass
class NeuralNetworkEngine:
    """A compiled neural network with its feature conversions (see the module docstring)."""

    spec: proto.Model
    network: Network
    labels: list | None  # class labels of a classifier, in probability order
    probabilities: str | None  # the classifier's probability blob

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None, fuse: bool = True):
        """Compile ``spec`` (a neural network ``Model``); ``base_dir`` is unused here."""
        del base_dir
        # a Network, or a SpecializedNetwork (one Network per set of input values) used alike
        network: Any
        try:
            network = compile_network(spec, fuse=fuse)
        except NeedsValues as needed:  # shapes depend on the inputs' values: compile per set
            network = SpecializedNetwork.create(spec, fuse, needed, {})
        static = not isinstance(network, SpecializedNetwork)
        if static:  # a specialized network's blobs are sized, and checked, per set of values
            _check_example_memory(network)
        labels = probabilities = None
        if spec_io.model_type(spec) == "neuralNetworkClassifier":
            classifier = spec.neuralNetworkClassifier
            which = classifier.WhichOneof("ClassLabels")
            labels = list(getattr(classifier, which).vector) if which else []
            probabilities = probability_blob(spec)
            if static:
                _check_probabilities(network, probabilities, labels)
        engine = cls(spec, network, labels, probabilities)
        if static:  # a specialized network's outputs have shapes once it runs
            _check_outputs(engine)
        _apply_weight_parameters(network, parameters or {})
        return engine

    def run(self, batch: dict) -> dict:
        """Feature batch in, feature batch out (every output of the model description)."""
        return self.from_blobs(self.network.run(self.to_blobs(batch)))

    def to_blobs(self, batch: dict) -> dict[str, np.ndarray]:
        """Model-input features -> float32 blobs in each input's layout (images preprocessed)."""
        feeds, absent = {}, []
        for feature in self.spec.description.input:
            name = feature.name
            if name not in self.network.inputs:
                continue
            if name not in batch and _zero_when_absent(feature):
                absent.append(name)
                continue
            if name not in batch:
                raise FeatureError(
                    f"input '{name}' is missing; the network reads {sorted(self.network.inputs)}"
                )
            value = np.asarray(batch[name])
            tensor = self.network.tensors[name]
            is_image = feature.type.WhichOneof("Type") == "imageType"
            expected = (
                tensor.chw if is_image else tuple(int(d) for d in feature.type.multiArrayType.shape)
            )
            if value.ndim != len(expected) + 1 or tuple(value.shape[1:]) != expected:
                raise FeatureError(
                    f"input '{name}': expected a batch of shape (N, *{list(expected)}); got "
                    f"{tuple(value.shape)}"
                )
            if is_image:
                blob = value
            elif tensor.layout == CHW:
                height, width, channels = tensor.chw
                blob = _channels_last(value, (channels, height, width))
            else:
                blob = value.reshape(len(value), *tensor.shape)
            preprocessing = self.network.preprocessing.get(name)
            if preprocessing is not None:
                blob = preprocessing.apply(blob)
            feeds[name] = np.ascontiguousarray(blob, dtype=np.float32)
        count = len(next(iter(feeds.values()))) if feeds else 1
        for name in absent:
            feeds[name] = np.zeros((count, *self.network.inputs[name]), np.float32)
        return feeds

    def from_blobs(self, blobs: dict[str, np.ndarray]) -> dict:
        """Network blobs -> the model's output features (declared shapes, labels, dicts)."""
        description = self.spec.description
        batch: dict = {}
        for feature in description.output:
            name, kind = feature.name, feature.type.WhichOneof("Type")
            if self.labels is not None and name == description.predictedFeatureName:
                scores = self._rows(blobs, self.probabilities)
                labels = np.asarray(self.labels, dtype=object if kind == "stringType" else np.int64)
                batch[name] = labels[np.argmax(scores, axis=1)]
            elif (
                self.labels is not None
                and name == description.predictedProbabilitiesName
                and kind == "dictionaryType"
            ):
                scores = self._rows(blobs, self.probabilities)
                batch[name] = [
                    dict(zip(self.labels, map(float, row), strict=True)) for row in scores
                ]
            elif kind == "doubleType":
                batch[name] = self._rows(blobs, name)[:, 0].astype(np.float64)
            else:
                dims = [int(d) for d in feature.type.multiArrayType.shape]
                tensor = self.network.tensors[name]
                values = convert(blobs[name], tensor, ND)
                if not dims:  # the tensor's shape, leading 1s dropped down to rank 3
                    dims = list(tensor.shape)
                    while len(dims) > 3 and dims[0] == 1:
                        dims.pop(0)
                batch[name] = values.reshape(len(values), *dims)
        return batch

    def _rows(self, blobs: dict[str, np.ndarray], name: str | None) -> np.ndarray:
        """Blob ``name`` -> ``(N, values)`` in Core ML's element order."""
        assert name is not None, "a classifier has its probability blob"
        values = convert(blobs[name], self.network.tensors[name], ND)
        return values.reshape(len(values), -1)


def _zero_when_absent(feature) -> bool:
    """An optional multiArray input, which the engine feeds as zeros when it is left out."""
    return feature.type.isOptional and feature.type.WhichOneof("Type") == "multiArrayType"


def _check_probabilities(network: Network, blob: str | None, labels: list) -> None:
    if blob is None or blob not in network.shapes:
        raise ShapeError(
            f"the classifier's probabilities come from blob '{blob}', which no layer produces"
        )
    count = network.tensors[blob].size()
    if count != len(labels):
        raise ShapeError(
            f"the classifier has {len(labels)} class labels but its probability blob '{blob}' "
            f"holds {count} values per example"
        )


def _check_outputs(engine: NeuralNetworkEngine) -> None:
    description = engine.spec.description
    derived = set()
    if engine.labels is not None:
        derived = {description.predictedFeatureName, description.predictedProbabilitiesName}
    for feature in description.output:
        name, kind = feature.name, feature.type.WhichOneof("Type")
        if name in derived and (kind != "multiArrayType" or name not in engine.network.shapes):
            continue
        if name not in engine.network.shapes:
            raise ShapeError(f"output '{name}' is not produced by any layer of the network")
        count = engine.network.tensors[name].size()
        if kind == "doubleType" and count == 1:
            continue
        if kind != "multiArrayType":
            raise FeatureError(
                f"output '{name}' is declared {kind}; a network output must be a multiArray"
                + (" or a Double holding one value" if kind == "doubleType" else "")
            )
        dims = [int(d) for d in feature.type.multiArrayType.shape]
        if dims and int(np.prod(dims)) != count:
            raise ShapeError(
                f"output '{name}' is declared with shape {dims} ({int(np.prod(dims))} values) "
                f"but the network produces a tensor of shape "
                f"{list(engine.network.tensors[name].shape)}"
            )


def _apply_weight_parameters(network: Network, parameters) -> None:
    """Replace initial weights given as ``WEIGHTS.scoped(layer)`` / ``BIASES.scoped(layer)``."""
    for key, value in parameters.items():
        name, scope = getattr(key, "name", key), getattr(key, "scope", None)
        if name not in WEIGHT_PARAMETERS or scope is None:
            continue  # other engines' and the update task's parameters
        try:
            step = network.steps[network.index_of(scope)]
        except KeyError:
            raise ParameterError(
                f"parameter '{name}' is scoped to layer '{scope}', which the network does not "
                f"have; layers: {[s.name for s in network.steps]}"
            ) from None
        if step.kind.export is None or step.kind.import_ is None:
            raise ParameterError(
                f"parameter '{name}' scoped to layer '{scope}': {step.kind.oneof} layers have no "
                "weights to set"
            )
        arrays = dict(step.kind.export(step.attrs, step.params))
        arrays[WEIGHT_PARAMETERS[name]] = np.asarray(value, dtype=np.float32)
        step.params = step.kind.import_(step.attrs, arrays)
