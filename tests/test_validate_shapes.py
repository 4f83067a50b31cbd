"""Core ML's shape inference of rank-5 networks (Y8) and where it is undefined (Y9): the range
arithmetic, one contradiction per layer kind, and what a Y8 result means (Core ML accepts the
model but skips its updatable checks)."""

from __future__ import annotations

import pytest

from tests import builders
from updatable import proto, save
from updatable.cli import main
from updatable.validation import SHAPES, check, core_ml_issue, validate
from updatable.validation.shapes.ranges import Range, Shape, ShapeFailure, add, div, sub

_NN = proto.NeuralNetwork_pb2
_HEAD = "Error determining network blob shapes: "


def _array(feature, shape) -> None:
    feature.type.multiArrayType.dataType = proto.ArrayFeatureType.ArrayDataType.Value("FLOAT32")
    feature.type.multiArrayType.shape.extend(shape)


def rank5(inputs: dict, outputs: dict, *layers):
    """A spec-1 rank-5 network: ``inputs`` / ``outputs`` {name: [C] or [C, H, W] or None},
    ``layers`` (kind, name, inputs, outputs, setup(params))."""
    spec = proto.Model(specificationVersion=1)
    for name, shape in inputs.items():
        _array(spec.description.input.add(name=name), shape)
    for name, shape in outputs.items():
        _array(spec.description.output.add(name=name), shape or [])
    for kind, name, ins, outs, setup in layers:
        layer = spec.neuralNetwork.layers.add(name=name, input=ins, output=outs)
        getattr(layer, kind).SetInParent()
        if setup is not None:
            setup(getattr(layer, kind))
    return spec


def _ip(n_in: int, n_out: int):
    def setup(p) -> None:
        p.inputChannels, p.outputChannels = n_in, n_out
        p.weights.floatValue.extend([0.1] * (n_in * n_out))

    return setup


def _conv(kernel_channels: int, stride=(1, 1), deconvolution=False):
    def setup(p) -> None:
        p.outputChannels, p.kernelChannels = 2, kernel_channels
        p.kernelSize.extend([3, 3])
        p.stride.extend(stride)
        p.isDeconvolution = deconvolution
        p.valid.SetInParent()
        p.weights.floatValue.extend([0.1] * (2 * kernel_channels * 9))

    return setup


def _borders(amounts, n: int = 1) -> None:
    for _ in range(2):
        amounts.borderAmounts.add(startEdgeSize=n, endEdgeSize=n)


def expect_shapes(spec, message: str, where: str):
    issue = core_ml_issue(spec)
    assert issue is not None, "expected Core ML's shape pass to fail"
    assert (issue.code, issue.severity, issue.message) == ("Y8", "warning", _HEAD + message)
    assert (issue.result_type, issue.where) == (SHAPES, where)


CHW = [2, 4, 4]
CASES = [
    (
        rank5({"x": [3]}, {"y": None}, ("innerProduct", "ip", ["x"], ["y"], _ip(4, 2))),
        "Invalid setValue 4 for range: [3, 3]",
        "layers['ip']",
    ),
    (
        rank5({"x": [3]}, {"y": [5]}, ("innerProduct", "ip", ["x"], ["y"], _ip(3, 2))),
        "Invalid setValue 5 for range: [2, 2]",
        "description.output[0]",
    ),
    (
        rank5({"x": [1, 8, 8]}, {"y": None}, ("convolution", "conv", ["x"], ["y"], _conv(3))),
        "Invalid setValue 3 for range: [1, 1]",
        "layers['conv']",
    ),
    (
        rank5(
            {"x": [1, 28, 28]}, {"y": None}, ("convolution", "conv", ["x"], ["y"], _conv(1, (0, 0)))
        ),
        "Dividing ShapeRange [25, 25] by negative or zero value 0",
        "layers['conv']",
    ),
    (
        rank5(
            {"x": CHW},
            {"y": None},
            ("flatten", "flat", ["x"], ["f"], None),
            ("innerProduct", "ip", ["f"], ["y"], _ip(30, 2)),
        ),
        "Invalid setValue 30 for range: [32, 32]",
        "layers['ip']",
    ),
    (
        rank5({"a": CHW, "b": [3, 5, 4]}, {"y": None}, ("concat", "cat", ["a", "b"], ["y"], None)),
        "Invalid height range in blob y. Invalid setUpper 4 for range: [5, inf]",
        "layers['cat']",
    ),
    (
        rank5(
            {"x": [3, 4, 4]},
            {"a": None, "b": None},
            ("split", "split", ["x"], ["a", "b"], lambda p: setattr(p, "nOutputs", 2)),
        ),
        "Invalid channel range in blob x. Invalid setUpper 2 for range: [3, inf]",
        "layers['split']",
    ),
    (
        rank5(
            {"x": [3, 4, 4]}, {"a": None, "b": None}, ("split", "split", ["x"], ["a", "b"], None)
        ),
        "Dividing ShapeRange [3, 3] by negative or zero value 0",
        "layers['split']",
    ),
    (
        rank5(
            {"x": CHW},
            {"y": CHW},
            ("reshape", "r", ["x"], ["y"], lambda p: p.targetShape.extend([4, 4, 2])),
        ),
        "Invalid setValue 2 for range: [4, 4]",
        "description.output[0]",
    ),
    (
        rank5(
            {"x": [2, 4, 6]},
            {"y": [2, 4, 6]},
            ("permute", "t", ["x"], ["y"], lambda p: p.axis.extend([0, 2, 3, 1])),
        ),
        "Invalid setValue 2 for range: [4, 4]",
        "description.output[0]",
    ),
    (
        rank5(
            {"x": [3, 4, 4]},
            {"y": [3, 4, 4]},
            (
                "slice",
                "s",
                ["x"],
                ["y"],
                lambda p: (setattr(p, "endIndex", 2), setattr(p, "stride", 1)),
            ),
        ),
        "Invalid setValue 3 for range: [2, 2]",
        "description.output[0]",
    ),
    (
        rank5(
            {"x": [3, 4, 4]},
            {"y": None},
            (
                "slice",
                "s",
                ["x"],
                ["y"],
                lambda p: (setattr(p, "endIndex", 5), setattr(p, "stride", 1)),
            ),
        ),
        "Invalid setUpper 3 for range: [5, inf]",
        "layers['s']",
    ),
    (
        rank5(
            {"x": [3, 4, 4]},
            {"y": [3, 4, 4]},
            ("reduce", "r", ["x"], ["y"], lambda p: setattr(p, "axis", _NN.ReduceLayerParams.C)),
        ),
        "Invalid setValue 3 for range: [1, 1]",
        "description.output[0]",
    ),
    (
        rank5({"a": [3], "b": [4]}, {"y": None}, ("dot", "dot", ["a", "b"], ["y"], None)),
        "Invalid setUpper 3 for range: [4, inf]",
        "layers['dot']",
    ),
    (
        rank5(
            {"x": [2]},
            {"y": None},
            (
                "embedding",
                "e",
                ["x"],
                ["y"],
                lambda p: (
                    setattr(p, "inputDim", 2),
                    setattr(p, "outputChannels", 1),
                    p.weights.floatValue.extend([0.0, 0.0]),
                ),
            ),
        ),
        "Invalid setValue 1 for range: [2, 2]",
        "layers['e']",
    ),
    (
        rank5(
            {"x": CHW},
            {"y": CHW},
            ("upsample", "up", ["x"], ["y"], lambda p: p.scalingFactor.extend([2, 2])),
        ),
        "Invalid setValue 4 for range: [8, 8]",
        "description.output[0]",
    ),
    (
        rank5(
            {"x": CHW},
            {"y": CHW},
            (
                "padding",
                "pad",
                ["x"],
                ["y"],
                lambda p: (p.constant.SetInParent(), _borders(p.paddingAmounts)),
            ),
        ),
        "Invalid setValue 4 for range: [6, 6]",
        "description.output[0]",
    ),
    (
        rank5(
            {"x": CHW},
            {"y": None},
            ("crop", "crop", ["x"], ["y"], lambda p: _borders(p.cropAmounts, 2)),
        ),
        "Invalid setUpper 4 for range: [5, inf]",
        "layers['crop']",
    ),
    (
        rank5(
            {"x": CHW},
            {"y": CHW},
            ("reorganizeData", "s2d", ["x"], ["y"], lambda p: setattr(p, "blockSize", 2)),
        ),
        "Invalid setValue 2 for range: [8, 8]",
        "description.output[0]",
    ),
    (
        rank5(
            {"x": CHW},
            {"y": CHW},
            ("resizeBilinear", "rs", ["x"], ["y"], lambda p: p.targetSize.extend([8, 8])),
        ),
        "Invalid setValue 4 for range: [8, 8]",
        "description.output[0]",
    ),
    (
        rank5(
            {"x": [1, 28, 28]},
            {"y": CHW},
            (
                "pooling",
                "pool",
                ["x"],
                ["y"],
                lambda p: (setattr(p, "globalPooling", True), p.valid.SetInParent()),
            ),
        ),
        "Invalid setValue 2 for range: [1, 1]",
        "description.output[0]",
    ),
    (
        rank5(
            {"x": [1, 28, 28]},
            {"y": None},
            (
                "pooling",
                "pool",
                ["x"],
                ["y"],
                lambda p: (
                    p.valid.SetInParent(),
                    p.kernelSize.extend([3, 3]),
                    p.stride.extend([0, 0]),
                ),
            ),
        ),
        "Dividing range 25 by 0.",
        "layers['pool']",
    ),
    (
        rank5(
            {"x": [3]},
            {"y": [3]},
            (
                "loadConstant",
                "c",
                [],
                ["k"],
                lambda p: (p.shape.extend([2, 1, 1]), p.data.floatValue.extend([1.0, 2.0])),
            ),
            ("add", "add", ["x", "k"], ["y"], None),
        ),
        None,
        None,
    ),  # add: fixed inputs of unequal channels are not compared
]


@pytest.mark.parametrize(("spec", "message", "where"), CASES)
def test_shape_contradictions(spec, message, where):
    if message is None:
        assert core_ml_issue(spec) is None
    else:
        expect_shapes(spec, message, where)


def test_lstm_input_size():
    spec = rank5(
        {"x": [5]},
        {"y": None, "h": None, "c": None},
        ("uniDirectionalLSTM", "lstm", ["x"], ["y", "h", "c"], _lstm(4, 2)),
    )
    expect_shapes(spec, "Invalid setValue 4 for range: [5, 5]", "layers['lstm']")


def _lstm(x: int, h: int):
    def setup(p) -> None:
        p.inputVectorSize, p.outputVectorSize = x, h
        for _ in range(3):
            p.activations.add().tanh.SetInParent()
        for gate in ("inputGate", "forgetGate", "blockInput", "outputGate"):
            getattr(p.weightParams, f"{gate}WeightMatrix").floatValue.extend([0.0] * (x * h))
            getattr(p.weightParams, f"{gate}RecursionMatrix").floatValue.extend([0.0] * (h * h))

    return setup


def test_a_deconvolution_with_stride_0_is_undefined_in_core_ml():
    """Core ML divides an ``int`` by the stride (undefined behaviour): Y9, our message."""
    conv = ("convolution", "deconv", ["x"], ["y"], _conv(1, (0, 0), deconvolution=True))
    spec = rank5({"x": [1, 8, 8]}, {"y": None}, conv)
    issue = core_ml_issue(spec)
    assert (issue.code, issue.severity, issue.result_type) == ("Y9", "error", "")
    assert issue.message.startswith(
        "Core ML's shape inference of this rank-5 network runs into an integer division by zero"
    )
    assert issue.where == "layers['deconv']"


def test_flexible_input_sizes_become_ranges():
    spec = rank5({"x": [3]}, {"y": None}, ("innerProduct", "ip", ["x"], ["y"], _ip(7, 2)))
    shapes = spec.description.input[0].type.multiArrayType.enumeratedShapes.shapes
    shapes.add().shape.extend([4])
    shapes.add().shape.extend([6])
    expect_shapes(spec, "Invalid setValue 7 for range: [4, 6]", "layers['ip']")
    spec = rank5({"x": [1, 8, 8]}, {"y": None}, ("convolution", "conv", ["x"], ["y"], _conv(1)))
    spec.description.input[0].type.Clear()
    image = spec.description.input[0].type.imageType
    image.width = image.height = 8
    image.colorSpace = proto.FeatureTypes_pb2.ImageFeatureType.RGB
    expect_shapes(spec, "Invalid setValue 1 for range: [3, 3]", "layers['conv']")


def test_range_arithmetic():
    """``size_t`` sums wrap, differences clamp at 0; the texts are Core ML's."""
    assert sub(3, 5) == 0 and add(3, -5) == 0 and add(None, 4) is None
    assert add((1 << 64) - 1, 2) == 1
    assert str(Range(2, None)) == "[2, inf]" and str(Range(2, 3) + 1) == "[3, 4]"
    assert str(Range(5, 9).div_round_up(2)) == "[3, 5]"
    assert str(Range(2, 3).times(Range(4, None))) == "[8, inf]"
    with pytest.raises(ShapeFailure, match=r"^Dividing range 7 by 0\.$"):
        div(7, 0)
    assert div(None, 0) is None  # an unbound size divided by 0 stays unbound
    with pytest.raises(ShapeFailure, match=r"^Constructing invalid ShapeRange with 3, 2$"):
        Range.between(3, 2)
    with pytest.raises(ShapeFailure, match=r"^Invalid setUpper 2 for range: \[4, inf\]$"):
        Range(4, 2).intersect(Range())  # the bounds fail first
    with pytest.raises(
        ShapeFailure, match=r"^Invalid intersection between \[inf, inf\] and \[0, inf\]$"
    ):
        Range(None, None).intersect(Range())  # only an unbound minimum gets this far
    shape = Shape("blob")
    shape.set("channel", 3)
    with pytest.raises(
        ShapeFailure,
        match=r"^Invalid channel range in blob blob\. Invalid setUpper 3 for range: \[4, inf\]$",
    ):
        shape.update("channel", Range(4, 4))


def _updatable_with_bad_shapes():
    """updatable_nn whose ip1 expects 4 inputs where the model gives 3 (weights of 4 x 3)."""
    spec = builders.updatable_nn()
    ip1 = spec.neuralNetwork.layers[0].innerProduct
    ip1.inputChannels = 4
    ip1.weights.floatValue.extend([0.0] * 3)
    return spec


def test_core_ml_accepts_the_model_and_skips_its_updatable_checks():
    spec = _updatable_with_bad_shapes()
    expect_shapes(spec, "Invalid setValue 4 for range: [3, 3]", "layers['ip1']")
    spec.neuralNetwork.layers[1].isUpdatable = True  # a relu: A1 would reject it
    expect_shapes(spec, "Invalid setValue 4 for range: [3, 3]", "layers['ip1']")
    assert [i.code for i in check(spec, lint=False)] == ["Y8"]  # a warning: no exception
    assert [i.severity for i in validate(spec, lint=False)] == ["warning"]


def test_the_output_checks_still_run_after_a_shape_warning():
    spec = rank5({"x": [3]}, {"y": None}, ("innerProduct", "ip", ["x"], ["y"], _ip(4, 2)))
    spec.description.output.add(
        name="missing"
    ).type.multiArrayType.dataType = proto.ArrayFeatureType.ArrayDataType.Value("FLOAT32")
    issue = core_ml_issue(spec)
    assert (issue.code, issue.severity) == ("N11", "error")


def test_a_pipeline_carries_on_after_a_sub_model_warning():
    network = rank5({"x": [3]}, {"y": None}, ("innerProduct", "ip", ["x"], ["y"], _ip(4, 2)))
    network.specificationVersion = 4
    spec = proto.Model(specificationVersion=4)
    spec.description.input.add().CopyFrom(network.description.input[0])
    spec.description.output.add().CopyFrom(network.description.output[0])
    spec.pipeline.models.add().CopyFrom(network)
    assert core_ml_issue(spec.pipeline.models[0]).code == "Y8"
    assert core_ml_issue(spec) is None


@pytest.mark.parametrize(
    "name",
    [
        "base_nn",
        "updatable_nn",
        "updatable_classifier",
        "mnist_convnet",
        "image_classifier",
        "fire_net",
        "classifier_nn",
        "quantized_nn",
        "fp16_nn",
        "updatable_mnist",
        "regressor_nn",
        "two_output_nn",
        "blocked_classifier",
        "conv_head_classifier",
        "classifier_with_logits_output",
    ],
)
def test_builder_networks_have_consistent_shapes(name):
    """coremltools' builder wrote them: Core ML's shape pass finds nothing."""
    spec = getattr(builders, name)()
    assert core_ml_issue(spec) is None


def test_the_command_line_exits_0_on_a_shape_warning(tmp_path, capsys):
    path = tmp_path / "Shapes.mlmodel"
    save(rank5({"x": [3]}, {"y": None}, ("innerProduct", "ip", ["x"], ["y"], _ip(4, 2))), path)
    assert main(["validate", str(path), "--no-lint"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        f"Y8 warning layers['ip']: {_HEAD}Invalid setValue 4 for range: [3, 3]"
    )
    assert out.splitlines()[-1] == f"{path}: valid (0 error(s), 1 warning(s))"
