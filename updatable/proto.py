"""Spec side, base layer: the one place the Core ML protobuf classes come from.

coremltools ships the generated ``*_pb2`` modules for the Core ML format, but importing
``coremltools`` itself takes seconds (it imports torch, scikit-learn and its converters) and
prints warnings about its missing native library on Linux. We only need the message classes,
so we load the ``coremltools.proto`` package directly from its directory, under its own
name: if ``coremltools`` is imported later (tests use its builders), it finds this module in
``sys.modules`` and both share one set of classes and one protobuf descriptor pool.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from typing import TYPE_CHECKING

_PACKAGE = "coremltools.proto"


def _load_proto_package() -> None:
    """Register ``coremltools.proto`` and import the generated modules we use."""
    if _PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec("coremltools")  # locates the package, runs no code
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "coreml-updatable needs the 'coremltools' package for the Core ML protobuf "
            "classes; install it with: pip install coremltools"
        )
    root = spec.submodule_search_locations[0]
    # The generated modules import each other with `from . import X_pb2`; CPython resolves
    # that through __import__, which also imports the top-level package. A placeholder
    # 'coremltools' module stands in while they load and is removed afterwards, so a later
    # `import coremltools` runs the real package, which then adopts our 'coremltools.proto'.
    placeholder = types.ModuleType("coremltools")
    placeholder.__path__ = [root]
    sys.modules.setdefault("coremltools", placeholder)
    package = types.ModuleType(_PACKAGE)
    package.__path__ = [os.path.join(root, "proto")]
    package.__package__ = _PACKAGE
    sys.modules[_PACKAGE] = package
    try:
        for name in _MODULES:
            importlib.import_module(f"{_PACKAGE}.{name}")
    except BaseException:
        for key in [k for k in sys.modules if k == _PACKAGE or k.startswith(_PACKAGE + ".")]:
            del sys.modules[key]
        raise
    finally:
        if sys.modules.get("coremltools") is placeholder:
            del sys.modules["coremltools"]


_MODULES = (
    "Model_pb2",
    "NeuralNetwork_pb2",
    "FeatureTypes_pb2",
    "Parameters_pb2",
    "DataStructures_pb2",
    "NearestNeighbors_pb2",
    "LinkedModel_pb2",
)

_load_proto_package()

Model_pb2 = sys.modules[_PACKAGE + ".Model_pb2"]
NeuralNetwork_pb2 = sys.modules[_PACKAGE + ".NeuralNetwork_pb2"]
FeatureTypes_pb2 = sys.modules[_PACKAGE + ".FeatureTypes_pb2"]
Parameters_pb2 = sys.modules[_PACKAGE + ".Parameters_pb2"]
DataStructures_pb2 = sys.modules[_PACKAGE + ".DataStructures_pb2"]
NearestNeighbors_pb2 = sys.modules[_PACKAGE + ".NearestNeighbors_pb2"]
LinkedModel_pb2 = sys.modules[_PACKAGE + ".LinkedModel_pb2"]

if TYPE_CHECKING:
    from typing import Any, TypeAlias

    # The generated classes are loaded at run time from coremltools' directory, and protobuf
    # ships no type stubs for them: to a type checker each message class is ``Any`` (an
    # annotation such as ``proto.Model`` still tells the reader what is expected).
    ArrayFeatureType: TypeAlias = Any
    BoolParameter: TypeAlias = Any
    DoubleParameter: TypeAlias = Any
    FeatureDescription: TypeAlias = Any
    FeatureType: TypeAlias = Any
    ImageFeatureType: TypeAlias = Any
    Int64Parameter: TypeAlias = Any
    KNearestNeighborsClassifier: TypeAlias = Any
    LossLayer: TypeAlias = Any
    Message: TypeAlias = Any
    Model: TypeAlias = Any
    ModelDescription: TypeAlias = Any
    NeuralNetworkLayer: TypeAlias = Any
    Pipeline: TypeAlias = Any
    StringParameter: TypeAlias = Any
    WeightParams: TypeAlias = Any
else:
    from google.protobuf.message import Message  # the base class of every message

    Model = Model_pb2.Model
    ModelDescription = Model_pb2.ModelDescription
    Pipeline = Model_pb2.Pipeline
    FeatureDescription = Model_pb2.FeatureDescription
    FeatureType = FeatureTypes_pb2.FeatureType
    ArrayFeatureType = FeatureTypes_pb2.ArrayFeatureType
    ImageFeatureType = FeatureTypes_pb2.ImageFeatureType
    NeuralNetworkLayer = NeuralNetwork_pb2.NeuralNetworkLayer
    WeightParams = NeuralNetwork_pb2.WeightParams
    LossLayer = NeuralNetwork_pb2.LossLayer
    Int64Parameter = Parameters_pb2.Int64Parameter
    DoubleParameter = Parameters_pb2.DoubleParameter
    BoolParameter = Parameters_pb2.BoolParameter
    StringParameter = Parameters_pb2.StringParameter
    KNearestNeighborsClassifier = NearestNeighbors_pb2.KNearestNeighborsClassifier

__all__ = [
    "ArrayFeatureType",
    "BoolParameter",
    "DataStructures_pb2",
    "DoubleParameter",
    "FeatureDescription",
    "FeatureType",
    "FeatureTypes_pb2",
    "ImageFeatureType",
    "Int64Parameter",
    "KNearestNeighborsClassifier",
    "LinkedModel_pb2",
    "LossLayer",
    "Message",
    "Model",
    "ModelDescription",
    "Model_pb2",
    "NearestNeighbors_pb2",
    "NeuralNetworkLayer",
    "NeuralNetwork_pb2",
    "Parameters_pb2",
    "Pipeline",
    "StringParameter",
    "WeightParams",
]
