"""``reorganizeData`` (SPACE_TO_DEPTH, DEPTH_TO_SPACE, PIXEL_SHUFFLE) and ``constantPad`` (amounts
or output sizes, as parameters or a constant second input).

References: NeuralNetwork.proto's worked example of ``ReorganizeDataLayerParams``, torch's
``pixel_shuffle``, index-by-index loops written from the proto's formulas, and numpy slice
assignment for the padding.
"""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from tests.optional import needs, optional_import
from updatable.errors import ShapeError, UnsupportedLayerError

torch = optional_import("torch")
F = optional_import("torch.nn.functional")


def reorganize(shape, mode, block):
    return network(
        {"x": shape},
        lambda b: b.add_reorganize_data("reorg", "x", "out", mode=mode, block_size=block),
    )


# ---- reorganizeData -------------------------------------------------------------------------


def test_depth_to_space_and_pixel_shuffle_order_channels_as_the_protos_example():
    x = np.arange(1.0, 17.0).reshape(1, 8, 1, 2)  # [C = 8, H = 1, W = 2]
    d2s = run(reorganize((8, 1, 2), "DEPTH_TO_SPACE", 2), {"x": x})["out"][0]
    shuffle = run(reorganize((8, 1, 2), "PIXEL_SHUFFLE", 2), {"x": x})["out"][0]
    np.testing.assert_array_equal(
        d2s, [[[1, 5, 2, 6], [9, 13, 10, 14]], [[3, 7, 4, 8], [11, 15, 12, 16]]]
    )
    np.testing.assert_array_equal(
        shuffle, [[[1, 3, 2, 4], [5, 7, 6, 8]], [[9, 11, 10, 12], [13, 15, 14, 16]]]
    )
    back = run(reorganize((2, 2, 4), "SPACE_TO_DEPTH", 2), {"x": d2s[None]})["out"]
    np.testing.assert_array_equal(back, x)


def depth_to_space_reference(x, block, pixel_shuffle):
    """The proto's formulas, index by index, on ``(..., C, H, W)``."""
    *lead, channels, height, width = x.shape
    depth = channels // (block * block)
    y = np.empty((*lead, depth, height * block, width * block))
    for c in range(depth):
        for h in range(height):
            for w in range(width):
                for i in range(block):
                    for j in range(block):
                        k = (
                            c * block * block + i * block + j
                            if pixel_shuffle
                            else (i * block + j) * depth + c
                        )
                        y[..., c, h * block + i, w * block + j] = x[..., k, h, w]
    return y


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("mode", ["DEPTH_TO_SPACE", "PIXEL_SHUFFLE"])
def test_depth_to_space_modes_on_random_shapes(seed, mode):
    rng = np.random.default_rng(seed)
    block = int(rng.integers(2, 4))
    lead = tuple(int(d) for d in rng.integers(1, 3, size=int(rng.integers(0, 3))))
    shape = (
        *lead,
        block * block * int(rng.integers(1, 4)),
        *(int(d) for d in rng.integers(1, 4, size=2)),
    )
    x = rng.standard_normal((2, *shape))
    out = run(reorganize(shape, mode, block), {"x": x})["out"]
    expected = depth_to_space_reference(x, block, mode == "PIXEL_SHUFFLE")
    np.testing.assert_array_equal(out, expected)
    # SPACE_TO_DEPTH undoes DEPTH_TO_SPACE
    if mode == "DEPTH_TO_SPACE":
        back = run(reorganize(out.shape[1:], "SPACE_TO_DEPTH", block), {"x": out})["out"]
        np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize("block", [2, 3])
@needs("torch")
def test_pixel_shuffle_is_torchs(block):
    x = np.random.default_rng(block).standard_normal((3, 2 * block * block, 4, 5))
    out = run(reorganize(x.shape[1:], "PIXEL_SHUFFLE", block), {"x": x})["out"]
    np.testing.assert_array_equal(out, F.pixel_shuffle(torch.from_numpy(x), block).numpy())


def test_reorganize_data_refuses_blocks_that_do_not_fit():
    with pytest.raises(ShapeError, match="blockSize 2 must divide H = 3 and W = 4"):
        compile_network(reorganize((1, 3, 4), "SPACE_TO_DEPTH", 2))
    with pytest.raises(ShapeError, match="blockSize² = 4 must divide the channels C = 6"):
        compile_network(reorganize((6, 3, 4), "DEPTH_TO_SPACE", 2))
    spec = reorganize((8, 2, 2), "DEPTH_TO_SPACE", 2)
    spec.neuralNetwork.layers[0].reorganizeData.blockSize = 1
    with pytest.raises(ShapeError, match=r"'reorg' \(reorganizeData\): blockSize must be > 1"):
        compile_network(spec)
    with pytest.raises(ShapeError, match="rank 3 or more"):
        compile_network(reorganize((8, 2), "DEPTH_TO_SPACE", 2))


# ---- constantPad ----------------------------------------------------------------------------


def pad_network(shape, amounts, value=0.0, to_size=False):
    return network(
        {"x": shape},
        lambda b: b.add_constant_pad(
            "pad",
            ["x"],
            "out",
            value=value,
            pad_to_given_output_size_mode=to_size,
            pad_amounts=amounts,
        ),
    )


def pad_reference(x, pairs, value):
    out = np.full(
        (x.shape[0], *(n + a + b for n, (a, b) in zip(x.shape[1:], pairs, strict=True))), value
    )
    out[(slice(None), *(slice(a, a + n) for n, (a, _) in zip(x.shape[1:], pairs, strict=True)))] = x
    return out


@pytest.mark.parametrize("seed", range(6))
def test_constant_pad_adds_amounts_before_and_after_every_axis(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 4, size=int(rng.integers(1, 6))))
    pairs = [tuple(int(v) for v in rng.integers(0, 3, size=2)) for _ in shape]
    x = rng.standard_normal((2, *shape))
    out = run(pad_network(shape, [v for p in pairs for v in p], value=-2.5), {"x": x})["out"]
    np.testing.assert_array_equal(out, pad_reference(x, pairs, -2.5))


def test_output_size_mode_pads_up_to_the_given_sizes_as_the_protos_examples():
    x = np.random.default_rng(0).standard_normal((1, 20, 10))
    out = run(pad_network((20, 10), [0, 21, 14, 0], to_size=True), {"x": x})["out"]
    assert out.shape == (1, 21, 14)
    np.testing.assert_array_equal(out, pad_reference(x, [(0, 1), (4, 0)], 0.0))
    out = run(
        pad_network((20, 10, 5), [0, 0, 17, 0, 0, 14], to_size=True), {"x": np.ones((1, 20, 10, 5))}
    )["out"]
    assert out.shape == (1, 20, 17, 14)
    out = run(pad_network((3, 4), [2, 0, 0, 1], to_size=True), {"x": np.ones((1, 3, 4))})
    assert out["out"].shape == (1, 3, 4)  # a size below the input's pads nothing


def test_pad_amounts_may_come_from_a_constant_input_but_not_from_the_data():
    def add(b):
        b.add_load_constant("amounts", "amounts", np.float64([1, 0, 0, 2]), [4, 1, 1])
        b.add_constant_pad("pad", ["x", "amounts"], "out", value=1.0)

    x = np.zeros((2, 2, 3))
    out = run(network({"x": (2, 3)}, add), {"x": x})["out"]
    np.testing.assert_array_equal(out, pad_reference(x, [(1, 0), (0, 2)], 1.0))
    spec = network({"x": (2, 3), "p": (4,)}, lambda b: b.add_constant_pad("pad", ["x", "p"], "out"))
    with pytest.raises(
        UnsupportedLayerError,
        match=r"'pad' \(constantPad\): its pad amounts "
        r"\(input 'p'\) depend on the model inputs",
    ):
        compile_network(spec)


def test_constant_pad_refuses_amounts_that_do_not_fit():
    with pytest.raises(
        ShapeError,
        match=r"padAmounts \[1, 1\] must hold 2 non-negative numbers "
        r"per axis of the input, shape \[2, 3\]: 4 numbers",
    ):
        compile_network(pad_network((2, 3), [1, 1]))
    with pytest.raises(ShapeError, match="at most one of each axis' two padAmounts"):
        compile_network(pad_network((2, 3), [1, 1, 0, 0], to_size=True))


# ---- padding on N-D ranks ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 6), (3, 5, 6), (2, 3, 5, 6)])
@pytest.mark.parametrize(
    "kind, torch_mode",
    [("constant", "constant"), ("reflection", "reflect"), ("replication", "replicate")],
)
@needs("torch")
def test_padding_pads_the_last_two_axes_of_any_rank_from_2(shape, kind, torch_mode):
    spec = network(
        {"x": shape},
        lambda b: b.add_padding(
            "pad",
            left=2,
            right=1,
            top=0,
            bottom=3,
            value=0.5,
            input_name="x",
            output_name="out",
            padding_type=kind,
        ),
    )
    x = np.random.default_rng(len(shape)).standard_normal((2, *shape))
    out = run(spec, {"x": x})["out"]
    flat = torch.from_numpy(x.reshape(-1, 1, *shape[-2:]))
    extra = {"value": 0.5} if kind == "constant" else {}
    expected = F.pad(flat, (2, 1, 0, 3), mode=torch_mode, **extra).numpy()
    np.testing.assert_array_equal(out.reshape(expected.shape), expected)


def test_padding_refuses_a_tensor_of_rank_1():
    spec = network(
        {"x": (5,)}, lambda b: b.add_padding("pad", left=1, input_name="x", output_name="out")
    )
    with pytest.raises(ShapeError, match=r"'pad' \(padding\): pads a tensor of rank 2 or more"):
        compile_network(spec)


@needs("torch")
def test_converted_torch_padding_predicts_what_torch_computes():
    import coremltools as ct

    import runtime

    model = torch.nn.Sequential(
        torch.nn.ReflectionPad1d((2, 1)),
        torch.nn.ReplicationPad1d(1),
        torch.nn.ConstantPad1d((0, 3), -1.0),
    ).eval()
    example = torch.rand(1, 3, 6)
    spec = ct.convert(
        torch.jit.trace(model, example),
        inputs=[ct.TensorType(name="x", shape=example.shape)],
        convert_to="neuralnetwork",
        minimum_deployment_target=ct.target.iOS14,
    ).get_spec()
    assert {layer.WhichOneof("layer") for layer in spec.neuralNetwork.layers} == {"padding"}
    x = torch.rand(1, 3, 6)
    got = next(iter(runtime.Model.load(spec).predict({"x": x.numpy()}).values()))
    expected = model(x).numpy()
    np.testing.assert_array_equal(np.reshape(got, expected.shape), expected)
