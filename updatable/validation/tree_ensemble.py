"""Spec side, validation layer: tree ensembles, rule TE1 (``treeEnsembleClassifier`` and
``treeEnsembleRegressor``).

Source: coremltools ``mlmodel/src/TreeEnsembleCommon.cpp``
(``constructAndValidateTreeEnsembleFromSpec``), run by ``Validation/TreeEnsembleValidator.cpp``
for both model types; the message is Core ML's, filed as ``INVALID_MODEL_INTERFACE``. Unlike
every other validator, this one collects its errors and reports them together:

* each error is appended as ``"\\n  <error>;"`` (``"\\n  FATAL: <error>;"`` for a fatal one);
* a fatal error stops at once, and so does the 50th error (it adds
  ``"\\n  FATAL: maximum number of errors reached; aborting processing."``): the message is
  ``"Errors encountered during processing tree model:\\n"`` and the errors so far;
* otherwise, after the last stage, ``"Error(s) in tree structure: \\n"`` and all the errors;
* a branch node with an unknown behaviour number stops with only
  ``"Branch mode hit bad value -- this is confusing; error in validator?"``.

The stages, in order: a zero output dimension (fatal); each node in file order (duplicates;
a leaf's evaluation values: present, in range, one per dimension); the children of each node
in (treeId, nodeId) order (declared, not the node itself, not already another node's child);
one root per tree; a walk from every root (a missing child reached this way is fatal), then the
nodes no root reaches; the base prediction values; and for a classifier, the class count
against the output dimension. Core ML never checks the interface of a tree ensemble.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

from updatable import proto
from updatable.validation.issues import INTERFACE, At, Issue

_NODE = proto.Model_pb2.TreeEnsembleParameters.TreeNode
_BEHAVIORS = frozenset(_NODE.TreeNodeBehavior.values())
_MAX_ERRORS = 50


class _Fatal(Exception):
    """Processing stopped: the message is complete."""


class _Errors:
    """Core ML's error list: appends, and stops at a fatal error or the 50th."""

    def __init__(self) -> None:
        self.text = ""
        self.count = 0

    def add(self, error: str, fatal: bool = False) -> None:
        self.count += 1
        self.text += f"\n  {'FATAL: ' if fatal else ''}{error};"
        if self.count >= _MAX_ERRORS:
            self.text += "\n  FATAL: maximum number of errors reached; aborting processing."
            fatal = True
        if fatal:
            raise _Fatal("Errors encountered during processing tree model:\n" + self.text)


# a node by (treeId, nodeId); a parent's links: {"false": child, "true": child}
NodeKey = tuple[int, int]
Links = dict[NodeKey, dict[str, NodeKey]]


def tree_problem(model: proto.Model) -> str | None:
    """Core ML's message for the tree ensemble of ``model`` (a classifier or a regressor), or
    ``None`` when it accepts it."""
    errors = _Errors()
    try:
        _check(model, errors)
    except _Fatal as stop:
        return str(stop)
    if errors.count:
        return "Error(s) in tree structure: \n" + errors.text
    return None


def _check(model: proto.Model, errors: _Errors) -> None:
    kind = model.WhichOneof("Type")
    params = getattr(model, kind).treeEnsemble
    dimension = params.numPredictionDimensions
    if dimension == 0:
        errors.add("Given output dimension equals 0.", fatal=True)
    nodes = _read_nodes(params, dimension, errors)
    links = _link_children(nodes, errors)
    linked = {child for sides in links.values() for child in sides.values()}
    roots = [key for key in sorted(nodes) if key not in linked]
    _check_roots(roots, errors)
    _check_reachable(nodes, links, roots, errors)
    bases = len(params.basePredictionValue)
    if bases not in (0, dimension):
        errors.add(
            f"Dimension of default value array ({bases}) does not match specified output "
            f"dimension ({dimension})."
        )
    if kind == "treeEnsembleClassifier":
        _check_classes(model.treeEnsembleClassifier, dimension, errors)


def _read_nodes(params: proto.Message, dimension: int, errors: _Errors) -> dict[NodeKey, Any]:
    """(treeId, nodeId) -> node, in file order; duplicates dropped with an error."""
    nodes: dict[NodeKey, Any] = {}
    for node in params.nodes:
        key = (node.treeId, node.nodeId)
        if key in nodes:
            # "and" without a space is Core ML's
            errors.add(
                f"Tree Node with TreeID={node.treeId}and NodeID={node.nodeId} duplicated in "
                "specification."
            )
            continue
        if node.nodeBehavior == _NODE.LeafNode:
            _check_leaf(node, dimension, errors)
        elif node.nodeBehavior not in _BEHAVIORS:
            raise _Fatal("Branch mode hit bad value -- this is confusing; error in validator?")
        nodes[key] = node
    return nodes


def _check_leaf(node: Any, dimension: int, errors: _Errors) -> None:
    where = f"Leaf Node (TreeID={node.treeId}, NodeID={node.nodeId})"
    indexes = sorted(info.evaluationIndex for info in node.evaluationInfo)
    if not indexes:
        errors.add(f"{where} has no evaluation value(s) specified.")
        return
    for index in indexes:
        if index >= dimension:
            errors.add(
                f"{where} specifies evaluation value applied to dimension {index}; which is out "
                f"of range. Dimension must be less than {dimension}."
            )
    for first, second in pairwise(indexes):
        if first == second:
            # "multipule" is Core ML's spelling
            errors.add(
                f"{where} specifies multipule evaluation values applied to dimension {first}."
            )


def _link_children(nodes: dict[NodeKey, Any], errors: _Errors) -> Links:
    """parent key -> {"false": child key, "true": child key}: the links Core ML makes (false
    child first; a link that fails leaves the node without it, and without the true link when
    the false one failed)."""
    parents: dict[NodeKey, NodeKey] = {}
    links: Links = {}
    for key in sorted(nodes):
        node = nodes[key]
        if node.nodeBehavior == _NODE.LeafNode:
            continue
        for side, child_id in (("False", node.falseChildNodeId), ("True", node.trueChildNodeId)):
            child = (node.treeId, child_id)
            if child not in nodes:
                errors.add(
                    f"Tree Node with TreeID={node.treeId} and NodeID={child_id} referenced but "
                    "not declared in specification."
                )
                break
            if child == key:
                errors.add(
                    f"{side} child and parent have same ID (TreeID={node.treeId}, "
                    f"NodeID={node.nodeId})"
                )
                break
            if child in parents:
                errors.add(
                    f"In TreeID={node.treeId}, {side.lower()} child of NodeID={node.nodeId} is "
                    f"already the child of node NodeID={parents[child][1]}"
                )
                break
            parents[child] = key
            links.setdefault(key, {})[side.lower()] = child
    return links


def _check_roots(roots: list[NodeKey], errors: _Errors) -> None:
    by_tree: dict[int, list[int]] = {}
    for tree_id, node_id in roots:
        by_tree.setdefault(tree_id, []).append(node_id)
    for tree_id, node_ids in by_tree.items():
        if len(node_ids) > 1:
            listed = ", ".join(f"NodeID={node_id}" for node_id in node_ids)
            errors.add(f"Tree TreeID={tree_id} has multiple root nodes: {listed}.")


def _check_reachable(
    nodes: dict[NodeKey, Any], links: Links, roots: list[NodeKey], errors: _Errors
) -> None:
    """Walk each tree from its roots; a child that was never linked is fatal when reached."""
    reached = set(roots)
    for root in roots:
        stack = [root]
        while stack:
            key = stack.pop()
            if nodes[key].nodeBehavior == _NODE.LeafNode:
                continue
            linked = links.get(key, {})
            # Core ML visits the false child first (the order matters only for reaching a
            # missing child, which stops processing whichever child it is)
            for side in ("false", "true"):
                if side not in linked:
                    errors.add("Internal error: null child node; likely specification error.", True)
                reached.add(linked[side])
            stack.extend((linked["true"], linked["false"]))
    unreached = [key for key in sorted(nodes) if key not in reached]
    if unreached:
        listed = "".join(f"(TreeID={tree_id}, NodeID={node_id}) " for tree_id, node_id in unreached)
        errors.add(f"Node detected that are not connected to any single root node. Note: {listed}")


def _check_classes(classifier: Any, dimension: int, errors: _Errors) -> None:
    which = classifier.WhichOneof("ClassLabels")
    classes = len(getattr(classifier, which).vector) if which else 0
    if (
        classes == 0
        or (dimension == 1 and classes == 2)
        or (dimension >= 2 and classes == dimension)
    ):
        return
    errors.add(
        f"Specified output dimension ({dimension}) does not match the given number of classes "
        f"({classes})."
    )


def tree_ensemble_valid(model: proto.Model, at: At) -> Iterator[Issue]:
    """TE1: the trees are well formed and fit the output dimension (see the module docstring)."""
    message = tree_problem(model)
    if message is not None:
        kind = model.WhichOneof("Type")
        yield at.error("TE1", f"{kind}.treeEnsemble", message, INTERFACE)


TREE_ENSEMBLE = (tree_ensemble_valid,)
