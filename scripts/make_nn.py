"""Make a personalisable image classifier: widen it for user classes and train its head.

Takes a neural-network classifier (or builds a small one with coremltools' builder), widens
its last layer to 10 classes (new weights zero, placeholder labels ``user0..``), makes that
layer updatable with cross-entropy, SGD (lr 0.001, batch 8 from {1, 2, 8, 16}) and 10 epochs
(from {1, 10, 50}), and writes two variants:

* ``PretrainedHead.mlmodel``: the original classes keep their trained weights;
* ``Brainwashed.mlmodel``: the head is re-initialised (Kaiming uniform), so on-device
  training starts from scratch for every class.

Both are validated with Core ML's rules before they are written.

    python scripts/make_nn.py --out build/
    python scripts/make_nn.py --model MyClassifier.mlmodel --layer fc8 --out build/
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

import numpy as np

import updatable
from updatable import IntParam, proto
from updatable.errors import UpdatableError
from updatable.spec import find_layer, layer_kind

NUM_CLASSES = 10
BUILT_LABELS = ("circle", "square", "triangle")


def build_classifier(seed: int = 0):
    """A small classifier from coremltools' builder: `image` 28x28 grayscale -> conv 8@3x3
    ReLU -> max pool 2 -> flatten -> dense1 (1352 -> 64) ReLU -> dense2 (64 -> 3) -> softmax
    `labelProbabilities`, labels circle / square / triangle, predicted feature `label`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)  # coremltools logs its missing native library
        from coremltools.models import datatypes
        from coremltools.models.neural_network import NeuralNetworkBuilder

        logging.disable(logging.NOTSET)

    rng = np.random.default_rng(seed)
    builder = NeuralNetworkBuilder(
        [("image", datatypes.Array(1, 28, 28))],
        [("labelProbabilities", datatypes.Array(len(BUILT_LABELS)))],
        mode="classifier",
    )
    builder.add_convolution(
        "conv", kernel_channels=1, output_channels=8, height=3, width=3, stride_height=1,
        stride_width=1, border_mode="valid", groups=1,
        W=rng.standard_normal((3, 3, 1, 8)) * np.sqrt(2 / 9), b=np.zeros(8), has_bias=True,
        input_name="image", output_name="conv_out",
    )  # fmt: skip
    builder.add_activation("conv_relu", "RELU", "conv_out", "conv_relu_out")
    builder.add_pooling("pool", 2, 2, 2, 2, "MAX", "VALID", "conv_relu_out", "pool_out")
    builder.add_flatten("flatten", 0, "pool_out", "flat")
    builder.add_inner_product(
        "dense1", W=rng.standard_normal((64, 1352)) * np.sqrt(2 / 1352), b=np.zeros(64),
        input_channels=1352, output_channels=64, has_bias=True, input_name="flat",
        output_name="dense1_out",
    )  # fmt: skip
    builder.add_activation("dense1_relu", "RELU", "dense1_out", "features")
    builder.add_inner_product(
        "dense2", W=rng.standard_normal((3, 64)) * np.sqrt(1 / 64), b=np.zeros(3),
        input_channels=64, output_channels=3, has_bias=True, input_name="features",
        output_name="logits",
    )  # fmt: skip
    builder.add_softmax("softmax", "logits", "labelProbabilities")
    builder.set_class_labels(
        list(BUILT_LABELS), predicted_feature_name="label", prediction_blob="labelProbabilities"
    )
    builder.set_pre_processing_parameters(image_input_names=["image"], image_scale=1 / 255)
    spec = builder.spec
    image = spec.description.input[0]
    image.type.imageType.width = image.type.imageType.height = 28
    image.type.imageType.colorSpace = image.type.imageType.GRAYSCALE
    return spec


def prepare(spec, layer: str, num_classes: int):
    """Widen ``layer`` to ``num_classes`` and make it the updatable head."""
    current = _output_channels(spec, layer)
    if current < num_classes:
        updatable.expand_classifier(spec, layer, num_classes)
    updatable.make_updatable(spec, [layer])
    updatable.set_loss(spec, "cross_entropy")
    updatable.set_optimizer(
        spec, "sgd", learning_rate=0.001, mini_batch_size=IntParam(8, choices=(1, 2, 8, 16))
    )
    updatable.set_epochs(spec, IntParam(10, choices=(1, 10, 50)))
    updatable.set_shuffle(spec, True)
    return spec


def _output_channels(spec, layer: str) -> int:
    found = find_layer(spec, layer)
    return getattr(found, layer_kind(found)).outputChannels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--model", type=Path, help="classifier .mlmodel (default: build one)")
    parser.add_argument("--layer", help="head layer (default: the layer feeding the softmax)")
    parser.add_argument("--classes", type=int, default=NUM_CLASSES, help="classes after widening")
    parser.add_argument("--seed", type=int, default=0, help="seed of the re-initialisation")
    args = parser.parse_args(argv)
    try:
        spec = updatable.load(args.model) if args.model else build_classifier()
        layer = args.layer or updatable.classifier_head(spec)
        prepare(spec, layer, args.classes)
        brainwashed = proto.Model()
        brainwashed.CopyFrom(spec)
        updatable.reinitialize(brainwashed, layer, "kaiming_uniform", seed=args.seed)
        args.out.mkdir(parents=True, exist_ok=True)
        for name, model in (("PretrainedHead", spec), ("Brainwashed", brainwashed)):
            warnings = updatable.check(model)  # raises if Core ML would refuse the model
            path = args.out / f"{name}.mlmodel"
            updatable.save(model, path)
            print(
                f"wrote {path} (head '{layer}', {args.classes} classes, {len(warnings)} warnings)"
            )
    except UpdatableError as exc:
        print(f"make_nn: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
