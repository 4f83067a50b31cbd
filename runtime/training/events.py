"""Runtime, training layer: the progress events and metric keys of an update task.

``Event`` is ``MLUpdateProgressEvent`` and ``MetricKey`` is ``MLMetricKey``, with Core ML's raw
values, so the updates that report progress and the task that delivers it share one
vocabulary.
"""

from __future__ import annotations

from enum import IntFlag, StrEnum


class Event(IntFlag):
    """``MLUpdateProgressEvent`` (an option set)."""

    TRAINING_BEGIN = 1 << 0
    EPOCH_END = 1 << 1
    MINI_BATCH_END = 1 << 2


class MetricKey(StrEnum):
    """``MLMetricKey``; members compare and hash equal to their Core ML names."""

    LOSS_VALUE = "lossValue"
    EPOCH_INDEX = "epochIndex"
    MINI_BATCH_INDEX = "miniBatchIndex"
