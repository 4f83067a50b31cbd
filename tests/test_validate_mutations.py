"""Every row of the mutation table of docs/mlmodel-format.md §6.4, on models that coremltools'
builders wrote, with Core ML's exact message (or "valid")."""

from __future__ import annotations

import pytest

from tests import builders
from updatable import proto
from updatable.spec import find_layer as _layer
from updatable.validation import core_ml_issue

BASES = {
    "cce": lambda: builders.updatable_nn("cce"),
    "mse": lambda: builders.updatable_nn("mse"),
    "adam": lambda: builders.updatable_nn("cce", "adam"),
    "classifier": builders.updatable_classifier,
    "knn": builders.empty_knn,
}


def _update(spec):
    return spec.neuralNetwork.updateParams


def _sgd(spec):
    return _update(spec).optimizer.sgdOptimizer


def _set_values(parameter, values):
    del parameter.set.values[:]
    parameter.set.values.extend(values)


def _insert_abs(spec):
    """unary ABS between ip1 and relu1, kept in topological order."""
    layers = spec.neuralNetwork.layers
    abs_layer = layers.add(name="abs", input=["hidden"], output=["hidden_abs"])
    abs_layer.unary.type = proto.NeuralNetwork_pb2.UnaryFunctionLayerParams.ABS
    _layer(spec, "relu1").input[0] = "hidden_abs"
    reordered = [layers[0], layers[-1], *layers[1:-1]]
    copies = [proto.NeuralNetworkLayer.FromString(x.SerializeToString()) for x in reordered]
    del layers[:]
    layers.extend(copies)


def _parallel_branch(spec):
    """§2.4: a dynamic-weight convolution after ip2 whose second input is `unary abs` of the
    model input; the search finds ip2 and abs at one level, then ip1."""
    spec.neuralNetwork.arrayInputShapeMapping = 1
    # a convolution reads rank >= 4 (Core ML's Y3 under N-d arrays): `output` is [1, 3, 1, 1]
    spec.description.output[0].type.multiArrayType.shape[:] = [1, 3, 1, 1]
    layers = spec.neuralNetwork.layers
    abs_layer = layers.add(name="abs", input=["input"], output=["input_abs"])
    abs_layer.unary.type = proto.NeuralNetwork_pb2.UnaryFunctionLayerParams.ABS
    conv = layers.add(name="conv", input=["output", "input_abs"], output=["conv_out"])
    conv.convolution.outputChannels = conv.convolution.kernelChannels = 3
    conv.convolution.valid.SetInParent()  # a padding type is required (Y5)
    softmax = _layer(spec, "softmax")
    softmax.input[0] = "conv_out"
    moved = proto.NeuralNetworkLayer.FromString(softmax.SerializeToString())
    kept = [x for x in layers if x.name != "softmax"]
    kept = [proto.NeuralNetworkLayer.FromString(x.SerializeToString()) for x in kept]
    del layers[:]
    layers.extend([*kept, moved])


def _retype(entry, kind):
    entry.type.Clear()
    getattr(entry.type, kind).SetInParent()


def _add_sample(spec):
    spec.kNearestNeighborsClassifier.nearestNeighborsIndex.floatSamples.add().vector.extend(
        [1, 2, 3, 4]
    )


def _pipeline(network_updatable):
    network = builders.chained_ip_nn(1, True, "C", "D")
    builders.add_cce_with_softmax_and_sgd(network, "D")
    network.isUpdatable = network_updatable  # layer flags stay either way
    knn = builders.named_knn("D", "E", 3, "x")
    return builders.pipeline_spec([network, knn], updatable=True)


ROWS = [
    # (base, mutation, code or None, message or None)
    (
        "cce",
        lambda s: setattr(s, "specificationVersion", 3),
        "G4",
        "Model specification version for an updatable model must be '4' or above.",
    ),
    (
        "cce",
        lambda s: setattr(_layer(s, "relu1"), "isUpdatable", True),
        "A1",
        "The layer named 'relu1' is marked as updatable, however it is not supported as the type "
        "of this layer is neither convolution nor inner-product.",
    ),
    (
        "cce",
        lambda s: setattr(_layer(s, "ip1").innerProduct.bias, "isUpdatable", False),
        "A3",
        "An updatable layer, named 'ip1', has a weight/bias param which is not marked as "
        "updatable.",
    ),
    (
        "cce",
        lambda s: setattr(_layer(s, "ip1").innerProduct.weights.quantization, "numberOfBits", 8),
        "A2",
        "An updatable layer, named 'ip1', has quantized weights/bias param. Quantized weights/bias "
        "not supported for update.",
    ),
    (
        "cce",
        lambda s: [setattr(x, "isUpdatable", False) for x in s.neuralNetwork.layers],
        "A4",
        "The model is marked as updatable, but none of the layers are updatable.",
    ),
    (
        "cce",
        lambda s: setattr(_update(s).lossLayers[0], "name", "ip1"),
        "B1",
        "The updatable model has a name collision for: 'ip1', i.e., there are more than one layers "
        "or loss layers with this name.",
    ),
    (
        "cce",
        lambda s: (
            _update(s).lossLayers.add(name="second").categoricalCrossEntropyLossLayer.SetInParent()
        ),
        "C1",
        "This model has more than one loss layers specified, which is not supported at the moment.",
    ),
    (
        "cce",
        lambda s: setattr(
            _update(s).lossLayers[0].categoricalCrossEntropyLossLayer, "input", "output"
        ),
        "C4",
        "For the categorical cross entropy loss layer named 'lossLayer', input is not generated "
        "from a softmax output.",
    ),
    (
        "cce",
        lambda s: setattr(
            _update(s).lossLayers[0].categoricalCrossEntropyLossLayer, "target", "hidden"
        ),
        "C5",
        "For the cross entropy loss layer named 'lossLayer', target is generated within the graph.",
    ),
    (
        "mse",
        lambda s: setattr(_update(s).lossLayers[0].meanSquaredErrorLossLayer, "input", "input"),
        "C6",
        "For the MSE loss layer named 'lossLayer', input is not generated within the graph.",
    ),
    (
        "cce",
        lambda s: _sgd(s).ClearField("miniBatchSize"),
        "C11",
        "SGD optimizer should include miniBatchSize parameter.",
    ),
    (
        "cce",
        lambda s: _update(s).ClearField("epochs"),
        "C14",
        "Epochs should be included in neural network update parameters.",
    ),
    (
        "cce",
        lambda s: setattr(_sgd(s).learningRate, "defaultValue", 5),
        "C10",
        "Specified Default Value (5.000000) out of Allowed Value Range for 'learningRate'",
    ),
    (
        "cce",
        lambda s: setattr(_sgd(s).miniBatchSize, "defaultValue", 3),
        "C12",
        "Specified Default Value (3) not found in Allowed Values Set for 'miniBatchSize'",
    ),
    (
        "adam",
        lambda s: _update(s).optimizer.adamOptimizer.ClearField("eps"),
        "C13",
        "ADAM optimizer should include eps (epslion) parameter.",
    ),
    (
        "cce",
        lambda s: (
            _set_values(_update(s).epochs, [0, 4]),
            setattr(_update(s).epochs, "defaultValue", 4),
        ),
        "C15",
        "Non-positive value (0) in Allowed Values Set for 'epochs' is not allowed.",
    ),
    ("cce", lambda s: setattr(_sgd(s).momentum, "defaultValue", 5), None, None),
    (
        "cce",
        lambda s: (
            _set_values(_update(s).epochs, [4, 0]),
            setattr(_update(s).epochs, "defaultValue", 4),
        ),
        None,
        None,
    ),
    ("cce", lambda s: setattr(_update(s).seed, "defaultValue", -5), None, None),
    (
        "cce",
        lambda s: s.description.trainingInput.add(name="unknown").type.doubleType.SetInParent(),
        None,
        None,
    ),
    (
        "cce",
        _insert_abs,
        "C17",
        "There is a layer (abs), which does not support backpropagation, between an updatable "
        "marked layer and the loss function.",
    ),
    (
        "cce",
        _parallel_branch,
        "C17",
        "There is a layer (abs), which does not support backpropagation, between an updatable "
        "marked layer and the loss function.",
    ),
    (
        "cce",
        lambda s: s.description.trainingInput.__delitem__(0),
        "D1",
        "Must provide training inputs for updatable neural network (expecting both input and "
        "target for loss function).",
    ),
    (
        "cce",
        lambda s: setattr(s.description.trainingInput[1], "name", "renamed"),
        "D5",
        "The training inputs don't include the loss layer's target: softmax_output_true",
    ),
    (
        "cce",
        lambda s: setattr(
            s.description.trainingInput[0].type.multiArrayType,
            "dataType",
            proto.ArrayFeatureType.FLOAT32,
        ),
        "D3",
        "The training inputs must include at least one input from the model itself as required "
        "for training (should have at least one input in common with those used for "
        "prediction).",
    ),
    (
        "classifier",
        lambda s: _retype(s.description.trainingInput[1], "int64Type"),
        "D4",
        "The type of the training input provided: label doesn't match the expected type of the "
        "classifier. Found: Int64, expected: String.",
    ),
    (
        "classifier",
        lambda s: setattr(s.description.trainingInput[1], "name", "probs_true"),
        None,
        None,
    ),
    (
        "knn",
        _add_sample,
        "K7",
        'Unexpected number of labels "0" for the given number of examples: "1.',
    ),
    (
        "knn",
        lambda s: setattr(s.kNearestNeighborsClassifier.numberOfNeighbors, "defaultValue", 2000),
        "K1",
        "Specified Default Value (2000) out of Allowed Value Range for 'numberOfNeighbors'",
    ),
    (
        "knn",
        lambda s: s.kNearestNeighborsClassifier.int64ClassLabels.SetInParent(),
        "K3",
        "KNearestNeighborsClassifier's class label and default class label have different types.",
    ),
]


@pytest.mark.parametrize(("base", "mutate", "code", "message"), ROWS)
def test_mutation_row(base, mutate, code, message):
    spec = BASES[base]()
    assert core_ml_issue(spec) is None, "the base model must validate unchanged"
    mutate(spec)
    issue = core_ml_issue(spec)
    if code is None:
        assert issue is None
    else:
        assert issue is not None, f"expected {code}"
        assert (issue.code, issue.message) == (code, message)


def test_pipeline_rows():
    issue = core_ml_issue(_pipeline(network_updatable=True))
    assert (issue.code, issue.where) == ("P1", "models[0]")
    assert issue.message == (
        "Only the last model in the pipeline can be updatable. Model at position '0' is marked "
        "as updatable."
    )
    assert core_ml_issue(_pipeline(network_updatable=False)) is None
    network = builders.chained_ip_nn(1, False, "C", "D")
    spec = builders.pipeline_spec([network, builders.named_knn("D", "E", 3, "x")])
    issue = core_ml_issue(spec)
    assert (issue.code, issue.message) == (
        "P3",
        "Found an updatable model at '1' inside a non-updatable pipeline.",
    )
