"""Mutated classic models (one random field of a valid model changed: a count, an index, an enum,
a feature type, an element added or dropped) either fail to load or to predict with one of the
toolkit's own errors, or run, and then Core ML's validator accepts them; no other exception
escapes, from the runtime or the validator. Fixed seed, 640 mutants."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf.descriptor import FieldDescriptor

import runtime
from tests.builders import classic
from tests.builders._common import datatypes
from updatable import proto
from updatable.errors import UpdatableError
from updatable.validation import validate

MUTANTS_PER_MODEL = 40
EXTREMES = (0, 1, -1, 2, 3, 7, 2**31 - 1, 2**40, -(2**40))


def seeds():
    rng = np.random.default_rng(0)
    return {
        "glmClassifier": classic.glm_classifier(
            rng.normal(size=(3, 4)), [0, 1, 2], ["a", "b", "c"]
        ),
        "glmRegressor": classic.glm_regressor(rng.normal(size=4), 0.5, transform="Logit"),
        "svc": classic.svm_classifier(rng, width=4, labels=[1, 2, 3])[0],
        "svc sparse": classic.svm_classifier(rng, width=4, labels=["a", "b"], sparse=True)[0],
        "svr": classic.svm_regressor(rng, width=4, kernel="poly")[0],
        "trees": classic.random_tree_ensemble(
            rng, width=4, dims=3, trees=2, depth=2, labels=["x", "y", "z"]
        ),
        "tree regressor": classic.random_tree_ensemble(rng, width=4, dims=1, trees=2, depth=2),
        "featureVectorizer": classic.feature_vectorizer(
            [
                ("a", datatypes.Double()),
                ("b", datatypes.Array(3)),
                ("d", datatypes.Dictionary(datatypes.Int64()), 4),
            ]
        ),
        "oneHotEncoder": classic.one_hot_encoder(["x", "y", "z"]),
        "oneHotEncoder sparse": classic.one_hot_encoder(
            [4, 5], sparse=True, unknown="IgnoreUnknown"
        ),
        "normalizer": classic.normalizer("L2", 4),
        "scaler": classic.scaler([1.0, 2.0, 3.0], 0.5, 3),
        "imputer": classic.imputer(datatypes.Array(3), "imputedDoubleArray", [1.0, 2.0, 3.0]),
        "arrayFeatureExtractor": classic.array_feature_extractor(5, [1, 3]),
        "dictVectorizer": classic.dict_vectorizer(["a", "b"]),
        "categoricalMapping": classic.categorical_mapping({"a": 1, "b": 2}, default=-1),
    }


def _fields(message, found):
    """Every (message, field) in ``message``, recursively."""
    for field in message.DESCRIPTOR.fields:
        found.append((message, field))
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.is_repeated:
            if field.message_type.GetOptions().map_entry:
                continue
            for item in getattr(message, field.name):
                _fields(item, found)
        elif message.HasField(field.name):
            _fields(getattr(message, field.name), found)
    return found


def mutate(spec, rng) -> bool:
    """Change one field of ``spec``; False when the chosen change is not representable. The
    model type itself is left in place (a model without one is refused before anything)."""
    fields = [(m, f) for m, f in _fields(spec, []) if m is not spec or f.containing_oneof is None]
    message, field = fields[int(rng.integers(len(fields)))]
    value = getattr(message, field.name)
    try:
        if field.is_repeated:
            if (
                field.type == FieldDescriptor.TYPE_MESSAGE
                and field.message_type.GetOptions().map_entry
            ):
                value.clear()
            elif len(value) and rng.random() < 0.5:
                del value[int(rng.integers(len(value)))]
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                value.add()
            elif field.type == FieldDescriptor.TYPE_STRING:
                value.append("?")
            else:
                value.append(type(value[0])(rng.choice(EXTREMES)) if len(value) else 0)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            message.ClearField(field.name)
        elif field.type == FieldDescriptor.TYPE_BOOL:
            setattr(message, field.name, not value)
        elif field.type == FieldDescriptor.TYPE_STRING:
            setattr(message, field.name, "" if value else "renamed")
        elif field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            setattr(message, field.name, float(rng.choice([np.nan, np.inf, -1e300, 0.0, 3.5])))
        else:
            setattr(message, field.name, int(rng.choice(EXTREMES)))
    except (ValueError, TypeError):
        return False  # e.g. a negative value for an unsigned field
    return True


def example_for(feature, rng):
    kind = feature.type.WhichOneof("Type")
    if kind == "multiArrayType":
        shape = [int(d) for d in feature.type.multiArrayType.shape]
        return (
            rng.integers(-2, 3, size=shape).astype(float)
            if shape and np.prod(shape) < 1e6
            else np.zeros(1)
        )
    if kind == "doubleType":
        return float(rng.normal())
    if kind == "int64Type":
        return int(rng.integers(-2, 6))
    if kind == "stringType":
        return str(rng.choice(["a", "b", "x", "q"]))
    if kind == "dictionaryType":
        strings = feature.type.dictionaryType.WhichOneof("KeyType") == "stringKeyType"
        return {"a": 1.0} if strings else {1: 2.0}
    return None


@pytest.mark.parametrize("name", sorted(seeds()))
def test_mutants_load_and_run_or_fail_with_the_toolkits_errors(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    seed, outcomes = seeds()[name], {"ran": 0, "refused": 0}
    for _ in range(MUTANTS_PER_MODEL):
        spec = proto.Model()
        spec.CopyFrom(seed)
        if not mutate(spec, rng):
            continue
        issues = validate(spec)  # the validator itself never raises
        try:
            model = runtime.Model.load(spec)
            example = {f.name: example_for(f, rng) for f in spec.description.input}
            model.predict_batch([example, example])
            outcomes["ran"] += 1
        except UpdatableError:
            outcomes["refused"] += 1
        else:  # what runs, Core ML accepts
            assert not [issue for issue in issues if issue.result_type], issues
    assert outcomes["ran"] + outcomes["refused"] > MUTANTS_PER_MODEL // 2
