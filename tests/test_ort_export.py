"""ONNX export of whole networks against the runtime and an independent torch reading,
classifier metadata, and clear errors for what cannot be exported."""

from __future__ import annotations

import numpy as np
import pytest

from tests import builders
from tests.digits import mnist_digits
from tests.optional import installed, needs, require
from tests.torch_coreml import TorchNetwork
from updatable.errors import MissingDependencyError, UnsupportedLayerError

# the exporter and these checks need onnx and an onnxruntime (plain or training)
require("onnx")
require("onnxruntime")

from runtime.ort import export_onnx  # noqa: E402  (imports onnx: after the skip check)
from tests.ort_support import assert_close, run_onnx, runtime_blob, small_squeezenet  # noqa: E402
from tests.test_ort_export_layers import one_layer  # noqa: E402

RNG = np.random.default_rng(11)


def _mnist_feeds(count, image_input):
    images, _ = mnist_digits(count)
    if image_input:
        return {"image": images.transpose(0, 2, 3, 1).copy()}
    return {"image": images / np.float32(255)}


@pytest.mark.parametrize("image_input", [False, True], ids=["array", "image"])
@needs("torch")
def test_mnist_convnet_matches_runtime_and_torch(image_input):
    spec = builders.mnist_convnet(image_input=image_input)
    feeds = _mnist_feeds(16, image_input)
    (probabilities,) = run_onnx(export_onnx(spec), feeds)
    assert probabilities.shape == (16, 10)
    assert_close(
        probabilities, runtime_blob(spec, feeds, "digitProbabilities")[:, :, 0, 0], "runtime"
    )
    pixels = feeds["image"].transpose(0, 3, 1, 2) / 255.0 if image_input else feeds["image"]
    reference = TorchNetwork(spec).forward({"image": pixels})["digitProbabilities"]
    assert_close(probabilities, reference.detach().numpy()[:, :, 0, 0], "torch")


def test_classifier_labels_travel_in_metadata():
    spec = builders.mnist_convnet()
    meta = {p.key: p.value for p in export_onnx(spec).metadata_props}
    assert meta["coreml.predictedFeatureName"] == "digit"
    assert meta["coreml.classLabels"] == '["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]'


def test_unsupported_layer_names_the_layer_its_kind_and_the_alternatives():
    spec = one_layer(
        {"x": (8, 4, 4)},
        lambda b: b.add_reorganize_data(
            "space2depth", "x", "output", mode="SPACE_TO_DEPTH", block_size=2
        ),
    )
    with pytest.raises(UnsupportedLayerError) as info:
        export_onnx(spec)
    message = str(info.value)
    assert "'space2depth'" in message and "'reorganizeData'" in message
    assert "supported kinds: ['activation', 'add'," in message


def test_export_takes_any_blob_as_an_output():
    spec = builders.mnist_convnet()
    feeds = _mnist_feeds(4, False)
    flat, logits = run_onnx(export_onnx(spec, outputs=["flat", "logits"]), feeds)
    assert flat.shape == (4, 2304, 1, 1) and logits.shape == (4, 10, 1, 1)
    assert_close(logits, runtime_blob(spec, feeds, "logits"), "logits")


@needs("torch")
def test_squeezenet_matches_runtime_and_torch():
    spec = small_squeezenet()
    feeds = {"data": RNG.standard_normal((4, 3, 67, 67)).astype(np.float32)}
    (probabilities,) = run_onnx(export_onnx(spec), feeds)
    assert probabilities.shape == (4, 10)
    assert_close(probabilities, runtime_blob(spec, feeds, "probs")[:, :, 0, 0], "runtime")
    reference = TorchNetwork(spec).forward(feeds)["probs"].detach().numpy()[:, :, 0, 0]
    assert_close(probabilities, reference, "torch")


def test_mobilenet_v2_blocks_match_runtime():
    from scripts.architectures import mobilenet_v2_blocks

    spec = mobilenet_v2_blocks()
    name = spec.description.input[0].name
    shape = tuple(spec.description.input[0].type.multiArrayType.shape)
    feeds = {name: RNG.standard_normal((2, *shape)).astype(np.float32)}
    output = spec.description.output[0].name
    (onnx_out,) = run_onnx(export_onnx(spec, outputs=[output]), feeds)
    assert_close(onnx_out, runtime_blob(spec, feeds, output), "mobilenet")


@pytest.mark.skipif(
    installed("onnxruntime.training"), reason="onnxruntime-training is installed: training works"
)
def test_training_with_plain_onnxruntime_is_exit_3_and_says_where_it_trains(tmp_path, capsys):
    """Plain onnxruntime (macOS, Python 3.12+) exports and infers; training says what to do."""
    import updatable
    from runtime.ort import write_artifacts
    from updatable.cli import main

    spec = builders.updatable_mnist("sgd", ("dense_1", "dense_2"))
    with pytest.raises(MissingDependencyError, match=r"wheels for Linux x86_64 with Python 3\.11"):
        write_artifacts(spec, tmp_path / "ort")
    model = tmp_path / "m.mlmodel"
    updatable.save(spec, model)
    assert main(["export-ort", str(model), "-o", str(tmp_path / "ort")]) == 3
    assert "needs onnxruntime-training" in capsys.readouterr().err
    assert not (tmp_path / "ort").exists()
    assert main(["export-ort", str(model), "-o", str(tmp_path / "m.onnx"), "--inference"]) == 0
