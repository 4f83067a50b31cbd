"""Runtime, training layer: an updatable model opened for an update.

:func:`load_for_update` gives the private, validated copy that every update starts from (an
update task, a training job, a sweep's update), with the file it came from and where its
trained model sits: Core ML trains only the last model of a pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import updatable
from updatable import proto
from updatable import spec as spec_io
from updatable.errors import UnsupportedModelError


@dataclass(frozen=True)
class UpdatableModel:
    """A validated private copy of an updatable model.

    Attributes:
        spec: the ``Model`` protobuf, the caller's copy untouched.
        path: the ``.mlmodel`` it was read from (linked models resolve beside it), or ``None``.
        positions: the pipeline positions of the model that trains (``[]`` for a bare model).
    """

    spec: proto.Model
    path: Path | None
    positions: list[int]

    @cached_property
    def trained(self) -> proto.Model:
        """The model that trains: ``spec`` itself or the last model of its pipelines."""
        return spec_io.sub_model(self.spec, self.positions)

    @property
    def kind(self) -> str:
        """The ``Model.Type`` of the model that trains."""
        return spec_io.model_type(self.trained)


def load_for_update(model: spec_io.ModelSource, path: Path | None = None) -> UpdatableModel:
    """Read ``model`` (a path, a ``Model`` protobuf or a coremltools ``MLModel``, copied) and
    check it can be updated.

    ``path`` names the file the model came from when it is not ``model`` itself (a resumed
    session reads a copy of the model and resolves linked models beside the original).

    Raises:
        ModelFileError: the file cannot be read.
        ValidationError: Core ML would reject the model.
        UnsupportedModelError: the model is not marked updatable.
    """
    spec, read_from = spec_io.open_model(model)
    path = read_from if path is None else path
    updatable.check(spec)
    if not spec.isUpdatable:
        raise UnsupportedModelError(
            f"{path or 'the model'} is not updatable (Model.isUpdatable is false); prepare it "
            "with `updatable make-updatable` or updatable.make_updatable()"
        )
    _, positions = spec_io.trained_model(spec)
    return UpdatableModel(spec, path, positions)
