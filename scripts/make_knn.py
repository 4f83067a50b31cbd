"""Make an updatable drawing classifier: a frozen feature extractor + an empty kNN.

The shape of Apple's updatable tiny-drawing classifier: model 0 turns a 28x28 grayscale
drawing into an embedding, model 1 is an empty updatable k-nearest-neighbours classifier on
that embedding that predicts ``unknown`` until the user adds examples. The extractor is read
from ``--model`` or built with coremltools' builder (Apple's TinyDrawingEmbedding
architecture, random weights). Writes ``UpdatableDrawingClassifier.mlmodel``; with
``--linked`` also ``DrawingEmbedding.mlmodel`` and a pipeline whose first model is a linked
model pointing at ``DrawingEmbedding.mlmodelc`` (compile the former with Xcode or coremlc and
ship it beside the app).

    python scripts/make_knn.py --out build/
    python scripts/make_knn.py --model Embedding.mlmodel --k 3 --k-range 1,10 --linked --out build/
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

import numpy as np

import updatable
from updatable import IntParam
from updatable.errors import UpdatableError


def build_embedding(dims: int = 128, seed: int = 0):
    """TinyDrawingEmbedding's architecture with coremltools' builder: `drawing` 28x28
    grayscale -> 3 x (conv 3x3 same + ReLU -> max pool 2) with 16, 32, 64 channels ->
    flatten -> dense 576 -> ``dims`` + ReLU -> `embedding` MultiArray FLOAT32 [dims]."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)  # coremltools logs its missing native library
        from coremltools.models import datatypes
        from coremltools.models.neural_network import NeuralNetworkBuilder
        from coremltools.proto import FeatureTypes_pb2

        logging.disable(logging.NOTSET)

    rng = np.random.default_rng(seed)
    builder = NeuralNetworkBuilder(
        [("drawing", datatypes.Array(1, 28, 28))], [("embedding", datatypes.Array(dims))]
    )
    blob = "drawing"
    for i, (cin, cout) in enumerate(((1, 16), (16, 32), (32, 64))):
        builder.add_convolution(
            f"conv{i}", kernel_channels=cin, output_channels=cout, height=3, width=3,
            stride_height=1, stride_width=1, border_mode="same", groups=1,
            W=rng.standard_normal((3, 3, cin, cout)) * np.sqrt(2 / (9 * cin)),
            b=np.zeros(cout), has_bias=True, input_name=blob, output_name=f"conv{i}_out",
        )  # fmt: skip
        builder.add_activation(f"relu{i}", "RELU", f"conv{i}_out", f"relu{i}_out")
        builder.add_pooling(f"pool{i}", 2, 2, 2, 2, "MAX", "VALID", f"relu{i}_out", f"pool{i}_out")
        blob = f"pool{i}_out"
    builder.add_flatten("flatten", 0, blob, "flat")
    builder.add_inner_product(
        "dense", W=rng.standard_normal((dims, 576)) * np.sqrt(2 / 576), b=np.zeros(dims),
        input_channels=576, output_channels=dims, has_bias=True, input_name="flat",
        output_name="dense_out",
    )  # fmt: skip
    builder.add_activation("dense_relu", "RELU", "dense_out", "embedding")
    builder.set_pre_processing_parameters(image_input_names=["drawing"], image_scale=1 / 255)
    spec = builder.spec
    spec.description.output[
        0
    ].type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    drawing = spec.description.input[0]
    drawing.type.imageType.width = drawing.type.imageType.height = 28
    drawing.type.imageType.colorSpace = drawing.type.imageType.GRAYSCALE
    drawing.shortDescription = "28x28 grayscale drawing, white strokes on black"
    return spec


def embedding_size(extractor) -> int:
    """The length of the extractor's one rank-1 multiArray output."""
    outputs = extractor.description.output
    if len(outputs) != 1 or outputs[0].type.WhichOneof("Type") != "multiArrayType":
        raise updatable.SurgeryError(
            f"the feature extractor must have one multiArray output; it has "
            f"{[o.name for o in outputs]}"
        )
    shape = [d for d in outputs[0].type.multiArrayType.shape if d != 1]
    if len(shape) != 1:
        raise updatable.SurgeryError(f"the embedding must be a vector; its shape is {shape}")
    return shape[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--model", type=Path, help="feature extractor (default: build one)")
    parser.add_argument("--k", type=int, default=3, help="number of neighbours (default 3)")
    parser.add_argument("--k-range", default="1,10", metavar="MIN,MAX",
                        help="values of k an app may choose (default 1,10)")  # fmt: skip
    parser.add_argument("--default-label", default="unknown")
    parser.add_argument("--weighting", choices=("uniform", "inverse_distance"),
                        default="inverse_distance")  # fmt: skip
    parser.add_argument("--linked", action="store_true", help="also write a linked variant")
    args = parser.parse_args(argv)
    try:
        low, high = (int(v) for v in args.k_range.split(","))
        extractor = updatable.load(args.model) if args.model else build_embedding()
        knn = updatable.make_knn_classifier(
            embedding_size(extractor),
            args.default_label,
            input_name=extractor.description.output[0].name,
            output_name="label",
            number_of_neighbors=IntParam(args.k, range=(low, high), name="numberOfNeighbors"),
            weighting_scheme=args.weighting,
        )
        written = {"UpdatableDrawingClassifier": updatable.make_pipeline(extractor, knn)}
        if args.linked:
            link = updatable.make_linked_model(extractor, "DrawingEmbedding.mlmodelc")
            written["DrawingEmbedding"] = extractor
            written["UpdatableDrawingClassifierLinked"] = updatable.make_pipeline(link, knn)
        args.out.mkdir(parents=True, exist_ok=True)
        for name, model in written.items():
            updatable.check(model, lint=False)  # raises if Core ML would refuse the model
            path = args.out / f"{name}.mlmodel"
            updatable.save(model, path)
            print(f"wrote {path}")
    except (UpdatableError, ValueError) as exc:
        print(f"make_knn: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
