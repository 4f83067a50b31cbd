"""Tree-ensemble rule TE1: Core ML's collected message for each structural error
(TreeEnsembleCommon.cpp), the fatal stops and the 50-error cap."""

from __future__ import annotations

import numpy as np
import pytest

from tests.builders import classic
from tests.issue_checks import expect_issue as expect
from updatable.validation import core_ml_issue

INTERFACE = "INVALID_MODEL_INTERFACE"
NODE = classic.M.TreeEnsembleParameters.TreeNode
COLLECTED = "Error(s) in tree structure: \n"
STOPPED = "Errors encountered during processing tree model:\n"


def leaf(node, values=None, tree=0):
    return ("leaf", tree, node, {0: 1.0} if values is None else values)


def branch(node, true, false, tree=0, behavior=NODE.BranchOnValueLessThanEqual):
    return ("branch", tree, node, (true, false, behavior))


def ensemble(nodes, *, dims=1, base=None, labels=None):
    """A tree ensemble regressor (a classifier when ``labels`` are given) of these nodes."""
    rng = np.random.default_rng(0)
    if labels is None:
        spec = classic.random_tree_ensemble(rng, width=2, dims=1, trees=0)
        params = spec.treeEnsembleRegressor.treeEnsemble
    else:
        spec = classic.random_tree_ensemble(rng, width=2, dims=1, trees=0, labels=labels)
        params = spec.treeEnsembleClassifier.treeEnsemble
    params.numPredictionDimensions = dims
    params.ClearField("basePredictionValue")
    params.basePredictionValue.extend([0.0] * dims if base is None else base)
    for kind, tree, node_id, detail in nodes:
        node = params.nodes.add()
        node.treeId, node.nodeId = tree, node_id
        if kind == "leaf":
            node.nodeBehavior = NODE.LeafNode
            for index, value in detail.items():
                info = node.evaluationInfo.add()
                info.evaluationIndex, info.evaluationValue = index, value
        else:
            node.trueChildNodeId, node.falseChildNodeId, node.nodeBehavior = detail
    return spec


STUMP = [branch(0, 1, 2), leaf(1), leaf(2)]

CASES = {
    "zero dimensions": (
        ensemble(STUMP, dims=0),
        STOPPED + "\n  FATAL: Given output dimension equals 0.;",
    ),
    "duplicate node": (
        ensemble([*STUMP, leaf(2)]),
        COLLECTED + "\n  Tree Node with TreeID=0and NodeID=2 duplicated in specification.;",
    ),
    "leaf without values": (
        ensemble([branch(0, 1, 2), leaf(1), leaf(2, {})]),
        COLLECTED + "\n  Leaf Node (TreeID=0, NodeID=2) has no evaluation value(s) specified.;",
    ),
    "value out of range": (
        ensemble([branch(0, 1, 2), leaf(1, {3: 1.0, 0: 1.0}), leaf(2)], dims=2),
        COLLECTED
        + "\n  Leaf Node (TreeID=0, NodeID=1) specifies evaluation value applied to dimension 3; "
        "which is out of range. Dimension must be less than 2.;",
    ),
    "branch to itself": (
        ensemble([branch(0, 0, 1), leaf(1)]),
        STOPPED
        + "\n  True child and parent have same ID (TreeID=0, NodeID=0);"
        + "\n  FATAL: Internal error: null child node; likely specification error.;",
    ),
    # node 1's false child (2) is already node 0's: node 1 keeps no child, so its true child
    # (3) is a second root, and the walk from the first root reaches node 1: fatal
    "child of two parents": (
        ensemble([branch(0, 1, 2), branch(1, 3, 2), leaf(2), leaf(3)]),
        STOPPED
        + "\n  In TreeID=0, false child of NodeID=1 is already the child of node NodeID=0;"
        + "\n  Tree TreeID=0 has multiple root nodes: NodeID=0, NodeID=3.;"
        + "\n  FATAL: Internal error: null child node; likely specification error.;",
    ),
    "undeclared child": (
        ensemble([branch(0, 1, 7), leaf(1)]),
        STOPPED + "\n  Tree Node with TreeID=0 and NodeID=7 referenced but not declared in "
        "specification.;"
        + "\n  Tree TreeID=0 has multiple root nodes: NodeID=0, NodeID=1.;"
        + "\n  FATAL: Internal error: null child node; likely specification error.;",
    ),
    "two roots and a cycle": (
        ensemble([leaf(0), leaf(5), branch(1, 2, 3), branch(2, 3, 1), leaf(3)]),
        COLLECTED
        + "\n  In TreeID=0, true child of NodeID=2 is already the child of node NodeID=1;"
        + "\n  Tree TreeID=0 has multiple root nodes: NodeID=0, NodeID=5.;"
        + "\n  Node detected that are not connected to any single root node. Note: "
        "(TreeID=0, NodeID=1) (TreeID=0, NodeID=2) (TreeID=0, NodeID=3) ;",
    ),
    "base values": (
        ensemble(STUMP, dims=2, base=[0.0, 1.0, 2.0]),
        COLLECTED + "\n  Dimension of default value array (3) does not match specified output "
        "dimension (2).;",
    ),
    "classes against dimensions": (
        ensemble(STUMP, dims=2, labels=["a", "b", "c"]),
        COLLECTED
        + "\n  Specified output dimension (2) does not match the given number of classes (3).;",
    ),
    "one dimension, one class": (
        ensemble(STUMP, labels=["a"]),
        COLLECTED
        + "\n  Specified output dimension (1) does not match the given number of classes (1).;",
    ),
    "unknown branch behaviour": (
        ensemble([leaf(3, {5: 1.0}), branch(0, 1, 2, behavior=11), leaf(1), leaf(2)]),
        "Branch mode hit bad value -- this is confusing; error in validator?",
    ),
}


@pytest.mark.parametrize(("spec", "message"), CASES.values(), ids=CASES)
def test_tree_ensemble_messages(spec, message):
    expect(spec, "TE1", message, INTERFACE)


def test_duplicated_evaluation_dimension():
    spec = ensemble(STUMP, dims=2)
    node = spec.treeEnsembleRegressor.treeEnsemble.nodes[1]
    for value in (1.0, 2.0):
        info = node.evaluationInfo.add()
        info.evaluationIndex, info.evaluationValue = 1, value
    expect(
        spec,
        "TE1",
        COLLECTED
        + "\n  Leaf Node (TreeID=0, NodeID=1) specifies multipule evaluation values applied to "
        "dimension 1.;",
    )


def test_fifty_errors_stop_processing():
    nodes = [*STUMP] + [leaf(i, {9: 1.0}, tree=1) for i in range(60)]
    issue = core_ml_issue(ensemble(nodes))
    assert issue.message.startswith(STOPPED)
    assert issue.message.count("out of range") == 50
    assert issue.message.endswith(
        "\n  FATAL: maximum number of errors reached; aborting processing."
    )


def test_errors_of_every_stage_are_collected_in_order():
    spec = ensemble(
        [leaf(0, {}), leaf(0), leaf(1, tree=1)], dims=2, base=[1.0], labels=["a", "b", "c"]
    )
    issue = core_ml_issue(spec)
    lines = issue.message.split("\n  ")[1:]
    assert [line.split(" ")[0] for line in lines] == ["Leaf", "Tree", "Dimension", "Specified"]


@pytest.mark.parametrize("labels", [None, ["x", "y"], [4, 5, 6]])
def test_random_ensembles_are_valid(labels):
    rng = np.random.default_rng(3)
    dims = 1 if labels is None or len(labels) == 2 else len(labels)
    spec = classic.random_tree_ensemble(rng, width=4, dims=dims, trees=5, depth=4, labels=labels)
    assert core_ml_issue(spec) is None


def test_classifier_without_labels_is_valid_for_any_dimension():
    spec = ensemble(STUMP, dims=3, labels=["a", "b", "c"])
    spec.treeEnsembleClassifier.ClearField("stringClassLabels")
    assert core_ml_issue(spec) is None
