"""``NonMaximumSuppression`` layer: against a reference that suppresses forward over a full IoU
matrix computed from box corners (a formulation unlike the unit's), the coremltools example,
thresholds given as inputs per example, ``maxBoxes`` from a constant input, and the rule for
batches where no box survives."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.nn.graph import compile_network
from tests.nd_networks import network, run
from updatable.errors import ShapeError, UnsupportedLayerError

OUTPUTS = ("boxes_out", "scores_out", "indices", "count")


def nms_network(batch, boxes, classes, extra=(), **options):
    inputs = {"boxes": (batch, boxes, 4), "scores": (batch, boxes, classes)}
    inputs.update({name: (1,) for name in extra})
    return network(
        inputs,
        lambda b: b.add_nms("nms", ["boxes", "scores", *extra], list(OUTPUTS), **options),
        outputs=OUTPUTS,
    )


def iou_matrix(boxes):
    """Pairwise IoU of centre-size boxes through their corners."""
    x1, y1 = boxes[:, 0] - boxes[:, 2] / 2, boxes[:, 1] - boxes[:, 3] / 2
    x2, y2 = boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2
    width = np.clip(np.minimum.outer(x2, x2) - np.maximum.outer(x1, x1), 0, None)
    height = np.clip(np.minimum.outer(y2, y2) - np.maximum.outer(y1, y1), 0, None)
    inter = width * height
    area = (x2 - x1) * (y2 - y1)
    return inter / (area[:, None] + area[None, :] - inter)


def reference(boxes, scores, iou, score, max_boxes, per_class):
    best, label = scores.max(axis=1), scores.argmax(axis=1)
    overlaps = iou_matrix(boxes)
    suppressed = ~(best > score)
    selected = []
    for i in sorted(range(len(best)), key=lambda i: (-best[i], i)):
        if suppressed[i]:
            continue
        selected.append(i)
        suppressed |= (overlaps[i] > iou) & ((label == label[i]) if per_class else True)
    return selected[:max_boxes] or [int(np.argmax(best))]


def check(out, boxes, scores, iou, score, max_boxes, per_class):
    for e in range(boxes.shape[0]):
        for b in range(boxes.shape[1]):
            kept = reference(boxes[e, b], scores[e, b], iou[e], score[e], max_boxes, per_class)
            k = len(kept)
            assert out["count"][e, b] == k
            np.testing.assert_array_equal(out["indices"][e, b], kept + [-1] * (max_boxes - k))
            np.testing.assert_array_equal(out["boxes_out"][e, b, :k], boxes[e, b, kept])
            np.testing.assert_array_equal(out["scores_out"][e, b, :k], scores[e, b, kept])
            assert not out["boxes_out"][e, b, k:].any() and not out["scores_out"][e, b, k:].any()


def random_boxes(rng, examples, batch, count, classes):
    centres = rng.uniform(0, 10, (examples, batch, count, 2))
    sizes = rng.uniform(1, 4, (examples, batch, count, 2))
    scores = rng.uniform(0, 1, (examples, batch, count, classes)).astype(np.float32)
    return np.concatenate([centres, sizes], axis=-1).astype(np.float32), scores


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("per_class", [False, True])
def test_nms_keeps_what_greedy_suppression_keeps(seed, per_class):
    rng = np.random.default_rng(seed)
    classes, max_boxes = int(rng.integers(1, 4)), int(rng.integers(1, 8))
    boxes, scores = random_boxes(rng, 3, 2, 14, classes)
    iou, score = float(rng.uniform(0.05, 0.6)), float(rng.uniform(0, 0.7))
    spec = nms_network(
        2,
        14,
        classes,
        iou_threshold=iou,
        score_threshold=score,
        max_boxes=max_boxes,
        per_class_suppression=per_class,
    )
    out = run(spec, {"boxes": boxes, "scores": scores}, outputs=OUTPUTS)
    iou32, score32 = float(np.float32(iou)), float(np.float32(score))  # as the proto stores
    check(out, boxes, scores, [iou32] * 3, [score32] * 3, max_boxes, per_class)


def test_the_coremltools_example():
    boxes = np.float32([[[0] * 4, [1] * 4, [2] * 4, [3] * 4]])
    scores = np.float32([[[-3.5], [9.4], [2.3], [0.7]]])
    spec = nms_network(
        1, 4, 1, iou_threshold=0.2, score_threshold=0.4, max_boxes=2, per_class_suppression=True
    )
    out = run(spec, {"boxes": boxes[None], "scores": scores[None]}, outputs=OUTPUTS)
    np.testing.assert_array_equal(out["boxes_out"][0, 0], [[1] * 4, [2] * 4])
    np.testing.assert_allclose(out["scores_out"][0, 0, :, 0], [9.4, 2.3], rtol=1e-7)
    np.testing.assert_array_equal(out["indices"][0, 0], [1, 2])
    assert out["count"][0, 0] == 2


def test_when_no_box_survives_the_best_one_is_output():
    boxes, scores = random_boxes(np.random.default_rng(5), 1, 1, 6, 2)
    spec = nms_network(1, 6, 2, score_threshold=2.0, max_boxes=3)
    out = run(spec, {"boxes": boxes, "scores": scores}, outputs=OUTPUTS)
    assert out["count"][0, 0] == 1
    assert out["indices"][0, 0, 0] == np.argmax(scores[0, 0].max(axis=1))
    assert (out["indices"][0, 0, 1:] == -1).all()


def test_threshold_inputs_override_per_example_and_max_boxes_can_be_a_constant():
    rng = np.random.default_rng(7)
    boxes, scores = random_boxes(rng, 3, 1, 10, 2)
    iou, score = np.float32([0.1, 0.5, 0.9]), np.float32([0.2, 0.0, 0.6])

    def add(b):
        b.add_load_constant("most", "most", np.float64([4]), [1, 1, 1])
        b.add_squeeze("flat", "most", "max_boxes", axes=[0, 1, 2])
        b.add_nms(
            "nms",
            ["boxes", "scores", "iou", "score", "max_boxes"],
            list(OUTPUTS),
            iou_threshold=0.99,
            score_threshold=0.99,
            max_boxes=1,
        )

    spec = network(
        {"boxes": (1, 10, 4), "scores": (1, 10, 2), "iou": (1,), "score": (1,)},
        add,
        outputs=OUTPUTS,
    )
    out = run(
        spec,
        {"boxes": boxes, "scores": scores, "iou": iou[:, None], "score": score[:, None]},
        outputs=OUTPUTS,
    )
    check(out, boxes, scores, iou.tolist(), score.tolist(), 4, False)


def test_nms_refuses_shapes_and_a_data_dependent_max_boxes():
    with pytest.raises(ShapeError, match=r"expects boxes \[B, N, 4\] and scores \[B, N, C\]"):
        compile_network(
            network(
                {"boxes": (1, 5, 3), "scores": (1, 5, 2)},
                lambda b: b.add_nms("nms", ["boxes", "scores"], list(OUTPUTS)),
                outputs=OUTPUTS,
            )
        )
    spec = nms_network(1, 5, 2, extra=("i", "s", "m"))
    with pytest.raises(UnsupportedLayerError, match="maxBoxes input 'm' depends on the model"):
        compile_network(spec)
    spec = nms_network(1, 5, 2, max_boxes=1)
    spec.neuralNetwork.layers[0].NonMaximumSuppression.maxBoxes = 0
    with pytest.raises(ShapeError, match="maxBoxes must be at least 1; got 0"):
        compile_network(spec)
