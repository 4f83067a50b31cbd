"""Update-task benchmark: one epoch of SqueezeNet 1.1 personalization, ours vs the peers.

The work (docs/update-task-semantics.md and docs/peers.md): SqueezeNet 1.1 (random He weights,
built with coremltools' builder), 64 images 227x227x3 = one epoch, mini-batches of 8, the
last convolution ``conv10`` (512 -> 10) updatable, SGD, every tool on the same batches in
Core ML's shuffle order. Each tool runs in its own process (no two thread pools meet) with
2 threads; rounds are interleaved so machine noise hits every tool alike.

* this toolkit: a Core ML-faithful ``UpdateTask`` of one epoch (load, validate, compile and
  train; no feature cache: Core ML has none), timed from ``resume()`` to the end of ``wait()``
  and, separately, including the task's construction;
* PyTorch eager, NCHW and channels-last (frozen backbone in eval mode under ``no_grad``);
* ONNX Runtime on-device training: artifacts as ``generate_artifacts`` makes them; with the
  unused MaxPool index outputs removed; and split (frozen part in an inference session +
  head-only training graph), all through ``runtime.ort.OrtTrainingBackend``.

Also printed: each tool's peak resident memory, and for this toolkit the resident memory
after each of 20 update tasks run back to back in one process (Core ML is reported to keep
about 250 MB per task; the growth here should be a few MB at most).

Usage: ``python scripts/bench_update_task.py [--rounds 5] [--leak-tasks 20]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")  # before numpy loads: 2 threads for all

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

IMAGES, BATCH, CLASSES, LR, SEED = 64, 8, 10, 0.001, 5
OURS = "coreml-updatable UpdateTask"
TORCH_NCHW, TORCH_CL = "PyTorch eager, NCHW", "PyTorch eager, channels-last"
ORT_GENERATED = "ONNX Runtime, as generated"
ORT_PRUNED = "ONNX Runtime, MaxPool indices removed"
ORT_SPLIT = "ONNX Runtime, split (best)"
TOOLS = (OURS, TORCH_NCHW, TORCH_CL, ORT_GENERATED, ORT_PRUNED, ORT_SPLIT)


def workload():
    """The one-epoch updatable model, images ``(64, 3, 227, 227)`` and class indices."""
    import updatable
    from scripts.architectures import SQUEEZENET_INPUT, squeezenet_1_1

    spec = squeezenet_1_1(num_classes=CLASSES, seed=0)
    updatable.make_updatable(spec, ["conv10"])
    updatable.set_loss(spec, "cross_entropy", input="probs")
    updatable.set_optimizer(spec, "sgd", learning_rate=LR, mini_batch_size=BATCH)
    updatable.set_epochs(spec, 1)
    updatable.set_shuffle(spec, True, seed=SEED)
    rng = np.random.default_rng(1)
    x = rng.random((IMAGES, *SQUEEZENET_INPUT), dtype=np.float32)
    y = rng.integers(0, CLASSES, IMAGES)
    return spec, x, y


def batches() -> list[list[int]]:
    """Core ML's first-epoch batches (the order is shuffled once at task creation)."""
    from runtime.training.shuffle import ShuffleOrder

    order = ShuffleOrder(IMAGES, SEED, True).order
    return [order[b : b + BATCH] for b in range(0, IMAGES, BATCH)]


def memory_mib(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(f"{field}:"))
    return int(line.split()[1]) / 1024


def ours(spec, x, y):
    from runtime.training.providers import ArrayBatchProvider
    from runtime.training.task import UpdateTask

    data = ArrayBatchProvider({"data": x, "probs_true": y})

    def epoch():
        created = time.perf_counter()
        task = UpdateTask(spec, data)
        started = time.perf_counter()
        task.resume()
        task.wait()
        assert task.error is None, task.error
        return time.perf_counter() - started, time.perf_counter() - created

    return epoch


def pytorch(spec, x, y, channels_last: bool):
    import torch
    from torch import nn

    from scripts.bench_forward import torch_squeezenet

    torch.set_num_threads(2)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = torch_squeezenet(spec).to(memory_format=fmt)
    layers = list(net.children())
    backbone, conv10 = nn.Sequential(*layers[:-5]).eval(), layers[-5]
    images = torch.from_numpy(x).contiguous(memory_format=fmt)
    targets = torch.from_numpy(y)
    initial = {k: v.clone() for k, v in conv10.state_dict().items()}
    plan = batches()

    def epoch():
        conv10.load_state_dict(initial)
        optimizer = torch.optim.SGD(conv10.parameters(), lr=LR)
        started = time.perf_counter()
        for indices in plan:
            with torch.no_grad():
                features = backbone(images[indices])
            logits = torch.relu(conv10(features)).mean(dim=(2, 3))
            loss = nn.functional.cross_entropy(logits, targets[indices])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        elapsed = time.perf_counter() - started
        return elapsed, elapsed

    return epoch


def onnxruntime(spec, x, y, layout: str, prune: bool):
    from runtime.ort import OrtTrainingBackend

    plan = batches()

    def epoch():
        backend = OrtTrainingBackend.create(
            spec, layout=layout, threads=2, prune_maxpool_indices=prune
        )
        started = time.perf_counter()
        for indices in plan:
            backend.step({"data": x[indices]}, y[indices], LR)
        elapsed = time.perf_counter() - started
        backend.close()
        return elapsed, elapsed

    return epoch


def leak_check(spec, x, y, tasks: int) -> list[float]:
    """Resident memory (MiB) after each of ``tasks`` one-epoch update tasks in a row."""
    run = ours(spec, x, y)
    readings = []
    for _ in range(tasks):
        run()
        readings.append(memory_mib())
    return readings


def worker(tool: str, leak_tasks: int) -> None:
    spec, x, y = workload()
    if tool == OURS:
        epoch = ours(spec, x, y)
    elif tool in (TORCH_NCHW, TORCH_CL):
        epoch = pytorch(spec, x, y, channels_last=tool == TORCH_CL)
    else:
        layout = "split" if tool == ORT_SPLIT else "whole"
        epoch = onnxruntime(spec, x, y, layout, prune=tool != ORT_GENERATED)
    epoch()  # warm-up: numba's cached kernels, torch/ORT first-run allocations
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "leak":
            print(json.dumps(leak_check(spec, x, y, leak_tasks)), flush=True)
        else:
            print(json.dumps([*epoch(), memory_mib("VmHWM")]), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per tool")
    parser.add_argument("--leak-tasks", type=int, default=20, help="tasks in the memory check")
    parser.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.leak_tasks)
        return 0

    results: dict[str, list] = {tool: [] for tool in TOOLS}
    workers = {}
    for tool in TOOLS:
        workers[tool] = subprocess.Popen(
            [sys.executable, __file__, "--worker", tool, "--leak-tasks", str(args.leak_tasks)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if workers[tool].stdout.readline().strip() != "ready":
            raise RuntimeError(f"the {tool} worker failed to start")
    for _ in range(args.rounds):
        for tool, process in workers.items():
            process.stdin.write("run\n")
            process.stdin.flush()
            results[tool].append(json.loads(process.stdout.readline()))
    workers[OURS].stdin.write("leak\n")
    workers[OURS].stdin.flush()
    leak = json.loads(workers[OURS].stdout.readline())
    for process in workers.values():
        process.stdin.close()
        process.wait()

    print(
        f"SqueezeNet 1.1, one epoch = {IMAGES} images 227x227, batch {BATCH}, conv10 "
        f"updatable, 2 threads, {args.rounds} epochs per tool (median; best in brackets)"
    )
    ours_median = float(np.median([r[0] for r in results[OURS]]))
    print(f"  {'tool':40s} {'s/epoch':>14s}  {'ours / tool':>11s}  {'peak RSS':>9s}")
    for tool in TOOLS:
        times = [r[0] for r in results[tool]]
        median, best = float(np.median(times)), min(times)
        peak = max(r[2] for r in results[tool])
        print(
            f"  {tool:40s} {median:6.3f} ({best:5.3f})  {ours_median / median:10.2f}x  "
            f"{peak:7.0f} MB"
        )
    with_setup = float(np.median([r[1] for r in results[OURS]]))
    print(f"  ours including UpdateTask construction (load, validate, compile): {with_setup:.3f} s")
    growth = leak[-1] - leak[min(2, len(leak) - 1)]
    print(
        f"  {len(leak)} update tasks back to back: RSS {leak[0]:.0f} MB after the first, "
        f"{leak[-1]:.0f} MB after the last (growth after the third: {growth:+.1f} MB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
