"""Survey the test zoo: what converter output contains, and what the toolkit does with it today.

The models are the test suite's zoo: PyTorch architectures converted by coremltools for iOS 13
and iOS 14 (``tests/builders/torch_zoo.py``) and networks shaped like the output of older
Keras / TensorFlow converters (``tests/builders/converter_style.py``). For each model and
target it records the model type, specification version, input/output features (type,
shape, rank), the array and image shape mappings, every layer kind with its count (layers in
loop or branch bodies included), the parameter variants of each kind (every parameter except
sizes and weight values, plus the shapes of the tensors the layer reads when coremltools
reported them), whether ``runtime.Model.load`` loads it and a prediction agrees with torch,
and whether ``updatable.validate`` accepts it.

    python scripts/survey_models.py                     # every model, both targets
    python scripts/survey_models.py --models lstm keras_crnn --targets iOS13
    python scripts/survey_models.py --markdown survey.md  # also write the full results

Converting the torch zoo takes ~20 s the first time, then it is cached
(``torch_zoo.cache_dir``). Without torch the torch zoo is skipped."""

from __future__ import annotations

import argparse
import collections
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import runtime  # noqa: E402
import updatable  # noqa: E402
from scripts._survey_report import markdown, print_tables  # noqa: E402
from tests.builders import converter_style, torch_zoo  # noqa: E402
from updatable import proto  # noqa: E402

# Sizes vary with the model, not with the semantics a kernel must implement.
SIZE_FIELDS = {
    "outputChannels",
    "kernelChannels",
    "inputChannels",
    "inputDim",
    "vocabSize",
    "embeddingSize",
    "inputVectorSize",
    "outputVectorSize",
    "channels",
    "hiddenSize",
    "weightMatrixFirstDimension",
    "weightMatrixSecondDimension",
    "maxLoopIterations",
}
NETWORK_TYPES = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor")


@dataclass
class Record:
    """One model at one target."""

    model: str
    source: str
    target: str
    error: str | None = None
    model_type: str = ""
    spec_version: int = 0
    mappings: str = ""
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    kinds: collections.Counter = field(default_factory=collections.Counter)
    variants: dict = field(default_factory=lambda: collections.defaultdict(collections.Counter))
    shapes: dict = field(default_factory=lambda: collections.defaultdict(set))
    loads: str = ""
    predicts: str = ""
    validates: str = ""


def describe(message) -> str:
    """Every parameter of a layer's message, compactly: scalars and enums (defaults too),
    repeated values, set sub-messages; weights as their storage kind; sizes left out."""
    parts = []
    for fd in message.DESCRIPTOR.fields:
        if fd.name in SIZE_FIELDS:
            continue
        value = getattr(message, fd.name)
        if fd.message_type is not None and fd.message_type.name == "WeightParams":
            if not _repeated(fd) and message.HasField(fd.name):
                parts.append(f"{fd.name}:{_storage(value)}")
            continue
        if fd.message_type is not None and fd.message_type.name == "NeuralNetwork":
            if message.HasField(fd.name):
                parts.append(f"{fd.name}({len(value.layers)} layers)")
            continue
        if _repeated(fd):
            if len(value):
                items = [describe(v) if fd.message_type else _scalar(fd, v) for v in value]
                parts.append(f"{fd.name}=[{', '.join(items)}]")
        elif fd.message_type is not None:
            if message.HasField(fd.name):
                inner = describe(value)
                parts.append(f"{fd.name}({inner})" if inner else fd.name)
        elif fd.containing_oneof is None or message.WhichOneof(fd.containing_oneof.name) == fd.name:
            parts.append(f"{fd.name}={_scalar(fd, value)}")
    storages = {p.rsplit(":", 1)[-1] for p in parts}
    if len(parts) > 3 and storages <= {"f32", "f16", "quantized", "raw", "empty"}:
        return f"{len(parts)} x " + "/".join(sorted(storages))  # e.g. an LSTM's 12 matrices
    return " ".join(parts)


def _repeated(fd) -> bool:  # protobuf 5.28+ has is_repeated; protobuf 7 dropped `label`
    repeated = getattr(fd, "is_repeated", None)
    return repeated if repeated is not None else fd.label == fd.LABEL_REPEATED


def _scalar(fd, value) -> str:
    if fd.enum_type is not None:
        return fd.enum_type.values_by_number[value].name
    return f"{value:g}" if isinstance(value, float) else str(value)


def _storage(weights) -> str:
    if len(weights.floatValue) or len(weights.float16Value):
        return "f32" if len(weights.floatValue) else "f16"
    if len(weights.rawValue):
        return "quantized" if weights.HasField("quantization") else "raw"
    return "empty"


def feature_text(feature) -> str:
    kind = feature.type.WhichOneof("Type")
    value = getattr(feature.type, kind)
    if kind == "multiArrayType":
        shape = list(value.shape)
        text = (
            f"multiArray {proto.ArrayFeatureType.ArrayDataType.Name(value.dataType)} "
            f"{shape} (rank {len(shape)})"
        )
    elif kind == "imageType":
        space = proto.ImageFeatureType.ColorSpace.Name(value.colorSpace)
        text = f"image {space} {value.width}x{value.height}"
    elif kind == "dictionaryType":
        text = f"dictionary {value.WhichOneof('KeyType')}"
    else:
        text = kind
    return f"{feature.name}: {text}" + (" (optional)" if feature.type.isOptional else "")


def walk(network, where=""):
    """(layer, where) for every layer, loop and branch bodies included."""
    for layer in network.layers:
        yield layer, where
        params = getattr(layer, layer.WhichOneof("layer"))
        for fd in params.DESCRIPTOR.fields:
            if (
                fd.message_type is not None
                and fd.message_type.name == "NeuralNetwork"
                and params.HasField(fd.name)
            ):
                yield from walk(getattr(params, fd.name), f"{where}{layer.name}.{fd.name}/")


# Kinds whose output has its first input's shape (used to fill in blobs coremltools' program
# does not name, e.g. the expandDims / batchnorm / squeeze it adds around a rank-2 batchnorm).
SAME_SHAPE = {
    "activation",
    "batchnorm",
    "clip",
    "unary",
    "copy",
    "softmax",
    "softmaxND",
    "mvn",
    "l2normalize",
    "gelu",
    "scale",
    "bias",
}


def infer_shape(layer, kind, inputs: list) -> list | None:
    """The output shape of a layer whose output coremltools did not report, for the few kinds
    it inserts itself."""
    if kind in SAME_SHAPE:
        return inputs[0]
    if kind in ("loadConstantND", "reshapeStatic"):
        return list(layer.loadConstantND.shape or layer.reshapeStatic.targetShape)
    if kind == "transpose":
        return [inputs[0][axis] for axis in layer.transpose.axes]
    if kind == "expandDims":
        shape = list(inputs[0])
        rank = len(shape) + len(layer.expandDims.axes)
        for axis in sorted(a % rank for a in layer.expandDims.axes):
            shape.insert(axis, 1)
        return shape
    if kind == "squeeze":
        params, rank = layer.squeeze, len(inputs[0])
        drop = (
            {a % rank for a in params.axes}
            if not params.squeezeAll
            else {i for i, d in enumerate(inputs[0]) if d == 1}
        )
        return [d for i, d in enumerate(inputs[0]) if i not in drop]
    return None


def analyse(record: Record, spec, shapes: dict | None) -> None:
    record.model_type = spec.WhichOneof("Type")
    record.spec_version = spec.specificationVersion
    record.inputs = [feature_text(f) for f in spec.description.input]
    record.outputs = [feature_text(f) for f in spec.description.output]
    if record.model_type not in NETWORK_TYPES:
        return
    network = getattr(spec, record.model_type)
    arrays = proto.NeuralNetwork_pb2.NeuralNetworkMultiArrayShapeMapping
    images = proto.NeuralNetwork_pb2.NeuralNetworkImageShapeMapping
    record.mappings = (
        f"{arrays.Name(network.arrayInputShapeMapping)}, "
        f"{images.Name(network.imageInputShapeMapping)}"
    )
    shapes = dict(shapes) if shapes is not None else None
    for layer, where in walk(network):
        kind = layer.WhichOneof("layer")
        record.kinds[kind] += 1
        signature = describe(getattr(layer, kind)) or "(no parameters)"
        if shapes is not None:
            seen = [shapes.get(name) for name in layer.input]
            if layer.output and layer.output[0] not in shapes and None not in seen:
                inferred = infer_shape(layer, kind, seen)
                if inferred is not None:
                    shapes[layer.output[0]] = inferred
            ranks = ", ".join(str(len(s)) if s is not None else "?" for s in seen)
            signature += f" | input rank {ranks}" if seen else ""
            known = [s for s in seen if s is not None]
            if known:
                record.shapes[kind].add(" x ".join(str(s) for s in known))
        if len(layer.input) != 1 or len(layer.output) != 1:
            signature += f" | {len(layer.input)} in, {len(layer.output)} out"
        if where:
            signature += " | nested"
        record.variants[kind][signature] += 1


def check_runtime(record: Record, spec, reference) -> None:
    """Validate; load with the runtime; predict one example and compare with ``reference`` when
    given (``(feeds, expected)``)."""
    issues = [i for i in updatable.validate(spec, lint=False) if i.severity == "error"]
    record.validates = "ok" if not issues else f"{issues[0].code}: {issues[0].message}"
    try:
        model = runtime.Model.load(spec)
    except Exception as error:
        record.loads = f"{type(error).__name__}: {error}"
        return
    record.loads = "ok"
    feeds, expected = reference if reference else (random_feeds(spec), None)
    try:
        out = model.predict(feeds)
    except Exception as error:
        record.predicts = f"{type(error).__name__}: {error}"
        return
    if expected is None:
        record.predicts = "runs"
        return
    got = output_vector(spec, out)
    diff = float(np.max(np.abs(got - expected.ravel())) / max(1e-12, np.max(np.abs(expected))))
    same = int(np.argmax(got)) == int(np.argmax(expected.ravel()))
    record.predicts = f"max rel diff {diff:.1e}, top-1 {'agrees' if same else 'DIFFERS'}"


def output_vector(spec, out) -> np.ndarray:
    name = spec.description.predictedProbabilitiesName or spec.description.output[0].name
    value = out[name]
    if isinstance(value, dict):
        network = getattr(spec, spec.WhichOneof("Type"))
        labels = list(network.stringClassLabels.vector) or list(network.int64ClassLabels.vector)
        return np.array([value[label] for label in labels], dtype=np.float64)
    return np.asarray(value, dtype=np.float64).ravel()


def random_feeds(spec) -> dict:
    rng = np.random.default_rng(0)
    feeds = {}
    for feature in (f for f in spec.description.input if not f.type.isOptional):
        kind = feature.type.WhichOneof("Type")
        if kind == "imageType":
            image = feature.type.imageType
            channels = () if image.colorSpace == image.GRAYSCALE else (3,)
            feeds[feature.name] = rng.integers(
                0, 256, (image.height, image.width, *channels), dtype=np.uint8
            )
        elif kind == "multiArrayType":
            feeds[feature.name] = rng.random(list(feature.type.multiArrayType.shape)).astype(
                np.float32
            )
    return feeds


def survey(models: list[str] | None, targets: list[str]) -> list[Record]:
    records = []
    torch_ok = importlib.util.find_spec("torch") is not None
    for name in torch_zoo.ZOO if torch_ok else ():
        if models and name not in models:
            continue
        for target in targets:
            record = Record(name, "torch", target)
            records.append(record)
            record.error = torch_zoo.conversion_error(name, target)
            if record.error:
                continue
            spec = torch_zoo.converted(name, target)
            analyse(record, spec, torch_zoo.tensor_shapes(name, target))
            batch, _ = torch_zoo.real_batch(name, 1)
            reference = (torch_zoo.feeds(name, batch[0]), torch_zoo.torch_predict(name, batch))
            check_runtime(record, spec, reference)
    for name, build in converter_style.CONVERTER_STYLE.items():
        if models and name not in models:
            continue
        records.append(record := Record(name, "builder", "-"))
        analyse(record, spec := build(), None)
        check_runtime(record, spec, None)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="only these zoo / builder models")
    parser.add_argument(
        "--targets",
        nargs="*",
        default=list(torch_zoo.TARGETS),
        choices=torch_zoo.TARGETS,
        help="deployment targets of the torch zoo",
    )
    parser.add_argument("--markdown", type=Path, help="write the full results to this file")
    args = parser.parse_args(argv)
    unknown = set(args.models or ()) - set(torch_zoo.ZOO) - set(converter_style.CONVERTER_STYLE)
    if unknown:
        parser.error(
            f"unknown models {sorted(unknown)}; choose from "
            f"{sorted(torch_zoo.ZOO) + sorted(converter_style.CONVERTER_STYLE)}"
        )
    records = survey(args.models, args.targets)
    print_tables(records)
    if args.markdown:
        args.markdown.write_text(markdown(records))
        print(f"\nwrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
