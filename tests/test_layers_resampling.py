"""Bilinear resampling layers: ``resizeBilinear`` (every ``SamplingMode``), ``cropResize`` (every
box coordinate mode, normalized coordinates, spatial scale, with and without image indices)
and ``upsample`` on N-D ranks.

The reference grids are written from NeuralNetwork.proto's ``SamplingMode`` comment as it
states them, with ``numpy.linspace``, and each output pixel is interpolated by a scalar loop;
torch's ``interpolate`` checks the modes it has (align_corners=True is
``STRICT_ALIGN_ENDPOINTS_MODE``). Networks come from coremltools' builder, run in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import runtime
from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from tests.optional import needs, optional_import
from updatable.errors import ShapeError, UnsupportedLayerError

torch = optional_import("torch")
F = optional_import("torch.nn.functional")

MODES = ("STRICT_ALIGN_ENDPOINTS_MODE", "ALIGN_ENDPOINTS_MODE", "UPSAMPLE_MODE", "ROI_ALIGN_MODE")
BOX_MODES = (
    "CORNERS_HEIGHT_FIRST",
    "CORNERS_WIDTH_FIRST",
    "CENTER_SIZE_HEIGHT_FIRST",
    "CENTER_SIZE_WIDTH_FIRST",
)


def proto_grid(mode: str, size: int, count: int) -> np.ndarray:
    """SamplingMode's grid over [0, size - 1], as NeuralNetwork.proto writes it."""
    if mode == "STRICT_ALIGN_ENDPOINTS_MODE":
        return np.linspace(0, size - 1, count)
    if mode == "ALIGN_ENDPOINTS_MODE":
        return np.array([(size - 1) / 2]) if count == 1 else np.linspace(0, size - 1, count)
    if mode == "UPSAMPLE_MODE":
        return np.minimum(size - 1, np.linspace(0, size - size / count, count))
    spacing = max(1, size - 1) / count
    start = 0.5 * spacing
    return np.minimum(size - 1, np.linspace(start, start + (count - 1) * spacing, count))


def sample(image: np.ndarray, p: float, q: float) -> float:
    """Bilinear value of a 2-D image at (p, q); 0 outside [0, H - 1] x [0, W - 1]."""
    height, width = image.shape
    if not (0 <= p <= height - 1 and 0 <= q <= width - 1):
        return 0.0
    r0, c0 = math.floor(p), math.floor(q)
    r1, c1 = min(r0 + 1, height - 1), min(c0 + 1, width - 1)
    a, b = p - r0, q - c0
    top = (1 - b) * image[r0, c0] + b * image[r0, c1]
    bottom = (1 - b) * image[r1, c0] + b * image[r1, c1]
    return (1 - a) * top + a * bottom


def resample(image: np.ndarray, rows, cols) -> np.ndarray:
    return np.array([[sample(image, p, q) for q in cols] for p in rows])


# ---- resizeBilinear ------------------------------------------------------------------------


def resize_network(shape, size, mode):
    return network(
        {"x": shape},
        lambda b: b.add_resize_bilinear(
            "resize", "x", "out", target_height=size[0], target_width=size[1], mode=mode
        ),
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(4))
def test_resize_bilinear_samples_the_proto_grid_of_every_mode(mode, seed):
    rng = np.random.default_rng(seed)
    lead = tuple(int(d) for d in rng.integers(1, 3, size=int(rng.integers(0, 2))))
    height, width = (int(d) for d in rng.integers(1, 6, size=2))
    size = tuple(int(d) for d in rng.integers(1, 9, size=2))
    shape = (*lead, 2, height, width)
    x = rng.standard_normal((2, *shape))
    out = run(resize_network(shape, size, mode), {"x": x})["out"]
    assert out.shape == (2, *lead, 2, *size)
    rows, cols = proto_grid(mode, height, size[0]), proto_grid(mode, width, size[1])
    images = x.reshape(-1, height, width)
    expected = np.stack([resample(image, rows, cols) for image in images])
    np.testing.assert_allclose(out.reshape(expected.shape), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["STRICT_ALIGN_ENDPOINTS_MODE", "ALIGN_ENDPOINTS_MODE"])
@pytest.mark.parametrize("size", [(7, 3), (2, 9), (5, 5)])
@needs("torch")
def test_resize_bilinear_aligned_modes_are_torch_interpolate_with_align_corners(mode, size):
    rng = np.random.default_rng(size[0])
    x = rng.standard_normal((2, 3, 4, 5))
    out = run(resize_network((3, 4, 5), size, mode), {"x": x})["out"]
    expected = F.interpolate(torch.from_numpy(x), size=size, mode="bilinear", align_corners=True)
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-12, atol=1e-12)


def test_one_output_row_takes_the_first_row_or_the_centre():
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    strict = run(resize_network((1, 3, 4), (1, 1), "STRICT_ALIGN_ENDPOINTS_MODE"), {"x": x})
    centre = run(resize_network((1, 3, 4), (1, 1), "ALIGN_ENDPOINTS_MODE"), {"x": x})
    assert strict["out"].item() == 0.0 and centre["out"].item() == 5.5  # x[1, 1.5]


def test_resize_bilinear_refuses_what_the_proto_forbids():
    spec = resize_network((1, 3, 4), (2, 2), "UPSAMPLE_MODE")
    spec.neuralNetwork.layers[0].resizeBilinear.targetSize.append(3)
    with pytest.raises(ShapeError, match=r"'resize' \(resizeBilinear\): targetSize must be 2"):
        compile_network(spec)
    spec = resize_network((1, 3, 4), (2, 2), "UPSAMPLE_MODE")
    spec.neuralNetwork.layers[0].resizeBilinear.mode.samplingMethod = 7
    with pytest.raises(UnsupportedLayerError, match="unknown sampling method 7"):
        compile_network(spec)
    with pytest.raises(ShapeError, match="rank 3 or more"):
        compile_network(resize_network((3, 4), (2, 2), "UPSAMPLE_MODE"))


# ---- cropResize ----------------------------------------------------------------------------


def crop_network(image, boxes, size, **options):
    return network(
        {"x": image, "roi": boxes},
        lambda b: b.add_crop_resize(
            "crop", ["x", "roi"], "out", target_height=size[0], target_width=size[1], **options
        ),
    )


def box_corners(box, mode):
    """(h1, w1, h2, w2) of a box written in ``mode`` (BoxCoordinatesMode's comment)."""
    a, b, c, d = box
    if mode == "CORNERS_HEIGHT_FIRST":  # [h_start, w_start, h_end, w_end]
        return a, b, c, d
    if mode == "CORNERS_WIDTH_FIRST":  # [w_start, h_start, w_end, h_end]
        return b, a, d, c
    if mode == "CENTER_SIZE_HEIGHT_FIRST":  # [h_center, w_center, box_height, box_width]
        return a - c / 2, b - d / 2, a + c / 2, b + d / 2
    return b - d / 2, a - c / 2, b + d / 2, a + c / 2  # [w_center, h_center, width, height]


def crop_reference(x, rois, size, mode, box_mode, normalized, scale):
    """Per example and box, the box interval's grid (the proto's formula with X - 1 the box's
    extent, offset to its start), sampled with the scalar bilinear (0 outside the image)."""
    examples, _, count, channels, height, width = x.shape
    with_index = rois.shape[3] == 5
    out = np.zeros((examples, rois.shape[1], 1 if with_index else count, channels, *size))
    for e in range(examples):
        for n in range(rois.shape[1]):
            values = rois[e, n, 0, :, 0, 0]
            images = [int(values[0])] if with_index else range(count)
            h1, w1, h2, w2 = box_corners(values[-4:], box_mode)
            factors = (height - 1, width - 1) if normalized else (1, 1)
            h1, h2 = h1 * factors[0] * scale, h2 * factors[0] * scale
            w1, w2 = w1 * factors[1] * scale, w2 * factors[1] * scale
            rows = h1 + offsets(mode, h2 - h1, size[0])
            cols = w1 + offsets(mode, w2 - w1, size[1])
            for slot, image in enumerate(images):
                for c in range(channels):
                    out[e, n, slot, c] = resample(x[e, 0, image, c], rows, cols)
    return out


def offsets(mode, extent, count):
    """The proto grid over [0, X - 1] with X - 1 = extent (a box's own interval)."""
    if mode == "STRICT_ALIGN_ENDPOINTS_MODE":
        return np.linspace(0, extent, count)
    if mode == "ALIGN_ENDPOINTS_MODE":
        return np.array([extent / 2]) if count == 1 else np.linspace(0, extent, count)
    if mode == "UPSAMPLE_MODE":
        size = extent + 1
        return np.minimum(extent, np.linspace(0, size - size / count, count))
    spacing = max(1, extent) / count
    return np.minimum(extent, np.linspace(0.5 * spacing, (count - 0.5) * spacing, count))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("box_mode", BOX_MODES)
@pytest.mark.parametrize(
    "normalized, scale, with_index", [(False, 1.0, False), (True, 1.0, True), (False, 0.5, True)]
)
def test_crop_resize_cuts_and_resamples_every_box(mode, box_mode, normalized, scale, with_index):
    rng = np.random.default_rng(MODES.index(mode) + 4 * BOX_MODES.index(box_mode))
    count, channels, height, width, boxes, size = 2, 3, 6, 7, 3, (4, 3)
    x = rng.standard_normal((2, 1, count, channels, height, width))
    limit = np.array([height - 1, width - 1]) / scale if not normalized else np.ones(2)
    corner = rng.uniform(0, 0.6, (2, boxes, 2)) * limit
    extent = rng.uniform(0.2, 0.4, (2, boxes, 2)) * limit
    centre = corner + extent / 2
    values = {
        "CORNERS_HEIGHT_FIRST": [corner, corner + extent],
        "CORNERS_WIDTH_FIRST": [corner[..., ::-1], (corner + extent)[..., ::-1]],
        "CENTER_SIZE_HEIGHT_FIRST": [centre, extent],
        "CENTER_SIZE_WIDTH_FIRST": [centre[..., ::-1], extent[..., ::-1]],
    }[box_mode]
    coordinates = np.concatenate(values, axis=-1)
    if with_index:
        index = rng.integers(0, count, (2, boxes, 1)).astype(np.float64)
        coordinates = np.concatenate([index, coordinates], axis=-1)
    rois = coordinates.reshape(2, boxes, 1, coordinates.shape[-1], 1, 1)
    spec = crop_network(
        (1, count, channels, height, width),
        rois.shape[1:],
        size,
        mode=mode,
        normalized_roi=normalized,
        box_indices_mode=box_mode,
        spatial_scale=scale,
    )
    out = run(spec, {"x": x, "roi": rois})["out"]
    expected = crop_reference(x, rois, size, mode, box_mode, normalized, scale)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


def test_grid_points_outside_the_image_read_zero_and_index_ranges_are_checked():
    x = np.ones((1, 1, 1, 1, 3, 3))
    rois = np.float64([-2, -2, 2, 2]).reshape(1, 1, 1, 4, 1, 1)  # starts 2 before the image
    spec = crop_network((1, 1, 1, 3, 3), (1, 1, 4, 1, 1), (5, 5))
    out = run(spec, {"x": x, "roi": rois})["out"][0, 0, 0, 0]
    # points -2 -1 0 1 2 on each axis: the first two fall outside
    np.testing.assert_array_equal(out, np.pad(np.ones((3, 3)), ((2, 0), (2, 0))))
    spec = crop_network((1, 2, 1, 3, 3), (1, 1, 5, 1, 1), (2, 2))
    with pytest.raises(
        ShapeError,
        match=r"'crop' \(cropResize\): an image index is out of "
        r"range; expected values in \[0, 1\]",
    ):
        run(
            spec,
            {
                "x": np.ones((1, 1, 2, 1, 3, 3)),
                "roi": np.float64([2, 0, 0, 1, 1]).reshape(1, 1, 1, 5, 1, 1),
            },
        )


def test_an_unset_spatial_scale_means_one():
    spec = crop_network((1, 1, 1, 4, 4), (1, 1, 4, 1, 1), (2, 2))
    spec.neuralNetwork.layers[0].cropResize.spatialScale = 0.0
    x = np.arange(16.0).reshape(1, 1, 1, 1, 4, 4)
    rois = np.float64([1, 1, 3, 3]).reshape(1, 1, 1, 4, 1, 1)
    out = run(spec, {"x": x, "roi": rois})["out"]
    np.testing.assert_array_equal(out.ravel(), [5, 7, 13, 15])


def test_crop_resize_refuses_inputs_the_proto_does_not_describe():
    with pytest.raises(ShapeError, match=r"input 1 must be \[1, B, C, H, W\]"):
        compile_network(crop_network((2, 1, 1, 3, 3), (1, 1, 4, 1, 1), (2, 2)))
    with pytest.raises(ShapeError, match=r"boxes must be \[N, 1, 4, 1, 1\] or \[N, 1, 5, 1, 1\]"):
        compile_network(crop_network((1, 1, 1, 3, 3), (1, 1, 6, 1, 1), (2, 2)))


# ---- upsample on N-D ranks ------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 2, 3, 4, 5)])
@needs("torch")
def test_upsample_treats_leading_axes_as_batch(shape):
    x = np.random.default_rng(len(shape)).standard_normal((2, *shape))
    spec = network(
        {"x": shape},
        lambda b: b.add_upsample(
            "up", 1.5, 2, "x", "out", "BILINEAR", linear_upsample_mode="ALIGN_CORNERS_FALSE"
        ),
    )
    out = run(spec, {"x": x})["out"]
    images = torch.from_numpy(x.reshape(-1, *shape[-3:]))
    expected = F.interpolate(images, size=(6, 10), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(out.reshape(expected.shape), expected.numpy(), rtol=1e-12)


def test_upsample_refuses_the_combinations_core_ml_refuses():
    spec = network({"x": (1, 2, 2)}, lambda b: b.add_upsample("up", 2, 2, "x", "out", "NN"))
    spec.neuralNetwork.layers[0].upsample.linearUpsampleMode = 1
    with pytest.raises(
        UnsupportedLayerError,
        match="nearest-neighbour mode with linearUpsampleMode ALIGN_CORNERS_TRUE",
    ):
        compile_network(spec)
    spec.neuralNetwork.layers[0].upsample.linearUpsampleMode = 0
    spec.neuralNetwork.layers[0].upsample.fractionalScalingFactor.extend([1.5, 1.5])
    with pytest.raises(ShapeError, match="sets both scalingFactor and fractionalScalingFactor"):
        compile_network(spec)


@pytest.mark.parametrize(
    "size, align", [((7, 9), True), ((7, 9), False), ((3, 4), True), ((6, 3), False)]
)
@needs("torch")
def test_torch_interpolate_to_a_size_converts_and_predicts_what_torch_computes(size, align):
    """coremltools writes ``F.interpolate(size=...)`` as an upsample with fractional factors
    (below 1 for a smaller size, nudged up so that ``floor`` lands on the size)."""
    import coremltools as ct

    class Resize(torch.nn.Module):
        def forward(self, x):
            return F.interpolate(x, size=size, mode="bilinear", align_corners=align)

    example = torch.rand(1, 2, 4, 5)
    spec = ct.convert(
        torch.jit.trace(Resize().eval(), example),
        inputs=[ct.TensorType(name="x", shape=example.shape)],
        convert_to="neuralnetwork",
        minimum_deployment_target=ct.target.iOS14,
    ).get_spec()
    assert len(spec.neuralNetwork.layers[0].upsample.fractionalScalingFactor) == 2
    batch = torch.rand(3, 1, 2, 4, 5)
    model = runtime.Model.load(spec)
    for x in batch:
        got = next(iter(model.predict({"x": x.numpy()}).values()))
        expected = Resize()(x).numpy()
        np.testing.assert_allclose(np.reshape(got, expected.shape), expected, atol=1e-6)
