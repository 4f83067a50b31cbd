"""Spec side, validation layer: our own checks (X1-X14): what Core ML's validator accepts but bites
on a device.

These are not Core ML rules and never change a Core ML message; they have their own ids and
no result type (docs/mlmodel-format.md §3). Errors mean the model cannot train as built; warnings
mean it probably trains badly, or not on every device.

=====  ========  ==============================================================================
X1     error     updatable neural network without a loss layer (Core ML: undefined behaviour)
X2     error     FP16 (``float16Value``) weights in an updatable neural network
X3     warning   updatable ``uniDirectionalLSTM`` (only Core ML 5 / iOS 15 validators accept it)
X4     warning   updatable grouped, deconvolution or dynamic-weight convolution
X5     warning   lr <= 0, momentum or beta outside [0, 1), eps <= 0, or a range allowing them
X6     warning   cross-entropy target not a multiArray INT32 [1]
X7     warning   MSE target not a multiArray of the loss input's shape
X8     warning   duplicate training inputs
X9     warning   updatable kNN or pipeline without training inputs
X10    warning   Int64 set with duplicates, or non-positive values after the default
X11    warning   two inputs, or two outputs, with the same name
X12    warning   unnamed layer in an updatable neural network
X13    warning   a network feature newer than the declared specificationVersion (``lint_versions``)
X14    warning   cross-entropy on a softmax over one element (the loss is always 0)
=====  ========  ==============================================================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from updatable import proto
from updatable.spec import NEURAL_NETWORK_TYPES, PIPELINE_TYPES, layer_kind, weight_params
from updatable.validation.backprop import loss_input_and_target
from updatable.validation.issues import At, Issue

_INT32 = proto.ArrayFeatureType.ArrayDataType.Value("INT32")


def _updatable_network(model: proto.Model) -> proto.Message | None:
    """The network of an updatable neural network, else ``None``."""
    kind = model.WhichOneof("Type")
    return getattr(model, kind) if model.isUpdatable and kind in NEURAL_NETWORK_TYPES else None


def loss_present(model: proto.Model, at: At) -> Iterator[Issue]:
    """X1: an updatable neural network has a loss layer."""
    nn = _updatable_network(model)
    if nn is not None and not len(nn.updateParams.lossLayers):
        message = (
            "the model is an updatable neural network but updateParams.lossLayers is empty: it "
            "cannot train, and Core ML's validator then reads a loss layer that does not exist "
            "(undefined behaviour); add a categoricalCrossEntropyLossLayer after a softmax or a "
            "meanSquaredErrorLossLayer"
        )
        yield at.lint("X1", "error", "updateParams.lossLayers", message)


def no_half_precision(model: proto.Model, at: At) -> Iterator[Issue]:
    """X2: no FP16 weights anywhere in an updatable network (coremltools refuses to mark such
    networks updatable; its own check looks at the first layer only)."""
    nn = _updatable_network(model)
    for layer in nn.layers if nn is not None else ():
        for field, weights in weight_params(layer):
            if weights.float16Value:
                message = (
                    f"layer '{layer.name}' stores {field} as float16Value: FP16 weights cannot "
                    "be trained on device (the whole network is compiled to FP16); store them "
                    "as floatValue (float32)"
                )
                yield at.lint("X2", "error", f"layers['{layer.name}']", message)
                break


def layer_kinds_portable(model: proto.Model, at: At) -> Iterator[Issue]:
    """X3 / X4 / X12: updatable layers that not every device trains, and unnamed layers."""
    nn = _updatable_network(model)
    for index, layer in enumerate(nn.layers if nn is not None else ()):
        kind, item = layer_kind(layer), f"layers['{layer.name}']"
        if not layer.name:
            message = (
                f"layer {index} ({kind}) has no name: training parameters and B1 address "
                "layers by name; give every layer a unique name"
            )
            yield at.lint("X12", "warning", f"layers[{index}]", message)
        if not layer.isUpdatable:
            continue
        if kind == "uniDirectionalLSTM":
            message = (
                f"layer '{layer.name}' is an updatable uniDirectionalLSTM: Core ML validators "
                "before coremltools 5 (iOS 15 / macOS 12) reject it and none checks its weight "
                "flags; mark convolution or innerProduct layers for the widest support"
            )
            yield at.lint("X3", "warning", item, message)
        elif kind == "convolution":
            conv = layer.convolution
            what = [
                text
                for text, present in (
                    (f"nGroups={conv.nGroups}", conv.nGroups > 1),
                    ("isDeconvolution", conv.isDeconvolution),
                    ("weights from a second input", len(layer.input) > 1),
                )
                if present
            ]
            if what:
                message = (
                    f"updatable convolution '{layer.name}' has {', '.join(what)}: Core ML "
                    "accepts it, but training such convolutions on device is unverified; "
                    "prefer a plain convolution or an innerProduct as the trainable layer"
                )
                yield at.lint("X4", "warning", item, message)


# The `updatable make-updatable` option that sets each hyperparameter's default (its allowed
# range is the same option + "-range"), named in the advice of X5.
_CLI_OPTIONS = {
    "learningRate": "--lr",
    "momentum": "--momentum",
    "beta1": "--beta1",
    "beta2": "--beta2",
    "eps": "--eps",
}


def _double_findings(
    name: str, parameter: proto.Message, *, positive: bool
) -> Iterator[tuple[str, str]]:
    """Why a DoubleParameter is implausible, with the option that fixes it: ``positive`` (lr,
    eps) wants > 0, otherwise the value must lie in [0, 1) (momentum, beta1, beta2)."""
    default = parameter.defaultValue
    has_range = parameter.WhichOneof("AllowedValues") == "range"
    low, high = (parameter.range.minValue, parameter.range.maxValue) if has_range else (0, 0)
    option = _CLI_OPTIONS[name]
    if positive:
        if default <= 0:
            yield (
                f"{name} default {default:g} is not positive, so training stalls or diverges",
                f"{option} VALUE with VALUE > 0",
            )
        if has_range and low <= 0:
            yield (
                f"{name} allowed range [{low:g}, {high:g}] lets an app pass {name} <= 0",
                f"{option}-range MIN,MAX with MIN > 0",
            )
    else:
        if not 0 <= default < 1:
            yield (
                f"{name} default {default:g} is outside [0, 1), so training stalls or diverges",
                f"{option} VALUE in [0, 1)",
            )
        if has_range and (low < 0 or high >= 1):
            yield (
                f"{name} allowed range [{low:g}, {high:g}] lets an app pass values outside [0, 1)",
                f"{option}-range MIN,MAX within [0, 1)",
            )


def hyperparameters_plausible(model: proto.Model, at: At) -> Iterator[Issue]:
    """X5: hyperparameters (and the ranges an app may override them within) that Core ML
    accepts but that stall or diverge training. Core ML requires none of these bounds."""
    nn = _updatable_network(model)
    if nn is None:
        return
    optimizer = nn.updateParams.optimizer
    kind = optimizer.WhichOneof("OptimizerType")
    if kind is None:
        return
    params = getattr(optimizer, kind)
    fields = {"learningRate": True, "momentum": False, "beta1": False, "beta2": False, "eps": True}
    for field, positive in fields.items():
        if field in params.DESCRIPTOR.fields_by_name and params.HasField(field):
            findings = _double_findings(field, getattr(params, field), positive=positive)
            for finding, fix in findings:
                message = f"{finding} (Core ML accepts it); fix: updatable make-updatable {fix}"
                yield at.lint("X5", "warning", f"updateParams.optimizer.{kind}.{field}", message)


def _training_entry(model: proto.Model, name: str) -> proto.FeatureDescription | None:
    return next((t for t in model.description.trainingInput if t.name == name), None)


def _softmax_width(
    model: proto.Model, nn: proto.Message, blob: str
) -> tuple[proto.NeuralNetworkLayer | None, int | None]:
    """The softmax producing ``blob`` and the number of elements it normalises over, when the
    model says: ``blob``'s declared output shape, else the channels of the innerProduct or
    convolution feeding the softmax, else a classifier's label count."""
    producers = {name: layer for layer in nn.layers for name in layer.output}  # last wins
    softmax = producers.get(blob)
    if softmax is None or layer_kind(softmax) != "softmax":
        return None, None
    output = next((o for o in model.description.output if o.name == blob), None)
    if output is not None and output.type.HasField("multiArrayType"):
        shape = list(output.type.multiArrayType.shape)
        if shape:
            return softmax, shape[0] if len(shape) in (1, 3) else None  # C of [C] or [C, H, W]
    feeding = producers.get(softmax.input[0]) if softmax.input else None
    if feeding is not None and layer_kind(feeding) in ("innerProduct", "convolution"):
        return softmax, int(getattr(feeding, layer_kind(feeding)).outputChannels) or None
    if model.WhichOneof("Type") == "neuralNetworkClassifier" and nn.WhichOneof("ClassLabels"):
        return softmax, len(getattr(nn, nn.WhichOneof("ClassLabels")).vector)
    return softmax, None


def loss_target_types(model: proto.Model, at: At) -> Iterator[Issue]:
    """X6 / X7: the training entry of the loss target has the type the loss reads. (A
    classifier's label entry, named like ``predictedFeatureName``, is Core ML's rule D4.)
    X14: a cross-entropy loss on a softmax over one element, whose probability is always 1:
    Core ML accepts it, and it trains nothing."""
    nn = _updatable_network(model)
    for loss in nn.updateParams.lossLayers if nn is not None else ():
        blob, target = loss_input_and_target(loss)
        if loss.HasField("categoricalCrossEntropyLossLayer"):
            softmax, width = _softmax_width(model, nn, blob)
            if width == 1 and softmax is not None:
                message = (
                    f"cross-entropy loss '{loss.name}' reads softmax '{softmax.name}' over 1 "
                    "element: its only probability is always 1, so the loss is always 0 and "
                    "nothing trains; give the layer before the softmax one output per class"
                )
                yield at.lint("X14", "warning", f"layers['{softmax.name}']", message)
        entry = _training_entry(model, target)
        if entry is None:
            continue  # D5 covers a missing target
        array, item = entry.type.multiArrayType, f"description.trainingInput['{target}']"
        is_array = entry.type.HasField("multiArrayType")
        if loss.HasField("categoricalCrossEntropyLossLayer"):
            if not (is_array and array.dataType == _INT32 and list(array.shape) == [1]):
                message = (
                    f"cross-entropy target '{target}' should be a multiArray INT32 of shape [1] "
                    "holding the class index; Core ML never checks it and fails at run time"
                )
                yield at.lint("X6", "warning", item, message)
        elif loss.HasField("meanSquaredErrorLossLayer"):
            output = next((o for o in model.description.output if o.name == blob), None)
            expected = list(output.type.multiArrayType.shape) if output is not None else []
            if not is_array or (expected and list(array.shape) != expected):
                got = list(array.shape) if is_array else entry.type.WhichOneof("Type")
                message = (
                    f"MSE target '{target}' is {got}, but the loss input '{blob}' has shape "
                    f"{expected or 'unknown'}; the target must be a multiArray of the same shape"
                )
                yield at.lint("X7", "warning", item, message)


def training_inputs_listed(model: proto.Model, at: At) -> Iterator[Issue]:
    """X8 / X9: training inputs are listed once, and exist for updatable kNNs and pipelines."""
    names = Counter(t.name for t in model.description.trainingInput)
    for name, count in names.items():
        if count > 1:
            message = (
                f"training input '{name}' is listed {count} times (coremltools' loss setters "
                "append the model inputs again); keep one entry per feature"
            )
            yield at.lint("X8", "warning", f"description.trainingInput['{name}']", message)
    kind = model.WhichOneof("Type")
    if model.isUpdatable and not names and kind in (*PIPELINE_TYPES, "kNearestNeighborsClassifier"):
        message = (
            f"updatable {kind} has no trainingInput: Core ML's validator accepts it, but an "
            "update task needs them to know which features to read; list the input and label"
        )
        yield at.lint("X9", "warning", "description.trainingInput", message)


def _int64_parameters(model: proto.Model) -> Iterator[tuple[str, proto.Int64Parameter, bool]]:
    kind = model.WhichOneof("Type")
    if kind == "kNearestNeighborsClassifier":
        yield "numberOfNeighbors", model.kNearestNeighborsClassifier.numberOfNeighbors, True
    nn = _updatable_network(model)
    if nn is None:
        return
    update, optimizer = nn.updateParams, nn.updateParams.optimizer.WhichOneof("OptimizerType")
    if optimizer is not None:
        yield "miniBatchSize", getattr(update.optimizer, optimizer).miniBatchSize, True
    yield "epochs", update.epochs, True
    yield "seed", update.seed, False


def int64_sets_clean(model: proto.Model, at: At) -> Iterator[Issue]:
    """X10: Core ML scans a set only up to the default, so what follows goes unchecked."""
    for name, parameter, positive in _int64_parameters(model):
        if parameter.WhichOneof("AllowedValues") != "set":
            continue
        values = list(parameter.set.values)
        tail = (
            values[values.index(parameter.defaultValue) + 1 :]
            if parameter.defaultValue in values
            else []
        )
        bad = [v for v in tail if v <= 0] if positive else []
        duplicated = sorted(v for v, n in Counter(values).items() if n > 1)
        if bad:
            message = (
                f"allowed set {values} of '{name}' holds non-positive values {bad} after the "
                "default, which Core ML's validator never reaches; remove them"
            )
            yield at.lint("X10", "warning", name, message)
        if duplicated:
            message = f"allowed set {values} of '{name}' repeats {duplicated}; list each value once"
            yield at.lint("X10", "warning", name, message)


def feature_names_unique(model: proto.Model, at: At) -> Iterator[Issue]:
    """X11: Core ML does not require unique input (or output) names, but features are passed
    by name, so a repeated name hides one of them."""
    for io in ("input", "output"):
        counts = Counter(f.name for f in getattr(model.description, io))
        for name, count in counts.items():
            if count > 1:
                message = f"{count} {io}s are named '{name}'; feature names must be unique"
                yield at.lint("X11", "warning", f"description.{io}['{name}']", message)
