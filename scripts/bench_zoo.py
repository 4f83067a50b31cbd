"""Zoo forward benchmark: every converted torch zoo model, this runtime against ONNX Runtime.

For each model of the torch zoo (``tests/builders/torch_zoo.py``, converted by coremltools
for iOS 14, or iOS 13 where that is the only target), one batched forward of ``--batch``
realistic examples through

* this runtime: ``runtime.Model.load(spec)``, then ``model.engine.run`` on the feature batch
  (image preprocessing, the network and the classifier's label step included);
* ONNX Runtime inference on the same network: the graph ``runtime.ort.export_onnx`` makes of
  the converted model (what ``updatable export-ort --inference`` writes) when it converts every
  layer, fed the same feature batch; otherwise the torch module's own ``torch.onnx.export``
  (the legacy exporter, opset 17, fed the tensor torch takes: image preprocessing then runs
  outside the timed call); a module written for a batch of one (the transformer's reshapes name
  the batch size) is exported for one example and run once per example ("torch, 1 by 1").
  The ``onnx from`` column says which.

Both run in this process, interleaved: each round times ``--per-round`` forwards of one
contender, then of the other, so machine noise hits both alike; the figure is the median over
all rounds. ORT gets as many intra-op threads as OpenBLAS (``OPENBLAS_NUM_THREADS``, default
2 here). The outputs are compared (max relative difference) as a check that both did the same
work. ``ratio`` = ours / ORT; a row where we are more than ``--lag`` times slower is marked.

Usage: ``python scripts/bench_zoo.py [--rounds 5] [--per-round 3] [--batch 8]
[--models resnet,lstm] [--lag 1.5]``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")  # before numpy loads: 2 threads for all

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "amx_tile", "neon", "asimd")


def machine() -> list[str]:
    """CPU model, core count, the SIMD flags that matter to BLAS and numba, OPENBLAS_* and the
    versions of the contenders."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags = set(value.split())
    except OSError:
        pass  # not Linux
    import numba
    import onnxruntime

    blas = {k: v for k, v in sorted(os.environ.items()) if k.startswith("OPENBLAS")}
    return [
        f"CPU: {model}, {os.cpu_count()} logical cores; flags: "
        + (" ".join(f for f in _FLAGS if f in flags) or "unknown"),
        f"OPENBLAS_* variables: {blas or 'none'}",
        f"Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"onnxruntime {onnxruntime.__version__}",
    ]


@dataclass
class Contenders:
    """One zoo model's two forwards (no-argument functions) and where the ONNX graph came
    from."""

    ours: object
    ort: object
    onnx_from: str
    rows: object  # ours' result -> (batch, values) rows in the ORT output's order
    profile: object  # () -> kind_profile of our forward


def _session(onnx_model_or_path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "2"))
    options.inter_op_num_threads = 1
    # NOTE: ORT's idle pool threads spin for a while after each run; in one process with our
    # runtime on 2 cores they would steal the CPU from the next contender's forward.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    payload = onnx_model_or_path
    if not isinstance(payload, str):
        payload = payload.SerializeToString()
    return ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])


def _torch_onnx(name: str, examples: np.ndarray):
    """The torch module's own ONNX export, and a forward over the batch: one call on the whole
    batch, or, for a module written for a batch of one (its reshapes name the batch size), one
    call per example. Returns ``(forward, how)``."""
    import torch

    from tests.builders import torch_zoo

    spec = torch_zoo.entry(name).input
    # the tensor torch takes for each example, preprocessing done (the zoo's own helper)
    rows = [torch_zoo._torch_input(spec, e) for e in examples]
    batch = torch.cat(rows)
    try:
        with torch.no_grad():
            torch_zoo.torch_model(name)(batch)
        x, how = batch, "torch"
    except RuntimeError:  # a batch-of-one module: export it as such and loop
        x, how = rows[0], "torch, 1 by 1"
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        path = str(Path(tmp) / f"{name}.onnx")
        torch.onnx.export(
            torch_zoo.torch_model(name),
            (x,),
            path,
            input_names=["x"],
            dynamo=False,
            opset_version=17,
        )
        session = _session(path)
    out = session.get_outputs()[0].name
    if how == "torch":
        feed = {"x": batch.numpy()}
        return (lambda: session.run([out], feed)[0]), how
    feeds = [{"x": row.numpy()} for row in rows]
    return (lambda: np.concatenate([session.run([out], f)[0] for f in feeds])), how


def contenders(name: str, target: str, batch: int) -> Contenders:
    import runtime
    from runtime.model import features
    from tests.builders import torch_zoo
    from updatable.errors import UnsupportedLayerError, UnsupportedModelError

    spec = torch_zoo.converted(name, target)
    examples, _ = torch_zoo.real_batch(name, batch)
    feeds = features.to_batch(spec.description.input, [torch_zoo.feeds(name, e) for e in examples])
    model = runtime.Model.load(spec)
    out_name = spec.description.predictedProbabilitiesName or spec.description.output[0].name

    labels = torch_zoo.entry(name).labels

    def ours():
        return model.engine.run(feeds)[out_name]

    def rows(result):
        if labels is not None:  # a classifier's probabilities: one dict per example
            result = [[probabilities[label] for label in labels] for probabilities in result]
        return np.asarray(result, np.float32).reshape(batch, -1)

    try:
        from runtime.ort.export import export_onnx

        session = _session(export_onnx(spec))
        onnx_feeds = {i.name: np.asarray(feeds[i.name], np.float32) for i in session.get_inputs()}

        def ort():
            return session.run([out_name], onnx_feeds)[0]

        onnx_from = "export-ort"
    except (UnsupportedLayerError, UnsupportedModelError):
        ort, onnx_from = _torch_onnx(name, examples)

    return Contenders(ours, ort, onnx_from, rows, lambda: kind_profile(model, feeds))


def kind_profile(model, feeds, forwards: int = 5) -> list[tuple[str, float]]:
    """Where our forward spends its time: each step's kind forward wrapped in a timer for
    ``forwards`` runs; ``[(kind, share of the time spent in steps)]``, largest first (a batch
    split across threads counts each chunk's time). Steps the network holds inside loops and
    branches count in their enclosing layer."""
    network = model.engine.network
    spent: dict[str, float] = {}
    original = [step.kind for step in network.steps]

    def timed(kind):
        def forward(*args, **kwargs):
            start = time.perf_counter()
            try:
                return kind.forward(*args, **kwargs)
            finally:
                spent[kind.oneof] = spent.get(kind.oneof, 0.0) + time.perf_counter() - start

        return dataclasses.replace(kind, forward=forward)

    try:
        for step in network.steps:
            step.kind = timed(step.kind)
        for _ in range(forwards):
            model.engine.run(feeds)
    finally:
        for step, kind in zip(network.steps, original, strict=True):
            step.kind = kind
    total = sum(spent.values()) or 1.0
    return sorted(((k, v / total) for k, v in spent.items()), key=lambda kv: -kv[1])


def _median_interleaved(forwards: dict, rounds: int, per_round: int) -> dict[str, float]:
    for forward in forwards.values():  # warm up: compilation, first allocations
        forward()
        forward()
    times: dict[str, list[float]] = {key: [] for key in forwards}
    for _ in range(rounds):
        for key, forward in forwards.items():
            for _ in range(per_round):
                start = time.perf_counter()
                forward()
                times[key].append(time.perf_counter() - start)
    return {key: float(np.median(samples)) for key, samples in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--per-round", type=int, default=3, help="forwards per contender")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--models", help="comma-separated zoo names (default: all)")
    parser.add_argument(
        "--lag", type=float, default=1.5, help="mark rows where ours / ORT exceeds this"
    )
    args = parser.parse_args(argv)

    from tests.builders import torch_zoo

    names = args.models.split(",") if args.models else list(torch_zoo.ZOO)
    print(
        f"Zoo forward, batch {args.batch}: this runtime against ONNX Runtime; median of "
        f"{args.rounds} interleaved rounds x {args.per_round} forwards each, one process"
    )
    for line in machine():
        print(f"  {line}")
    print()
    header = (
        f"{'model':<14} {'target':<6} {'onnx from':<14} {'ours ms':>9} {'ORT ms':>9} "
        f"{'ratio':>6}  {'max rel diff':>12}  note"
    )
    print(header)
    print("-" * len(header))
    ratios, profiles = [], {}
    for name in names:
        target = torch_zoo.entry(name).targets[-1]
        pair = contenders(name, target, args.batch)
        medians = _median_interleaved(
            {"ours": pair.ours, "ort": pair.ort}, args.rounds, args.per_round
        )
        ours = pair.rows(pair.ours())
        theirs = np.asarray(pair.ort(), np.float32).reshape(args.batch, -1)
        diff = float(np.abs(ours - theirs).max() / max(float(np.abs(theirs).max()), 1e-30))
        ratio = medians["ours"] / medians["ort"]
        ratios.append(ratio)
        profiles[name] = pair.profile()
        note = f"we lag {ratio:.1f}x" if ratio > args.lag else ""
        print(
            f"{name:<14} {target:<6} {pair.onnx_from:<14} {medians['ours'] * 1e3:9.2f} "
            f"{medians['ort'] * 1e3:9.2f} {ratio:6.2f}  {diff:12.1e}  {note}",
            flush=True,
        )
    geo = float(np.exp(np.mean(np.log(ratios))))
    print(f"\ngeometric mean of ours / ORT over {len(ratios)} models: {geo:.2f}")
    print("\nwhere our forward's time goes (share of the time in steps per layer kind, top 4):")
    for name, shares in profiles.items():
        top = ", ".join(f"{kind} {100 * share:.0f}%" for kind, share in shares[:4])
        print(f"  {name:<14} {top}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
