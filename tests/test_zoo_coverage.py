"""The zoo parity test's list stays complete: a torch zoo model left out of
``tests.test_zoo_predict.RUNNABLE`` must still fail to load (a layer kind, or a rank of one,
that the runtime does not run yet). When the last kind it needs lands, this test fails and
names the model to add, so that every zoo model that runs is compared with torch.
"""

from __future__ import annotations

import pytest

import runtime
from tests.builders import torch_zoo
from tests.optional import needs
from tests.test_zoo_predict import RUNNABLE
from updatable.errors import ShapeError, UnsupportedLayerError

LEFT_OUT = [name for name in torch_zoo.ZOO if name not in RUNNABLE]


@needs("torch")
@pytest.mark.parametrize("name", LEFT_OUT)
def test_a_zoo_model_left_out_of_the_parity_test_does_not_load_yet(name):
    target = torch_zoo.entry(name).targets[-1]
    spec = torch_zoo.converted(name, target)
    try:
        runtime.Model.load(spec)
    except (UnsupportedLayerError, ShapeError):
        return
    pytest.fail(
        f"{name} ({target}) loads now: add it to RUNNABLE in tests/test_zoo_predict.py "
        "so that its predictions are compared with torch"
    )
