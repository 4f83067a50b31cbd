"""Training-job benchmark: 10-epoch personalization of SqueezeNet 1.1's last layer.

The work: SqueezeNet 1.1 (``scripts/architectures.py``, 10 classes, random He weights), 64
images of 227x227x3, mini-batches of 8, ``conv10`` (512 -> 10, 1x1) updatable, SGD with
learning rate 0.001, 10 epochs, every tool on the same batches (Core ML's shuffle order,
reshuffled each epoch). Timed end to end, each tool in its own process (so no two thread
pools meet), round-robin across rounds so machine noise hits every tool alike, 2 threads:

* this toolkit: ``runtime.train(...).wait()`` with the frozen-feature cache (load, validate,
  compile, extract once, train 10 epochs of the head only), and without the cache;
* PyTorch (channels-last, frozen backbone in eval mode under ``no_grad``, head trained with
  ``torch.optim.SGD``, ``torch.set_num_threads(2)``);
* ONNX Runtime on-device training, artifacts as ``generate_artifacts`` makes them (one
  training graph, MaxPool index outputs kept) and in its best honest configuration (frozen
  part in an inference session + head-only training graph, unused MaxPool indices pruned),
  both through ``runtime.ort.OrtTrainingBackend``.

What is timed: the whole ``train`` call for this toolkit (model validation and compilation
included); the 10-epoch loop for PyTorch and ONNX Runtime (their model building, artifact
generation and session creation are not timed).

Prints the best and the median time of each tool, their ratios to the cached job, and the
largest difference between each tool's trained ``conv10`` weights and ours (they train the
same thing). On a shared machine the best run is the one least disturbed by other work.

Usage: ``python scripts/bench_session.py [--rounds 5] [--skip-uncached]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")  # before numpy loads: 2 threads for all

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

IMAGES, BATCH, EPOCHS, CLASSES, LR, SEED = 64, 8, 10, 10, 0.001, 5
OURS, UNCACHED = "coreml-updatable job, feature cache", "coreml-updatable job, no cache"
TORCH = "PyTorch channels-last"
ORT_GENERATED, ORT_SPLIT = "ONNX Runtime, as generated", "ONNX Runtime, best split"
TOOLS = (OURS, UNCACHED, TORCH, ORT_GENERATED, ORT_SPLIT)


def workload():
    """The updatable model, the images ``(64, 3, 227, 227)`` and their class indices."""
    import updatable
    from scripts.architectures import SQUEEZENET_INPUT, squeezenet_1_1

    spec = squeezenet_1_1(num_classes=CLASSES, seed=0)
    updatable.make_updatable(spec, ["conv10"])
    updatable.set_loss(spec, "cross_entropy", input="probs")
    updatable.set_optimizer(spec, "sgd", learning_rate=LR, mini_batch_size=BATCH)
    updatable.set_epochs(spec, EPOCHS)
    updatable.set_shuffle(spec, True, seed=SEED)
    rng = np.random.default_rng(1)
    x = rng.random((IMAGES, *SQUEEZENET_INPUT), dtype=np.float32)
    y = rng.integers(0, CLASSES, IMAGES)
    return spec, x, y


def epoch_batches() -> list[list[list[int]]]:
    """Core ML's batches for every epoch: the shuffle order, reshuffled after each epoch."""
    from runtime.training.shuffle import ShuffleOrder

    order, epochs = ShuffleOrder(IMAGES, SEED, True), []
    for _ in range(EPOCHS):
        epochs.append([order.order[b : b + BATCH] for b in range(0, IMAGES, BATCH)])
        order.reshuffle()
    return epochs


def ours(spec, x, y, cache: bool):
    import runtime
    from runtime.training.providers import ArrayBatchProvider

    def train():
        started = time.perf_counter()
        data = ArrayBatchProvider({"data": x, "probs_true": y})
        params = runtime.TrainingSessionParameters(report_interval=1, iterations=EPOCHS)
        result = runtime.train(spec, data, session_parameters=params, feature_cache=cache).wait()
        elapsed = time.perf_counter() - started
        layer = next(lay for lay in result.spec.neuralNetwork.layers if lay.name == "conv10")
        trained = np.asarray(layer.convolution.weights.floatValue, np.float32)
        return trained.reshape(CLASSES, 512), elapsed

    return train


def pytorch(spec, x, y):
    import torch
    from torch import nn

    from scripts.bench_forward import torch_squeezenet

    torch.set_num_threads(2)
    net = torch_squeezenet(spec).to(memory_format=torch.channels_last)
    layers = list(net.children())
    backbone = nn.Sequential(*layers[:-5]).eval()  # up to fire9
    conv10 = layers[-5]
    images = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
    targets = torch.from_numpy(y)
    initial = conv10.state_dict()
    batches = epoch_batches()

    def train():
        started = time.perf_counter()
        conv10.load_state_dict(initial)
        optimizer = torch.optim.SGD(conv10.parameters(), lr=LR)
        for epoch in batches:
            for indices in epoch:
                with torch.no_grad():
                    features = backbone(images[indices])
                logits = torch.relu(conv10(features)).mean(dim=(2, 3))
                loss = nn.functional.cross_entropy(logits, targets[indices])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        elapsed = time.perf_counter() - started
        return conv10.weight.detach().numpy().reshape(CLASSES, 512).copy(), elapsed

    return train


def onnxruntime(spec, x, y, layout: str, prune: bool):
    from runtime.ort import OrtTrainingBackend

    batches = epoch_batches()

    def train():
        # artifact generation and session creation are not timed
        backend = OrtTrainingBackend.create(
            spec, layout=layout, threads=2, prune_maxpool_indices=prune
        )
        started = time.perf_counter()
        for epoch in batches:
            for indices in epoch:
                backend.step({"data": x[indices]}, y[indices], LR)
        elapsed = time.perf_counter() - started
        trained = backend.weights()["conv10"]["weights"].reshape(CLASSES, 512)
        backend.close()
        return trained, elapsed

    return train


def worker(tool: str, output: str) -> None:
    """Answer each stdin line with one timed 10-epoch run (JSON seconds)."""
    spec, x, y = workload()
    if tool in (OURS, UNCACHED):
        train = ours(spec, x, y, cache=tool == OURS)
        ours(spec, x[:BATCH], y[:BATCH], cache=True)()  # loads numba's compiled kernels
    elif tool == TORCH:
        train = pytorch(spec, x, y)
    else:
        train = onnxruntime(
            spec, x, y, "whole" if tool == ORT_GENERATED else "split", prune=tool == ORT_SPLIT
        )
    np.save(output, train()[0])
    print("ready", flush=True)
    for _ in sys.stdin:
        print(json.dumps(train()[1]), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per tool")
    parser.add_argument(
        "--skip-uncached", action="store_true", help="leave out the job without the feature cache"
    )
    parser.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.output)
        return 0

    tools = [t for t in TOOLS if not (args.skip_uncached and t == UNCACHED)]
    times: dict[str, list[float]] = {tool: [] for tool in tools}
    weights = {}
    with tempfile.TemporaryDirectory() as tmp:
        workers = {}
        for index, tool in enumerate(tools):
            path = str(Path(tmp) / f"w{index}.npy")
            workers[tool] = subprocess.Popen(
                [sys.executable, __file__, "--worker", tool, "--output", path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            if workers[tool].stdout.readline().strip() != "ready":  # one at a time
                raise RuntimeError(f"the {tool} worker failed to start")
            weights[tool] = np.load(path)
        for _ in range(args.rounds):
            for tool, process in workers.items():
                process.stdin.write("run\n")
                process.stdin.flush()
                times[tool].append(json.loads(process.stdout.readline()))
        for process in workers.values():
            process.stdin.close()
            process.wait()

    print(
        f"SqueezeNet 1.1, {IMAGES} images 227x227, batch {BATCH}, {EPOCHS} epochs, conv10 "
        f"trainable, 2 threads, {args.rounds} runs per tool"
    )
    print(f"  {'tool':38s} {'best':>7s}   {'median':>7s}   ratio (best, median) to ours")
    best_ours, median_ours = min(times[OURS]), float(np.median(times[OURS]))
    for tool in tools:
        best, median = min(times[tool]), float(np.median(times[tool]))
        gap = float(np.max(np.abs(weights[tool] - weights[OURS])))
        print(
            f"  {tool:38s} {best:6.2f}s   {median:6.2f}s   {best / best_ours:5.1f}x "
            f"{median / median_ours:5.1f}x   max |conv10 - ours| {gap:.1e}"
        )
    print(
        "  runs (s): "
        + "; ".join(f"{tool}: {[round(t, 2) for t in times[tool]]}" for tool in tools)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
