"""Runtime, model layer: user feature values <-> feature batches, per the model's
``FeatureDescription``\\s.

A feature batch maps each feature name to a batched value (docs/ARCHITECTURE.md):

=================  ==========================================================================
multiArray         ``ndarray (N, *declared shape)`` float32
image              ``ndarray (N, H, W, C)`` float32 pixels 0..255 in the image's channel order
String / Int64     ``ndarray (N,)`` of dtype object / int64
Double             ``ndarray (N,)`` float64
dictionary         ``list`` of N dicts
=================  ==========================================================================

Inputs are converted to the types of this table. Between the stages of a pipeline, the
classic model types (``runtime.model.engines.values``) pass multiArrays in their declared data
type, float64 for ``DOUBLE``.

A batch made by :func:`to_batch` is a :class:`FeatureBatch`, a dict that also carries its
number of examples (a model whose inputs are all optional and absent needs it).

:func:`to_batch` checks every value against its description and raises :class:`FeatureError`
naming the feature, what it expects and what it received. :func:`from_batch` turns a batch
back into one dict per example, multiArrays in their declared data type (``DOUBLE`` as
float64, ``FLOAT32`` as float32, ``INT32`` as int32, ``FLOAT16`` as float16), as Core ML's
``MLMultiArray`` outputs carry the declared type.

Flexible multiArray shapes (``enumeratedShapes``, ``shapeRange``) run at the declared default
shape only; other shapes are refused with that explanation. Extra, undeclared features in an
example are ignored, as Core ML ignores them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real

import numpy as np

from runtime.model import images
from updatable.errors import FeatureError

ARRAY_DTYPES = {
    "FLOAT32": np.float32,
    "DOUBLE": np.float64,
    "INT32": np.int32,
    "FLOAT16": np.float16,
    "INT8": np.int8,
}


def type_name(feature) -> str:
    """A readable description of a feature's type, for messages."""
    kind = feature.type.WhichOneof("Type")
    if kind == "multiArrayType":
        array = feature.type.multiArrayType
        dtype = array.ArrayDataType.Name(array.dataType)
        return f"a multiArray of shape {list(array.shape)} ({dtype})"
    if kind == "imageType":
        image = feature.type.imageType
        space = images.image_channels(image)[0]
        return f"a {image.width}x{image.height} {space} image"
    names = {
        "int64Type": "an Int64",
        "stringType": "a String",
        "doubleType": "a Double",
        "dictionaryType": "a dictionary",
        "sequenceType": "a sequence",
    }
    return names.get(kind, kind or "no type")


def _received(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} ({value.dtype})"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def convert(feature, value):
    """One user value -> the per-example form used in batches (see the module table)."""
    kind = feature.type.WhichOneof("Type")
    name = feature.name

    def refuse(extra: str = ""):
        return FeatureError(
            f"input '{name}': expected {type_name(feature)}; got {_received(value)}{extra}"
        )

    if kind == "multiArrayType":
        try:
            array = np.asarray(value)
        except (ValueError, TypeError):
            raise refuse() from None
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise refuse()
        dims = tuple(int(d) for d in feature.type.multiArrayType.shape)
        if array.shape != dims:
            flexible = feature.type.multiArrayType.WhichOneof("ShapeFlexibility")
            note = (
                (
                    f" (the model allows flexible shapes; the runtime runs its default shape "
                    f"{list(dims)})"
                )
                if flexible
                else ""
            )
            raise refuse(note)
        # no copy when already float32: the batch's stack copies (a per-example copy here
        # cost 0.2 ms per 227x227x3 example)
        return array.astype(np.float32, copy=False)
    if kind == "imageType":
        return images.to_pixels(value, feature.type.imageType, name=name)
    if kind == "int64Type":
        if isinstance(value, bool | np.bool_) or not isinstance(value, Integral):
            raise refuse()
        return int(value)
    if kind == "stringType":
        if not isinstance(value, str):
            raise refuse()
        return str(value)
    if kind == "doubleType":
        if isinstance(value, bool | np.bool_) or not isinstance(value, Real):
            raise refuse()
        return float(value)
    if kind == "dictionaryType":
        key_type = (
            str
            if feature.type.dictionaryType.WhichOneof("KeyType") == "stringKeyType"
            else Integral
        )
        if not isinstance(value, Mapping) or not all(isinstance(k, key_type) for k in value):
            raise refuse()
        return dict(value)
    raise FeatureError(f"input '{name}': {type_name(feature)} features are not supported")


class FeatureBatch(dict):
    """A feature batch that also knows its number of examples, ``count``: a model whose inputs
    are all optional and absent (an imputer) still gives one output per example."""

    def __init__(self, values=(), count: int | None = None):
        super().__init__(values)
        self.count = count


def to_batch(descriptions: Sequence, examples: Sequence[Mapping]) -> FeatureBatch:
    """Convert a list of examples (feature name -> value) into a feature batch.

    An optional feature (``isOptional``) absent from every example is left out of the batch;
    a feature must otherwise be in every example.
    """
    batch = FeatureBatch(count=len(examples))
    for feature in descriptions:
        name = feature.name
        present = [name in example for example in examples]
        if feature.type.isOptional and not any(present):
            continue
        if not all(present):
            index = present.index(False)
            where = f" in example {index}" if len(examples) > 1 else ""
            raise FeatureError(
                f"input '{name}' ({type_name(feature)}) is missing{where}; the model's inputs "
                f"are {[f.name for f in descriptions]}; got {sorted(examples[index])}"
            )
        batch[name] = stack(feature, [convert(feature, example[name]) for example in examples])
    return batch


def stack(feature, values: list):
    """Per-example converted values -> the batched value of ``feature``."""
    kind = feature.type.WhichOneof("Type")
    if kind in ("multiArrayType", "imageType"):
        return np.stack(values).astype(np.float32, copy=False)
    if kind == "int64Type":
        return np.asarray(values, dtype=np.int64)
    if kind == "doubleType":
        return np.asarray(values, dtype=np.float64)
    if kind == "stringType":
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    return list(values)


def columns_to_examples(columns: Mapping[str, Sequence]) -> list[dict]:
    """``{name: sequence of N values}`` -> N examples; every column must have N values."""
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise FeatureError(f"columns must have the same number of values; got {lengths}")
    count = next(iter(lengths.values()), 0)
    return [{name: values[i] for name, values in columns.items()} for i in range(count)]


def from_batch(descriptions: Sequence, batch: Mapping) -> list[dict]:
    """A feature batch -> one dict per example, in the declared output types."""
    count = None
    columns = {}
    for feature in descriptions:
        if feature.name not in batch:
            continue
        value, kind = batch[feature.name], feature.type.WhichOneof("Type")
        if kind == "multiArrayType":
            dtype_name = feature.type.multiArrayType.ArrayDataType.Name(
                feature.type.multiArrayType.dataType
            )
            value = np.asarray(value).astype(ARRAY_DTYPES.get(dtype_name, np.float32))
            items = list(value)
        elif kind == "int64Type":
            items = [int(v) for v in value]
        elif kind == "doubleType":
            items = [float(v) for v in value]
        elif kind == "stringType":
            items = [str(v) for v in value]
        else:
            items = list(value)
        columns[feature.name] = items
        count = len(items) if count is None else count
    return [{name: items[i] for name, items in columns.items()} for i in range(count or 0)]
