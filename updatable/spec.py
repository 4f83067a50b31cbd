"""Spec side, base layer: reading and writing ``.mlmodel`` files, and walking their networks.

``load`` never lets a protobuf traceback escape: an empty, truncated, corrupt or foreign
file raises :class:`ModelFileError` naming the file and what was wrong. ``save`` is atomic:
it writes a temporary file in the destination directory, flushes it to disk and renames it
over the destination, so a reader sees either the old file or the new one, never a part.

Every public function that reads a model takes a *model source* (:data:`ModelSource`): the
path of a ``.mlmodel`` file, a ``Model`` protobuf message, or a coremltools ``MLModel``.
:func:`open_model` is the one place that tells them apart. An ``MLModel`` is recognised by
its ``get_spec()`` method rather than by ``isinstance``, so that coremltools itself (seconds
to import) is never imported here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from google.protobuf.message import DecodeError

from updatable import proto
from updatable.errors import LayerNotFoundError, ModelFileError, UnsupportedModelError

# Model oneof cases that hold a neural network (they share layers and updateParams).
NEURAL_NETWORK_TYPES = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor")
PIPELINE_TYPES = ("pipeline", "pipelineClassifier", "pipelineRegressor")

PathLike = str | os.PathLike[str]


class HasSpec(Protocol):
    """What a coremltools ``MLModel`` offers us: ``get_spec()``, a copy of its protobuf."""

    def get_spec(self) -> proto.Model: ...


# a .mlmodel path, a Model message or a coremltools MLModel (see open_model)
ModelSource = PathLike | proto.Model | HasSpec


def loads(data: bytes, source: str = "<bytes>") -> proto.Model:
    """Parse serialized ``Model`` bytes; ``source`` names them in error messages."""
    if not data:
        raise ModelFileError(f"{source}: the file is empty; expected a Core ML .mlmodel file")
    spec = proto.Model()
    try:
        spec.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"{source}: not a readable Core ML model ({len(data)} bytes): the protobuf data is "
            f"corrupt or truncated ({exc})"
        ) from None
    # Protobuf parsing is permissive: a file cut at a field boundary, or unrelated bytes that
    # happen to decode, parse "successfully". A real model has a version and a model type.
    if spec.specificationVersion <= 0 or spec.WhichOneof("Type") is None:
        what = (
            "no specificationVersion"
            if spec.specificationVersion <= 0
            else "no model type (the file may be truncated)"
        )
        raise ModelFileError(
            f"{source}: not a valid Core ML model ({len(data)} bytes): {what}; "
            "expected a .mlmodel file written by Core ML tools"
        )
    return spec


def load(model: ModelSource) -> proto.Model:
    """Read a model into a ``Model`` protobuf message of its own.

    Args:
        model: the path of a ``.mlmodel`` file, a coremltools ``MLModel`` (its ``get_spec()``)
            or a ``Model`` message (copied, so editing the result leaves it unchanged).

    Raises:
        ModelFileError: the path is missing, a directory (``.mlpackage``/``.mlmodelc``), empty,
            truncated or not a Core ML model; or the ``MLModel`` is an ML Program.
        TypeError: ``model`` is none of the three.
    """
    return open_model(model)[0]


def open_model(model: ModelSource, what: str = "model") -> tuple[proto.Model, Path | None]:
    """``(spec, path)``: a private copy of ``model``'s spec and the file it was read from.

    ``path`` is ``None`` for a message or an ``MLModel`` (an ``MLModel`` does not remember
    the file it was loaded from), so linked models then resolve from the working directory.
    ``what`` names the argument in the ``TypeError`` (e.g. ``"feature_extractor"``).
    """
    if isinstance(model, proto.Model):
        spec = proto.Model()
        spec.CopyFrom(model)
        return spec, None
    if isinstance(model, str | os.PathLike):
        return _read_file(Path(model)), Path(model)
    spec = mlmodel_spec(model)
    if spec is None:
        raise TypeError(
            f"{what}: expected the path of a .mlmodel file, a Core ML Model message or a "
            f"coremltools MLModel; got {type(model).__name__}"
        )
    return spec, None


def as_spec(model: ModelSource, what: str = "model") -> proto.Model:
    """``model`` itself when it is a ``Model`` message (not copied: for callers that only read
    it), else the spec :func:`open_model` reads from the path or the ``MLModel``."""
    if isinstance(model, proto.Model):
        return model
    return open_model(model, what)[0]


def mlmodel_spec(model: object) -> proto.Model | None:
    """The spec of a coremltools ``MLModel`` (a copy), or ``None`` for any other object.

    Duck-typed on ``get_spec()``: an ``MLModel`` can only exist once its caller has imported
    coremltools, and this check must not import it for everyone else.

    Raises:
        ModelFileError: the ``MLModel`` is an ML Program (``.mlpackage``), which cannot be
            updatable, as :func:`load` refuses the ``.mlpackage`` directory.
        TypeError: ``get_spec()`` returned something other than a ``Model`` message.
    """
    get_spec = getattr(model, "get_spec", None)
    if not callable(get_spec):
        return None
    spec = get_spec()
    if not isinstance(spec, proto.Model):
        raise TypeError(
            f"{type(model).__name__}.get_spec() returned {type(spec).__name__}; expected a "
            "Core ML Model message, as coremltools' MLModel.get_spec() returns"
        )
    if model_type(spec) == "mlProgram":
        where = getattr(model, "package_path", None) or f"the {type(model).__name__}"
        raise ModelFileError(
            f"{where}: expected a .mlmodel model, got an ML Program package; ML Programs "
            "cannot be updatable: convert with ct.convert(..., convert_to='neuralnetwork')"
        )
    return spec


def _read_file(path: Path) -> proto.Model:
    if path.is_dir():
        hint = {
            ".mlpackage": "an ML Program package; ML Programs cannot be updatable",
            ".mlmodelc": "a compiled model; pass the .mlmodel it was compiled from",
        }.get(path.suffix, "a directory")
        raise ModelFileError(f"{path}: expected a .mlmodel file, got {hint}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the file ({exc.strerror})") from None
    return loads(data, str(path))


def write_atomic(data: bytes, path: PathLike) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never a partial file)."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ModelFileError(f"{path}: cannot write: directory {directory} does not exist")
    if path.is_dir():
        raise ModelFileError(f"{path}: cannot write: it is a directory")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot write into {directory} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file private (0600); give it the mode a plain open() would
        # (or keep the mode of the file being replaced)
        os.chmod(tmp_name, _target_mode(path))
        os.replace(tmp_name, path)
    except OSError as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise ModelFileError(f"{path}: cannot write the file ({exc.strerror})") from None


def _target_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def save(spec: proto.Model | HasSpec, path: PathLike) -> None:
    """Serialize ``spec`` (a ``Model`` message or a coremltools ``MLModel``'s spec) to ``path``
    atomically (temporary file in the same directory + rename)."""
    if not isinstance(spec, proto.Model):
        taken = mlmodel_spec(spec)
        if taken is None:
            raise TypeError(
                f"save() expects a Core ML Model message or a coremltools MLModel, got "
                f"{type(spec).__name__}"
            )
        spec = taken
    write_atomic(spec.SerializeToString(), path)


def model_type(spec: proto.Model) -> str:
    """The name of the set ``Model.Type`` oneof case, e.g. ``"neuralNetworkClassifier"``."""
    return spec.WhichOneof("Type") or ""


def network(spec: proto.Model) -> proto.Message:
    """The NeuralNetwork / …Classifier / …Regressor message of ``spec``.

    Raises:
        UnsupportedModelError: ``spec`` is not a neural network.
    """
    kind = model_type(spec)
    if kind not in NEURAL_NETWORK_TYPES:
        raise UnsupportedModelError(
            f"expected a neural network model ({', '.join(NEURAL_NETWORK_TYPES)}), "
            f"got {kind or 'a model with no type'}"
        )
    return getattr(spec, kind)


def pipeline_of(spec: proto.Model) -> proto.Pipeline:
    """The ``Pipeline`` message of a pipeline, pipeline classifier or pipeline regressor.

    Raises:
        UnsupportedModelError: ``spec`` is not a pipeline.
    """
    kind = model_type(spec)
    if kind == "pipeline":
        return spec.pipeline
    if kind in PIPELINE_TYPES:
        return getattr(spec, kind).pipeline
    raise UnsupportedModelError(
        f"expected a pipeline model ({', '.join(PIPELINE_TYPES)}); got {kind or 'no type'}"
    )


def pipeline_models(spec: proto.Model) -> Sequence[proto.Model]:
    """The sub-models of a pipeline, in order (the repeated ``models`` field); empty for any
    other model type."""
    return pipeline_of(spec).models if model_type(spec) in PIPELINE_TYPES else ()


def trained_model(spec: proto.Model) -> tuple[proto.Model, list[int]]:
    """The model an update trains and the pipeline positions that lead to it.

    Core ML trains only the last model of a pipeline (``PipelineValidator.cpp``), and pipelines
    nest, so the trained model of ``pipeline[..., pipeline[..., nn]]`` is found by following the
    last model down: ``(nn, [len - 1, len - 1])``. For a model that is not a pipeline it is
    ``(spec, [])``. An empty pipeline ends the walk (the validator refuses it first).
    """
    model, positions = spec, []
    while model_type(model) in PIPELINE_TYPES and pipeline_models(model):
        models = pipeline_models(model)
        positions.append(len(models) - 1)
        model = models[-1]
    return model, positions


def sub_model(spec: proto.Model, positions: list[int]) -> proto.Model:
    """The sub-model at ``positions``, a path of pipeline indices (as :func:`trained_model`
    returns)."""
    model = spec
    for position in positions:
        model = pipeline_of(model).models[position]
    return model


def layer_kind(layer: proto.NeuralNetworkLayer) -> str:
    """The ``NeuralNetworkLayer.layer`` oneof name, e.g. ``"innerProduct"``."""
    return layer.WhichOneof("layer") or ""


def find_layer(spec: proto.Model, name: str) -> proto.NeuralNetworkLayer:
    """The layer called ``name``; ``LayerNotFoundError`` lists the names that exist."""
    layers = network(spec).layers
    for layer in layers:
        if layer.name == name:
            return layer
    names = [layer.name for layer in layers]
    raise LayerNotFoundError(f"no layer named '{name}'; the network's layers are: {names}")


def weight_params(layer: proto.NeuralNetworkLayer) -> Iterator[tuple[str, proto.WeightParams]]:
    """Yield ``(field_name, WeightParams)`` for every weight field set in the layer's params.

    Walks the protobuf descriptor generically, so it covers every layer kind (convolution
    weights and bias, batchnorm gamma/beta/mean/variance, LSTM's eight matrices, ...).
    """
    kind = layer_kind(layer)
    if not kind:
        return
    params = getattr(layer, kind)
    for field in params.DESCRIPTOR.fields:
        if field.message_type is not None and field.message_type.name == "WeightParams":
            if _is_repeated(field):
                for i, value in enumerate(getattr(params, field.name)):
                    yield f"{field.name}[{i}]", value
            elif params.HasField(field.name):
                yield field.name, getattr(params, field.name)


def _is_repeated(field: Any) -> bool:
    # protobuf >= 6 exposes is_repeated; older releases only have label.
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == field.LABEL_REPEATED)
