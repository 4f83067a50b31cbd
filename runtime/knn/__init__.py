"""k-nearest-neighbours classifier at run time: engine, indexes, sample store, update.

``KnnEngine`` runs ``kNearestNeighborsClassifier`` models (``runtime.model.ENGINES``);
``runtime.knn.update`` is what a kNN update task does; ``linear`` and ``kdtree`` are the two
index kinds of ``NearestNeighborsIndex``, which always agree (same neighbours, same tie order).
"""

from __future__ import annotations

from runtime.knn.engine import KnnEngine, KnnTrainingInfo

__all__ = ["KnnEngine", "KnnTrainingInfo"]
