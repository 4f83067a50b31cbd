"""Runtime, model layer: a tree ensemble's nodes as flat arrays, and their evaluation over a batch.

Every node of every tree gets an index (in ``(treeId, nodeId)`` order); a branch node holds its
feature index, threshold, branch mode, the indexes of its two children and where a missing
value goes; a leaf holds its evaluation values as a dense row over the output dimensions
(``TreeEnsemble.proto``: each ``evaluationValue`` is added at its ``evaluationIndex``).

**Evaluation** walks every tree of every example at once: ``at`` ``(N, T)`` starts at the
roots, and each step moves every example that is still on a branch node to the child its
value selects, until all stand on leaves (at most the depth of the deepest tree). A branch
goes to its true child when ``x[featureIndex] <op> branchFeatureValue`` holds, ``<op>`` by
the node's behaviour (``<=``, ``<``, ``>=``, ``>``, ``==``, ``!=``). A missing value (NaN, or
an absent optional input) goes to the true child when ``missingValueTracksTrueChild`` is set,
else to the false one; Core ML does not say which values count as missing, and NaN is the one
a row of doubles can hold (XGBoost, whose trees this flag comes from, treats NaN so).

The raw prediction is ``basePredictionValue + sum over trees of the leaf values`` (zeros when
there are no base values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from updatable import proto

_NODE = proto.Model_pb2.TreeEnsembleParameters.TreeNode


@dataclass(frozen=True)
class TreeArrays:
    """The nodes of a valid ensemble (Core ML's rule TE1 passed), as arrays indexed by node."""

    roots: NDArray[np.intp]  # (T,) the root of each tree
    leaf: NDArray[np.bool_]  # (M,)
    feature: NDArray[np.intp]  # (M,) branch feature index (0 on leaves)
    threshold: NDArray[np.float64]  # (M,)
    mode: NDArray[np.int8]  # (M,) TreeNodeBehavior of a branch
    true_child: NDArray[np.intp]  # (M,) a leaf points at itself
    false_child: NDArray[np.intp]
    missing_true: NDArray[np.bool_]  # (M,)
    values: NDArray[np.float64]  # (M, D) a leaf's evaluation values, 0 elsewhere
    base: NDArray[np.float64]  # (D,)
    depth: int  # the most branch nodes on a path from a root to a leaf

    @classmethod
    def of(cls, params) -> TreeArrays:
        """Flatten ``TreeEnsembleParameters`` (already valid: one root per tree, every child
        declared, no cycle). Each node's fields are read once: protobuf field access is the
        cost of compiling a large forest."""
        fields = sorted(
            (
                n.treeId,
                n.nodeId,
                n.nodeBehavior,
                n.branchFeatureIndex,
                n.branchFeatureValue,
                n.trueChildNodeId,
                n.falseChildNodeId,
                n.missingValueTracksTrueChild,
                [(info.evaluationIndex, info.evaluationValue) for info in n.evaluationInfo],
            )
            for n in params.nodes
        )
        index = {(f[0], f[1]): i for i, f in enumerate(fields)}
        leaf = np.array([f[2] == _NODE.LeafNode for f in fields], dtype=bool)
        true_child = np.array(
            [i if leaf[i] else index[(f[0], f[5])] for i, f in enumerate(fields)], dtype=np.intp
        )
        false_child = np.array(
            [i if leaf[i] else index[(f[0], f[6])] for i, f in enumerate(fields)], dtype=np.intp
        )
        values = np.zeros((len(fields), int(params.numPredictionDimensions)))
        for i, f in enumerate(fields):
            for dimension, value in f[8]:
                values[i, dimension] = value
        children = np.zeros(len(fields), dtype=bool)
        children[true_child[~leaf]] = children[false_child[~leaf]] = True
        roots = np.flatnonzero(~children)
        base = np.asarray(params.basePredictionValue, dtype=np.float64)
        return cls(
            roots=roots,
            leaf=leaf,
            feature=np.array(
                [0 if f[2] == _NODE.LeafNode else f[3] for f in fields], dtype=np.intp
            ),
            threshold=np.array([f[4] for f in fields], dtype=np.float64),
            mode=np.array([f[2] for f in fields], dtype=np.int8),
            true_child=true_child,
            false_child=false_child,
            missing_true=np.array([f[7] for f in fields], dtype=bool),
            values=values,
            base=base if len(base) else np.zeros(values.shape[1]),
            depth=_depth(roots, leaf, true_child, false_child),
        )

    @property
    def features_read(self) -> int:
        """One more than the highest feature index a branch reads (0 without branches)."""
        return int(self.feature[~self.leaf].max()) + 1 if (~self.leaf).any() else 0

    def leaves(self, rows: NDArray[np.float64]) -> NDArray[np.intp]:
        """``(N, F)`` rows -> ``(N, T)``: the leaf each example reaches in each tree."""
        at = np.broadcast_to(self.roots, (len(rows), len(self.roots))).copy()
        example = np.arange(len(rows))[:, None]
        for _ in range(self.depth):
            branch = ~self.leaf[at]
            if not branch.any():
                break
            x = rows[example, self.feature[at]]
            goes_true = _compare(x, self.threshold[at], self.mode[at])
            goes_true = np.where(np.isnan(x), self.missing_true[at], goes_true)
            step = np.where(goes_true, self.true_child[at], self.false_child[at])
            at = np.where(branch, step, at)
        return at

    def raw(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """``(N, D)``: the base values plus the leaf values of every tree."""
        return self.base + self.values[self.leaves(rows)].sum(axis=1)


def _compare(x: NDArray, threshold: NDArray, mode: NDArray) -> NDArray[np.bool_]:
    """``x <op> threshold`` with ``<op>`` by branch behaviour, elementwise."""
    with np.errstate(invalid="ignore"):
        results = np.stack(
            [
                x <= threshold,
                x < threshold,
                x >= threshold,
                x > threshold,
                x == threshold,
                x != threshold,
            ]
        )
    # a leaf's behaviour (6) selects any row: its result is never used
    return np.take_along_axis(results, np.minimum(mode, 5)[None].astype(np.intp), axis=0)[0]


def _depth(roots, leaf, true_child, false_child) -> int:
    """Branch nodes on the longest root-to-leaf path (the walk's number of steps)."""
    depth, level = 0, roots
    while len(level):
        level = level[~leaf[level]]
        if not len(level):
            break
        depth += 1
        level = np.concatenate([true_child[level], false_child[level]])
    return depth
