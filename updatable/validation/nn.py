"""Spec side, validation layer: neural-network rules: the ordinary checks that precede training
(N1-N11) and the updatable checks A1-A4, B1 and D1-D5; C* live in ``backprop`` and
``hyperparameters``.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkValidator.cpp``
(``validate<MLModelType_neuralNetwork*>``, ``validateNeuralNetworkTopLevel``),
``NeuralNetworkValidatorUtils.hpp`` and ``UpdatableNeuralNetworkValidator.cpp``.

The walk over the layers (per-layer checks Y1-Y7 with the topology checks N8 / N9) lives in
``layer_rules.walk``; the shape inference of rank-5 networks (Y8) in ``shapes``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from updatable import proto
from updatable.spec import layer_kind, network
from updatable.validation.backprop import loss_input_and_target
from updatable.validation.generic import (
    classifier_problem,
    is_equivalent,
    regressor_problem,
    same_feature_type,
)
from updatable.validation.issues import INTERFACE, MODEL_PARAMS, UPD_CONFIG, UPD_PARAMS, At, Issue
from updatable.validation.layer_rules.walk import is_ios12_layer, nd_array_mode, produced_blobs


def _has_array_input(model: proto.Model) -> bool:
    return any(f.type.HasField("multiArrayType") for f in model.description.input)


def _all_images_or_arrays(features: Sequence[proto.FeatureDescription]) -> bool:
    return all(f.type.WhichOneof("Type") in ("imageType", "multiArrayType") for f in features)


# --- interface (first) ----------------------------------------------------------------------


def output_types(model: proto.Model, at: At) -> Iterator[Issue]:
    """N1 (plain neural network): every output is an image or a multiArray."""
    if not _all_images_or_arrays(model.description.output):
        message = "Neural Networks require outputs to be images or MLMultiArray."
        yield at.error("N1", "description.output", message, INTERFACE)


def classifier_interface(model: proto.Model, at: At) -> Iterator[Issue]:
    """N2 (classifier): class labels, predicted feature and probabilities outputs."""
    problem = classifier_problem(model, model.neuralNetworkClassifier)
    if problem is not None:
        yield at.error("N2", "description", *problem)


def regressor_interface(model: proto.Model, at: At) -> Iterator[Issue]:
    """N3 (regressor): the predicted feature is a Double or multiArray output."""
    problem = regressor_problem(model)
    if problem is not None:
        yield at.error("N3", "description", *problem)


# --- validateNeuralNetworkTopLevel ---------------------------------------------------------


def shape_mappings(model: proto.Model, at: At) -> Iterator[Issue]:
    """N4: rank-5 array mapping is not allowed with iOS 13 layers or a new image mapping."""
    nn = network(model)
    if not _has_array_input(model) or nn.arrayInputShapeMapping != 0:
        return
    if any(not is_ios12_layer(layer) for layer in nn.layers):
        message = (
            "Neural Network Multi-Array input shape mapping cannot be 'RANK5_ARRAY_MAPPING' if "
            "the network contains a layer added in version 3 (iOS 13) or later."
        )
        yield at.error("N4", "arrayInputShapeMapping", message, INTERFACE)
    elif nn.imageInputShapeMapping != 0:
        message = (
            "Neural Network Multi-Array input shape mapping cannot be 'RANK5_ARRAY_MAPPING' if "
            "the image input Shape mapping is not 'RANK5_IMAGE_MAPPING'"
        )
        yield at.error("N4", "arrayInputShapeMapping", message, INTERFACE)


def interface_present(model: proto.Model, at: At) -> Iterator[Issue]:
    """N5: inputs, outputs and layers exist, and some input is not optional."""
    description, nn = model.description, network(model)
    if not len(description.input):
        yield at.error(
            "N5", "description.input", "Neural networks require at least one input.", INTERFACE
        )
    elif not len(description.output):
        message = "Neural networks produce at least one output."
        yield at.error("N5", "description.output", message, INTERFACE)
    elif not len(nn.layers):
        yield at.error("N5", "layers", "Neural networks require at least one layer.", MODEL_PARAMS)
    elif all(f.type.isOptional for f in description.input):
        message = "Neural networks require at least one non-optional input."
        yield at.error("N5", "description.input", message, INTERFACE)


def input_types(model: proto.Model, at: At) -> Iterator[Issue]:
    """N6: every input is an image or a multiArray."""
    if not _all_images_or_arrays(model.description.input):
        message = "Neural Networks require inputs to be images or MLMultiArray."
        yield at.error("N6", "description.input", message, INTERFACE)


def input_shapes(model: proto.Model, at: At) -> Iterator[Issue]:
    """N7: multiArray inputs are rank 1 or 3 (rank-5 networks), or rank >= 1 (N-d networks)."""
    nd_mode = nd_array_mode(model)
    for i, feature in enumerate(model.description.input):
        if not feature.type.HasField("multiArrayType"):
            continue
        array, item = feature.type.multiArrayType, f"description.input[{i}]"
        flexibility = array.WhichOneof("ShapeFlexibility")
        if nd_mode:
            if not len(array.shape):
                message = "Input MLMultiArray to neural networks must have at least 1 dimension."
                yield at.error("N7", item, message, INTERFACE)
                return
            if flexibility == "shapeRange" and len(array.shapeRange.sizeRanges) != len(array.shape):
                message = (
                    "For MLMultiArray input: Rank of the flexible shape range must match the "
                    "rank of the default shape."
                )
                yield at.error("N7", item, message, INTERFACE)
                return
            continue
        ranks = []
        if flexibility == "enumeratedShapes":
            ranks = [len(shape.shape) for shape in array.enumeratedShapes.shapes]
        elif flexibility == "shapeRange":
            ranks = [len(array.shapeRange.sizeRanges)]
        default_ok = len(array.shape) in (1, 3)
        flexible_ok = flexibility is not None and all(rank in (1, 3) for rank in ranks)
        if (len(array.shape) and not default_ok) or not (default_ok or flexible_ok):
            message = (
                "Input MLMultiArray to neural networks must have dimension 1 (vector) or 3 "
                "(image-like arrays)."
            )
            yield at.error("N7", item, message, INTERFACE)
            return


def _output_blobs(model: proto.Model) -> set[str]:
    """The network's output blobs as Core ML collects them after its walk: every blob that is
    not a model input, or that some layer (a ``copy``) produces as well."""
    inputs = {f.name for f in model.description.input}
    blobs = produced_blobs(model)
    return {b for b, who in blobs.items() if b not in inputs or len(who) > 1}


# --- updatable networks: A, B, D ------------------------------------------------------------


def layers_support_update(model: proto.Model, at: At) -> Iterator[Issue]:
    """A1-A4, walking the layers in order: an updatable layer is a convolution, an
    innerProduct or a uniDirectionalLSTM (A1); conv / innerProduct weights and (if ``hasBias``)
    bias are not quantized (A2) and are flagged updatable (A3); some layer is updatable (A4).
    An updatable LSTM gets no weight checks."""
    any_updatable = False
    for layer in network(model).layers:
        if not layer.isUpdatable:
            continue
        any_updatable = True
        kind, item = layer_kind(layer), f"layers['{layer.name}']"
        if kind in ("convolution", "innerProduct"):
            params = getattr(layer, kind)
            weights, bias, has_bias = params.weights, params.bias, params.hasBias
            if weights.HasField("quantization") or (has_bias and bias.HasField("quantization")):
                message = (
                    f"An updatable layer, named '{layer.name}', has quantized weights/bias "
                    "param. Quantized weights/bias not supported for update."
                )
                yield at.error("A2", item, message, UPD_PARAMS)
                return
            if not weights.isUpdatable or (has_bias and not bias.isUpdatable):
                message = (
                    f"An updatable layer, named '{layer.name}', has a weight/bias param which "
                    "is not marked as updatable."
                )
                yield at.error("A3", item, message, UPD_PARAMS)
                return
        elif kind != "uniDirectionalLSTM":
            # coremltools 3.x/4.x wrote "however, it is"; 5.0b1 dropped the comma.
            message = (
                f"The layer named '{layer.name}' is marked as updatable, however it is not "
                "supported as the type of this layer is neither convolution nor inner-product."
            )
            yield at.error("A1", item, message, UPD_PARAMS)
            return
    if not any_updatable:
        message = "The model is marked as updatable, but none of the layers are updatable."
        yield at.error("A4", "layers", message, UPD_PARAMS)


def names_unique(model: proto.Model, at: At) -> Iterator[Issue]:
    """B1: layer names and loss-layer names, taken together, are unique."""
    nn, seen = network(model), set()
    named = [(layer.name, "layers") for layer in nn.layers]
    named += [(loss.name, "updateParams.lossLayers") for loss in nn.updateParams.lossLayers]
    for name, where in named:
        if name in seen:
            message = (
                f"The updatable model has a name collision for: '{name}', i.e., there are more "
                "than one layers or loss layers with this name."
            )
            yield at.error("B1", f"{where}['{name}']", message, UPD_PARAMS)
            return
        seen.add(name)


def training_inputs_valid(model: proto.Model, at: At) -> Iterator[Issue]:
    """D1-D5 (``validateTrainingInputs``).

    A training input is *exclusive* unless it is equivalent (same name and type) to a model
    input. D1 at least two training inputs; D2 one exclusive; D3 one equivalent to a model
    input; D4 (classifier) an exclusive input named like ``predictedFeatureName`` has that
    output's type, checked at once while scanning; D5 some exclusive input is the loss target
    or (classifier) the predicted feature. With no loss layer Core ML reads a loss that does not
    exist (undefined behaviour); we use an empty target, and lint X1 reports the cause.
    """
    description = model.description
    training = list(description.trainingInput)
    if len(training) <= 1:
        message = (
            "Must provide training inputs for updatable neural network (expecting both input "
            "and target for loss function)."
        )
        yield at.error("D1", "description.trainingInput", message, UPD_CONFIG)
        return
    exclusive = [
        (i, t)
        for i, t in enumerate(training)
        if not any(is_equivalent(t, f) for f in description.input)
    ]
    if not exclusive:
        message = (
            "Training inputs don't describe required inputs for the loss (needs both the input "
            "and the target)."
        )
        yield at.error("D2", "description.trainingInput", message, UPD_CONFIG)
        return
    if len(training) == len(exclusive):
        message = (
            "The training inputs must include at least one input from the model itself as "
            "required for training (should have at least one input in common with those used "
            "for prediction)."
        )
        yield at.error("D3", "description.trainingInput", message, UPD_CONFIG)
        return
    yield from _targets_covered(model, exclusive, at)


def _targets_covered(model: proto.Model, exclusive: list[Any], at: At) -> Iterator[Issue]:
    """D4 and D5 over the exclusive training inputs ``[(index, description)]``."""
    description = model.description
    losses = network(model).updateParams.lossLayers
    target = loss_input_and_target(losses[0])[1] if len(losses) else ""
    is_classifier = model.WhichOneof("Type") == "neuralNetworkClassifier"
    label = description.predictedFeatureName
    satisfied = False
    for i, entry in exclusive:
        if is_classifier and entry.name == label:
            output = next((o for o in description.output if o.name == entry.name), None)
            if output is not None and same_feature_type(entry.type, output.type):
                satisfied = True
            elif output is not None:
                found = "Int64" if entry.type.HasField("int64Type") else "String"
                expected = "Int64" if output.type.HasField("int64Type") else "String"
                message = (
                    f"The type of the training input provided: {entry.name} doesn't match the "
                    f"expected type of the classifier. Found: {found}, expected: {expected}."
                )
                yield at.error("D4", f"description.trainingInput[{i}]", message, UPD_CONFIG)
                return
        if entry.name == target:
            satisfied = True
    if not satisfied:
        if is_classifier:
            message = f"The training inputs don't include the target of the classifier: {label}"
        else:
            message = f"The training inputs don't include the loss layer's target: {target}"
        yield at.error("D5", "description.trainingInput", message, UPD_CONFIG)


# --- outputs (last) -------------------------------------------------------------------------


def probability_layer_found(model: proto.Model, at: At) -> Iterator[Issue]:
    """N10 (classifier): ``labelProbabilityLayerName``, if set, is an output blob."""
    blob = model.neuralNetworkClassifier.labelProbabilityLayerName
    if blob and blob not in _output_blobs(model):
        message = (
            f"For this neural network classifier, the probabilities are obtained from the layer "
            f"'{blob}' which was not found in the network."
        )
        yield at.error("N10", "labelProbabilityLayerName", message, MODEL_PARAMS)


def classifier_outputs_produced(model: proto.Model, at: At) -> Iterator[Issue]:
    """N11 (classifier): each output is a blob, the predicted feature or the probabilities."""
    blobs, description = _output_blobs(model), model.description
    extra = {description.predictedFeatureName, description.predictedProbabilitiesName}
    for i, output in enumerate(description.output):
        if output.name not in blobs and output.name not in extra:
            message = (
                f"Output layer '{output.name}' is not produced by any layer of the neural network."
            )
            yield at.error("N11", f"description.output[{i}]", message, MODEL_PARAMS)
            return


def outputs_produced(model: proto.Model, at: At) -> Iterator[Issue]:
    """N11 (plain network): each output is produced by a layer; a repeated output name fails
    the second time, because Core ML erases each name once it is matched."""
    blobs = _output_blobs(model)
    for i, output in enumerate(model.description.output):
        if output.name not in blobs:
            message = (
                f"Interface specifies output '{output.name}' which is not produced by any layer "
                "in the neural network."
            )
            yield at.error("N11", f"description.output[{i}]", message, INTERFACE)
            return
        blobs.discard(output.name)
