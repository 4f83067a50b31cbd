"""Personalisation benchmark: ONNX Runtime on-device training against the numba backend.

The task (docs/peers.md): SqueezeNet 1.1 at 227x227, frozen backbone, one head layer
trainable, cross-entropy + SGD, batch 8, 64 images per epoch, 2 threads, the same Core ML
batch order for everyone. Two heads: ``conv10`` (conv10 re-made with 10 classes and made
updatable) and ``fc`` (the 1000-class network + a new inner product 1000 -> 10). Contenders:

* ``ort-as-generated``: one training graph from the model inputs, as ORT's
  ``generate_artifacts`` writes it (only the optimizer's IR version fixed, without which
  ORT 1.19 refuses to load it); every MaxPool keeps its index output;
* ``ort-fixed``: the same with unused MaxPool index outputs removed;
* ``ort-split``: the frozen prefix in an inference session, only the head in training
  (``OrtTrainingBackend``'s default, what ``UpdateTask(..., backend="onnxruntime")`` runs);
* ``numba``: the toolkit's own backend (``UpdateTask``'s default), frozen part recomputed
  every batch like the others (no feature cache).

Each contender runs in its own worker process (so peak memory is its own; "+train" is the
peak minus the resident size before the backend was built), trains
``--epochs`` epochs on the same pre-fetched mini-batches and reports every epoch's time; the
first epoch (JIT compilation, first allocations) is shown apart and the rest summarised by
the median. The final losses are compared across contenders as a check that all did the
same work.

Usage: ``python scripts/bench_ort.py [--epochs 4] [--rounds 1] [--size 227]
[--heads conv10,fc] [--contenders ort-as-generated,ort-fixed,ort-split,numba] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")  # before numpy loads: 2 threads for all
os.environ.setdefault("OMP_NUM_THREADS", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

CONTENDERS = {
    "ort-as-generated": {"layout": "whole", "prune_maxpool_indices": False},
    "ort-fixed": {"layout": "whole", "prune_maxpool_indices": True},
    "ort-split": {"layout": "split", "prune_maxpool_indices": True},
    "numba": None,
}
CLASSES = 10
# per head, below the stability limit of plain SGD on these (random, unnormalised) features
LEARNING_RATES = {"conv10": 1e-3, "fc": 1e-5}


def personalisation_model(head: str, size: int):
    """SqueezeNet 1.1 with a trainable 10-class head, made updatable with our surgery."""
    import updatable
    from scripts.architectures import squeezenet_1_1
    from updatable import proto

    if head == "conv10":
        spec = squeezenet_1_1(num_classes=CLASSES)
        trainable = "conv10"
    else:
        spec = squeezenet_1_1(num_classes=1000, softmax=False, output_name="features")
        network = spec.neuralNetwork
        rng = np.random.default_rng(1)
        fc = network.layers.add(name="fc", input=["features"], output=["fc_out"])
        fc.innerProduct.inputChannels, fc.innerProduct.outputChannels = 1000, CLASSES
        fc.innerProduct.hasBias = True
        fc.innerProduct.weights.floatValue.extend(rng.standard_normal(CLASSES * 1000) * 0.03)
        fc.innerProduct.bias.floatValue.extend(np.zeros(CLASSES))
        network.layers.add(name="softmax", input=["fc_out"], output=["probs"]).softmax.SetInParent()
        output = spec.description.output[0]
        output.name = "probs"
        output.type.multiArrayType.shape[:] = [CLASSES]
        trainable = "fc"
    spec.description.input[0].type.multiArrayType.shape[1:] = [size, size]
    model = proto.Model()
    model.CopyFrom(spec)
    updatable.make_updatable(model, [trainable])
    updatable.set_loss(model, "cross_entropy", input="probs")
    updatable.set_optimizer(model, "sgd", learning_rate=LEARNING_RATES[head], mini_batch_size=8)
    updatable.set_epochs(model, 4)
    updatable.check(model)
    return model


def forward_gflop(spec) -> float:
    """Forward GFLOP per image (2 x the multiply-adds of convolutions and inner products)."""
    from runtime.ort.export import convert_network, declared_fetches

    _, shapes = convert_network(spec, declared_fetches(spec))
    macs = 0
    for layer in spec.neuralNetwork.layers:
        kind = layer.WhichOneof("layer")
        if kind == "convolution":
            p = layer.convolution
            _, h, w = shapes[layer.output[0]]
            macs += p.outputChannels * p.kernelChannels * p.kernelSize[0] * p.kernelSize[1] * h * w
        elif kind == "innerProduct":
            macs += layer.innerProduct.inputChannels * layer.innerProduct.outputChannels
    return 2 * macs / 1e9


def memory_mib(field: str = "VmRSS") -> float:
    """Resident size (``VmRSS``) or its high-water mark (``VmHWM``) of this process.

    NOTE: ``getrusage``'s ``ru_maxrss`` survives ``exec`` on Linux, so a worker would report
    the parent's peak; ``VmHWM`` belongs to the new address space.
    """
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(f"{field}:"))
    return int(line.split()[1]) / 1024


def worker(contender: str, model_path: str, epochs: int, images: int) -> dict:
    """Train one contender; returns per-epoch times, losses and memory figures."""
    import updatable
    from runtime.model.configuration import ModelConfiguration
    from runtime.training.events import Event

    spec = updatable.load(model_path)
    size = int(spec.description.input[0].type.multiArrayType.shape[-1])
    lr = spec.neuralNetwork.updateParams.optimizer.sgdOptimizer.learningRate.defaultValue
    rng = np.random.default_rng(0)
    data = rng.standard_normal((images, 3, size, size)).astype(np.float32)
    labels = rng.integers(0, CLASSES, images)
    plan = _batch_plan(data, labels, epochs)
    if CONTENDERS[contender] is None:
        import runtime.training.network_update  # noqa: F401
    else:
        from runtime.ort import deps

        deps.training_api()  # imports torch where installed (ORT's amp/optim/tools modules)
    baseline = memory_mib()  # after the imports: "+train" is the training's own memory
    setup = time.perf_counter()
    if CONTENDERS[contender] is None:
        from runtime.training.providers import ArrayBatchProvider
        from runtime.training.updates import open_update

        provider = ArrayBatchProvider({"data": list(data[:1]), "probs_true": list(labels[:1])})
        update = open_update(spec, provider, ModelConfiguration(), Event.EPOCH_END, "numba")

        def step(batch):
            return update.backend.step(batch, lr)

    else:
        from runtime.ort import OrtTrainingBackend

        trainer = OrtTrainingBackend.create(spec, threads=2, **CONTENDERS[contender])

        def step(batch):
            return trainer.step(batch.features, batch.target, lr)

    setup = time.perf_counter() - setup
    times, losses = [], []
    for batches in plan:
        start = time.perf_counter()
        losses += [step(batch) for batch in batches]
        times.append(time.perf_counter() - start)
    peak = memory_mib("VmHWM")
    return {
        "epoch_s": times,
        "losses": losses,
        "peak_rss_mib": peak,
        "setup_s": setup,
        "baseline_rss_mib": baseline,
    }


def _batch_plan(data, labels, epochs: int) -> list[list]:
    """Every epoch's mini-batches of 8 as training batches, in Core ML's shuffle order."""
    from runtime.training.examples import TrainingBatch
    from runtime.training.loop import batch_count, batch_indices
    from runtime.training.shuffle import ShuffleOrder

    images = len(data)
    order, plan = ShuffleOrder(images, 0, True), []
    for _ in range(epochs):
        epoch = []
        for b in range(batch_count(images, 8)):
            indices = batch_indices(order.order, b, 8, False)
            epoch.append(TrainingBatch({"data": data[indices]}, labels[indices], indices))
        plan.append(epoch)
        order.reshuffle()
    return plan


def run_worker(contender: str, model_path: Path, args) -> dict | None:
    """One contender in a fresh process; ``None`` (and a message) if it failed."""
    command = [
        sys.executable,
        __file__,
        "--worker",
        contender,
        str(model_path),
        "--epochs",
        str(args.epochs),
        "--images",
        str(args.images),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        print(f"{contender:18} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def gemm_peak(size: int = 2048, repeats: int = 8) -> float:
    """Median float32 GFLOP/s of a ``size x size`` numpy matmul (2 threads)."""
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    np.matmul(a, a)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, a)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / float(np.median(times)) / 1e9


def _measure(args, model_path: Path) -> dict[str, dict]:
    """Every contender ``args.rounds`` times, round-robin, so drifting machine load hits all
    alike; per contender the steady and first epoch times and the peak memory."""
    rows: dict[str, dict] = {}
    for _ in range(args.rounds):
        for contender in args.contenders.split(","):
            run = run_worker(contender, model_path, args)
            if run is None:
                continue
            row = rows.setdefault(contender, {**run, "steady_s": [], "first_s": []})
            row["steady_s"] += run["epoch_s"][1:] or run["epoch_s"]
            row["first_s"].append(run["epoch_s"][0])
            row["peak_rss_mib"] = max(row["peak_rss_mib"], run["peak_rss_mib"])
    return rows


def _print_rows(args, rows: dict[str, dict], gflop: float, peak: float) -> None:
    base = rows.get("ort-split")
    for contender, row in rows.items():
        steady = float(np.median(row["steady_s"]))
        ratio = steady / float(np.median(base["steady_s"])) if base else float("nan")
        print(
            f"{contender:18} {np.median(row['first_s']):9.2f} {steady:8.3f} "
            f"{args.images / steady:7.1f} {gflop / steady:8.1f} "
            f"{100 * gflop / steady / peak:6.0f} {row['peak_rss_mib']:8.0f} "
            f"{row['peak_rss_mib'] - row['baseline_rss_mib']:10.0f} "
            f"{ratio:8.2f} {row['losses'][-1]:10.6f}"
        )
    losses = [row["losses"] for row in rows.values()]
    if len(losses) > 1:
        spread = max(float(np.max(np.abs(np.subtract(a, losses[0])))) for a in losses)
        print(f"largest loss difference between contenders over all batches: {spread:.2e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=227, help="input height and width")
    parser.add_argument("--heads", default="conv10,fc")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument(
        "--rounds", type=int, default=1, help="worker runs per contender, interleaved round-robin"
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", nargs=2, metavar=("CONTENDER", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = worker(*args.worker, args.epochs, args.images)
        print(json.dumps(result))
        return 0

    peak = gemm_peak()
    print(
        f"SqueezeNet 1.1 {args.size}x{args.size}, batch 8, {args.images} images/epoch, "
        f"{args.epochs} epochs, SGD lr {LEARNING_RATES}; numpy float32 GEMM peak "
        f"{peak:.0f} GFLOP/s"
    )
    results = {}
    import updatable

    workdir = Path(tempfile.mkdtemp(prefix="bench-ort-"))
    for head in args.heads.split(","):
        spec = personalisation_model(head, args.size)
        model_path = workdir / f"{head}.mlmodel"
        updatable.save(spec, model_path)  # workers load it without importing coremltools
        gflop = forward_gflop(spec) * args.images
        print(f"\nhead {head}: {gflop:.1f} forward GFLOP per epoch")
        print(
            f"{'contender':18} {'epoch 1 s':>9} {'s/epoch':>8} {'img/s':>7} {'GFLOP/s':>8} "
            f"{'% peak':>6} {'peak MiB':>8} {'+train MiB':>10} {'vs split':>8} "
            f"{'last loss':>10}"
        )
        rows = _measure(args, model_path)
        _print_rows(args, rows, gflop, peak)
        results[head] = rows
    shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"gemm_peak": peak, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
