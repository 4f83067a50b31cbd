"""Forward-pass benchmark: SqueezeNet 1.1, 227x227x3, batch 8, 2 threads.

Runs the batched forward of

* this runtime: ``runtime.Model.load(spec)`` then ``model.engine.run`` on a feature batch;
* PyTorch (channels-last, eval, ``no_grad``, ``torch.set_num_threads(2)``) with the same weights;
* ONNX Runtime inference on the same network (exported from the torch module with
  ``torch.onnx.export(..., dynamo=False)``),

each in its own worker process (so no tool's thread pool competes with another's), driven
round-robin by this process so that machine noise hits every tool alike, and prints medians,
ratios, the float32 GEMM peak (numpy 2048x2048), the GFLOP/s achieved
(0.776 GFLOP per image), the numerical agreement with torch, and cold-start times of a fresh
process with numba's cache warm and cold (checking that a warm process compiles nothing).

Usage: ``python scripts/bench_forward.py [--rounds 15] [--per-round 3] [--batch 8]
[--skip-cold-start]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")  # before numpy loads: 2 threads for all

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from scripts.architectures import SQUEEZENET_1_1_FIRES, SQUEEZENET_INPUT, squeezenet_1_1  # noqa: E402

GFLOP_PER_IMAGE = 0.776  # 387.8 M multiply-adds (docs/peers.md)


def gemm_peak(size: int = 2048, repeats: int = 10) -> float:
    """Median GFLOP/s of a float32 ``size x size`` matmul through numpy's BLAS."""
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, a, out=out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, a, out=out)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / float(np.median(times)) / 1e9


def torch_squeezenet(spec):
    """The same network as a torch module, weights copied from the spec (Core ML's
    convolution layout ``[Cout, Cin, kH, kW]`` is torch's)."""
    import torch
    from torch import nn

    layers = {layer.name: layer for layer in spec.neuralNetwork.layers}

    def conv(name, padding=0, stride=1):
        p = layers[name].convolution
        module = nn.Conv2d(
            int(p.kernelChannels),
            int(p.outputChannels),
            int(p.kernelSize[0]),
            stride=stride,
            padding=padding,
        )
        weight = np.asarray(p.weights.floatValue, np.float32).reshape(module.weight.shape)
        module.weight.data = torch.from_numpy(weight)
        module.bias.data = torch.from_numpy(np.asarray(p.bias.floatValue, np.float32))
        return module

    class Fire(nn.Module):
        def __init__(self, name):
            super().__init__()
            self.squeeze = conv(f"{name}_squeeze1x1")
            self.expand1x1 = conv(f"{name}_expand1x1")
            self.expand3x3 = conv(f"{name}_expand3x3", padding=1)

        def forward(self, x):
            s = torch.relu(self.squeeze(x))
            return torch.cat([torch.relu(self.expand1x1(s)), torch.relu(self.expand3x3(s))], 1)

    def pool():
        return nn.MaxPool2d(3, 2, ceil_mode=True)

    fires = [Fire(name) for name, _, _ in SQUEEZENET_1_1_FIRES]
    body = nn.Sequential(
        conv("conv1", stride=2),
        nn.ReLU(),
        pool(),
        *fires[:2],
        pool(),
        *fires[2:4],
        pool(),
        *fires[4:],
        conv("conv10"),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Softmax(dim=1),
    )
    return body.eval()


def cold_start(batch: int, model_path: str, cache_dir: str) -> dict:
    """Time a fresh process: ``import runtime``, ``Model.load`` of the saved model, first and
    second batched forward; count numba compilations (cache misses) and cache hits."""
    code = f"""
import json, sys, time
start = time.perf_counter()
sys.path.insert(0, {str(ROOT)!r})
import numpy as np
import runtime
from runtime import kernels
imported = time.perf_counter()
model = runtime.Model.load({model_path!r})
loaded = time.perf_counter()
x = np.random.default_rng(1).random(({batch}, 3, 227, 227), dtype=np.float32)
model.engine.run({{"data": x}})
first = time.perf_counter()
model.engine.run({{"data": x}})
second = time.perf_counter()
hits = misses = 0
for _, jit, _ in kernels.pairs():
    stats = getattr(jit, "stats", None)
    if stats is not None:
        hits += sum(stats.cache_hits.values())
        misses += sum(stats.cache_misses.values())
print(json.dumps({{"imports": imported - start, "load": loaded - imported,
                  "first_forward": first - loaded, "second_forward": second - first,
                  "total_to_first_result": first - start, "cache_hits": hits,
                  "cache_misses": misses}}))
"""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


TOOLS = ("coreml-updatable", "PyTorch channels-last", "ONNX Runtime")


def make_forward(tool: str, spec, x: np.ndarray):
    """A no-argument function running one batched forward of ``tool``; returns probabilities."""
    if tool == "coreml-updatable":
        import runtime

        model = runtime.Model.load(spec)
        feeds = {"data": x}
        return lambda: model.engine.run(feeds)["probs"]
    import torch

    torch.set_num_threads(2)
    if tool == "PyTorch channels-last":
        net = torch_squeezenet(spec).to(memory_format=torch.channels_last)
        x_cl = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)

        def forward():
            with torch.no_grad():
                return net(x_cl).numpy()

        return forward
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "squeezenet.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
            torch.onnx.export(
                torch_squeezenet(spec),
                (torch.from_numpy(x),),
                str(onnx_path),
                input_names=["data"],
                output_names=["probs"],
                dynamo=False,
                opset_version=17,
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"data": x})[0]


def worker(tool: str, batch: int, output_path: str) -> None:
    """Serve timing requests on stdin: each line ``N`` runs N forwards and answers their
    (wall, CPU) durations as a JSON list on stdout. The first output goes to ``output_path``."""
    spec = squeezenet_1_1()
    x = np.random.default_rng(1).random((batch, *SQUEEZENET_INPUT), dtype=np.float32)
    forward = make_forward(tool, spec, x)
    np.save(output_path, forward())
    for _ in range(2):
        forward()
    print("ready", flush=True)
    for line in sys.stdin:
        durations = []
        for _ in range(int(line)):
            start, cpu = time.perf_counter(), time.process_time()
            forward()
            durations.append((time.perf_counter() - start, time.process_time() - cpu))
        print(json.dumps(durations), flush=True)


def wait_until_idle(limit: float) -> bool:
    """Wait up to ``limit`` seconds until no other process is runnable (Linux ``procs_running``
    counts this one); other jobs on a small shared machine distort 2-thread timings."""
    deadline = time.monotonic() + limit
    while True:
        try:
            stat = Path("/proc/stat").read_text().split("procs_running")[1].split()[0]
        except (OSError, IndexError):
            return True  # not Linux: cannot tell
        if int(stat) <= 1:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="round-robin rounds")
    parser.add_argument("--per-round", type=int, default=3, help="forwards per tool per round")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--skip-cold-start", action="store_true")
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=20.0,
        help="seconds to wait for an idle machine before each round",
    )
    parser.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.batch, args.output)
        return 0

    times, cpu, outputs, idle_rounds = _round_robin(args)
    wait_until_idle(args.idle_wait)
    peak = gemm_peak()
    report(args, times, cpu, outputs, peak)
    print(f"  rounds started on an idle machine: {idle_rounds} of {args.rounds}")
    if not args.skip_cold_start:
        _report_cold_start(args)
    return 0


def _round_robin(args):
    """One worker process per tool, started one at a time, then ``rounds`` rounds of
    ``per_round`` forwards each; ``(times, cpu, outputs, idle rounds)``."""
    with tempfile.TemporaryDirectory() as tmp:
        workers, outputs = {}, {}
        for index, tool in enumerate(TOOLS):
            path = str(Path(tmp) / f"out{index}.npy")
            workers[tool] = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    tool,
                    "--batch",
                    str(args.batch),
                    "--output",
                    path,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            if workers[tool].stdout.readline().strip() != "ready":  # one at a time: no overlap
                raise RuntimeError(f"the {tool} worker failed to start")
            outputs[tool] = np.load(path)
        times: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        cpu: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        idle_rounds = 0
        for _ in range(args.rounds):
            idle_rounds += wait_until_idle(args.idle_wait)
            for tool, process in workers.items():
                process.stdin.write(f"{args.per_round}\n")
                process.stdin.flush()
                for wall, used in json.loads(process.stdout.readline()):
                    times[tool].append(wall)
                    cpu[tool].append(used)
        for process in workers.values():
            process.stdin.close()
            process.wait()
    return times, cpu, outputs, idle_rounds


def _report_cold_start(args) -> None:
    """A fresh process with the numba cache cold, then warm: time to the first result."""
    from updatable import spec as spec_io

    with tempfile.TemporaryDirectory() as cache:
        model_path = str(Path(cache) / "squeezenet.mlmodel")
        spec_io.save(squeezenet_1_1(), model_path)
        wait_until_idle(args.idle_wait)
        cold = cold_start(args.batch, model_path, cache)
        wait_until_idle(args.idle_wait)
        warm = cold_start(args.batch, model_path, cache)
    for label, result in (("numba cache cold", cold), ("numba cache warm", warm)):
        print(
            f"  fresh process, {label}: first result after "
            f"{result['total_to_first_result']:.2f} s (imports {result['imports']:.2f} s, "
            f"load {result['load']:.2f} s, first forward {result['first_forward']:.2f} s, "
            f"second forward {result['second_forward'] * 1e3:.0f} ms); numba cache hits "
            f"{result['cache_hits']}, compilations {result['cache_misses']}"
        )
    print(
        "  second process recompiles nothing: "
        f"{'yes' if warm['cache_misses'] == 0 and warm['cache_hits'] > 0 else 'NO'}"
    )


def report(args, times, cpu, outputs, peak) -> None:
    flop = GFLOP_PER_IMAGE * args.batch
    print(
        f"SqueezeNet 1.1, {SQUEEZENET_INPUT[1]}x{SQUEEZENET_INPUT[2]}x3, batch {args.batch}, "
        f"2 threads; {args.rounds} round-robin rounds x {args.per_round} forwards per tool"
    )
    print(f"float32 GEMM peak (numpy 2048x2048, 2 threads): {peak:.0f} GFLOP/s")
    medians = {tool: float(np.median(samples)) for tool, samples in times.items()}
    for tool, median in medians.items():
        print(
            f"  {tool:22s} median {median * 1e3:6.1f} ms (min {min(times[tool]) * 1e3:6.1f}, "
            f"CPU {np.median(cpu[tool]) * 1e3:6.1f} ms)  {flop / median:6.1f} GFLOP/s "
            f"({100 * flop / median / peak:4.1f}% of peak)"
        )
    ours = medians["coreml-updatable"]
    print(
        f"  ratio coreml-updatable / PyTorch channels-last: "
        f"{ours / medians['PyTorch channels-last']:.2f}"
    )
    print(f"  ratio coreml-updatable / ONNX Runtime: {ours / medians['ONNX Runtime']:.2f}")
    for tool in TOOLS[1:]:
        expected = outputs[tool]
        error = np.max(np.abs(outputs["coreml-updatable"] - expected)) / np.max(np.abs(expected))
        agree = np.mean(outputs["coreml-updatable"].argmax(1) == expected.argmax(1))
        print(
            f"  agreement with {tool}: max relative error {error:.2e}, top-1 agreement "
            f"{100 * agree:.0f}%"
        )


if __name__ == "__main__":
    raise SystemExit(main())
