"""Test models built with coremltools' own builders, so an independent tool wrote them.

Shared by the whole test suite; add new builders to the module of their kind rather than
to individual test files. Every function returns a fresh ``Model`` protobuf message.
"""

from tests.builders._common import _quiet, set_float32
from tests.builders.knn_pipelines import (
    drawing_embedding,
    embedding_extractor,
    empty_knn,
    extractor_knn_pipeline,
    features_head_pipeline,
    knn_classifier,
    linked_model,
    named_knn,
    nn_head_pipeline,
    pipeline_spec,
    tiny_drawing_embedding,
    tiny_drawing_pipeline,
)
from tests.builders.layers import (
    conv_adder,
    conv_variants_nn,
    dense_adder,
    digit_convnet,
    image_classifier,
    multi_input_nn,
    pool_adder,
)
from tests.builders.networks import (
    base_nn,
    classifier_nn,
    fire_net,
    fp16_nn,
    mnist_convnet,
    quantized_nn,
    single_layer_nn,
)
from tests.builders.structures import (
    blocked_classifier,
    chain_nn,
    chained_ip_nn,
    classifier_with_logits_output,
    conv_head_classifier,
    regressor_nn,
    two_output_nn,
)
from tests.builders.trainable import (
    add_cce_with_softmax_and_sgd,
    make_trainable,
    sweep_classifier,
    sweep_mnist_head,
    updatable_classifier,
    updatable_mnist,
    updatable_mnist_example,
    updatable_nn,
)

__all__ = [
    "_quiet",
    "add_cce_with_softmax_and_sgd",
    "base_nn",
    "blocked_classifier",
    "chain_nn",
    "chained_ip_nn",
    "classifier_nn",
    "classifier_with_logits_output",
    "conv_adder",
    "conv_head_classifier",
    "conv_variants_nn",
    "dense_adder",
    "digit_convnet",
    "drawing_embedding",
    "embedding_extractor",
    "empty_knn",
    "extractor_knn_pipeline",
    "features_head_pipeline",
    "fire_net",
    "fp16_nn",
    "image_classifier",
    "knn_classifier",
    "linked_model",
    "make_trainable",
    "mnist_convnet",
    "multi_input_nn",
    "named_knn",
    "nn_head_pipeline",
    "pipeline_spec",
    "pool_adder",
    "quantized_nn",
    "regressor_nn",
    "set_float32",
    "single_layer_nn",
    "sweep_classifier",
    "sweep_mnist_head",
    "tiny_drawing_embedding",
    "tiny_drawing_pipeline",
    "two_output_nn",
    "updatable_classifier",
    "updatable_mnist",
    "updatable_mnist_example",
    "updatable_nn",
]
