"""Apple's updatable-model examples and the scenarios of coremltools'
``test/pipeline/test_model_updatable.py`` (docs/mlmodel-format.md §6.1, §6.5), validated end to end,
including a save / load round trip."""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import AdamParams, NeuralNetworkBuilder, SgdParams
from coremltools.models.pipeline import Pipeline

from tests import builders
from updatable import load, save
from updatable.validation import core_ml_issue, validate


def errors(spec):
    return [issue for issue in validate(spec) if issue.severity == "error"]


def test_updatable_mnist_classifier(tmp_path):
    spec = builders.updatable_mnist_example()
    assert spec.description.input[0].type.imageType.colorSpace  # a grayscale image input
    assert [t.name for t in spec.description.trainingInput] == ["image", "digit"]
    path = tmp_path / "MNIST.mlmodel"
    save(spec, path)
    assert errors(load(path)) == []
    assert validate(path) == validate(spec)


def test_tiny_drawing_pipeline_with_knn():
    spec = builders.tiny_drawing_pipeline()
    embedding, knn = spec.pipelineClassifier.pipeline.models
    assert (embedding.specificationVersion, embedding.isUpdatable) == (1, False)
    assert knn.isUpdatable and knn.kNearestNeighborsClassifier.numberOfNeighbors.defaultValue == 5
    assert validate(spec) == []


def test_linked_model_pipeline():
    spec = builders.tiny_drawing_pipeline(linked=True)
    link = spec.pipelineClassifier.pipeline.models[0]
    assert link.WhichOneof("Type") == "linkedModel"
    assert validate(spec) == []


def test_standalone_empty_knn():
    spec = builders.named_knn(
        "input",
        "output",
        128,
        "defaultLabel",
        weighting_scheme="inverse_distance",
        index_type="kd_tree",
        leaf_size=30,
    )
    assert validate(spec) == []


def test_worked_example_classifier(tmp_path):
    """§5.6: the classifier coremltools makes updatable (512 bytes) validates as is."""
    spec = builders.updatable_classifier()
    update = spec.neuralNetworkClassifier.updateParams
    assert update.lossLayers[0].categoricalCrossEntropyLossLayer.target == "probs_true"
    assert [t.name for t in spec.description.trainingInput] == ["image", "label"]
    assert list(update.epochs.set.values) == [5, 10, 20]
    path = tmp_path / "classifier.mlmodel"
    save(spec, path)
    assert core_ml_issue(load(path)) is None


def _coremltools_test_model():
    """test_model_updatable.py's base: `input` Array(3) -> ip1 (3x3, no bias) -> `hidden` ->
    ip2 -> `output`, both layers updatable."""
    rng = np.random.default_rng(0)
    builder = NeuralNetworkBuilder(
        [("input", datatypes.Array(3))], [("output", datatypes.Array(3))]
    )
    for name, inp, out in (("ip1", "input", "hidden"), ("ip2", "hidden", "output")):
        builder.add_inner_product(
            name,
            W=rng.standard_normal((3, 3)),
            b=None,
            input_channels=3,
            output_channels=3,
            has_bias=False,
            input_name=inp,
            output_name=out,
        )
    builder.make_updatable(["ip1", "ip2"])
    return builder


@pytest.mark.parametrize(
    ("loss", "optimizer", "epochs"),
    [
        ("ce", "sgd", (20, [10, 20, 30, 40])),
        ("ce", "adam", (20, None)),
        ("mse", "sgd", (20, None)),
        ("mse", "adam", (10, [10, 20, 30])),
    ],
)
def test_coremltools_updatable_model_creation(tmp_path, loss, optimizer, epochs):
    builder = _coremltools_test_model()
    with builders._quiet():
        if loss == "ce":
            builder.add_softmax("softmax", "output", "softmax_output")
            builder.set_categorical_cross_entropy_loss("cross_entropy", input="softmax_output")
        else:
            builder.set_mean_squared_error_loss("mse", input_feature=("output", datatypes.Array(3)))
    if optimizer == "sgd":
        builder.set_sgd_optimizer(SgdParams(lr=1e-2, batch=10, momentum=0))
    else:
        adam = AdamParams()
        adam.set_batch(10, [10, 20])
        builder.set_adam_optimizer(adam)
    builder.set_epochs(epochs[0], epochs[1])
    path = tmp_path / "updatable.mlmodel"
    save(builder.spec, path)
    spec = load(path)
    assert errors(spec) == []
    if loss == "mse":
        assert [t.name for t in spec.description.trainingInput] == ["input", "output_true"]


def test_coremltools_fp16_scan_misses_later_layers():
    """coremltools' FP16 check inspects the first layer only (§5.5 bug 1): it marks a network
    with FP16 weights in ip2 updatable. Core ML accepts the result; our lint does not."""
    builder = _coremltools_test_model()
    weights = builder.spec.neuralNetwork.layers[1].innerProduct.weights
    half = np.asarray(weights.floatValue, dtype=np.float16)
    weights.ClearField("floatValue")
    weights.float16Value = half.tobytes()
    builder.make_updatable(["ip1", "ip2"])  # no complaint
    with builders._quiet():
        builder.add_softmax("softmax", "output", "softmax_output")
        builder.set_categorical_cross_entropy_loss("cross_entropy", input="softmax_output")
    builder.set_sgd_optimizer(SgdParams())
    builder.set_epochs(5)
    assert core_ml_issue(builder.spec) is None
    assert [(i.code, i.where) for i in errors(builder.spec)] == [("X2", "layers['ip2']")]


def test_coremltools_pipeline_make_updatable_leaves_version_1():
    """§5.3: Pipeline.make_updatable() keeps specificationVersion 1, so G4 fails until the
    version is raised by hand, as Apple's examples do."""
    network = builders.chained_ip_nn(1, False, "C", "D")
    knn = builders.named_knn("D", "E", 3, "x")
    pipeline = Pipeline(input_features=[("C", datatypes.Array(3))], output_features=["E", "EProbs"])
    pipeline.add_model(network)
    pipeline.add_model(knn)
    pipeline.make_updatable()
    spec = pipeline.spec
    del spec.description.input[:]
    del spec.description.output[:]
    spec.description.input.extend(network.description.input)
    spec.description.output.extend(knn.description.output)
    spec.description.trainingInput.extend(
        [network.description.input[0], knn.description.trainingInput[1]]
    )
    issue = core_ml_issue(spec)
    assert (issue.code, issue.where) == ("G4", "specificationVersion")
    spec.specificationVersion = 4
    assert validate(spec) == []
