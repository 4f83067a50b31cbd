"""Repairs of converter output (updatable.repair): each rewrite leaves the model's outputs
unchanged on random inputs, refuses what it cannot rewrite exactly, and is reported; the
check inside is real (it fails on a changed model)."""

from __future__ import annotations

import numpy as np
import pytest

import runtime
import updatable
from runtime.tools.equivalence import blob_shapes, check_equivalent, random_examples
from tests.builders import converter_style, torch_zoo
from tests.builders._common import NeuralNetworkBuilder, datatypes
from tests.optional import needs
from updatable.edit.repair import NOT_CHECKED, needed_repairs
from updatable.errors import SurgeryError


def _kinds(spec):
    return [layer.WhichOneof("layer") for layer in updatable.spec.network(spec).layers]


def _outputs_equal(before, after, count=16):
    """Independent of the repair's own check: every probability of every example."""
    examples = random_examples(before.description, count, seed=7)
    old = runtime.Model.compile(before).predict_batch(examples)
    new = runtime.Model.compile(after).predict_batch(examples)
    name = before.description.predictedProbabilitiesName or before.description.output[0].name
    for a, b in zip(old, new, strict=True):
        a, b = a[name], b[name]
        if isinstance(a, dict):
            assert a.keys() == b.keys()
            np.testing.assert_allclose([b[k] for k in a], [a[k] for k in a], rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_allclose(np.ravel(b), np.ravel(a), rtol=1e-5, atol=1e-6)


def _copy(spec):
    copy = updatable.proto.Model()
    copy.CopyFrom(spec)
    return copy


def dense_with_bias_add(axis=-1, classes=3, seed=0):
    """An N-D classifier: `x` [1, 8] -> batchedMatmul (weights, no bias) -> addBroadcastable of
    a loadConstantND [3] -> softmaxND(axis) `probs`."""
    rng = np.random.default_rng(seed)
    builder = NeuralNetworkBuilder(
        [("x", datatypes.Array(1, 8))],
        [("probs", None)],
        mode="classifier",
        disable_rank5_shape_mapping=True,
    )
    builder.add_batched_mat_mul(
        "dense",
        ["x"],
        "matmul",
        weight_matrix_rows=8,
        weight_matrix_columns=classes,
        W=rng.standard_normal((8, classes)),
    )
    builder.add_load_constant_nd("bias", "b", rng.standard_normal(classes), (classes,))
    builder.add_add_broadcastable("add", ["matmul", "b"], "logits")
    builder.add_softmax_nd("softmax", "logits", "probs", axis=axis)
    builder.set_class_labels([f"c{i}" for i in range(classes)], prediction_blob="probs")
    return builder.spec


def test_batched_matmul_and_bias_add_become_one_inner_product():
    spec = dense_with_bias_add()
    before = _copy(spec)
    done = updatable.repair(spec, shapes=blob_shapes, check=check_equivalent)
    messages = [r.message for r in done]
    assert messages == [
        "rewrote batchedMatmul 'dense' as innerProduct 'dense'",
        "folded loadConstantND 'bias' + addBroadcastable 'add' into the bias of innerProduct "
        "'dense'",
        "inserted expandDims 'x_rank4' ([1, 8] -> [1, 8, 1, 1]) before 'dense'",
        "rewrote softmaxND 'softmax' as softmax 'softmax'",
    ]
    assert all(r.evidence.startswith("outputs equal on 8 random inputs") for r in done)
    assert _kinds(spec) == ["expandDims", "innerProduct", "softmax"]
    dense = spec.neuralNetworkClassifier.layers[1].innerProduct
    assert dense.hasBias and (dense.inputChannels, dense.outputChannels) == (8, 3)
    _outputs_equal(before, spec)
    assert [i for i in updatable.validate(spec) if i.severity == "error"] == []


def test_tf2_style_classifier_dense_layers_and_flatten():
    spec = converter_style.tf2_image_classifier()
    before = _copy(spec)
    done = [r.message for r in updatable.repair(spec, shapes=blob_shapes, check=check_equivalent)]
    assert "rewrote flattenTo2D 'flatten/Reshape' as flatten 'flatten/Reshape'" in done
    assert "batchedMatmul" not in _kinds(spec) and "softmaxND" not in _kinds(spec)
    _outputs_equal(before, spec)
    # both dense layers train through Core ML's rules once repaired
    updatable.make_updatable(spec, ["dense/MatMul", "dense_1/MatMul"])
    updatable.set_loss(spec)
    updatable.set_optimizer(spec, "sgd", learning_rate=0.01, mini_batch_size=8)
    updatable.set_epochs(spec, 2)
    assert [i for i in updatable.validate(spec) if i.severity == "error"] == []


@pytest.mark.parametrize(
    "name,expected",
    [
        (
            "mobilenet_v2",
            "rewrote reduceMean 'input.101' over H, W as global average pooling 'input.101'",
        ),
        (
            "cnn_bn",
            "rewrote squeeze 'input.27' as flatten 'input.27' (dropped "
            "'input.27_batch_norm_1d_squeeze')",
        ),
        ("vgg", "rewrote reshapeStatic 'input.31' as flatten 'input.31'"),
        ("squeezenet1_1", "rewrote reshapeStatic '293' as flatten '293'"),
        (
            "transformer",
            "inserted expandDims 'input_rank4' ([1, 32] -> [1, 32, 1, 1]) before 'linear_9'",
        ),
    ],
)
@needs("torch", "coremltools")
def test_converted_heads_are_repaired_without_changing_outputs(name, expected):
    spec = torch_zoo.converted(name, "iOS14")
    before = _copy(spec)
    done = runtime.repair(spec)
    assert expected in [r.message for r in done]
    assert done[-1].message.startswith("rewrote softmaxND")
    _outputs_equal(before, spec)


def test_softmax_nd_over_a_non_class_axis_is_refused_and_nothing_changes():
    spec = dense_with_bias_add(axis=0)
    before = spec.SerializeToString()
    with pytest.raises(
        SurgeryError,
        match=r"softmaxND 'softmax' normalises axis 0 of its "
        r"\[1, 3\] input 'logits'.*Nothing was changed",
    ):
        updatable.repair(spec, shapes=blob_shapes, check=check_equivalent)
    assert spec.SerializeToString() == before


def test_softmax_nd_over_channels_of_a_rank_4_tensor_is_swapped_in_place():
    builder = NeuralNetworkBuilder(
        [("x", datatypes.Array(1, 3, 4, 4))], [("probs", None)], disable_rank5_shape_mapping=True
    )
    rng = np.random.default_rng(1)
    builder.add_convolution(
        "conv",
        kernel_channels=3,
        output_channels=5,
        height=1,
        width=1,
        stride_height=1,
        stride_width=1,
        border_mode="valid",
        groups=1,
        W=rng.standard_normal((1, 1, 3, 5)),
        b=None,
        has_bias=False,
        input_name="x",
        output_name="z",
    )
    builder.add_softmax_nd("softmax", "z", "probs", axis=1)
    spec = builder.spec
    before = _copy(spec)
    done = updatable.repair(spec, shapes=blob_shapes, check=check_equivalent)
    assert [r.message for r in done] == ["rewrote softmaxND 'softmax' as softmax 'softmax'"]
    _outputs_equal(before, spec)


def test_the_check_is_real_a_changed_model_fails_it():
    spec = dense_with_bias_add()
    changed = _copy(spec)
    changed.neuralNetworkClassifier.layers[0].batchedMatmul.weights.floatValue[0] += 0.5
    with pytest.raises(SurgeryError, match="output 'probs' differs after the repair by up to"):
        check_equivalent(spec, changed)


def test_a_failing_check_refuses_the_repair_and_keeps_the_model():
    spec = dense_with_bias_add()
    before = spec.SerializeToString()

    def disagree(old, new):
        raise SurgeryError("output 'probs' differs after the repair by up to 0.3")

    with pytest.raises(
        SurgeryError,
        match=r"repair refused: rewrote batchedMatmul 'dense' as "
        r"innerProduct 'dense' would change the model: .*nothing was changed",
    ):
        updatable.repair(spec, shapes=blob_shapes, check=disagree)
    assert spec.SerializeToString() == before


def test_without_a_check_every_line_says_it_was_not_checked():
    spec = dense_with_bias_add()
    done = updatable.repair(spec, shapes=blob_shapes)
    assert done and all(r.evidence == NOT_CHECKED for r in done)
    assert str(done[0]).endswith(
        ": equivalence not checked: no forward pass was given (check=None)"
    )


def test_needed_repairs_leaves_the_model_alone():
    spec = dense_with_bias_add()
    before = spec.SerializeToString()
    assert len(needed_repairs(spec, shapes=blob_shapes)) == 4
    assert spec.SerializeToString() == before


def test_a_network_without_converter_kinds_needs_no_repair():
    from tests import builders

    spec = builders.mnist_convnet(seed=4)
    before = spec.SerializeToString()
    assert updatable.repair(spec, shapes=blob_shapes, check=check_equivalent) == []
    assert spec.SerializeToString() == before
