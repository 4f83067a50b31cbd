"""kNN classifiers, pipelines and linked models."""

from __future__ import annotations

import numpy as np

from tests.builders._common import (
    KNearestNeighborsClassifierBuilder,
    NeuralNetworkBuilder,
    SgdParams,
    _quiet,
    _rng,
    _to_grayscale_image,
    datatypes,
    set_float32,
)
from updatable import proto


def empty_knn(dims: int = 4, default_label="x", **kwargs):
    """An empty updatable kNN classifier from coremltools' builder."""
    builder = KNearestNeighborsClassifierBuilder(
        input_name="input",
        output_name="output",
        number_of_dimensions=dims,
        default_class_label=default_label,
        **kwargs,
    )
    return builder.spec


def drawing_embedding(seed: int = 0, dims: int = 128):
    """Apple's TinyDrawingEmbedding architecture (docs/mlmodel-format.md §6.5): `drawing` 28x28
    grayscale image -> conv 16@3x3 same relu -> maxpool 2 -> conv 32 -> maxpool -> conv 64 ->
    maxpool -> flatten -> dense 576->``dims`` relu -> `embedding` MultiArray FLOAT32 [dims].
    Not updatable; specification version as coremltools' builder leaves it."""
    from coremltools.proto import FeatureTypes_pb2

    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("drawing", datatypes.Array(1, 28, 28))], [("embedding", datatypes.Array(dims))]
    )
    blob = "drawing"
    for i, (cin, cout) in enumerate(((1, 16), (16, 32), (32, 64))):
        builder.add_convolution(
            f"conv{i}",
            kernel_channels=cin,
            output_channels=cout,
            height=3,
            width=3,
            stride_height=1,
            stride_width=1,
            border_mode="same",
            groups=1,
            W=rng.standard_normal((3, 3, cin, cout)) * np.sqrt(2.0 / (9 * cin)),
            b=np.zeros(cout),
            has_bias=True,
            input_name=blob,
            output_name=f"c{i}",
        )
        builder.add_activation(f"relu{i}", "RELU", f"c{i}", f"r{i}")
        builder.add_pooling(f"pool{i}", 2, 2, 2, 2, "MAX", "VALID", f"r{i}", f"p{i}")
        blob = f"p{i}"
    builder.add_flatten("flatten", 0, blob, "flat")
    builder.add_inner_product(
        "dense",
        W=rng.standard_normal((dims, 576)) * np.sqrt(2 / 576),
        b=np.zeros(dims),
        input_channels=576,
        output_channels=dims,
        has_bias=True,
        input_name="flat",
        output_name="dense_out",
    )
    builder.add_activation("dense_relu", "RELU", "dense_out", "embedding")
    spec = builder.spec
    spec.description.output[
        0
    ].type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    _to_grayscale_image(spec, "drawing", 28, 28)
    return spec


def nn_head_pipeline(seed: int = 0):
    """coremltools' `Pipeline` of a frozen feature NN (`input` Array(4) -> 3 features) and a
    classifier head (`features` -> `probs`/`label`), neither updatable."""
    from coremltools.models.pipeline import PipelineClassifier

    rng = _rng(seed)
    extractor = NeuralNetworkBuilder(
        [("input", datatypes.Array(4))], [("features", datatypes.Array(3))]
    )
    extractor.add_inner_product(
        "extract",
        W=rng.standard_normal((3, 4)),
        b=rng.standard_normal(3),
        input_channels=4,
        output_channels=3,
        has_bias=True,
        input_name="input",
        output_name="features",
    )
    head = NeuralNetworkBuilder(
        [("features", datatypes.Array(3))], [("probs", datatypes.Array(2))], mode="classifier"
    )
    head.add_inner_product(
        "dense",
        W=rng.standard_normal((2, 3)),
        b=rng.standard_normal(2),
        input_channels=3,
        output_channels=2,
        has_bias=True,
        input_name="features",
        output_name="logits",
    )
    head.add_softmax("softmax", "logits", "probs")
    head.set_class_labels(["cat", "dog"], predicted_feature_name="label", prediction_blob="probs")
    pipeline = PipelineClassifier(
        [("input", datatypes.Array(4))], ["cat", "dog"], output_features=["label", "probs"]
    )
    pipeline.add_model(extractor.spec)
    pipeline.add_model(head.spec)
    return pipeline.spec


def named_knn(
    input_name: str = "input",
    output_name: str = "output",
    dims: int = 4,
    default_label="x",
    updatable: bool = True,
    **kwargs,
):
    """A kNN classifier from coremltools' builder, with any names (`empty_knn` fixes them)."""
    builder = KNearestNeighborsClassifierBuilder(
        input_name=input_name,
        output_name=output_name,
        number_of_dimensions=dims,
        default_class_label=default_label,
        **kwargs,
    )
    builder.is_updatable = updatable
    return builder.spec


def tiny_drawing_embedding(seed: int = 0):
    """Model 0 of Apple's tiny-drawing pipeline (docs/mlmodel-format.md §6.5): `drawing` 28x28
    grayscale image -> conv 16@3x3 same + ReLU -> maxpool 2 -> conv 32 -> maxpool -> conv 64 ->
    maxpool -> flatten -> dense 576->128 + ReLU -> `embedding` FLOAT32 [128]. Version 1, not
    updatable."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("drawing", datatypes.Array(1, 28, 28))], [("embedding", datatypes.Array(128))]
    )
    blob, channels = "drawing", 1
    for i, out_channels in enumerate((16, 32, 64)):
        builder.add_convolution(
            f"conv{i}",
            kernel_channels=channels,
            output_channels=out_channels,
            height=3,
            width=3,
            stride_height=1,
            stride_width=1,
            border_mode="same",
            groups=1,
            W=rng.standard_normal((3, 3, channels, out_channels)) * 0.1,
            b=np.zeros(out_channels),
            has_bias=True,
            input_name=blob,
            output_name=f"c{i}",
        )
        builder.add_activation(f"relu{i}", "RELU", f"c{i}", f"r{i}")
        builder.add_pooling(f"pool{i}", 2, 2, 2, 2, "MAX", "VALID", f"r{i}", f"p{i}")
        blob, channels = f"p{i}", out_channels
    builder.add_flatten("flatten", 0, blob, "flat")
    builder.add_inner_product(
        "dense",
        W=rng.standard_normal((128, 576)) * 0.05,
        b=np.zeros(128),
        input_channels=576,
        output_channels=128,
        has_bias=True,
        input_name="flat",
        output_name="dense_out",
    )
    builder.add_activation("dense_relu", "RELU", "dense_out", "embedding")
    spec = builder.spec
    _to_grayscale_image(spec, "drawing", 28, 28)
    set_float32(spec.description.output)
    return spec


def tiny_drawing_pipeline(linked: bool = False, seed: int = 0):
    """Apple's updatable tiny-drawing classifier: a `pipelineClassifier` (version 4,
    updatable) of the embedding network (or, with ``linked``, a version-4 LinkedModel to
    `TinyDrawingEmbedding.mlmodelc` on search path `.:$BUNDLE_MAIN`) and an empty updatable kNN
    on `embedding` (String labels, default `unknown`, inverse distance, linear index; k = 5).
    Training inputs: `drawing` and `label`. Assembled by protobuf edits, as in the example."""
    embedding = tiny_drawing_embedding(seed)
    knn = named_knn(
        "embedding",
        "label",
        128,
        "unknown",
        weighting_scheme="inverse_distance",
        index_type="linear",
    )
    if linked:
        link = proto.Model()
        link.specificationVersion = 4
        link.description.CopyFrom(embedding.description)
        link_file = link.linkedModel.linkedModelFile
        link_file.linkedModelFileName.defaultValue = "TinyDrawingEmbedding.mlmodelc"
        link_file.linkedModelSearchPath.defaultValue = ".:$BUNDLE_MAIN"
        embedding = link
    spec = proto.Model()
    spec.specificationVersion = 4
    spec.isUpdatable = True
    spec.description.input.extend(embedding.description.input)
    spec.description.output.extend(knn.description.output)
    spec.description.predictedFeatureName = knn.description.predictedFeatureName
    spec.description.predictedProbabilitiesName = knn.description.predictedProbabilitiesName
    spec.description.trainingInput.extend(embedding.description.input)
    spec.description.trainingInput[0].shortDescription = "Example sketch"
    spec.description.trainingInput.extend([knn.description.trainingInput[1]])
    spec.pipelineClassifier.pipeline.models.extend([embedding, knn])
    return spec


def pipeline_spec(models, kind: str = "pipeline", updatable: bool = False, version: int = 4):
    """A pipeline of ``models`` by protobuf edits: inputs are the first model's inputs,
    outputs the last model's outputs (and its predicted feature names)."""
    spec = proto.Model()
    spec.specificationVersion = version
    spec.isUpdatable = updatable
    spec.description.input.extend(models[0].description.input)
    spec.description.output.extend(models[-1].description.output)
    if kind == "pipelineClassifier":
        spec.description.predictedFeatureName = models[-1].description.predictedFeatureName
        spec.description.predictedProbabilitiesName = models[
            -1
        ].description.predictedProbabilitiesName
    pipeline = spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline
    pipeline.models.extend(models)
    return spec


def knn_classifier(
    points=None,
    labels=None,
    *,
    dims: int | None = None,
    default_label="none",
    k: int = 5,
    k_range=None,
    k_set=None,
    weighting: str = "uniform",
    index: str = "linear",
    leaf_size: int = 30,
    debug_outputs: bool = False,
):
    """An updatable kNN classifier from coremltools' builder, holding ``points`` / ``labels``.

    ``index`` is 'linear' or 'kd_tree', ``weighting`` 'uniform' or 'inverse_distance'; the
    label type follows ``default_label`` (str -> String, int -> Int64). ``k_range`` (a tuple)
    or ``k_set`` (a set) bound ``numberOfNeighbors``; otherwise the builder's [1, 1000] stays.
    With ``debug_outputs`` the model also declares Core ML's three ``_debugNearest*`` outputs.
    """
    dims = dims if dims is not None else np.asarray(points).shape[1]
    builder = KNearestNeighborsClassifierBuilder(
        input_name="input",
        output_name="output",
        number_of_dimensions=dims,
        default_class_label=default_label,
        number_of_neighbors=k,
        weighting_scheme=weighting,
        index_type=index,
        leaf_size=leaf_size,
    )
    if k_range is not None or k_set is not None:
        builder.set_number_of_neighbors_with_bounds(k, allowed_range=k_range, allowed_set=k_set)
    if points is not None and len(points):
        cast = str if isinstance(default_label, str) else int
        builder.add_samples(
            np.asarray(points, dtype=np.float32).tolist(), [cast(label) for label in labels]
        )
    spec = builder.spec
    if debug_outputs:
        for name, array_type in (
            ("_debugNearestLabels", None),
            ("_debugNearestDistances", "FLOAT32"),
            ("_debugNearestFeatureIndices", "INT32"),
        ):
            feature = spec.description.output.add()
            feature.name = name
            if array_type is None:
                feature.type.multiArrayType.dataType = feature.type.multiArrayType.INT32
            else:
                feature.type.multiArrayType.dataType = getattr(
                    feature.type.multiArrayType, array_type
                )
    return spec


def linked_model(file_name: str, search_path: str = ""):
    """A ``LinkedModel`` spec pointing at ``file_name`` along ``search_path``.

    coremltools has no builder for linked models; its ``updatable_linked_model`` notebook sets
    the two ``StringParameter`` defaults on the proto by hand, as done here.
    """
    from coremltools.proto import Model_pb2

    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    link = spec.linkedModel.linkedModelFile
    link.linkedModelFileName.defaultValue = file_name
    link.linkedModelSearchPath.defaultValue = search_path
    return spec


def embedding_extractor(seed: int = 0, output: str = "embedding"):
    """`image` Array(1, 8, 8) -> conv 3x3 (4) + relu -> global average pool -> innerProduct 6
    -> ``output`` Array(6); version 4."""
    rng = _rng(seed)
    builder = NeuralNetworkBuilder(
        [("image", datatypes.Array(1, 8, 8))], [(output, datatypes.Array(6))]
    )
    builder.add_convolution(
        "conv",
        1,
        4,
        3,
        3,
        1,
        1,
        "valid",
        1,
        rng.standard_normal((3, 3, 1, 4)),
        rng.standard_normal(4),
        True,
        input_name="image",
        output_name="c",
    )
    builder.add_activation("relu", "RELU", "c", "r")
    builder.add_pooling("gap", 1, 1, 1, 1, "AVERAGE", "VALID", "r", "gap", is_global=True)
    builder.add_inner_product(
        "ip", rng.standard_normal((6, 4)), rng.standard_normal(6), 4, 6, True, "gap", output
    )
    builder.spec.specificationVersion = 4
    return builder.spec


def extractor_knn_pipeline(seed: int = 0, k: int = 3, labels=("circle", "square", "star")):
    """A `pipelineClassifier` from coremltools' ``PipelineClassifier``: `embedding_extractor`
    then a uniform kNN on `embedding` (k = ``k``, default label `unknown`) holding 12 random
    6-d samples labelled in turn by ``labels``; outputs `shape` and `shapeProbs`.

    Returns ``(spec, points, sample_labels)``.
    """
    from coremltools.models.pipeline import PipelineClassifier

    rng = _rng(seed)
    points = rng.standard_normal((12, 6)).astype(np.float32) * 3
    sample_labels = [labels[i % len(labels)] for i in range(12)]
    knn = KNearestNeighborsClassifierBuilder(
        input_name="embedding",
        output_name="shape",
        number_of_dimensions=6,
        default_class_label="unknown",
        number_of_neighbors=k,
        weighting_scheme="uniform",
    )
    knn.add_samples(points, list(sample_labels))
    pipeline = PipelineClassifier(
        [("image", datatypes.Array(1, 8, 8))], list(labels), output_features=["shape", "shapeProbs"]
    )
    pipeline.add_model(embedding_extractor(seed))
    pipeline.add_model(knn.spec)
    pipeline.spec.specificationVersion = 4
    return pipeline.spec, points, sample_labels


def features_head_pipeline(seed: int = 0):
    """`nn_head_pipeline`'s frozen extractor (`input` Array(4) -> 3 features) in front of an
    updatable classifier head (dense, softmax `probs`, labels cat/dog, CCE, SGD lr 0.1 in
    [0, 10], batch 4 from {2, 4}, epochs 3 from {3}), assembled by ``updatable.make_pipeline``."""
    import updatable

    pipeline = nn_head_pipeline(seed)
    extractor, head = pipeline.pipelineClassifier.pipeline.models
    builder = NeuralNetworkBuilder(spec=head)
    with _quiet():
        builder.make_updatable(["dense"])
        builder.set_categorical_cross_entropy_loss("lossLayer", input="probs")
        sgd = SgdParams(lr=0.1, batch=4)
        sgd.set_lr(0.1, 0.0, 10.0)
        sgd.set_batch(4, [2, 4])
        builder.set_sgd_optimizer(sgd)
        builder.set_epochs(3, [3])
    return updatable.make_pipeline(extractor, builder.spec)
