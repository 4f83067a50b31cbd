"""Runtime, model layer: k-nearest-neighbours classifier at run time: engine, indexes, sample
store, update.

``KnnEngine`` runs ``kNearestNeighborsClassifier`` models (``runtime.model.engines.ENGINES``);
``runtime.training.knn_update`` is what a kNN update task does; ``linear`` and ``kdtree`` are the
two index kinds of ``NearestNeighborsIndex``, which always agree (same neighbours, same tie order).
"""

from __future__ import annotations

from runtime.model.engines.knn.engine import KnnEngine, KnnTrainingInfo

__all__ = ["KnnEngine", "KnnTrainingInfo"]
