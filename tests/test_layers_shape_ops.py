"""Data-reorganisation layers (concat, split, slice, crop, reshape, permute, padding,
upsample) and the graph's layer rules, against torch.

Each case builds a small network with coremltools' builder (``tests.layer_networks``), runs it
in float64 through ``runtime.nn.graph`` and compares with torch float64 functional ops on the
NCHW tensor, or with an independent numpy expression where torch has no equivalent.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from runtime.nn.layers import supported_kinds
from tests.layer_networks import close, network, rand, run
from tests.optional import needs, optional_import
from updatable.errors import ShapeError, UnsupportedLayerError

torch = optional_import("torch")
F = optional_import("torch.nn.functional")

# ---- concat, split, slice, crop -----------------------------------------------------------


@pytest.mark.parametrize("channels", [(1, 2), (3, 5, 2), (4, 4, 4, 1)])
@needs("torch")
def test_concat_joins_channels_like_torch_cat(channels):
    rng = np.random.default_rng(sum(channels))
    names = [f"x{i}" for i in range(len(channels))]
    spec = network(
        {n: (c, 3, 4) for n, c in zip(names, channels, strict=True)},
        lambda b: b.add_elementwise("cat", names, "out", "CONCAT"),
    )
    arrays = {n: rand(rng, 2, c, 3, 4) for n, c in zip(names, channels, strict=True)}
    expected = torch.cat([torch.from_numpy(arrays[n]) for n in names], dim=1)
    close(run(spec, arrays)["out"], expected, "concat")


def test_concat_refuses_sequence_concat_and_spatial_mismatch():
    spec = network(
        {"a": (2, 3, 3), "b": (2, 3, 3)},
        lambda b: b.add_elementwise("cat", ["a", "b"], "out", "SEQUENCE_CONCAT"),
    )
    with pytest.raises(UnsupportedLayerError, match="sequenceConcat"):
        compile_network(spec)
    spec = network(
        {"a": (2, 3, 3), "b": (2, 3, 4)},
        lambda b: b.add_elementwise("cat", ["a", "b"], "out", "CONCAT"),
    )
    with pytest.raises(ShapeError, match=r"share H and W.*\[\[2, 3, 3\], \[2, 3, 4\]\]"):
        compile_network(spec)


@pytest.mark.parametrize("parts, chw", [(2, (4, 3, 2)), (3, (9, 1, 5)), (1, (2, 2, 2))])
@needs("torch")
def test_split_matches_torch_chunk(parts, chw):
    rng = np.random.default_rng(parts)
    outs = tuple(f"y{i}" for i in range(parts))
    spec = network({"x": chw}, lambda b: b.add_split("split", "x", list(outs)), outs)
    x = rand(rng, 3, *chw)
    result = run(spec, {"x": x}, outs)
    for name, piece in zip(outs, torch.chunk(torch.from_numpy(x), parts, dim=1), strict=True):
        close(result[name], piece, name)


SLICES = [  # (axis, start, end, stride) from coremltools' slice stress test parameters
    ("channel", 0, 5, 1),
    ("channel", 1, -1, 2),
    ("height", 2, 100, 3),
    ("height", 0, -2, 1),
    ("width", 5, -1, 2),
    ("width", 1, 56, 1),
    ("channel", 2, -4, 1),
    ("width", 0, 3, 3),
]


@pytest.mark.parametrize("axis, start, end, stride", SLICES)
@needs("torch")
def test_slice_follows_python_slicing(axis, start, end, stride):
    rng = np.random.default_rng(start + 7 * stride)
    chw = (12, 9, 8)
    spec = network({"x": chw}, lambda b: b.add_slice("s", "x", "out", axis, start, end, stride))
    x = rand(rng, 2, *chw)
    index = {"channel": 1, "height": 2, "width": 3}[axis]
    key = [slice(None)] * 4
    key[index] = slice(start, end, stride)
    close(run(spec, {"x": x})["out"], torch.from_numpy(x)[tuple(key)], f"slice {axis}")


def test_empty_slice_is_refused_with_the_range():
    spec = network({"x": (4, 3, 3)}, lambda b: b.add_slice("s", "x", "out", "height", 2, 1, 1))
    with pytest.raises(ShapeError, match=r"layer 's' \(slice\): \[2:1:1\] of the HEIGHT axis"):
        compile_network(spec)


@pytest.mark.parametrize("left, right, top, bottom", [(0, 0, 0, 0), (1, 2, 0, 3), (3, 0, 2, 1)])
def test_crop_one_input_drops_the_border_amounts(left, right, top, bottom):
    rng = np.random.default_rng(left + right)
    spec = network(
        {"x": (2, 7, 8)},
        lambda b: b.add_crop("crop", left, right, top, bottom, [0, 0], ["x"], "out"),
    )
    x = rand(rng, 2, 2, 7, 8)
    close(run(spec, {"x": x})["out"], x[:, :, top : 7 - bottom, left : 8 - right], "crop")


def test_crop_two_inputs_takes_the_reference_size_at_the_offset():
    rng = np.random.default_rng(3)
    spec = network(
        {"x": (3, 9, 10), "ref": (5, 4, 6)},
        lambda b: b.add_crop("crop", 0, 0, 0, 0, [2, 3], ["x", "ref"], "out"),
    )
    x = rand(rng, 2, 3, 9, 10)
    result = run(spec, {"x": x, "ref": rand(rng, 2, 5, 4, 6)})["out"]
    close(result, x[:, :, 2:6, 3:9], "crop with reference")
    spec = network(
        {"x": (3, 9, 10), "ref": (5, 4, 6)},
        lambda b: b.add_crop("crop", 0, 0, 0, 0, [6, 3], ["x", "ref"], "out"),
    )
    with pytest.raises(ShapeError, match="does not fit inside the input's H = 9, W = 10"):
        compile_network(spec)


# ---- reshape, permute ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "chw, target",
    [
        ((2, 3, 4), (24, 1, 1)),
        ((2, 3, 4), (4, 3, 2)),
        ((6, 1, 1), (1, 2, 3)),
        ((2, 3, 4), (1, 6, 2, 2)),
    ],
)
@pytest.mark.parametrize("mode", [0, 1])
@needs("torch")
def test_reshape_channel_first_and_channel_last_orders(chw, target, mode):
    rng = np.random.default_rng(sum(target))
    spec = network({"x": chw}, lambda b: b.add_reshape("r", "x", "out", target, mode))
    x = torch.from_numpy(rand(rng, 3, *chw))
    c, h, w = target[-3:]
    if mode == 0:  # [C, H, W] refilled in C, H, W order
        expected = x.reshape(3, c, h, w)
    else:  # flattened in H, W, C order, refilled as [H', W', C'], permuted to [C', H', W']
        expected = x.permute(0, 2, 3, 1).reshape(3, h, w, c).permute(0, 3, 1, 2)
    close(run(spec, {"x": x.numpy()})["out"], expected, f"reshape mode {mode}")


def test_reshape_refuses_a_different_size():
    spec = network({"x": (2, 3, 4)}, lambda b: b.add_reshape("r", "x", "out", (5, 1, 1), 0))
    with pytest.raises(ShapeError, match=r"cannot reshape \[C, H, W\] = \[2, 3, 4\] \(24 values\)"):
        compile_network(spec)
    spec = network({"x": (2, 3, 4)}, lambda b: b.add_reshape("r", "x", "out", (5, 5, 1, 1), 0))
    with pytest.raises(ShapeError, match=r"into \[5, 5, 1, 1\] \(25 values\)"):
        compile_network(spec)


@pytest.mark.parametrize(
    "axes", [(0, 1, 2, 3), (0, 3, 1, 2), (0, 2, 3, 1), (0, 3, 2, 1), (0, 1, 3, 2), (0, 2, 1, 3)]
)
@needs("torch")
def test_permute_reorders_seq_c_h_w_like_torch(axes):
    rng = np.random.default_rng(sum(a * i for i, a in enumerate(axes)))
    spec = network({"x": (2, 3, 4)}, lambda b: b.add_permute("p", axes, "x", "out"))
    x = rand(rng, 2, 2, 3, 4)
    x5 = torch.from_numpy(x).unsqueeze(1)  # (N, Seq, C, H, W)
    expected = x5.permute(0, *(1 + a for a in axes)).squeeze(1)
    close(run(spec, {"x": x})["out"], expected, f"permute {axes}")


def test_permute_into_the_sequence_axis_works_only_for_size_one():
    rng = np.random.default_rng(0)
    spec = network({"x": (1, 3, 4)}, lambda b: b.add_permute("p", (1, 0, 2, 3), "x", "out"))
    x = rand(rng, 2, 1, 3, 4)
    close(run(spec, {"x": x})["out"], x, "swap Seq and C of size 1")
    spec = network({"x": (2, 3, 4)}, lambda b: b.add_permute("p", (3, 1, 2, 0), "x", "out"))
    with pytest.raises(ShapeError, match="moves an axis of size 4 into the sequence position"):
        compile_network(spec)


# ---- padding, upsample --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, torch_mode",
    [("constant", "constant"), ("reflection", "reflect"), ("replication", "replicate")],
)
@pytest.mark.parametrize("left, right, top, bottom", [(1, 0, 2, 0), (0, 3, 1, 2), (2, 2, 2, 2)])
@needs("torch")
def test_padding_matches_torch_pad(kind, torch_mode, left, right, top, bottom):
    rng = np.random.default_rng(left + 3 * top)
    spec = network(
        {"x": (2, 4, 5)},
        lambda b: b.add_padding(
            "pad",
            left,
            right,
            top,
            bottom,
            value=-1.5,
            input_name="x",
            output_name="out",
            padding_type=kind,
        ),
    )
    x = rand(rng, 2, 2, 4, 5)
    extra = {"value": -1.5} if kind == "constant" else {}
    expected = F.pad(torch.from_numpy(x), (left, right, top, bottom), mode=torch_mode, **extra)
    close(run(spec, {"x": x})["out"], expected, kind)


def test_reflection_padding_must_be_smaller_than_the_input():
    spec = network(
        {"x": (1, 3, 3)},
        lambda b: b.add_padding(
            "pad", 3, 0, 0, 0, input_name="x", output_name="out", padding_type="reflection"
        ),
    )
    with pytest.raises(ShapeError, match="must be smaller than the input's H = 3 and W = 3"):
        compile_network(spec)


@pytest.mark.parametrize("fh, fw", [(1, 1), (2, 3), (3, 2)])
@needs("torch")
def test_nearest_upsample_matches_torch(fh, fw):
    rng = np.random.default_rng(fh * fw)
    spec = network({"x": (2, 3, 4)}, lambda b: b.add_upsample("up", fh, fw, "x", "out", "NN"))
    x = rand(rng, 2, 2, 3, 4)
    expected = F.interpolate(torch.from_numpy(x), scale_factor=(fh, fw), mode="nearest")
    close(run(spec, {"x": x})["out"], expected, "nearest")


@pytest.mark.parametrize(
    "mode, align", [("ALIGN_CORNERS_TRUE", True), ("ALIGN_CORNERS_FALSE", False)]
)
@pytest.mark.parametrize("fh, fw", [(2, 2), (3, 1), (1.5, 2.5), (2.25, 1.75)])
@needs("torch")
def test_bilinear_upsample_align_corner_modes_match_torch(mode, align, fh, fw):
    rng = np.random.default_rng(int(fh * 4 + fw))
    spec = network(
        {"x": (3, 5, 4)},
        lambda b: b.add_upsample("up", fh, fw, "x", "out", "BILINEAR", linear_upsample_mode=mode),
    )
    x = rand(rng, 2, 3, 5, 4)
    size = (int(np.floor(5 * fh)), int(np.floor(4 * fw)))
    expected = F.interpolate(torch.from_numpy(x), size=size, mode="bilinear", align_corners=align)
    close(run(spec, {"x": x})["out"], expected, mode, rtol=1e-10, atol=1e-12)


def _bilinear_reference(x, out_h, out_w):
    """Core ML's UPSAMPLE_MODE grid (SamplingMode in NeuralNetwork.proto), written with
    numpy.linspace and explicit loops: points linspace(0, X - X/N, N), clamped to X - 1."""
    n, c, h, w = x.shape
    rows = np.minimum(np.linspace(0, h - h / out_h, out_h), h - 1)
    cols = np.minimum(np.linspace(0, w - w / out_w, out_w), w - 1)
    y = np.empty((n, c, out_h, out_w))
    for i, r in enumerate(rows):
        r0, r1, tr = int(r), min(int(r) + 1, h - 1), r - int(r)
        for j, s in enumerate(cols):
            c0, c1, tc = int(s), min(int(s) + 1, w - 1), s - int(s)
            top = x[:, :, r0, c0] * (1 - tc) + x[:, :, r0, c1] * tc
            bottom = x[:, :, r1, c0] * (1 - tc) + x[:, :, r1, c1] * tc
            y[:, :, i, j] = top * (1 - tr) + bottom * tr
    return y


@pytest.mark.parametrize("fh, fw", [(2, 3), (3, 2), (1, 4)])
def test_bilinear_upsample_default_mode(fh, fw):
    rng = np.random.default_rng(fh + fw)
    spec = network({"x": (2, 3, 4)}, lambda b: b.add_upsample("up", fh, fw, "x", "out", "BILINEAR"))
    x = rand(rng, 2, 2, 3, 4)
    close(run(spec, {"x": x})["out"], _bilinear_reference(x, 3 * fh, 4 * fw), "default")
    # coremltools' own expectation for this layer (test_tiny_upsample_linear_mode)
    spec = network({"x": (1, 1, 3)}, lambda b: b.add_upsample("up", 2, 3, "x", "out", "BILINEAR"))
    result = run(spec, {"x": np.float64([1, 2, 3]).reshape(1, 1, 1, 3)})["out"][0, 0]
    row = [1, 4 / 3, 5 / 3, 2, 7 / 3, 8 / 3, 3, 3, 3]
    close(result, np.float64([row, row]), "coremltools example", rtol=1e-12)


# ---- graph-level rules --------------------------------------------------------------------


def test_unsupported_layers_are_named_with_their_type_and_the_supported_kinds():
    def layers(b):
        b.add_custom("embed", ["x"], ["e"])
        b.add_elementwise("ok", ["e"], "f", "ADD", 1.0)
        b.nn_spec.layers.add(name="norm", input=["f"], output=["out"])  # no kind: never runs

    spec = network({"x": (1, 1, 1)}, layers)
    with pytest.raises(UnsupportedLayerError) as info:
        compile_network(spec)
    message = str(info.value)
    # every kind of NeuralNetwork.proto has a unit; a custom layer is refused later, naming
    # its class (tests/test_layers_custom.py), so only the layer without a kind is named here
    assert message.startswith("the runtime cannot run layer 'norm' (no type set); ")
    assert f"supported kinds: {', '.join(supported_kinds())}" in message
    assert "'ok'" not in message and "'embed'" not in message


def test_undefined_blobs_and_double_writes_are_refused():
    spec = network({"x": (1, 2, 2)}, lambda b: b.add_elementwise("a", ["x", "nope"], "out", "ADD"))
    with pytest.raises(ShapeError, match="layer 'a' reads blob 'nope', which no earlier layer"):
        compile_network(spec)

    def twice(b):
        b.add_elementwise("a", ["x"], "out", "ADD", 1.0)
        b.add_elementwise("b", ["x"], "out", "ADD", 2.0)

    with pytest.raises(ShapeError, match="layer 'b' writes blob 'out', which is already defined"):
        compile_network(network({"x": (1, 2, 2)}, twice))


def test_float32_run_agrees_with_float64():
    rng = np.random.default_rng(11)

    def layers(b):
        b.add_upsample("up", 2, 2, "x", "u", "BILINEAR")
        b.add_padding("pad", 1, 1, 1, 1, input_name="u", output_name="p", padding_type="reflection")
        b.add_lrn("lrn", "p", "l", 0.1, 0.75, 3, 1.0)
        b.add_reduce("r", "l", "out", "HW", "avg")

    spec = network({"x": (4, 3, 3)}, layers)
    net = compile_network(spec)
    x = rng.standard_normal((2, 3, 3, 4))
    y32 = net.run({"x": x.astype(np.float32)})["out"]
    y64 = net.run({"x": x})["out"]
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-6)
