"""Runtime, model layer: the engine of each Core ML model type, in one explicit table.

An engine compiles a spec once, ``compile(spec, *, parameters, base_dir) -> engine``, and
then runs feature batches, ``engine.run(batch) -> batch`` (docs/ARCHITECTURE.md, "Engines").
``parameters`` are the load-time overrides of a ``ModelConfiguration``; ``base_dir`` is where
the model's file lives (linked models resolve beside it). The neural-network engine lives
with the networks (``runtime.nn.engine``); the others live here, one module or folder each
(``pipeline``, ``knn/``, the classic models: GLMs, SVMs, tree ensembles, feature engineering),
and a new model type is one more module plus one row of :data:`ENGINES`. Every other type is
refused in one line saying what it is (``unsupported``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from runtime.model.engines.array_feature_extractor import ArrayFeatureExtractorEngine
from runtime.model.engines.categorical_mapping import CategoricalMappingEngine
from runtime.model.engines.dict_vectorizer import DictVectorizerEngine
from runtime.model.engines.feature_vectorizer import FeatureVectorizerEngine
from runtime.model.engines.glm_classifier import GlmClassifierEngine
from runtime.model.engines.glm_regressor import GlmRegressorEngine
from runtime.model.engines.identity import IdentityEngine
from runtime.model.engines.imputer import ImputerEngine
from runtime.model.engines.knn.engine import KnnEngine
from runtime.model.engines.normalizer import NormalizerEngine
from runtime.model.engines.one_hot_encoder import OneHotEncoderEngine
from runtime.model.engines.pipeline import PipelineEngine
from runtime.model.engines.scaler import ScalerEngine
from runtime.model.engines.svm_classifier import SvmClassifierEngine
from runtime.model.engines.svm_regressor import SvmRegressorEngine
from runtime.model.engines.tree_ensemble import TreeEnsembleEngine
from runtime.model.engines.unsupported import refusal
from runtime.nn.engine import NeuralNetworkEngine
from updatable import spec as spec_io
from updatable.errors import UnsupportedModelError


def _pipeline(spec, *, parameters, base_dir) -> PipelineEngine:
    # a pipeline compiles its sub-models, of any type, through this same table
    return PipelineEngine.compile(
        spec, parameters=parameters, base_dir=base_dir, compile_stage=compile_engine
    )


# Model.Type oneof name -> compile(spec, *, parameters, base_dir) of its engine
ENGINES: dict[str, Callable] = {
    "neuralNetwork": NeuralNetworkEngine.compile,
    "neuralNetworkClassifier": NeuralNetworkEngine.compile,
    "neuralNetworkRegressor": NeuralNetworkEngine.compile,
    "kNearestNeighborsClassifier": KnnEngine.compile,
    "pipeline": _pipeline,
    "pipelineClassifier": _pipeline,
    "pipelineRegressor": _pipeline,
    "glmClassifier": GlmClassifierEngine.compile,
    "glmRegressor": GlmRegressorEngine.compile,
    "treeEnsembleClassifier": TreeEnsembleEngine.compile,
    "treeEnsembleRegressor": TreeEnsembleEngine.compile,
    "supportVectorClassifier": SvmClassifierEngine.compile,
    "supportVectorRegressor": SvmRegressorEngine.compile,
    "featureVectorizer": FeatureVectorizerEngine.compile,
    "oneHotEncoder": OneHotEncoderEngine.compile,
    "normalizer": NormalizerEngine.compile,
    "scaler": ScalerEngine.compile,
    "imputer": ImputerEngine.compile,
    "arrayFeatureExtractor": ArrayFeatureExtractorEngine.compile,
    "dictVectorizer": DictVectorizerEngine.compile,
    "categoricalMapping": CategoricalMappingEngine.compile,
    "identity": IdentityEngine.compile,
}


def compile_engine(spec, *, parameters: Mapping | None = None, base_dir: Path | None = None):
    """Compile ``spec`` with the engine of its type (also used for pipeline sub-models).

    Raises:
        UnsupportedModelError: no engine runs this model type (one line: what the type is and
            why it cannot run; ``runtime.model.engines.unsupported``).
    """
    model_type = spec_io.model_type(spec)
    compile_ = ENGINES.get(model_type)
    if compile_ is None:
        raise UnsupportedModelError(refusal(model_type))
    return compile_(spec, parameters=dict(parameters or {}), base_dir=base_dir)
