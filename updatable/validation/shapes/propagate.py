"""Spec side, validation layer: Core ML's shape inference of rank-5 (iOS 11/12) networks,
rule Y8, and what it means for the rest of the validation.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkShapes.cpp``
(``NeuralNetworkShaper``: constructor, ``ProcessLayer``, ``PassColorsDown`` / ``Up``,
``AllShapesDone``), ``LayerShapeConstraints.cpp`` (``ShapeConstraint::updateConstraint``) and
``NeuralNetworkValidator.cpp`` (``validateNeuralNetworkTopLevel``, where it is called).

Every blob is five ranges (Seq, Batch, C, H, W). The model inputs constrain theirs; then the
layers, forward and backward, narrow their inputs' and outputs' ranges until the set of model
inputs that reach each blob (its "colours") stops changing; then the declared multiArray /
image outputs constrain theirs. A contradiction throws, and Core ML answers
``POTENTIALLY_INVALID_NEURAL_NETWORK_SHAPES: "Error determining network blob shapes: ..."``.

That result is **not an error**: Core ML's ``Result::good()`` accepts it. But the validator
returns it at once, so an updatable network whose shapes contradict each other skips the
updatable checks (A*, B1, C*, D*), while the output checks (N10, N11) still run and replace it
if they fail. Y8 is therefore a *warning* here, and ``shapes_then_updatable`` runs the
updatable rules only when it does not fire. The pass runs only on networks that are not N-d.

Where Core ML's shape pass would run into undefined behaviour (an integer division by zero,
reading a shape that is not there), there is no Core ML message: Y9 (an error, our message)
says so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from updatable import proto
from updatable.spec import network
from updatable.validation.issues import SHAPES, At, Issue, Rule
from updatable.validation.layer_rules.scope import uint64
from updatable.validation.layer_rules.walk import nd_array_mode
from updatable.validation.shapes import other_kinds, spatial_kinds
from updatable.validation.shapes.ranges import AXES, Range, Shape, ShapeFailure
from updatable.validation.shapes.spatial_kinds import UndefinedBehaviour

SHAPE_RULES = {**spatial_kinds.RULES, **other_kinds.RULES}
_GRAY = {
    proto.FeatureTypes_pb2.ImageFeatureType.GRAYSCALE,
    proto.FeatureTypes_pb2.ImageFeatureType.GRAYSCALE_FLOAT16,
}
_SIZE_MAX = (1 << 64) - 1


class Shapes:
    """``blobShapes``: blob name -> its five ranges; a blob is created unnamed when first
    read (as ``std::map::operator[]`` does)."""

    def __init__(self) -> None:
        self.blobs: dict[str, Shape] = {}

    def get(self, name: str) -> Shape:
        shape = self.blobs.get(name)
        if shape is None:
            shape = self.blobs[name] = Shape()
        return shape

    def output(self, layer: proto.NeuralNetworkLayer, index: int) -> Shape:
        """Output ``index`` of ``layer``, named after its blob."""
        shape = self.get(layer.output[index])
        shape.name = layer.output[index]
        return shape

    def copy_of(self, name: str) -> Shape:
        """A detached copy of blob ``name``'s ranges (the blob is created if missing)."""
        copy, source = Shape(name), self.get(name)
        for axis in AXES:
            setattr(copy, axis, getattr(source, axis))
        return copy


def _array_ranges(array: proto.Message) -> list[Range]:
    """The ranges of a flexible multiArray's dimensions (enumerated: min..max per axis)."""
    flexibility = array.WhichOneof("ShapeFlexibility")
    if flexibility == "shapeRange":
        return [Range.from_size_range(r) for r in array.shapeRange.sizeRanges]
    if flexibility != "enumeratedShapes":
        return []
    shapes = array.enumeratedShapes.shapes
    ranks = max((len(s.shape) for s in shapes), default=0)
    ranges = []
    for d in range(ranks):
        sizes = [uint64(s.shape[d]) for s in shapes if d < len(s.shape)]
        ranges.append(Range.between(min(sizes, default=_SIZE_MAX), max(sizes, default=0)))
    return ranges


def _constrain_image(shape: Shape, image: Any) -> None:
    shape.set("channel", 1 if image.colorSpace in _GRAY else 3)
    flexibility = image.WhichOneof("SizeFlexibility")
    if flexibility == "enumeratedSizes":
        sizes = image.enumeratedSizes.sizes
        widths = [uint64(s.width) for s in sizes]
        heights = [uint64(s.height) for s in sizes]
        shape.update("width", Range.between(min(widths, default=_SIZE_MAX), max(widths, default=0)))
        shape.update(
            "height", Range.between(min(heights, default=_SIZE_MAX), max(heights, default=0))
        )
    elif flexibility == "imageSizeRange":
        shape.update("width", Range.from_size_range(image.imageSizeRange.widthRange))
        shape.update("height", Range.from_size_range(image.imageSizeRange.heightRange))
    else:
        shape.set("height", uint64(image.height))
        shape.set("width", uint64(image.width))


def constrain_input(shape: Shape, feature_type: proto.FeatureType) -> None:
    """``ShapeConstraint::updateConstraint``: what a model input's type says of its blob."""
    kind = feature_type.WhichOneof("Type")
    if kind == "imageType":
        _constrain_image(shape, feature_type.imageType)
        return
    if kind != "multiArrayType":
        raise ShapeFailure(
            f"Attempting to update feature constraint {shape.name} with a type description "
            "which is not a multi array or image."
        )
    array = feature_type.multiArrayType
    ranges = _array_ranges(array)
    if len(ranges) in (1, 3):
        for axis, axis_range in zip(("channel", "height", "width"), ranges, strict=False):
            shape.update(axis, axis_range)
    elif ranges:
        raise ShapeFailure(
            f'Attempting to constrain an input or output feature "{shape.name}" with an invalid '
            "array shape constraint."
        )
    elif not len(array.shape):
        raise UndefinedBehaviour(f"the shape of input '{shape.name}' is read but it has none")
    else:
        dims = [uint64(d) for d in array.shape]
        height, width = (dims[1], dims[2]) if len(dims) == 3 else (1, 1)
        for axis, value in (("channel", dims[0]), ("height", height), ("width", width)):
            shape.set(axis, value)


def _colours(
    layers: Sequence[proto.NeuralNetworkLayer], colours: dict[str, set[int]], *, backward: bool
) -> None:
    """``PassColorsDown`` (inputs' colours join the outputs') or ``PassColorsUp``."""
    for layer in layers:
        sources, targets = (layer.output, layer.input) if backward else (layer.input, layer.output)
        for source in sources:
            found = colours.setdefault(source, set())
            for target in targets:
                colours.setdefault(target, set()).update(found)


def _process(layer: proto.NeuralNetworkLayer, shapes: Shapes) -> None:
    rule = SHAPE_RULES.get(layer.WhichOneof("layer") or "")
    if rule is None:  # only iOS 12 kinds reach here; Core ML's switch would say so
        raise ShapeFailure("Shape inference not implemented for this layer type.")
    rule(layer, shapes)


def _located(where: str, step: Any, *args: Any) -> None:
    """Run one step of the pass; a failure records where it happened (for ``Issue.where``)."""
    try:
        step(*args)
    except ShapeFailure as failure:
        failure.where = where
        raise


def _constrain_output(shape: Shape, feature_type: proto.FeatureType) -> None:
    """A declared image, or rank-1 / rank-3 multiArray, output fixes C, H and W."""
    if feature_type.WhichOneof("Type") == "imageType":
        image = feature_type.imageType
        dims = [1 if image.colorSpace in _GRAY else 3, uint64(image.height), uint64(image.width)]
    else:
        dims = [uint64(d) for d in feature_type.multiArrayType.shape]
        dims = [*dims, 1, 1] if len(dims) == 1 else dims if len(dims) == 3 else []
    for axis, value in zip(("channel", "height", "width"), dims, strict=False):
        shape.set(axis, value)


def infer_shapes(
    description: proto.ModelDescription, layers: Sequence[proto.NeuralNetworkLayer]
) -> Shapes:
    """Core ML's shape pass over ``layers`` (a rank-5 network) with the model ``description``.

    Raises:
        ShapeFailure: where Core ML throws (its ``where`` attribute names the input, layer or
            output being processed); ``UndefinedBehaviour`` where Core ML's behaviour is
            undefined.
    """
    shapes, colours = Shapes(), dict[str, set[int]]()
    for index, feature in enumerate(description.input):
        shape = shapes.get(feature.name)
        shape.name = feature.name
        colours.setdefault(feature.name, set()).add(index)
        _located(f"description.input[{index}]", constrain_input, shape, feature.type)
    layers, count = list(layers), len(description.input)
    while True:
        before = {name: set(found) for name, found in colours.items()}
        for layer in layers:
            _colours([layer], colours, backward=False)
            _located(f"layers['{layer.name}']", _process, layer, shapes)
        for layer in reversed(layers):
            _colours([layer], colours, backward=True)
            _located(f"layers['{layer.name}']", _process, layer, shapes)
        if all(len(found) == count for found in colours.values()) or colours == before:
            break
    skipped = {description.predictedProbabilitiesName, description.predictedFeatureName}
    for index, feature in enumerate(description.output):
        if feature.name not in skipped and feature.name in shapes.blobs:
            where = f"description.output[{index}]"
            _located(where, _constrain_output, shapes.blobs[feature.name], feature.type)
    return shapes


def blob_shapes_issue(model: proto.Model, at: At) -> Issue | None:
    """Y8 (a warning: Core ML accepts the model) or Y9 (undefined behaviour), else ``None``;
    N-d networks have no shape pass."""
    if nd_array_mode(model):
        return None
    try:
        infer_shapes(model.description, network(model).layers)
    except UndefinedBehaviour as failure:
        message = (
            f"Core ML's shape inference of this rank-5 network runs into {failure}: its "
            "behaviour is undefined (it may crash); fix the layer or give the network an N-d "
            "shape mapping"
        )
        return at.error("Y9", getattr(failure, "where", "layers"), message, "")
    except ShapeFailure as failure:
        message = f"Error determining network blob shapes: {failure}"
        return at.warning("Y8", getattr(failure, "where", "layers"), message, SHAPES)
    return None


def shapes_then_updatable(updatable_rules: tuple[Rule, ...]) -> Rule:
    """Y8 / Y9, then (only when the shape pass succeeds) ``updatable_rules``: Core ML returns
    the shape result at once, skipping the updatable checks."""

    def rule(model: proto.Model, at: At) -> Iterator[Issue]:
        issue = blob_shapes_issue(model, at)
        if issue is not None:
            yield issue
            return
        for updatable_rule in updatable_rules:
            for found in updatable_rule(model, at):
                yield found
                return

    return rule
