"""Command line: labelled data for the training verbs: image folders, ``.npz`` archives and CSV
files.

What the data must hold comes from the model (a :class:`Schema`): its inputs and the target
the loss reads (a training verb) or the label it predicts (``evaluate``). Three layouts:

* a **directory** of image folders, ``DIR/<label>/<image>.png`` (any format pillow reads),
  for a model with one image input; each folder name is a label;
* a **.npz** archive with one array per feature, named after the model's inputs and its
  target (``image`` ``(N, H, W)`` or ``(N, H, W, C)``, ``label`` ``(N,)``...);
* a **.csv** file with a header, for a model with one multiArray input: the target column
  is named after the target (for a multiArray target, ``NAME_0, NAME_1, ...``), every other
  column is one value of the input, in order.

Labels take the model's label type (String or Int64); for a neural-network classifier being
trained every label must be one of its classes (a kNN learns any new label). Every problem
raises one :class:`~updatable.errors.DataFileError` naming the file, what was expected and what
was found.
"""

from __future__ import annotations

import csv
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from updatable import proto
from updatable.errors import DataFileError, FeatureError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Schema:
    """What a data set must provide for a model.

    ``inputs``: the model's input ``FeatureDescription``\\s; ``target``: the feature holding
    the truth, with ``aliases`` also accepted as its name; ``label_type``: ``str``, ``int``,
    or ``None`` for a multiArray target of ``target_size`` values; ``labels``: the allowed
    class labels, or ``None`` for any.
    """

    inputs: tuple[Any, ...]
    target: str
    aliases: tuple[str, ...] = ()
    label_type: type | None = str
    labels: tuple[Any, ...] | None = None
    target_size: int = 1

    @property
    def names(self) -> tuple[str, ...]:
        return (self.target, *self.aliases)


@dataclass
class Dataset:
    """Examples (``{input: value, target: value}``) and the target of each."""

    examples: list[dict[str, Any]]
    targets: list[Any]
    source: str
    target: str

    def __len__(self) -> int:
        return len(self.examples)

    def inputs_only(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != self.target} for e in self.examples]

    def provider(self) -> Any:
        from runtime.training.providers import ArrayBatchProvider

        return ArrayBatchProvider(self.examples)


def _kind(feature: proto.FeatureDescription) -> str:
    return str(feature.type.WhichOneof("Type"))


def _label_type(feature: proto.FeatureDescription) -> type | None:
    kind = _kind(feature)
    return {"stringType": str, "int64Type": int}.get(kind)


def _class_labels(head: Any) -> tuple[Any, ...] | None:
    """The class labels of a neural-network classifier, ``None`` for other models."""
    if head.WhichOneof("Type") != "neuralNetworkClassifier":
        return None
    nn = head.neuralNetworkClassifier
    which = nn.WhichOneof("ClassLabels")
    return tuple(getattr(nn, which).vector) if which else ()


def training_schema(spec: proto.Model) -> Schema:
    """The inputs and training target of an updatable model (``trainingInput`` minus inputs)."""
    from updatable.errors import UnsupportedModelError
    from updatable.spec import trained_model

    if not spec.isUpdatable:
        raise UnsupportedModelError(
            "the model is not updatable (Model.isUpdatable is false); prepare it with "
            "`updatable make-updatable MODEL OUT` and train OUT"
        )
    description = spec.description
    inputs = tuple(f for f in description.input if not f.type.isOptional)
    input_names = {f.name for f in description.input}
    targets = [f for f in description.trainingInput if f.name not in input_names]
    if not targets:
        raise DataFileError(
            "the model lists no training target in its trainingInput (the feature the loss "
            "compares with); is it updatable? See `updatable inspect MODEL`"
        )
    target = targets[0]
    head, _ = trained_model(spec)
    label_type = _label_type(target)
    size = 1
    if label_type is None and _kind(target) == "multiArrayType":
        size = int(np.prod(target.type.multiArrayType.shape or [1]))
    aliases = tuple(n for n in (description.predictedFeatureName,) if n and n != target.name)
    return Schema(inputs, target.name, aliases, label_type, _class_labels(head), size)


def evaluation_schema(spec: proto.Model) -> Schema:
    """The inputs and predicted label of a classifier. A neural-network classifier's classes
    are fixed, so a label it does not have is refused (as ``train`` refuses it); a kNN learns
    new labels, so any label of its type is accepted (it counts as an error until learnt)."""
    from updatable.spec import trained_model

    description = spec.description
    name = description.predictedFeatureName
    if not name:
        raise DataFileError(
            "the model predicts no class label (no predictedFeatureName): evaluate needs a "
            "classifier"
        )
    output = next(f for f in description.output if f.name == name)
    inputs = tuple(f for f in description.input if not f.type.isOptional)
    input_names = {f.name for f in description.input}
    aliases = tuple(
        f.name for f in description.trainingInput if f.name not in input_names and f.name != name
    )
    head, _ = trained_model(spec)
    return Schema(inputs, name, aliases, _label_type(output) or str, _class_labels(head))


def _label(value: Any, schema: Schema, where: str) -> Any:
    """``value`` as a label of the schema's type, checked against its allowed labels."""
    if isinstance(value, np.generic):
        value = value.item()
    label: int | str
    if schema.label_type is int:
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            label = int(str(value).strip()) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            raise DataFileError(
                f"{where}: label {value!r} is not an integer; the model's labels are Int64"
            ) from None
    else:
        label = value if isinstance(value, str) else str(value)
    if schema.labels is not None and label not in schema.labels:
        raise DataFileError(
            f"{where}: label {label!r} is not one of the model's class labels {list(schema.labels)}"
        )
    return label


def _one_input(schema: Schema, kind: str, layout: str) -> Any:
    matching = [f for f in schema.inputs if _kind(f) == kind]
    if len(schema.inputs) != 1 or not matching:
        described = [f"{f.name} ({_kind(f).replace('Type', '')})" for f in schema.inputs]
        what = "image" if kind == "imageType" else "multiArray"
        raise DataFileError(
            f"{layout} data needs a model with one {what} input; this model's inputs are "
            f"{described}; use an .npz archive with one array per input"
        )
    return matching[0]


def read_image_folders(directory: Path, schema: Schema) -> Dataset:
    """``DIR/<label>/<image>`` files; the images are read now, so a bad file fails here."""
    from runtime.model.images import to_pixels

    feature = _one_input(schema, "imageType", "image-folder")
    folders = sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    examples, targets = [], []
    for folder in folders:
        label = _label(folder.name, schema, f"label folder '{folder.name}' in {directory}")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for path in files:
            try:
                pixels = to_pixels(path, feature.type.imageType, name=feature.name)
            except FeatureError as exc:
                raise DataFileError(str(exc)) from None
            # pixel values are whole numbers 0..255: keep them as compact uint8 arrays
            examples.append({feature.name: pixels.astype(np.uint8), schema.target: label})
            targets.append(label)
    if not examples:
        raise DataFileError(
            f"no images found in {directory}: expected one folder per label holding image "
            f"files ({directory}/<label>/<name>.png); found folders "
            f"{[f.name for f in folders] or 'none'}"
        )
    return Dataset(examples, targets, str(directory), schema.target)


def _npz_array(archive: Any, names: tuple[str, ...], path: Path) -> np.ndarray:
    for name in names:
        if name in archive.files:
            return _member(archive, name, path)
    raise DataFileError(
        f"{path} has no array named {' or '.join(repr(n) for n in names)}; it has "
        f"{sorted(archive.files)} (name one array after each model input and the target)"
    )


def _member(archive: Any, name: str, path: Path) -> np.ndarray:
    """One array of an archive (read now: a damaged member fails here, naming it)."""
    try:
        return np.asarray(archive[name])
    except ValueError as exc:
        if "allow_pickle" in str(exc):  # an object array: reading it would run pickle code
            raise DataFileError(
                f"{path}: array '{name}' holds Python objects (dtype object), which are not "
                "read (loading them could run code); save it as numbers or strings, e.g. "
                "np.asarray(values, dtype=str)"
            ) from None
        raise DataFileError(f"{path}: array '{name}' is unreadable ({exc})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataFileError(f"{path}: array '{name}' is damaged ({exc})") from None


def _image_rows(array: np.ndarray) -> np.ndarray:
    # channel-first batches (N, C, H, W) become (N, H, W, C), the layout images use
    if array.ndim == 4 and array.shape[1] in (1, 3) and array.shape[-1] not in (1, 3, 4):
        return array.transpose(0, 2, 3, 1)
    return array


def read_npz(path: Path, schema: Schema) -> Dataset:
    """One array per feature, named after it; the first axis indexes the examples."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFileError(f"{path} is not a readable .npz archive ({exc})") from None
    if not hasattr(archive, "files"):  # a lone .npy array saved under an .npz name
        raise DataFileError(
            f"{path} holds a single array, not an .npz archive of named arrays; save it with "
            "np.savez(path, name=array, ...), one array per model input and the target"
        )
    with archive:
        columns = {}
        for feature in schema.inputs:
            array = _npz_array(archive, (feature.name,), path)
            columns[feature.name] = _image_rows(array) if _kind(feature) == "imageType" else array
        targets = _npz_array(archive, schema.names, path)
    lengths = {name: len(array) for name, array in columns.items()} | {schema.target: len(targets)}
    if len(set(lengths.values())) != 1:
        raise DataFileError(f"{path}: the arrays must have one row per example; lengths {lengths}")
    if schema.label_type is not None:
        labels = [_label(v, schema, f"{path} example {i}") for i, v in enumerate(targets)]
    else:
        labels = [np.asarray(row, dtype=np.float32) for row in targets]
    examples = [
        {**{name: array[i] for name, array in columns.items()}, schema.target: label}
        for i, label in enumerate(labels)
    ]
    return Dataset(examples, labels, str(path), schema.target)


def read_csv(path: Path, schema: Schema) -> Dataset:
    """A header row, then one example per row (see the module docstring)."""
    feature = _one_input(schema, "multiArrayType", "CSV")
    size = int(np.prod(feature.type.multiArrayType.shape or [1]))
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path} is not a readable CSV file ({exc})") from None
    if len(rows) < 2:
        raise DataFileError(f"{path}: expected a header row and at least one example row")
    header = [name.strip() for name in rows[0]]
    name = next((n for n in schema.names if n in header or f"{n}_0" in header), None)
    if name is None:
        raise DataFileError(
            f"{path}: no target column {' or '.join(repr(n) for n in schema.names)} in the "
            f"header {header}"
        )
    is_target = [h == name or h.startswith(f"{name}_") for h in header]
    if len(is_target) - sum(is_target) != size:
        raise DataFileError(
            f"{path}: input '{feature.name}' has {size} values, so the header needs {size} "
            f"columns besides the target; it has {len(is_target) - sum(is_target)}"
        )
    examples, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataFileError(
                f"{path} line {line}: {len(row)} values, the header has {len(header)}"
            )
        try:
            values = np.asarray(
                [float(v) for v, t in zip(row, is_target, strict=True) if not t], dtype=np.float32
            )
            raw = [v for v, t in zip(row, is_target, strict=True) if t]
            target: Any = (
                np.asarray([float(v) for v in raw], dtype=np.float32)
                if schema.label_type is None
                else raw[0]
            )
        except ValueError as exc:
            raise DataFileError(f"{path} line {line}: {exc}") from None
        if schema.label_type is not None:
            target = _label(str(target).strip(), schema, f"{path} line {line}")
        shape = tuple(int(d) for d in feature.type.multiArrayType.shape) or (size,)
        examples.append({feature.name: values.reshape(shape), schema.target: target})
        labels.append(target)
    return Dataset(examples, labels, str(path), schema.target)


def read_data(path: str | Path, schema: Schema) -> Dataset:
    """Read ``path`` (a directory, ``.npz`` or ``.csv``) as described by ``schema``."""
    path = Path(path)
    if path.is_dir():
        return read_image_folders(path, schema)
    if not path.exists():
        raise DataFileError(
            f"data {path} does not exist: give a directory of label folders, an .npz archive "
            "or a .csv file"
        )
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return read_npz(path, schema)
    if suffix == ".csv":
        return read_csv(path, schema)
    raise DataFileError(
        f"data {path} has an unknown format '{suffix}': give a directory of label folders, "
        "an .npz archive or a .csv file"
    )
