"""Runtime, ONNX layer: ``train_with_onnxruntime.py``, the script ``export-ort`` writes beside
the artifacts.

The script is for someone who has the artifacts and ONNX Runtime but not this toolkit (an
Android or server team, say): plain ``onnxruntime.training.api`` calls, Core ML's batch order
rebuilt in a few lines of Python from ``coreml_training.json``'s recipe
(docs/update-task-semantics.md §5, §6), and nothing imported from ``runtime`` or
``updatable``. Trained on the same examples, it ends with the weights an ``UpdateTask``
subscribed to ``epochEnd`` ends with (``tests/test_ort_driver.py`` checks it). Its text is
:data:`SOURCE`; :func:`write_driver` writes it atomically.
"""

from __future__ import annotations

from pathlib import Path

from runtime.ort.sidecar import DRIVER

SOURCE = '''\
#!/usr/bin/env python3
"""Train these ONNX Runtime artifacts the way Core ML's MLUpdateTask trains the model.

Written by `updatable export-ort` beside the artifacts that coreml_training.json describes.
Needs numpy and onnxruntime-training only.

    python train_with_onnxruntime.py DATA.npz [--epochs N] [--learning-rate LR]
        [--no-reshuffle] [--out CHECKPOINT]

DATA.npz holds one array per entry of coreml_training.json's "inputs" (named and shaped as
it says, the first axis one row per example) and the labels, under the name of "label" /
"training_input": class labels (or class indices) for cross-entropy, target arrays for MSE.
Mini-batches follow Core ML: its shuffle order, reshuffled after every epoch (--no-reshuffle:
as an app that does not subscribe to epochEnd), the last batch padded by wrapping around.
The trained checkpoint goes to CHECKPOINT (default: trained_checkpoint beside this script);
`updatable import-ort MODEL.mlmodel CHECKPOINT -o TRAINED.mlmodel` puts its weights into a copy.
"""

import argparse
import json
import math
import sys
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
M = 2**31 - 1  # std::minstd_rand: x = 48271 x mod M


def seeded_state(seed):
    """The engine state of std::minstd_rand(std::seed_seq{uint32(seed)}); 1 without a seed."""
    if seed is None:
        return 1
    mask, b = 0xFFFFFFFF, [0x8B8B8B8B] * 4

    def t(z):
        return z ^ (z >> 27)

    for k in range(4):
        r1 = 1664525 * t(b[k] ^ b[(k + 1) % 4] ^ b[(k - 1) % 4]) & mask
        r2 = r1 + (1 if k == 0 else 1 + (seed & mask) if k == 1 else k) & mask
        b[(k + 1) % 4] = b[(k + 1) % 4] + r1 & mask
        b[(k + 2) % 4] = b[(k + 2) % 4] + r2 & mask
        b[k] = r2
    for k in range(4, 8):
        r3 = 1566083941 * t(b[k % 4] + b[(k + 1) % 4] + b[(k - 1) % 4] & mask) & mask
        r4 = r3 - k % 4 & mask
        b[(k + 1) % 4] ^= r3
        b[(k + 2) % 4] ^= r4
        b[k % 4] = r4
    return b[3] % M or 1


def shuffle(order, state):
    """libc++'s std::shuffle driven by a minstd_rand in state; returns the new state."""
    for i in range(len(order) - 1):
        last = len(order) - 1 - i
        bits = last.bit_length()
        while True:  # uniform_int(0, last): rejection on the low bits of one draw
            state = state * 48271 % M
            u = state - 1
            if u < (M - 1) // 2**bits * 2**bits and u % 2**bits <= last:
                break
        j = u % 2**bits
        if j:
            order[i], order[i + j] = order[i + j], order[i]
    return state


def core_ml_epochs(count, batch, epochs, shuffled, seed, reshuffle):
    """Per epoch, Core ML's mini-batches of example indices."""
    order, state = list(range(count)), seeded_state(seed)
    if shuffled:
        state = shuffle(order, state)
    for _ in range(epochs):
        yield [[order[p % count] for p in range(b * batch, b * batch + batch)]
               for b in range(math.ceil(count / batch))]
        if shuffled and reshuffle:
            state = shuffle(order, state)


def training_api():
    """onnxruntime.training.api. Importing onnxruntime.training imports its amp and optim
    submodules, which import torch (seconds, or an ImportError without it) although
    on-device training never uses them: empty stand-ins take their place."""
    for name in ("onnxruntime.training.amp", "onnxruntime.training.optim"):
        sys.modules.setdefault(name, types.ModuleType(name))
    from onnxruntime.training import api

    return api


def targets(sidecar, data):
    label = sidecar["label"]
    values = data[label["training_input"]]
    if label["dtype"] != "int64":
        return values.astype(label["dtype"]).reshape(len(values), *label["shape"][1:])
    if label.get("classes"):  # a classifier's labels -> their positions in its class list
        index = {str(c): i for i, c in enumerate(label["classes"])}
        return np.array([index[str(v)] for v in values], np.int64)
    return values.astype(np.int64).reshape(-1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--no-reshuffle", action="store_true")
    parser.add_argument("--out", default=str(HERE / "trained_checkpoint"))
    args = parser.parse_args(argv)
    sidecar = json.loads((HERE / "coreml_training.json").read_text())
    recipe, files = sidecar["batching"], sidecar["files"]
    data = np.load(args.data)
    inputs = {i["name"]: np.asarray(data[i["name"]], i["dtype"]) for i in sidecar["inputs"]}
    target = targets(sidecar, data)
    lr = args.learning_rate or sidecar["values"]["learningRate"]

    api = training_api()
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: ORT warns about shapes on every load
    state = api.CheckpointState.load_checkpoint(str(HERE / files["checkpoint"]))
    module = api.Module(str(HERE / files["training_model"]), state,
                        str(HERE / files["eval_model"]), session_options=options)
    optimizer = api.Optimizer(str(HERE / files["optimizer_model"]), module)
    frozen = None
    if "frozen_model" in files:  # split layout: the frozen layers run for inference only
        frozen = onnxruntime.InferenceSession(str(HERE / files["frozen_model"]), options,
                                              providers=["CPUExecutionProvider"])
    module.train()
    epochs = core_ml_epochs(len(target), recipe["mini_batch_size"],
                            args.epochs or recipe["epochs"], recipe["shuffle"], recipe["seed"],
                            not args.no_reshuffle)
    for epoch, batches in enumerate(epochs):
        for indices in batches:
            feeds = {name: values[indices] for name, values in inputs.items()}
            if frozen is not None:
                names = [o.name for o in frozen.get_outputs()]
                feeds.update(zip(names, frozen.run(None, feeds)))
            feeds[sidecar["label"]["name"]] = target[indices]
            optimizer.set_learning_rate(lr)
            loss = module(*[feeds[name] for name in module.input_names()])[0]
            optimizer.step()
            module.lazy_reset_grad()
        # Core ML reports the epoch's last mini-batch loss
        print(f"epoch {epoch + 1}: loss {float(np.asarray(loss)):.6f}")
    api.CheckpointState.save_checkpoint(state, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
'''


def write_driver(directory: Path) -> Path:
    """Write :data:`SOURCE` as ``train_with_onnxruntime.py`` into ``directory`` (a staging
    directory that is renamed into place as a whole, so a plain write is atomic enough)."""
    path = Path(directory) / DRIVER
    path.write_text(SOURCE, encoding="utf-8")
    path.chmod(0o755)
    return path
