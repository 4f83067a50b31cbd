"""Networks that exercise particular layer kinds, preprocessing and image inputs."""

from __future__ import annotations

import numpy as np

from tests.builders._common import NeuralNetworkBuilder, _rng, _to_grayscale_image, datatypes


def conv_variants_nn(seed: int = 0):
    """Convolutions for fan-in checks: `input` Array(4, 6, 6) -> grouped (2 groups, 4->6,
    3x2 kernel) -> `g`; dynamic-weight conv `dyn` reading (`g`, `kernel`) -> `output`."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("input", datatypes.Array(4, 6, 6)), ("kernel", datatypes.Array(6, 6, 1, 1))],
        [("output", None)],
    )
    builder.add_convolution(
        "grouped",
        kernel_channels=2,
        output_channels=6,
        height=3,
        width=2,
        stride_height=1,
        stride_width=1,
        border_mode="valid",
        groups=2,
        W=rng.standard_normal((3, 2, 2, 6)),
        b=rng.standard_normal(6),
        has_bias=True,
        input_name="input",
        output_name="g",
    )
    builder.add_convolution(
        "dyn",
        kernel_channels=6,
        output_channels=6,
        height=1,
        width=1,
        stride_height=1,
        stride_width=1,
        border_mode="valid",
        groups=1,
        W=None,
        b=None,
        has_bias=False,
        input_name=["g", "kernel"],
        output_name="output",
    )
    return builder.spec


def multi_input_nn(inputs: dict, add_layers, outputs=("out",)):
    """A network from coremltools' builder with ``inputs`` ({name: [C, H, W] or [C]}) and
    layers added by ``add_layers(builder)``; outputs are declared without a shape."""
    builder = NeuralNetworkBuilder(
        [(name, datatypes.Array(*chw)) for name, chw in inputs.items()],
        [(name, None) for name in outputs],
    )
    add_layers(builder)
    return builder.spec


def image_classifier(seed: int = 0, labels=("cat", "dog", "bird")):
    """A classifier with string labels on a BGR image input with preprocessing.

    `photo` 24x20 BGR image, scaled by 1/127.5 and biased per channel (red -0.4, green -0.5,
    blue -0.6) -> conv c1 3x3 (8, same) + relu r1 -> max pool 2 -> conv c2 3x3 (6, valid, no
    bias) -> global average pool -> innerProduct fc -> softmax -> `scores`; the predicted
    feature is `animal`.
    """
    rng = _rng(seed)
    n = len(labels)
    builder = NeuralNetworkBuilder(
        [("photo", datatypes.Array(3, 20, 24))],
        [("scores", datatypes.Array(n))],
        mode="classifier",
    )
    builder.add_convolution(
        "c1",
        3,
        8,
        3,
        3,
        1,
        1,
        "same",
        1,
        rng.standard_normal((3, 3, 3, 8)),
        rng.standard_normal(8),
        True,
        input_name="photo",
        output_name="c1",
    )
    builder.add_activation("r1", "RELU", "c1", "r1")
    builder.add_pooling("p1", 2, 2, 2, 2, "MAX", "VALID", "r1", "p1")
    builder.add_convolution(
        "c2",
        8,
        6,
        3,
        3,
        1,
        1,
        "valid",
        1,
        rng.standard_normal((3, 3, 8, 6)),
        None,
        False,
        input_name="p1",
        output_name="c2",
    )
    builder.add_pooling("gap", 1, 1, 1, 1, "AVERAGE", "VALID", "c2", "gap", is_global=True)
    builder.add_inner_product(
        "fc", rng.standard_normal((n, 6)), rng.standard_normal(n), 6, n, True, "gap", "logits"
    )
    builder.add_softmax("softmax", "logits", "scores")
    builder.set_class_labels(
        list(labels), predicted_feature_name="animal", prediction_blob="scores"
    )
    builder.set_pre_processing_parameters(
        image_input_names=["photo"],
        is_bgr=True,
        red_bias=-0.4,
        green_bias=-0.5,
        blue_bias=-0.6,
        image_scale=1 / 127.5,
    )
    return builder.spec


def conv_adder(
    cin,
    cout,
    groups,
    kernel,
    stride,
    dilation,
    padding,
    seed,
    deconv=False,
    has_bias=True,
    output_shape=None,
):
    """``add_layer`` for ``single_layer_nn``: one convolution (or deconvolution) named `conv`
    with random weights ([H, W, Cin/groups, Cout] as the builder takes them).
    ``padding`` is ("valid", (top, bottom, left, right)) or ("same", asymmetry mode)."""
    rng = np.random.default_rng(seed)
    kc = cin if deconv else cin // groups
    per_out = cout // groups if deconv else cout
    w = rng.standard_normal((*kernel, kc, per_out))
    b = rng.standard_normal(cout) if has_bias else None
    mode, detail = padding
    extra = {}
    if mode == "valid":
        extra = dict(
            zip(
                ("padding_top", "padding_bottom", "padding_left", "padding_right"),
                detail,
                strict=True,
            )
        )
    else:
        extra = {"same_padding_asymmetry_mode": detail}

    def add(builder, inp, out):
        builder.add_convolution(
            "conv",
            kc,
            cout,
            kernel[0],
            kernel[1],
            stride[0],
            stride[1],
            mode,
            groups,
            w,
            b,
            has_bias,
            is_deconv=deconv,
            output_shape=output_shape,
            input_name=inp,
            output_name=out,
            dilation_factors=list(dilation),
            **extra,
        )

    return add


def dense_adder(cin, cout, seed, has_bias=True):
    """``add_layer`` for ``single_layer_nn``: one innerProduct named `dense`, random weights."""
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal((cout, cin)), rng.standard_normal(cout)

    def add(builder, inp, out):
        builder.add_inner_product(
            "dense", w, b if has_bias else None, cin, cout, has_bias, inp, out
        )

    return add


def pool_adder(kind, kernel, stride, padding, exclude):
    """``add_layer`` for ``single_layer_nn``: one pooling layer named `pool`; ``padding`` is
    ("valid", pads), ("same", mode), ("includeLastPixel", (pad_h, pad_w)) or ("global", None)."""
    mode, detail = padding
    extra = {"exclude_pad_area": exclude, "is_global": mode == "global"}
    if mode == "valid":
        extra.update(
            zip(
                ("padding_top", "padding_bottom", "padding_left", "padding_right"),
                detail,
                strict=True,
            )
        )
    elif mode == "same":
        extra["same_padding_asymmetry_mode"] = detail
    elif mode == "includeLastPixel":
        extra.update(
            padding_top=detail[0],
            padding_bottom=detail[0],
            padding_left=detail[1],
            padding_right=detail[1],
        )
    padding_type = {"global": "VALID", "includeLastPixel": "INCLUDE_LAST_PIXEL"}.get(
        mode, mode.upper()
    )
    kh, kw = kernel or (1, 1)
    sh, sw = stride or (1, 1)
    return lambda b, i, o: b.add_pooling("pool", kh, kw, sh, sw, kind, padding_type, i, o, **extra)


def digit_convnet(weights: dict, labels=tuple(str(d) for d in range(7))):
    """The demo's base digit classifier (runtime.demo.base) written by coremltools' builder
    with the given weights: ``weights[layer] = (W, b)`` in Core ML layout (convolutions
    ``[Cout, Cin, 3, 3]``, innerProducts ``[out, in]``).

    `image` 28x28 grayscale scaled 1/255 -> conv1 (8@3x3) relu pool -> conv2 (16@3x3) relu
    pool -> flatten -> dense1 (400->64) relu `embedding` -> dense2 (64->len(labels)) softmax
    `labelProbabilities`; predicted feature `label`.
    """
    builder = NeuralNetworkBuilder(
        [("image", datatypes.Array(1, 28, 28))],
        [("labelProbabilities", datatypes.Array(len(labels)))],
        mode="classifier",
    )
    blob = "image"
    for index, (cin, cout) in enumerate(((1, 8), (8, 16)), start=1):
        w, b = weights[f"conv{index}"]
        builder.add_convolution(
            f"conv{index}",
            kernel_channels=cin,
            output_channels=cout,
            height=3,
            width=3,
            stride_height=1,
            stride_width=1,
            border_mode="valid",
            groups=1,
            W=np.asarray(w).transpose(2, 3, 1, 0),  # the builder takes [kH, kW, Cin, Cout]
            b=np.asarray(b),
            has_bias=True,
            input_name=blob,
            output_name=f"c{index}",
        )
        builder.add_activation(f"relu{index}", "RELU", f"c{index}", f"c{index}r")
        builder.add_pooling(f"pool{index}", 2, 2, 2, 2, "MAX", "VALID", f"c{index}r", f"p{index}")
        blob = f"p{index}"
    builder.add_flatten("flatten", 0, blob, "flat")
    for name, cin, cout, source, target in (
        ("dense1", 400, 64, "flat", "d1"),
        ("dense2", 64, len(labels), "embedding", "logits"),
    ):
        w, b = weights[name]
        builder.add_inner_product(
            name,
            W=np.asarray(w),
            b=np.asarray(b),
            input_channels=cin,
            output_channels=cout,
            has_bias=True,
            input_name=source,
            output_name=target,
        )
        if name == "dense1":
            builder.add_activation("relu3", "RELU", "d1", "embedding")
    builder.add_softmax("softmax", "logits", "labelProbabilities")
    builder.set_class_labels(
        list(labels), predicted_feature_name="label", prediction_blob="labelProbabilities"
    )
    builder.set_pre_processing_parameters(image_input_names=["image"], image_scale=1 / 255.0)
    spec = builder.spec
    _to_grayscale_image(spec, "image", 28, 28)
    return spec
