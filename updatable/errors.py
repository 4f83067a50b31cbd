"""Spec side, base layer: exception types of the toolkit.

Every error names the thing, what was expected and what arrived (house rule 7). They all
derive from :class:`UpdatableError`, so a caller can catch the whole family; each also derives
from the builtin that best describes it (``ValueError``, ``KeyError``, ``OSError``) so code
written against builtins keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class UpdatableError(Exception):
    """Base class of every error raised by ``updatable`` and ``runtime``."""


class ModelFileError(UpdatableError, OSError):
    """A ``.mlmodel`` file cannot be read or written (missing, corrupt, truncated, read-only)."""


class LayerNotFoundError(UpdatableError, KeyError):
    """A layer name that does not exist in the network."""

    def __str__(self) -> str:  # KeyError would repr() the message and add quotes
        return str(self.args[0]) if self.args else ""


class UnsupportedLayerError(UpdatableError, ValueError):
    """A layer kind that an operation does not support."""


class UnsupportedModelError(UpdatableError, ValueError):
    """A model type that an operation does not support."""


class ParameterError(UpdatableError, ValueError):
    """A hyperparameter or constraint value that is not allowed."""


class SurgeryError(UpdatableError, ValueError):
    """A model edit that cannot be applied as asked."""


class ArgumentNeededError(SurgeryError):
    """An edit cannot choose a value by itself: the caller must pass ``argument``. The message
    spells it as a Python argument; a command line re-spells it with :meth:`spelled`."""

    def __init__(self, problem: str, argument: str, placeholder: str):
        self.problem, self.argument = problem, argument
        super().__init__(self.spelled(f"{argument}={placeholder}"))

    def spelled(self, how: str) -> str:
        """The message, asking for ``how`` (e.g. ``"--loss-input BLOB"``)."""
        return f"{self.problem}; pass {how}"


class ValidationError(UpdatableError, ValueError):
    """Raised by :func:`updatable.check` when a model has validation errors.

    ``issues`` holds every :class:`updatable.validation.Issue` found, errors and warnings.
    """

    # issues are updatable.validation.Issue objects (this base layer cannot import that one)
    def __init__(self, message: str, issues: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.issues = list(issues)


class ShapeError(UpdatableError, ValueError):
    """Blob or feature shapes that do not fit together (layer inputs, declared outputs)."""


class FeatureError(UpdatableError, ValueError):
    """A feature value that does not match its description: missing, wrong type, wrong shape."""


class KnnUpdateError(UpdatableError, ValueError):
    """A kNN update example that Core ML would refuse; ``index`` is the example's position."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.index = index


class LinkedModelNotFoundError(ModelFileError, FileNotFoundError):
    """A linked model's file is on none of its search paths; ``tried`` lists the paths."""

    def __init__(self, message: str, tried: Any = ()) -> None:
        super().__init__(message)
        self.tried = list(tried)


class UnknownArgumentError(UpdatableError, TypeError):
    """A keyword argument that the function does not take (builders never ignore one)."""


class MissingDependencyError(UpdatableError, ImportError):
    """An optional dependency (an install extra) that a feature needs is not installed."""


class CheckpointError(UpdatableError, ValueError):
    """A training checkpoint that does not fit the model it is applied to."""


class CheckpointFileError(CheckpointError, OSError):
    """A checkpoint or session directory that cannot be read or written."""


class SessionMismatchError(UpdatableError, ValueError):
    """A training session resumed with another model or data, or features from another model."""


class SweepError(UpdatableError, ValueError):
    """A hyperparameter sweep that cannot run as asked: data that does not fit the model, a
    users spec that cannot be drawn from the data, or an output directory holding another
    sweep's results."""


class WorkerLostError(UpdatableError, RuntimeError):
    """Sweep tasks whose worker process died more often than the retries allow."""


class DataFileError(UpdatableError, OSError):
    """Training or evaluation data that cannot be read or used: a missing path, an unreadable
    file, a missing array or column, or a label the model does not have."""


class ResourceLimitError(UpdatableError, ValueError):
    """Work that would exceed a resource bound (memory, a size, a count), refused before it
    starts. ``parameter`` names the hyperparameter to lower and ``largest`` its largest
    value within the bound, when one setting alone decides."""

    def __init__(self, message: str, parameter: str | None = None, largest: int | None = None):
        super().__init__(message)
        self.parameter = parameter
        self.largest = largest


class SessionLockedError(CheckpointFileError):
    """A session directory that another live training run is using (its lock is held)."""
