"""Runtime, neural-network layer: compile a Core ML neural network into an ordered plan of layer
steps over named blobs.

``compile_network(spec)`` turns the layers of a NeuralNetwork / …Classifier / …Regressor into
:class:`~runtime.nn.layers.base.Step` objects in the spec's order (Core ML requires layers in
topological order), inferring every blob's Core ML shape and choosing its layout on the way
(``runtime.nn.planner``; docs/ARCHITECTURE.md, "Blobs" and "Compiled networks"). Three rewrites
make the plan cheaper to run:

* **input layouts**: a multiArray input that only ``chw`` layers read (through one relayout
  step) is held ``chw`` from the start: the engine converts it while making the blob, with
  the same kernel, and the relayout step disappears;
* **fusion**: a convolution or innerProduct whose only consumer is an activation layer takes
  the activation into its GEMM epilogue; the fused step keeps the producer's name and the
  activation's output blob. Skipped when the intermediate blob is a model output.
* **in-place concat**: a blob read only by one channel concat (and not a model output) is
  written by its producer straight into its channel slice of the concat's output buffer
  (``out=`` views), so the concat copies nothing.

:meth:`Network.run` executes a cached plan (``runtime.nn.execution``): it keeps a name -> array
dict, drops each blob after its last use, places concat inputs, defers epilogues past max
poolings (``runtime.nn.epilogues``) and may split the batch across threads
(``runtime.kernels.parallel``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from runtime.nn import execution
from runtime.nn.dataflow import readers_of, writers_of
from runtime.nn.inputs import (
    EXACT_ARRAY_MAPPING,
    RANK4_IMAGE_MAPPING,
    ImagePreprocessing,
    input_shape,
    input_tensor,
    preprocessing,
)
from runtime.nn.layers import REGISTRY, Step, supported_kinds
from runtime.nn.layers._control_nested import layers_within
from runtime.nn.planner import Planner
from runtime.nn.tensors import CHW, ND, RELAYOUT, Tensor
from updatable import spec as spec_io
from updatable.errors import FeatureError, ShapeError, UnsupportedLayerError

__all__ = [
    "EXACT_ARRAY_MAPPING",
    "RANK4_IMAGE_MAPPING",
    "ImagePreprocessing",
    "Network",
    "compile_network",
    "input_shape",
    "probability_blob",
]

FUSABLE_PRODUCERS = ("convolution", "innerProduct")


@dataclass
class Network:
    """A compiled neural network: steps over named blobs.

    Attributes:
        steps: the layer steps in execution order (relayout steps included).
        inputs: model-input blob name -> its array's shape after the batch axis.
        shapes: every blob name -> its array's shape after the batch axis: ``(H, W, C)`` for
            ``chw`` blobs, the Core ML shape for ``nd`` blobs.
        outputs: the blobs the model description reads (plus a classifier's probabilities).
        preprocessing: image input name -> :class:`ImagePreprocessing`.
        fused: blob removed by fusion -> name of the step it was fused into.
        placements: blob -> ``(concat output blob, first channel, end channel)`` for a full
            run (``runtime.nn.execution``).
        defer_epilogues: let runs move convolution epilogues past max poolings
            (``runtime.nn.epilogues``); ``compile_network(fuse=False)`` turns it off.
        tensors: every blob name -> its :class:`~runtime.nn.tensors.Tensor` (Core ML shape
            and layout), the source of truth behind ``shapes``.
    """

    steps: list[Step]
    inputs: dict[str, tuple[int, ...]]
    shapes: dict[str, tuple[int, ...]]
    outputs: list[str]
    preprocessing: dict[str, ImagePreprocessing] = field(default_factory=dict)
    fused: dict[str, str] = field(default_factory=dict)
    placements: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    defer_epilogues: bool = True
    tensors: dict[str, Tensor] = field(default_factory=dict)
    _plans: dict = field(default_factory=dict, repr=False)

    def index_of(self, layer_name: str) -> int:
        """Position of the step called ``layer_name``."""
        for index, step in enumerate(self.steps):
            if step.name == layer_name:
                return index
        raise KeyError(f"no step named '{layer_name}'; steps: {[s.name for s in self.steps]}")

    def run(
        self, feeds: dict[str, np.ndarray], *, start: int = 0, stop: int | None = None, outputs=None
    ) -> dict[str, np.ndarray]:
        """Run ``steps[start:stop]`` on ``feeds`` (blob name -> array in the blob's layout:
        ``(N, H, W, C)`` for ``chw``, ``(N, *shape)`` for ``nd``).

        ``outputs`` defaults to :attr:`outputs` for a run to the end, and otherwise to the
        blobs that later steps or the model outputs read (the cut between two runs). A batch
        may run in chunks on several threads (``runtime.kernels.parallel``); results are the same.
        """
        stop = len(self.steps) if stop is None else stop
        wanted = tuple(outputs) if outputs is not None else self._default_outputs(start, stop)
        plan = self.plan(start, stop, wanted)
        self._check_feeds(feeds, plan, start, stop)
        return execution.run(plan, feeds)

    def plan(self, start: int, stop: int, wanted: tuple[str, ...]) -> execution.Plan:
        """The execution plan of ``steps[start:stop]`` producing ``wanted`` (cached)."""
        key = (start, stop, wanted, self.defer_epilogues)
        if key not in self._plans:
            # concat buffers are allocated per example: blobs with folded rows are not placed
            unfolded = {n: s for n, s in self.shapes.items() if self._fold(n) == 1}
            self._plans[key] = execution.make_plan(
                self.steps[start:stop], wanted, shapes=unfolded, defer=self.defer_epilogues
            )
        return self._plans[key]

    def _fold(self, name: str) -> int:
        tensor = self.tensors.get(name)
        return 1 if tensor is None else tensor.fold

    def _default_outputs(self, start: int, stop: int) -> tuple[str, ...]:
        if stop >= len(self.steps):
            return tuple(self.outputs)
        later = {name for step in self.steps[stop:] for name in step.inputs} | set(self.outputs)
        available = set(self.inputs) | {n for s in self.steps[:stop] for n in s.outputs}
        return tuple(sorted(later & available))

    def free_plan(self, start: int, stop: int, wanted: tuple[str, ...]) -> list[list[str]]:
        """Per step of ``steps[start:stop]``, the blobs :meth:`run` drops after it: those read
        (or, if never read, made) there for the last time and not in ``wanted``."""
        return [list(names) for names in self.plan(start, stop, wanted).frees]

    def _check_feeds(self, feeds, plan: execution.Plan, start: int, stop: int) -> None:
        for name in plan.inputs:
            if name in self.fused:
                raise FeatureError(
                    f"blob '{name}' does not exist at run time: it was fused into layer "
                    f"'{self.fused[name]}'; compile with fuse=False to read it"
                )
        missing = [name for name in plan.inputs if name not in feeds]
        if missing:
            raise FeatureError(
                f"running steps {start}..{stop} needs the blobs {missing}, which the feeds do "
                f"not contain; fed: {sorted(feeds)}"
            )
        for name in plan.inputs:
            shape = tuple(feeds[name].shape[1:])
            if name in self.shapes and shape != self.shapes[name]:
                layout = self.tensors[name].layout if name in self.tensors else CHW
                form = "(N, H, W, C)" if layout == CHW else "(N, *shape)"
                raise ShapeError(
                    f"blob '{name}' ({layout} layout) must be {form} = (N, "
                    f"*{self.shapes[name]}); got {tuple(feeds[name].shape)}"
                )


def compile_network(spec, *, fuse: bool = True, values=None, until=None) -> Network:
    """Compile the neural network of ``spec`` (a ``Model``) into a :class:`Network`.

    ``values`` (blob name -> Core ML value) and ``until`` serve networks whose shapes depend
    on the model inputs' values (``runtime.nn.dynamic``): ``values`` fixes those blobs for
    one specialization (inputs then stay in their natural layouts, the same for every
    specialization), ``until = (layer name, blobs)`` compiles only the layers before that
    layer, with ``blobs`` as the outputs.

    Raises:
        UnsupportedModelError: ``spec`` is not a neural network.
        UnsupportedLayerError: a layer kind the runtime does not run (all are listed);
            ``NeedsValues`` when a shape depends on the model inputs' values.
        ShapeError: a layer reads an undefined blob or its input shapes do not fit.
    """
    net = spec_io.network(spec)
    _refuse_unsupported(layers_within(net.layers))
    inputs = {f.name: t for f in spec.description.input if (t := input_tensor(f, net)) is not None}
    taken = {name for layer in layers_within(net.layers) for name in (*layer.input, *layer.output)}
    planner = Planner(inputs, taken, values)
    layers = list(net.layers)
    if until is not None:  # the layers before that one
        names = [layer.name for layer in layers]
        layers = layers[: names.index(until[0])] if until[0] in names else layers
    planner.add_layers(layers)
    if until is not None:
        outputs = list(until[1])
    else:
        outputs = [f.name for f in spec.description.output if f.name in planner.tensors]
        probabilities = probability_blob(spec)
        if probabilities is not None and probabilities not in outputs:
            outputs.append(probabilities)
    steps, tensors = planner.steps, planner.tensors
    if values is None and until is None:
        _hold_inputs_chw(steps, tensors, list(inputs), outputs)
    network = Network(
        steps,
        {name: tensors[name].row_shape for name in inputs},
        {name: tensor.row_shape for name, tensor in tensors.items()},
        outputs,
        preprocessing(spec, net, inputs),
        tensors=tensors,
    )
    network.defer_epilogues = fuse
    if fuse:
        _fuse_activations(network)
    network.placements = execution.concat_placements(network.steps, outputs, tuple(inputs))
    return network


def _hold_inputs_chw(steps: list[Step], tensors, inputs: list[str], outputs) -> None:
    """Hold an ``nd`` model input ``chw`` when its only reader is one relayout step to ``chw``
    and it folds no leading entries: the engine then makes the ``chw`` blob directly."""
    readers, writers = readers_of(steps), writers_of(steps)
    renames: dict[str, str] = {}  # converted blob -> the model input now held chw
    dropped: set[int] = set()
    for name in inputs:
        tensor = tensors[name]
        users = readers.get(name, [])
        if (
            tensor.layout == ND
            and len(tensor.shape) >= 3
            and tensor.as_layout(CHW).fold == 1
            and len(users) == 1
            and steps[users[0]].kind is RELAYOUT
            and name not in writers
            and name not in outputs
        ):
            dropped.add(users[0])
            renames[steps[users[0]].outputs[0]] = name
            tensors[name] = tensor.as_layout(CHW)
    for converted in renames:
        del tensors[converted]
    kept = []
    for index, step in enumerate(steps):
        if index not in dropped:
            inputs_now = tuple(renames.get(n, n) for n in step.inputs)
            kept.append(step if inputs_now == step.inputs else replace(step, inputs=inputs_now))
    steps[:] = kept


def probability_blob(spec) -> str | None:
    """A classifier's class-probability blob: ``labelProbabilityLayerName``, or the first
    output of the last layer when that is empty; ``None`` for other model types."""
    if spec_io.model_type(spec) != "neuralNetworkClassifier":
        return None
    classifier = spec.neuralNetworkClassifier
    if classifier.labelProbabilityLayerName:
        return classifier.labelProbabilityLayerName
    if not classifier.layers or not classifier.layers[-1].output:
        raise ShapeError("the classifier has no layers, so no blob holds class probabilities")
    return classifier.layers[-1].output[0]


def _refuse_unsupported(layers) -> None:
    kinds = [(layer.name, spec_io.layer_kind(layer)) for layer in layers]
    unsupported = [(name, kind) for name, kind in kinds if kind not in REGISTRY]
    if unsupported:
        described = ", ".join(f"'{name}' ({kind or 'no type set'})" for name, kind in unsupported)
        raise UnsupportedLayerError(
            f"the runtime cannot run layer{'s' if len(unsupported) > 1 else ''} {described}; "
            f"supported kinds: {', '.join(supported_kinds())}"
        )


def _fuse_activations(network: Network) -> None:
    from runtime.nn.layers.activation import with_activation

    steps = network.steps
    readers = readers_of(steps)  # indices stay valid: fused activations are dropped at the end
    absorbed = set()
    for index, step in enumerate(steps):
        if len(step.outputs) != 1:
            continue
        blob = step.outputs[0]
        users = readers.get(blob, [])
        if (
            step.kind.oneof not in FUSABLE_PRODUCERS
            or blob in network.outputs
            or len(users) != 1
            or steps[users[0]].kind.oneof != "activation"
            or steps[users[0]].inputs != (blob,)
        ):
            continue
        activation = steps[users[0]]
        try:
            attrs = with_activation(step.attrs, activation.attrs)
        except (ValueError, AttributeError):
            continue  # e.g. per-channel parameters that do not fit: run unfused
        steps[index] = replace(step, outputs=activation.outputs, attrs=attrs)
        absorbed.add(users[0])
        network.fused[blob] = step.name
        network.shapes.pop(blob, None)
        network.tensors.pop(blob, None)
    network.steps[:] = [step for index, step in enumerate(steps) if index not in absorbed]
