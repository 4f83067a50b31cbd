"""The positive side of Core ML's per-layer checks and shape pass: models real converters and
coremltools' builder wrote, which Core ML accepts, get no Core ML issue at all (no error, no
Y8 warning) from the validator, and their versions fit their features (no X13)."""

from __future__ import annotations

import inspect

import pytest

from tests import builders
from tests.builders import converter_style, torch_zoo
from tests.optional import installed, reason
from updatable.validation import core_ml_issue, validate

needs_torch = pytest.mark.skipif(not installed("torch"), reason=reason("torch"))

# builders whose network Core ML rejects on purpose (the runtime tests run them anyway)
_REJECTED = {"conv_variants_nn": "N4"}  # a dynamic-weight convolution under rank-5 mapping


def _builder_names() -> list[str]:
    names = []
    for name in builders.__all__:
        function = getattr(builders, name)
        parameters = inspect.signature(function).parameters.values()
        if all(p.default is not inspect.Parameter.empty for p in parameters):
            names.append(name)
    return names


@needs_torch
@pytest.mark.parametrize(
    ("name", "target"),
    [(name, target) for name in sorted(torch_zoo.ZOO) for target in torch_zoo.entry(name).targets],
)
def test_converted_torch_models_pass(name, target):
    spec = torch_zoo.converted(name, target)
    assert core_ml_issue(spec) is None
    assert "X13" not in {issue.code for issue in validate(spec)}


@pytest.mark.parametrize("name", sorted(converter_style.CONVERTER_STYLE))
def test_converter_style_networks_pass(name):
    spec = converter_style.CONVERTER_STYLE[name]()
    assert core_ml_issue(spec) is None
    assert "X13" not in {issue.code for issue in validate(spec)}


@pytest.mark.parametrize("name", _builder_names())
def test_builder_models_pass(name):
    try:
        spec = getattr(builders, name)()
    except (IndexError, TypeError, ValueError):
        pytest.skip(f"{name} needs arguments to build a model")
    if not hasattr(spec, "WhichOneof"):
        pytest.skip(f"{name} does not build a model")
    issue = core_ml_issue(spec)
    if name in _REJECTED:
        assert issue is not None and issue.code == _REJECTED[name]
    else:
        assert issue is None, issue
