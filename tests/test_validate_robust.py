"""The validator answers with issues, never with an exception, on any model that parses:
random fields of real models are cleared or overwritten and the result is validated."""

from __future__ import annotations

import functools

from google.protobuf.descriptor import FieldDescriptor
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import builders
from updatable import proto
from updatable.spec import _is_repeated
from updatable.validation import Issue, validate

_BASES = (
    lambda: builders.updatable_nn("cce"),
    lambda: builders.updatable_nn("mse", "adam"),
    builders.updatable_classifier,
    builders.updatable_mnist_example,
    builders.tiny_drawing_pipeline,
    lambda: builders.tiny_drawing_pipeline(linked=True),
    lambda: builders.named_knn("input", "output", 2, 7, index_type="kd_tree"),
)


@functools.cache
def _base_bytes(index: int) -> bytes:
    return _BASES[index]().SerializeToString()


def _set_fields(message, found):
    """Every (message, field) pair that is set, depth first."""
    for field, value in message.ListFields():
        found.append((message, field))
        if field.message_type is not None:
            for item in value if _is_repeated(field) else [value]:
                _set_fields(item, found)
    return found


_SCALARS = {
    FieldDescriptor.CPPTYPE_INT32: st.integers(-3, 5),
    FieldDescriptor.CPPTYPE_INT64: st.integers(-3, 5),
    FieldDescriptor.CPPTYPE_UINT32: st.integers(0, 5),
    FieldDescriptor.CPPTYPE_UINT64: st.integers(0, 5),
    FieldDescriptor.CPPTYPE_DOUBLE: st.floats(-2, 2) | st.just(float("nan")),
    FieldDescriptor.CPPTYPE_FLOAT: st.floats(-2, 2, width=32),
    FieldDescriptor.CPPTYPE_BOOL: st.booleans(),
    FieldDescriptor.CPPTYPE_STRING: st.sampled_from(["", "input", "output", "ip1", "x"]),
}


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, len(_BASES) - 1),
    st.lists(st.tuples(st.integers(0, 10**6), st.data()), max_size=4),
)
def test_validate_never_raises(base, edits):
    spec = proto.Model.FromString(_base_bytes(base))
    for position, data in edits:
        fields = _set_fields(spec, [])
        message, field = fields[position % len(fields)]
        strategy = _SCALARS.get(field.cpp_type)
        if strategy is None or _is_repeated(field) or field.enum_type is not None:
            message.ClearField(field.name)
        else:
            setattr(message, field.name, data.draw(strategy))
    issues = validate(spec)
    assert all(isinstance(issue, Issue) for issue in issues)
    core_ml = [i for i in issues if i.result_type]
    assert len(core_ml) <= 1 and (not core_ml or issues[0] is core_ml[0])
    assert all(issue.severity in ("error", "warning") for issue in issues)
