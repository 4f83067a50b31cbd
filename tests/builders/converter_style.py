"""Networks shaped like the output of older Keras / TensorFlow converters, built with
coremltools' ``NeuralNetworkBuilder`` (no files are downloaded or checked in).

The Keras converter that coremltools shipped until 5.x (``converters/keras/_layers2.py``)
wrote rank-5 networks (specification version 1 to 4, ``arrayInputShapeMapping`` left at its
default): inputs named ``input1``..., outputs ``output1``...; a sequence input declared as
``Array(D)`` (one step per Seq position); every recurrent layer given optional state inputs
``<layer>_h_in`` / ``_c_in`` and outputs ``_h_out`` / ``_c_out``; ``Flatten`` of a 4-D
tensor as a channel-last ``flatten``; ``Permute`` / ``Reshape`` as ``permute`` / ``reshape``
(target ``(S, D, 1, 1)`` for a ``(S, D)`` shape); ``ReLU(max_value=6)`` as ReLU, negate,
``unary`` threshold, negate; ``Concatenate`` / ``Add`` / ``Multiply`` as ``concat`` /
``add`` / ``multiply``; ``UpSampling2D`` as nearest ``upsample``; ``Embedding`` as
``embedding``; ``LSTM`` / ``GRU`` / ``SimpleRNN`` / ``Bidirectional(LSTM)`` as
``uniDirectionalLSTM`` / ``gru`` / ``simpleRecurrent`` / ``biDirectionalLSTM``.

The TensorFlow 2 path of coremltools 3/4 (and its ONNX converter) wrote N-D networks instead
(``EXACT_ARRAY_MAPPING``, spec version 4): NHWC inputs transposed to NCHW around the image
layers, ``flattenTo2D`` / ``reshapeStatic``, dense layers as ``batchedMatMul`` with constant
weights, ``softmaxND``, ``layerNormalization``, ``gelu``; :func:`tf2_image_classifier` and
:func:`nd_attention_block` stand for those. Weights are random (seeded).
"""

from __future__ import annotations

import numpy as np

from tests.builders._common import NeuralNetworkBuilder, _rng, datatypes


def _conv(builder, rng, name, cin, cout, k, inp, out, stride=1, groups=1, padding="same"):
    fan_in = k * k * cin // groups
    builder.add_convolution(
        name,
        kernel_channels=cin // groups,
        output_channels=cout,
        height=k,
        width=k,
        stride_height=stride,
        stride_width=stride,
        border_mode=padding,
        groups=groups,
        W=rng.standard_normal((k, k, cin // groups, cout)) * np.sqrt(2.0 / fan_in),
        b=rng.standard_normal(cout) * 0.1,
        has_bias=True,
        input_name=inp,
        output_name=out,
    )


def _batchnorm(builder, rng, name, channels, inp, out):
    builder.add_batchnorm(
        name,
        channels,
        gamma=rng.uniform(0.5, 1.5, channels),
        beta=rng.normal(0, 0.1, channels),
        mean=rng.normal(0, 0.2, channels),
        variance=rng.uniform(0.5, 1.5, channels),
        input_name=inp,
        output_name=out,
        epsilon=1e-3,  # Keras' BatchNormalization epsilon
    )


def _relu6(builder, name, inp, out):
    """Keras' ``ReLU(max_value=6)`` as its converter wrote it: relu, -x, threshold at -6, -x."""
    builder.add_activation(name, "RELU", inp, out + "_relu")
    builder.add_activation(name + "__neg__", "LINEAR", out + "_relu", out + "_neg", [-1.0, 0])
    builder.add_unary(name + "__clip__", out + "_neg", out + "_clip", "threshold", alpha=-6.0)
    builder.add_activation(name + "_neg2", "LINEAR", out + "_clip", out, [-1.0, 0])


def _max_pool(builder, name, inp, out):
    """Keras' ``MaxPooling2D()``: 2x2, stride 2, valid."""
    builder.add_pooling(name, 2, 2, 2, 2, "MAX", "VALID", inp, out)


def _dense(builder, rng, name, cin, cout, inp, out):
    builder.add_inner_product(
        name,
        W=rng.standard_normal((cout, cin)) / np.sqrt(cin),
        b=rng.normal(0, 0.1, cout),
        input_channels=cin,
        output_channels=cout,
        has_bias=True,
        input_name=inp,
        output_name=out,
    )


def _gates(rng, count, hidden, inputs):
    """``count`` gate matrices for the recurrent weights and inputs, and biases."""
    scale = 1 / np.sqrt(hidden)
    return (
        [rng.uniform(-scale, scale, (hidden, hidden)) for _ in range(count)],
        [rng.uniform(-scale, scale, (hidden, inputs)) for _ in range(count)],
        [rng.uniform(-scale, scale, hidden) for _ in range(count)],
    )


def keras_image_classifier(seed: int = 0, labels=tuple(f"class_{i}" for i in range(10))):
    """A Keras MobileNet-style classifier as the Keras converter wrote it.

    `input1` 32x32 RGB image (Keras' MobileNet preprocessing: scale 2/255, bias -1) -> conv 3x3/2
    + batchnorm + ReLU6 -> depthwise 3x3 (8 groups) + batchnorm + ReLU6 -> pointwise 1x1 +
    batchnorm + ReLU6 -> global average pool -> reshape (1, 16, 1, 1) -> 1x1 conv (the
    MobileNet head) -> reshape (1, n, 1, 1) -> softmax `output1`; classifier, `classLabel`.
    """
    rng = _rng(seed)
    n = len(labels)
    builder = NeuralNetworkBuilder(
        [("input1", datatypes.Array(3, 32, 32))],
        [("output1", datatypes.Array(n))],
        mode="classifier",
    )
    _conv(builder, rng, "conv1", 3, 8, 3, "input1", "conv1_out", stride=2)
    _batchnorm(builder, rng, "conv1_bn", 8, "conv1_out", "conv1_bn_out")
    _relu6(builder, "conv1_relu", "conv1_bn_out", "conv1_relu_out")
    _conv(builder, rng, "conv_dw_1", 8, 8, 3, "conv1_relu_out", "dw_out", groups=8)
    _batchnorm(builder, rng, "conv_dw_1_bn", 8, "dw_out", "dw_bn_out")
    _relu6(builder, "conv_dw_1_relu", "dw_bn_out", "dw_relu_out")
    _conv(builder, rng, "conv_pw_1", 8, 16, 1, "dw_relu_out", "pw_out")
    _batchnorm(builder, rng, "conv_pw_1_bn", 16, "pw_out", "pw_bn_out")
    _relu6(builder, "conv_pw_1_relu", "pw_bn_out", "pw_relu_out")
    builder.add_pooling(
        "global_average_pooling2d_1",
        0,
        0,
        0,
        0,
        "AVERAGE",
        "VALID",
        "pw_relu_out",
        "gap_out",
        is_global=True,
    )
    builder.add_reshape("reshape_1", "gap_out", "reshape_1_out", (1, 16, 1, 1), 1)
    _conv(builder, rng, "conv_preds", 16, n, 1, "reshape_1_out", "preds_out")
    builder.add_reshape("reshape_2", "preds_out", "reshape_2_out", (1, n, 1, 1), 0)
    builder.add_softmax("act_softmax", "reshape_2_out", "output1")
    builder.set_class_labels(list(labels), prediction_blob="output1")
    builder.set_pre_processing_parameters(
        image_input_names=["input1"],
        red_bias=-1.0,
        green_bias=-1.0,
        blue_bias=-1.0,
        image_scale=2 / 255.0,
    )
    return builder.spec


def keras_digit_cnn(seed: int = 0, labels=tuple(str(d) for d in range(10))):
    """A Keras Sequential digit CNN: `input1` 28x28 grayscale image scaled 1/255 -> zero
    padding 1 -> conv 3x3 valid + relu -> max pool 2 -> conv 3x3 + leaky ReLU (0.1) -> max pool
    2 -> channel-last flatten -> dense 64 + relu -> dense 10 -> softmax `output1`."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("input1", datatypes.Array(1, 28, 28))],
        [("output1", datatypes.Array(len(labels)))],
        mode="classifier",
    )
    builder.add_padding("zero_padding2d_1", 1, 1, 1, 1, input_name="input1", output_name="pad")
    _conv(builder, rng, "conv2d_1", 1, 8, 3, "pad", "c1", padding="valid")
    builder.add_activation("conv2d_1__activation__", "RELU", "c1", "c1_relu")
    _max_pool(builder, "max_pooling2d_1", "c1_relu", "p1")
    _conv(builder, rng, "conv2d_2", 8, 16, 3, "p1", "c2", padding="valid")
    builder.add_activation("leaky_re_lu_1", "LEAKYRELU", "c2", "c2_act", params=[0.1])
    _max_pool(builder, "max_pooling2d_2", "c2_act", "p2")
    builder.add_flatten("flatten_1", 1, "p2", "flat")  # 16 x 6 x 6, channel last
    _dense(builder, rng, "dense_1", 16 * 6 * 6, 64, "flat", "d1")
    builder.add_activation("dense_1__activation__", "RELU", "d1", "d1_relu")
    _dense(builder, rng, "dense_2", 64, len(labels), "d1_relu", "d2")
    builder.add_softmax("dense_2__activation__", "d2", "output1")
    builder.set_class_labels(list(labels), prediction_blob="output1")
    builder.set_pre_processing_parameters(image_input_names=["input1"], image_scale=1 / 255.0)
    return builder.spec


def keras_segmenter(seed: int = 0):
    """A Keras functional UNet-like segmenter: `input1` Array(3, 16, 16) -> conv + relu (skip)
    -> max pool -> conv + relu -> nearest upsample x2 -> concat with the skip -> conv + ELU ->
    sigmoid attention gate (1x1 conv, `multiply`) -> residual `add` -> 1x1 conv to 2 classes
    -> softmax over channels `output1` Array(2, 16, 16)."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("input1", datatypes.Array(3, 16, 16))], [("output1", datatypes.Array(2, 16, 16))]
    )
    _conv(builder, rng, "conv2d_1", 3, 8, 3, "input1", "c1")
    builder.add_activation("conv2d_1__activation__", "RELU", "c1", "skip")
    _max_pool(builder, "max_pooling2d_1", "skip", "p1")
    _conv(builder, rng, "conv2d_2", 8, 16, 3, "p1", "c2")
    builder.add_activation("conv2d_2__activation__", "RELU", "c2", "c2_relu")
    builder.add_upsample("up_sampling2d_1", 2, 2, "c2_relu", "up")
    builder.add_elementwise("concatenate_1", ["up", "skip"], "cat", "CONCAT")
    _conv(builder, rng, "conv2d_3", 24, 8, 3, "cat", "c3")
    builder.add_activation("conv2d_3__activation__", "ELU", "c3", "c3_elu", params=1.0)
    _conv(builder, rng, "conv2d_4", 8, 8, 1, "c3_elu", "gate")
    builder.add_activation("conv2d_4__activation__", "SIGMOID", "gate", "gate_sig")
    builder.add_elementwise("multiply_1", ["c3_elu", "gate_sig"], "gated", "MULTIPLY")
    builder.add_elementwise("add_1", ["gated", "c3_elu"], "res", "ADD")
    _conv(builder, rng, "conv2d_5", 8, 2, 1, "res", "logits")
    builder.add_softmax("conv2d_5__activation__", "logits", "output1")
    return builder.spec


def keras_text_lstm(seed: int = 0, vocabulary: int = 25, labels=("neg", "neu", "pos")):
    """A Keras text classifier: `input1` Array(1) (one token id per sequence step) ->
    embedding (25 -> 8) -> LSTM 16 (final state; optional `lstm_1_h_in`/`_c_in` inputs and
    `_h_out`/`_c_out` outputs) -> dense -> softmax `output1`; classifier."""
    rng = _rng(seed)
    hidden = 16
    builder = NeuralNetworkBuilder(
        [("input1", datatypes.Array(1))],
        [("output1", datatypes.Array(len(labels)))],
        mode="classifier",
    )
    builder.add_embedding(
        "embedding_1",
        W=rng.standard_normal((8, vocabulary)) * 0.5,
        b=None,
        input_dim=vocabulary,
        output_channels=8,
        has_bias=False,
        input_name="input1",
        output_name="embedded",
    )
    w_h, w_x, b = _gates(rng, 4, hidden, 8)
    builder.add_unilstm(
        "lstm_1",
        w_h,
        w_x,
        b,
        hidden,
        8,
        ["embedded", "lstm_1_h_in", "lstm_1_c_in"],
        ["lstm_out", "lstm_1_h_out", "lstm_1_c_out"],
        forget_bias=True,
    )
    _dense(builder, rng, "dense_1", hidden, len(labels), "lstm_out", "logits")
    builder.add_softmax("dense_1__activation__", "logits", "output1")
    builder.add_optionals(
        [("lstm_1_h_in", hidden), ("lstm_1_c_in", hidden)],
        [("lstm_1_h_out", hidden), ("lstm_1_c_out", hidden)],
    )
    builder.set_class_labels(list(labels), prediction_blob="output1")
    return builder.spec


def keras_crnn(seed: int = 0, labels=tuple(str(d) for d in range(10))):
    """A Keras CRNN (conv features read column by column by a GRU), as OCR models are built:
    `input1` Array(1, 16, 32) -> conv + relu -> max pool 2 -> Permute((2, 1, 3)) (H <-> W) ->
    Reshape((16, 64)) (16 sequence steps of 64 features) -> GRU 16 (hard-sigmoid gates,
    final state) -> dense -> softmax `output1`."""
    rng = _rng(seed)
    hidden = 16
    builder = NeuralNetworkBuilder(
        [("input1", datatypes.Array(1, 16, 32))],
        [("output1", datatypes.Array(len(labels)))],
        mode="classifier",
    )
    _conv(builder, rng, "conv2d_1", 1, 8, 3, "input1", "c1")
    builder.add_activation("conv2d_1__activation__", "RELU", "c1", "c1_relu")
    _max_pool(builder, "max_pooling2d_1", "c1_relu", "p1")
    # Keras dims (2, 1, 3) over (H, W, C) become Core ML (0, 1, 3, 2) over (Seq, C, H, W)
    builder.add_permute("permute_1", (0, 1, 3, 2), "p1", "columns")
    builder.add_reshape("reshape_1", "columns", "steps", (16, 64, 1, 1), 1)
    w_h, w_x, b = _gates(rng, 3, hidden, 64)
    builder.add_gru(
        "gru_1",
        w_h,
        w_x,
        b,
        hidden,
        64,
        ["steps", "gru_1_h_in"],
        ["gru_out", "gru_1_h_out"],
        inner_activation="SIGMOID_HARD",
    )
    _dense(builder, rng, "dense_1", hidden, len(labels), "gru_out", "logits")
    builder.add_softmax("dense_1__activation__", "logits", "output1")
    builder.add_optionals([("gru_1_h_in", hidden)], [("gru_1_h_out", hidden)])
    builder.set_class_labels(list(labels), prediction_blob="output1")
    return builder.spec


def keras_sequence_tagger(seed: int = 0, tags: int = 5):
    """A Keras sequence tagger: `input1` Array(8) per step -> SimpleRNN 12 (all steps) ->
    Bidirectional(LSTM 10) (all steps) -> TimeDistributed(Dense) -> softmax per step `output1`
    Array(5); every recurrent layer with its optional state inputs and outputs."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("input1", datatypes.Array(8))], [("output1", datatypes.Array(tags))]
    )
    scale = 1 / np.sqrt(12)
    builder.add_simple_rnn(
        "simple_rnn_1",
        rng.uniform(-scale, scale, (12, 12)),
        rng.uniform(-scale, scale, (12, 8)),
        rng.uniform(-scale, scale, 12),
        12,
        8,
        "TANH",
        ["input1", "simple_rnn_1_h_in"],
        ["rnn_out", "simple_rnn_1_h_out"],
        output_all=True,
    )
    forward, backward = _gates(rng, 4, 10, 12), _gates(rng, 4, 10, 12)
    states = ("h_in", "c_in", "h_in_rev", "c_in_rev")
    builder.add_bidirlstm(
        "bidirectional_1",
        *forward,
        *backward,
        10,
        12,
        ["rnn_out", *(f"bidirectional_1_{s}" for s in states)],
        ["bi_out", *(f"bidirectional_1_{s.replace('in', 'out')}" for s in states)],
        output_all=True,
        forget_bias=True,
    )
    _dense(builder, rng, "time_distributed_1", 20, tags, "bi_out", "logits")
    builder.add_softmax("time_distributed_1__activation__", "logits", "output1")
    builder.add_optionals(
        [("simple_rnn_1_h_in", 12)] + [(f"bidirectional_1_{s}", 10) for s in states],
        [("simple_rnn_1_h_out", 12)]
        + [(f"bidirectional_1_{s.replace('in', 'out')}", 10) for s in states],
    )
    return builder.spec


def tf2_image_classifier(seed: int = 0, labels=tuple(str(d) for d in range(10))):
    """A tf.keras digit CNN as coremltools' TensorFlow 2 path wrote it (N-D, NHWC input):
    `input_1` (1, 28, 28, 1) -> transpose to NCHW -> conv + relu -> max pool -> transpose back
    to NHWC -> flattenTo2D -> dense as batchedMatMul (constant weights + bias) + relu ->
    batchedMatMul -> softmaxND(axis -1) `Identity`; classifier."""
    rng = _rng(seed)
    n = len(labels)
    builder = NeuralNetworkBuilder(
        [("input_1", datatypes.Array(1, 28, 28, 1))],
        [("Identity", None)],
        mode="classifier",
        disable_rank5_shape_mapping=True,
    )
    builder.add_transpose("conv2d/Conv2D_nchw", (0, 3, 1, 2), "input_1", "nchw")
    _conv(builder, rng, "conv2d/Conv2D", 1, 8, 3, "nchw", "conv", padding="valid")
    builder.add_activation("conv2d/Relu", "RELU", "conv", "relu")
    _max_pool(builder, "max_pooling2d/MaxPool", "relu", "pool")
    builder.add_transpose("max_pooling2d/MaxPool_nhwc", (0, 2, 3, 1), "pool", "nhwc")
    builder.add_flatten_to_2d("flatten/Reshape", "nhwc", "flat", axis=1)
    builder.add_batched_mat_mul(
        "dense/MatMul",
        ["flat"],
        "d1",
        weight_matrix_rows=13 * 13 * 8,
        weight_matrix_columns=32,
        W=rng.standard_normal((13 * 13 * 8, 32)) / 36,
        bias=np.zeros(32),
    )
    builder.add_activation("dense/Relu", "RELU", "d1", "d1_relu")
    builder.add_batched_mat_mul(
        "dense_1/MatMul",
        ["d1_relu"],
        "logits",
        weight_matrix_rows=32,
        weight_matrix_columns=n,
        W=rng.standard_normal((32, n)) / 6,
        bias=rng.normal(0, 0.1, n),
    )
    builder.add_softmax_nd("dense_1/Softmax", "logits", "Identity", axis=-1)
    builder.set_class_labels(list(labels), prediction_blob="Identity")
    return builder.spec


def nd_attention_block(seed: int = 0, classes: int = 3):
    """One self-attention block in N-D layers, as TF2/ONNX converters of coremltools 3/4 wrote
    it: `input_1` (1, 8, 16) -> q, k, v as batchedMatMul with weights -> reshapeStatic to 2
    heads + transpose -> batchedMatMul(q, k^T) -> multiplyBroadcastable by a loadConstantND
    1/sqrt(8) -> softmaxND(-1) -> batchedMatMul(., v) -> transpose + reshapeStatic -> residual
    addBroadcastable -> layerNormalization -> gelu (tanh approximation) feed-forward ->
    reduceMean over the steps and sliceStatic of the first step, concatND -> batchedMatMul
    head -> softmaxND `Identity` (1, 3)."""
    rng = _rng(seed)
    b = NeuralNetworkBuilder(
        [("input_1", datatypes.Array(1, 8, 16))],
        [("Identity", None)],
        disable_rank5_shape_mapping=True,
    )

    def dense(name, inp, out, cin, cout):
        b.add_batched_mat_mul(
            name,
            [inp],
            out,
            weight_matrix_rows=cin,
            weight_matrix_columns=cout,
            W=rng.standard_normal((cin, cout)) / np.sqrt(cin),
            bias=rng.normal(0, 0.1, cout),
        )

    for part in ("q", "k", "v"):
        dense(f"attention/{part}/MatMul", "input_1", part, 16, 16)
        b.add_reshape_static(f"attention/{part}/Reshape", part, f"{part}_heads", (1, 8, 2, 8))
        b.add_transpose(f"attention/{part}/transpose", (0, 2, 1, 3), f"{part}_heads", f"{part}_t")
    b.add_batched_mat_mul("attention/scores", ["q_t", "k_t"], "scores", transpose_b=True)
    b.add_load_constant_nd("attention/scale", "scale", np.array([8**-0.5]), (1,))
    b.add_multiply_broadcastable("attention/scaled", ["scores", "scale"], "scaled")
    b.add_softmax_nd("attention/Softmax", "scaled", "weights", axis=-1)
    b.add_batched_mat_mul("attention/context", ["weights", "v_t"], "context")
    b.add_transpose("attention/context/transpose", (0, 2, 1, 3), "context", "context_t")
    b.add_reshape_static("attention/context/Reshape", "context_t", "merged", (1, 8, 16))
    b.add_add_broadcastable("attention/residual", ["merged", "input_1"], "res")
    b.add_layer_normalization(
        "attention/LayerNorm",
        "res",
        "norm",
        [16],
        gamma=rng.uniform(0.5, 1.5, 16),
        beta=rng.normal(0, 0.1, 16),
    )
    dense("ffn/dense/MatMul", "norm", "ff", 16, 32)
    b.add_gelu("ffn/Gelu", "ff", "ff_gelu", mode="TANH_APPROXIMATION")
    dense("ffn/dense_1/MatMul", "ff_gelu", "ff_out", 32, 16)
    b.add_reduce_mean("pool/Mean", "ff_out", "mean", axes=[1], keepdims=False)
    b.add_slice_static(
        "pool/first",
        "ff_out",
        "first3",
        begin_ids=[0, 0, 0],
        end_ids=[1, 1, 16],
        strides=[1, 1, 1],
        begin_masks=[True, False, True],
        end_masks=[True, False, True],
    )
    b.add_squeeze("pool/first/Squeeze", "first3", "first", axes=[1])
    b.add_concat_nd("pool/concat", ["mean", "first"], "pooled", axis=-1)
    dense("head/MatMul", "pooled", "logits", 32, classes)
    b.add_softmax_nd("head/Softmax", "logits", "Identity", axis=-1)
    return b.spec


CONVERTER_STYLE = {
    "keras_image_classifier": keras_image_classifier,
    "keras_digit_cnn": keras_digit_cnn,
    "keras_segmenter": keras_segmenter,
    "keras_text_lstm": keras_text_lstm,
    "keras_crnn": keras_crnn,
    "keras_sequence_tagger": keras_sequence_tagger,
    "tf2_image_classifier": tf2_image_classifier,
    "nd_attention_block": nd_attention_block,
}
