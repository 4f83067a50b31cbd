"""Spec side, base layer: what each Core ML model type is, in one line, for people.

``MODEL_TYPES`` holds every case of ``Model.Type`` (``Model.proto``): its oneof name, a short
description of what it computes, whether it is one of Apple's proprietary models, whose
parameters live in the operating system's frameworks rather than in the file (so nothing can
run it off the device), and whether this toolkit's runtime runs it. ``updatable inspect``
shows the description of each (sub-)model, and the runtime names it when it refuses a model
type it cannot run.
"""

from __future__ import annotations

from typing import NamedTuple

from updatable import proto


class ModelType(NamedTuple):
    """One ``Model.Type`` case."""

    what: str  # what the model computes
    proprietary: bool = False  # Apple's model, computed by a system framework
    runs: bool = True  # the runtime runs it (a test holds this to runtime's table of engines)


MODEL_TYPES: dict[str, ModelType] = {
    "pipeline": ModelType("a pipeline: its sub-models run in order over named features"),
    "pipelineClassifier": ModelType("a classifier pipeline: sub-models in order, the last labels"),
    "pipelineRegressor": ModelType("a regressor pipeline: sub-models in order, the last predicts"),
    "neuralNetwork": ModelType("a neural network"),
    "neuralNetworkClassifier": ModelType("a neural-network classifier"),
    "neuralNetworkRegressor": ModelType("a neural-network regressor"),
    "kNearestNeighborsClassifier": ModelType("a k-nearest-neighbours classifier"),
    "glmRegressor": ModelType("a generalized linear regressor (linear, logistic or probit)"),
    "glmClassifier": ModelType("a generalized linear classifier (logistic or probit regression)"),
    "supportVectorRegressor": ModelType("a support vector regressor (libsvm)"),
    "supportVectorClassifier": ModelType("a support vector classifier (libsvm, one-vs-one)"),
    "treeEnsembleRegressor": ModelType(
        "a tree ensemble regressor (decision trees, forests, boosting)"
    ),
    "treeEnsembleClassifier": ModelType(
        "a tree ensemble classifier (decision trees, forests, boosting)"
    ),
    "bayesianProbitRegressor": ModelType(
        "a Bayesian probit regressor (online click-through model)", runs=False
    ),
    "itemSimilarityRecommender": ModelType("an item-similarity recommender", runs=False),
    "mlProgram": ModelType(
        "an ML Program (a MIL program whose weights live in an .mlpackage)", runs=False
    ),
    "customModel": ModelType(
        "a custom model: code the app supplies (an MLCustomModel class); the file holds its name",
        runs=False,
    ),
    # runs inside a pipeline, which resolves its file; not as a model of its own
    "linkedModel": ModelType("a link to another .mlmodel file", runs=False),
    "classConfidenceThresholding": ModelType(
        "class confidence thresholding (precision-recall thresholds for a classifier's scores)",
        runs=False,
    ),
    "oneHotEncoder": ModelType("a one-hot encoder: a category becomes a vector with a single 1"),
    "imputer": ModelType("an imputer: fills in missing values"),
    "featureVectorizer": ModelType("a feature vectorizer: puts several features into one array"),
    "dictVectorizer": ModelType("a dictionary vectorizer: dictionary keys become positions"),
    "scaler": ModelType("a scaler: scale * (x + shift)"),
    "categoricalMapping": ModelType("a categorical mapping between strings and integers"),
    "normalizer": ModelType("a normalizer: divides an array by its L1, L2 or max norm"),
    "arrayFeatureExtractor": ModelType("an array feature extractor: picks values out of an array"),
    "nonMaximumSuppression": ModelType(
        "non-maximum suppression (object detection: keeps the best of overlapping boxes)",
        runs=False,
    ),
    "identity": ModelType("an identity model: outputs its inputs unchanged"),
    "textClassifier": ModelType(
        "Apple's Natural Language text classifier", proprietary=True, runs=False
    ),
    "wordTagger": ModelType("Apple's Natural Language word tagger", proprietary=True, runs=False),
    "visionFeaturePrint": ModelType(
        "Apple's Vision feature print (a proprietary image embedding)", proprietary=True, runs=False
    ),
    "soundAnalysisPreprocessing": ModelType(
        "Apple's Sound Analysis preprocessing (the audio front end of sound classifiers)",
        proprietary=True,
        runs=False,
    ),
    "gazetteer": ModelType(
        "Apple's Natural Language gazetteer (a compiled word list)", proprietary=True, runs=False
    ),
    "wordEmbedding": ModelType(
        "Apple's Natural Language word embedding", proprietary=True, runs=False
    ),
    "audioFeaturePrint": ModelType(
        "Apple's audio feature print (a proprietary sound embedding)", proprietary=True, runs=False
    ),
    "serializedModel": ModelType(
        "a serialized model (Apple's private format, reserved and undocumented)",
        proprietary=True,
        runs=False,
    ),
}


def describe(kind: str) -> str:
    """What a model of oneof name ``kind`` is (``kind`` itself for a name this table lacks)."""
    entry = MODEL_TYPES.get(kind)
    return entry.what if entry is not None else kind or "a model with no type"


def all_model_types() -> list[str]:
    """Every ``Model.Type`` oneof name of the protobuf classes in use, in field order."""
    return [field.name for field in proto.Model.DESCRIPTOR.oneofs_by_name["Type"].fields]
