"""Runtime, neural-network layer: compile a Core ML neural network into an ordered plan of layer
steps over named blobs.

``compile_network(spec)`` turns the layers of a NeuralNetwork / …Classifier / …Regressor into
:class:`~runtime.nn.layers.base.Step` objects in the spec's order (Core ML requires layers in
topological order), inferring every blob's per-example shape ``(H, W, C)`` on the way
(docs/ARCHITECTURE.md, "Compiled networks"). Two rewrites make the plan cheaper to run:

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

from dataclasses import dataclass, field

import numpy as np

from runtime.nn import execution
from runtime.nn.dataflow import readers_of
from runtime.nn.layers import REGISTRY, Shape, Step, get_kind, supported_kinds
from runtime.nn.layers.squeeze import example_chw
from updatable import spec as spec_io
from updatable.errors import FeatureError, ShapeError, UnsupportedLayerError, UnsupportedModelError

FUSABLE_PRODUCERS = ("convolution", "innerProduct")
EXACT_ARRAY_MAPPING = 1  # NeuralNetworkMultiArrayShapeMapping
RANK4_IMAGE_MAPPING = 1  # NeuralNetworkImageShapeMapping


@dataclass(frozen=True)
class ImagePreprocessing:
    """Core ML's image preprocessing for one input (``NeuralNetworkImageScaler`` /
    ``NeuralNetworkMeanImage``): ``y = channelScale * x + bias_c``, then ``y - meanImage``.

    ``bias`` is per channel in the image's channel order (``[blueBias, greenBias, redBias]`` for
    BGR, ``[redBias, greenBias, blueBias]`` for RGB, ``[grayBias]`` for grayscale); ``mean`` is
    ``(H, W, C)``. ``channelScale`` is used as stored: the proto gives it no default, and
    coremltools' builder always writes it (1.0 unless asked otherwise).
    """

    scale: float = 1.0
    bias: np.ndarray | None = None
    mean: np.ndarray | None = None

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """Preprocess a batch of images ``(N, H, W, C)`` (float32 pixel values 0..255)."""
        y = pixels * np.float32(self.scale) if self.scale != 1.0 else pixels.astype(np.float32)
        if self.bias is not None:
            y = y + self.bias
        if self.mean is not None:
            y = y - self.mean
        return np.ascontiguousarray(y, dtype=np.float32)


@dataclass
class Network:
    """A compiled neural network: steps over named blobs of per-example shape ``(H, W, C)``.

    Attributes:
        steps: the layer steps in execution order.
        inputs: model-input blob name -> shape.
        shapes: every blob name -> shape.
        outputs: the blobs the model description reads (plus a classifier's probabilities).
        preprocessing: image input name -> :class:`ImagePreprocessing`.
        fused: blob removed by fusion -> name of the step it was fused into.
        placements: blob -> ``(concat output blob, first channel, end channel)`` for a full
            run (``runtime.nn.execution``).
        defer_epilogues: let runs move convolution epilogues past max poolings
            (``runtime.nn.epilogues``); ``compile_network(fuse=False)`` turns it off.
        ranks: every blob name -> Core ML's rank of its tensor (``runtime.nn.layers.squeeze``).
    """

    steps: list[Step]
    inputs: dict[str, Shape]
    shapes: dict[str, Shape]
    outputs: list[str]
    preprocessing: dict[str, ImagePreprocessing] = field(default_factory=dict)
    fused: dict[str, str] = field(default_factory=dict)
    placements: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    defer_epilogues: bool = True
    ranks: dict[str, int] = field(default_factory=dict)
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
        """Run ``steps[start:stop]`` on ``feeds`` (blob name -> ``(N, H, W, C)`` array).

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
            self._plans[key] = execution.make_plan(
                self.steps[start:stop], wanted, shapes=self.shapes, defer=self.defer_epilogues
            )
        return self._plans[key]

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
                raise ShapeError(
                    f"blob '{name}' must be (N, H, W, C) = (N, *{self.shapes[name]}); got "
                    f"{tuple(feeds[name].shape)}"
                )


def input_shape(feature, exact: bool = False) -> Shape | None:
    """The ``(H, W, C)`` blob shape of a model input, or ``None`` for inputs a network cannot
    read (String, Int64, dictionaries...). Under the rank-5 mapping a multiArray is ``[C]`` or
    ``[C, H, W]``; with ``exact`` (``EXACT_ARRAY_MAPPING``) it is a tensor of its own rank,
    read as ``[C, H, W]`` from its last three axes (``runtime.nn.layers.squeeze``)."""
    kind = feature.type.WhichOneof("Type")
    if kind == "imageType":
        image = feature.type.imageType
        channels = 1 if image.colorSpace in (image.GRAYSCALE, image.GRAYSCALE_FLOAT16) else 3
        return int(image.height), int(image.width), channels
    if kind != "multiArrayType":
        return None
    dims = [int(d) for d in feature.type.multiArrayType.shape]
    if exact and dims:
        chw = example_chw(dims)
        if chw is None:
            raise ShapeError(
                f"input '{feature.name}': multiArray shape {dims} has an axis larger than 1 "
                "before its last three; the runtime runs examples of at most [C, H, W]"
            )
        channels, height, width = chw
        return height, width, channels
    if len(dims) == 1:
        return 1, 1, dims[0]
    if len(dims) == 3 or (len(dims) == 5 and dims[:2] == [1, 1]):
        channels, height, width = dims[-3:]
        return height, width, channels
    raise ShapeError(
        f"input '{feature.name}': multiArray shape {dims} has no rank-5 meaning; Core ML "
        "neural networks take [C] or [C, H, W] arrays"
    )


def _input_ranks(spec, net, inputs) -> dict[str, int]:
    """Core ML's rank of each model-input blob: 5 (``[Seq, Batch, C, H, W]``) under the rank-5
    mappings, 4 for images under ``RANK4_IMAGE_MAPPING`` (``[Batch, C, H, W]``), the declared
    rank for multiArrays under ``EXACT_ARRAY_MAPPING``."""
    ranks = {}
    for feature in spec.description.input:
        if feature.name not in inputs:
            continue
        if feature.type.WhichOneof("Type") == "imageType":
            ranks[feature.name] = 4 if net.imageInputShapeMapping == RANK4_IMAGE_MAPPING else 5
        elif net.arrayInputShapeMapping == EXACT_ARRAY_MAPPING:
            ranks[feature.name] = len(feature.type.multiArrayType.shape)
        else:
            ranks[feature.name] = 5
    return ranks


def _build(kind, layer, shapes, ranks):
    """``(Built, output ranks)``: rank-changing kinds get their input ranks; every other kind
    keeps its first input's rank and needs inputs of rank 3 or more, whose last three axes it
    reads as C, H and W (``runtime.nn.layers.squeeze``)."""
    in_shapes = [shapes[name] for name in layer.input]
    in_ranks = [ranks.get(name, 5) for name in layer.input]
    if kind.ranked_build is not None:
        return kind.ranked_build(layer, in_shapes, in_ranks)
    for name, rank in zip(layer.input, in_ranks, strict=True):
        if rank < 3:
            raise ShapeError(
                f"layer '{layer.name}' ({kind.oneof}) reads blob '{name}' of rank {rank}; the "
                f"runtime runs {kind.oneof} on tensors of rank 3 or more, whose last three axes "
                "are C, H and W"
            )
    built = kind.build(layer, in_shapes)
    return built, [in_ranks[0] if in_ranks else 5] * len(built.out_shapes)


def compile_network(spec, *, fuse: bool = True) -> Network:
    """Compile the neural network of ``spec`` (a ``Model``) into a :class:`Network`.

    Raises:
        UnsupportedModelError: ``spec`` is not a neural network.
        UnsupportedLayerError: a layer kind the runtime does not run (all are listed).
        ShapeError: a layer reads an undefined blob or its input shapes do not fit.
    """
    net = spec_io.network(spec)
    _refuse_unsupported(net.layers)
    exact = net.arrayInputShapeMapping == EXACT_ARRAY_MAPPING
    inputs = {f.name: s for f in spec.description.input if (s := input_shape(f, exact)) is not None}
    shapes: dict[str, Shape] = dict(inputs)
    ranks = _input_ranks(spec, net, inputs)
    steps = []
    for layer in net.layers:
        for name in layer.input:
            if name not in shapes:
                raise ShapeError(
                    f"layer '{layer.name}' reads blob '{name}', which no earlier layer or model "
                    f"input defines (layers must come in topological order)"
                )
        for name in layer.output:
            if name in shapes and spec_io.layer_kind(layer) != "copy":
                raise ShapeError(
                    f"layer '{layer.name}' writes blob '{name}', which is already defined; only "
                    "a copy layer may overwrite a blob"
                )
        kind = get_kind(spec_io.layer_kind(layer))
        built, out_ranks = _build(kind, layer, shapes, ranks)
        if len(built.out_shapes) != len(layer.output):
            raise ShapeError(
                f"layer '{layer.name}' ({kind.oneof}) names {len(layer.output)} outputs but "
                f"produces {len(built.out_shapes)}"
            )
        shapes.update(zip(layer.output, built.out_shapes, strict=True))
        ranks.update(zip(layer.output, out_ranks, strict=True))
        steps.append(
            Step(
                layer.name,
                kind,
                tuple(layer.input),
                tuple(layer.output),
                built.attrs,
                dict(built.params),
            )
        )
    outputs = [f.name for f in spec.description.output if f.name in shapes]
    probabilities = probability_blob(spec)
    if probabilities is not None and probabilities not in outputs:
        outputs.append(probabilities)
    network = Network(steps, inputs, shapes, outputs, _preprocessing(spec, net, inputs))
    network.ranks = ranks
    network.defer_epilogues = fuse
    if fuse:
        _fuse_activations(network)
    network.placements = execution.concat_placements(network.steps, outputs, tuple(inputs))
    return network


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


def _preprocessing(spec, net, inputs) -> dict[str, ImagePreprocessing]:
    images = {
        f.name: f.type.imageType
        for f in spec.description.input
        if f.type.WhichOneof("Type") == "imageType"
    }
    result: dict[str, ImagePreprocessing] = {}
    for entry in net.preprocessing:
        name = entry.featureName or (next(iter(images)) if len(images) == 1 else "")
        if name not in images:
            raise UnsupportedModelError(
                f"preprocessing names input '{entry.featureName}', which is not an image input; "
                f"image inputs: {sorted(images)}"
            )
        current = result.get(name, ImagePreprocessing())
        if entry.WhichOneof("preprocessor") == "scaler":
            s = entry.scaler
            color = images[name].colorSpace
            bias = {
                images[name].BGR: [s.blueBias, s.greenBias, s.redBias],
                images[name].RGB: [s.redBias, s.greenBias, s.blueBias],
            }.get(color, [s.grayBias])
            current = ImagePreprocessing(float(s.channelScale), np.float32(bias), current.mean)
        elif entry.WhichOneof("preprocessor") == "meanImage":
            height, width, channels = inputs[name]
            values = np.asarray(entry.meanImage.meanImage, dtype=np.float32)
            if values.size != height * width * channels:
                raise ShapeError(
                    f"meanImage of input '{name}' has {values.size} values; expected C*H*W = "
                    f"{channels * height * width}"
                )
            mean = values.reshape(channels, height, width).transpose(1, 2, 0).copy()
            current = ImagePreprocessing(current.scale, current.bias, mean)
        result[name] = current
    return result


def _fuse_activations(network: Network) -> None:
    from runtime.nn.layers.activation import with_activation

    steps = network.steps
    readers = readers_of(steps)  # indices stay valid: fused activations are dropped at the end
    absorbed = set()
    for index, step in enumerate(steps):
        blob = step.outputs[0] if len(step.outputs) == 1 else None
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
        steps[index] = Step(
            step.name, step.kind, step.inputs, activation.outputs, attrs, step.params
        )
        absorbed.add(users[0])
        network.fused[blob] = step.name
        network.shapes.pop(blob, None)
    network.steps[:] = [step for index, step in enumerate(steps) if index not in absorbed]
