"""Shared helpers of the ONNX Runtime tests: running exported graphs and the runtime on the
same inputs, Core ML's batch order, and the independent torch training loop."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime

import runtime
from runtime.nn.tensors import ND, convert
from runtime.training.loop import batch_count, batch_indices
from runtime.training.shuffle import ShuffleOrder


def run_onnx(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, feeds)


def runtime_blob(spec, feeds: dict, blob: str) -> np.ndarray:
    """The runtime's value of ``blob`` as the export holds it: ``(N, C, H, W)``, its tensor's
    last three axes (a tensor of rank below 3 right-aligned, the export's rank-5 view)."""
    engine = runtime.Model.load(spec).engine
    values = engine.network.run(engine.to_blobs(feeds), outputs=[blob])[blob]
    tensor = engine.network.tensors[blob]
    values = convert(values, tensor, ND)  # (N, *Core ML shape)
    return values.reshape(len(values), *(1, 1, 1, *tensor.shape)[-3:])


def assert_close(actual, expected, what: str, rtol: float = 1e-5) -> None:
    """Elementwise, relative to the largest magnitude of the expected tensor."""
    expected = np.asarray(expected, np.float64)
    scale = max(float(np.abs(expected).max()), 1e-12)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def assert_relative(actual, expected, what: str, tolerance: float = 1e-5) -> None:
    """max |actual - expected| <= tolerance * max |expected| (relative to the tensor)."""
    expected = np.asarray(expected, np.float64)
    error = float(np.abs(np.asarray(actual, np.float64) - expected).max())
    scale = float(np.abs(expected).max())
    assert error <= tolerance * scale, f"{what}: max error {error:.3g} vs scale {scale:.3g}"


def core_ml_batches(count: int, batch: int, epochs: int, seed: int = 42) -> list[list[int]]:
    """Mini-batch index lists in Core ML's order (shuffled, padded last batch)."""
    order, batches = ShuffleOrder(count, seed, True), []
    for _ in range(epochs):
        batches += [
            batch_indices(order.order, b, batch, False) for b in range(batch_count(count, batch))
        ]
        order.reshuffle()
    return batches


def torch_training(
    spec,
    trainable,
    feeds,
    target,
    batches,
    *,
    optimizer,
    lr,
    loss_blob,
    mse=False,
    betas=(0.9, 0.999),
    eps=1e-8,
):
    """The independent reference: the same network in torch float64, torch.optim updates."""
    import torch
    import torch.nn.functional as F

    from tests.torch_coreml import TorchNetwork

    net = TorchNetwork(spec, trainable=trainable)
    params = [t for (layer, _), t in net.params.items() if layer in trainable]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, betas=betas, eps=eps)
    else:
        opt = torch.optim.SGD(params, lr=lr)
    losses = []
    for indices in batches:
        blobs = net.forward({k: v[indices] for k, v in feeds.items()})
        output = blobs[loss_blob].reshape(len(indices), -1)
        if mse:
            loss = F.mse_loss(output, torch.as_tensor(target[indices], dtype=torch.float64))
        else:
            loss = F.cross_entropy(output, torch.as_tensor(target[indices]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    weights = {}
    for (layer, field), tensor in net.params.items():
        if layer in trainable:
            weights.setdefault(layer, {})[field] = tensor.detach().numpy()
    return losses, weights


def ort_training(backend, feeds, target, batches, lr):
    return [backend.step({k: v[i] for k, v in feeds.items()}, target[i], lr) for i in batches]


def small_squeezenet(num_classes: int = 10, size: int = 67):
    """SqueezeNet 1.1 from scripts/architectures.py with a smaller input (shapes follow)."""
    from scripts.architectures import squeezenet_1_1

    spec = squeezenet_1_1(num_classes=num_classes)
    spec.description.input[0].type.multiArrayType.shape[1:] = [size, size]
    return spec
