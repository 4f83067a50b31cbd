"""The torch zoo: common PyTorch architectures converted by coremltools, as users bring them.

Each entry of :data:`ZOO` is a small model from :mod:`tests.builders.torch_archs` with a fixed
seed (batch-norm statistics and affine parameters drawn at random too, so that no layer is an
identity), its single input as the converted model declares it, its class labels (classifiers
get coremltools' ``ClassifierConfig``), a generator of realistic inputs
(:mod:`tests.builders.zoo_data`), and the layer kinds its conversion must contain.

Conversion is ``ct.convert(torch.jit.trace(model), convert_to="neuralnetwork",
minimum_deployment_target=ct.target.iOS13 | iOS14)``, the call people make. It takes ~0.3-1 s a
model, so converted specs are cached: in memory for the process, and on disk (default a
directory under the system temp dir; ``COREML_UPDATABLE_ZOO_CACHE=DIR`` moves it, ``=off``
disables it) under a key of model name, target, the torch / coremltools / numpy versions and
the source of the zoo modules, so any change converts afresh.

Usage::

    spec = torch_zoo.converted("resnet", "iOS14")        # a fresh Model message
    batch, labels = torch_zoo.real_batch("resnet", 8)     # realistic examples
    feeds = torch_zoo.feeds("resnet", batch[0])           # the Core ML input dict
    reference = torch_zoo.torch_predict("resnet", batch)  # torch's outputs, one row each

The torch and coremltools imports happen inside the functions, so that importing this module
(e.g. to list :data:`ZOO`) needs neither.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tests.builders import zoo_data as data
from updatable import proto

TARGETS = ("iOS13", "iOS14")
SEED = 0
CACHE_VARIABLE = "COREML_UPDATABLE_ZOO_CACHE"
# ImageNet's per-channel normalisation (x / 255 - mean) / std as Core ML preprocessing: one
# scale for all channels (std 0.226, the channels' mean std) and a bias per channel
IMAGENET_SCALE = 1 / (255 * 0.226)
IMAGENET_BIAS = (-0.485 / 0.226, -0.456 / 0.226, -0.406 / 0.226)


@dataclass(frozen=True)
class Input:
    """The converted model's input: a multiArray of ``shape`` (leading batch axis 1), or an
    image (``image`` = ``"GRAYSCALE"`` / ``"RGB"``, ``shape`` = ``(1, C, H, W)``) whose pixels
    Core ML maps to ``pixel * scale + bias`` before the network. ``dtype`` is what torch
    takes; the neuralnetwork backend declares an ``int32`` input (token ids) FLOAT32."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    image: str | None = None
    scale: float = 1.0
    bias: tuple[float, ...] = ()


@dataclass(frozen=True)
class Entry:
    """One zoo model. ``make`` builds the torch module; ``real`` makes realistic examples
    ``(count, seed) -> (batch, labels)``; ``layers`` are layer kinds every conversion holds;
    ``failures`` maps a target that coremltools cannot convert to a piece of its error."""

    name: str
    summary: str
    make: Callable
    input: Input
    labels: tuple | None
    real: Callable
    layers: frozenset[str]
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def targets(self) -> tuple[str, ...]:
        """The targets that convert."""
        return tuple(t for t in TARGETS if t not in self.failures)


def _archs():
    from tests.builders import torch_archs

    return torch_archs


def _entry(name, summary, make, input, labels, real, layers, failures=None):
    return Entry(name, summary, make, input, labels, real, frozenset(layers), failures or {})


_DIGIT_IMAGE = Input("image", (1, 1, 28, 28), image="GRAYSCALE", scale=1 / 255)
_COLOUR_IMAGE = Input(
    "image", (1, 3, 32, 32), image="RGB", scale=IMAGENET_SCALE, bias=IMAGENET_BIAS
)

ZOO: dict[str, Entry] = {
    e.name: e
    for e in (
        _entry(
            "cnn_bn",
            "conv-BN-ReLU digit classifier, BN after ReLU and in the dense head",
            lambda: _archs().BatchNormCNN(),
            Input("image", (1, 1, 28, 28)),
            data.DIGITS,
            data.digit_tensors,
            {"convolution", "batchnorm", "pooling", "softmaxND"},
        ),
        _entry(
            "cnn_bn_image",
            "cnn_bn on a 28x28 grayscale image input scaled by 1/255",
            lambda: _archs().BatchNormCNN(),
            _DIGIT_IMAGE,
            data.DIGITS,
            data.digits,
            {"convolution", "batchnorm", "softmaxND"},
        ),
        _entry(
            "resnet",
            "ResNet-style: basic blocks with residual adds, global average pool",
            lambda: _archs().ResNet(),
            Input("image", (1, 3, 32, 32)),
            data.OBJECTS,
            data.colour_digits(32),
            {"convolution", "add", "pooling", "softmaxND"},
        ),
        _entry(
            "mobilenet_v2",
            "MobileNetV2 0.25x: inverted residuals, depthwise 3x3, ReLU6, "
            "mean over H,W; RGB image input with ImageNet normalisation",
            lambda: _archs().MobileNetV2(),
            _COLOUR_IMAGE,
            data.OBJECTS,
            data.colour_digits(32, as_uint8=True),
            {"convolution", "clip", "add", "reduceMean"},
        ),
        _entry(
            "squeezenet1_1",
            "SqueezeNet 1.1 at full width: fire modules, ceil-mode pools",
            lambda: _archs().SqueezeNet11(),
            Input("image", (1, 3, 64, 64)),
            data.OBJECTS,
            data.colour_digits(64),
            {"convolution", "concat", "pooling", "softmaxND"},
        ),
        _entry(
            "vgg",
            "VGG-style: 3x3 conv stacks, max pools, flatten + dense head",
            lambda: _archs().VGGSmall(),
            Input("image", (1, 3, 32, 32)),
            data.OBJECTS,
            data.colour_digits(32),
            {"convolution", "reshapeStatic", "innerProduct"},
        ),
        _entry(
            "transformer",
            "2 post-norm encoder layers: batched-matmul attention, LayerNorm, "
            "GELU, softmax over the last axis",
            lambda: _archs().TransformerClassifier(),
            Input("frames", (1, 16, 12)),
            data.ACTIVITIES,
            data.sensor_sequences(16, 12),
            {"batchedMatmul", "softmaxND", "gelu", "mvn", "transpose", "loadConstantND"},
        ),
        _entry(
            "lstm",
            "LSTM sequence classifier on the final hidden state",
            lambda: _archs().LSTMClassifier(),
            Input("sequence", (1, 20, 6)),
            data.ACTIVITIES,
            data.sensor_sequences(20, 6),
            {"uniDirectionalLSTM", "softmaxND"},
        ),
        _entry(
            "bilstm",
            "bidirectional LSTM classifier on both final states",
            lambda: _archs().LSTMClassifier(bidirectional=True),
            Input("sequence", (1, 20, 6)),
            data.ACTIVITIES,
            data.sensor_sequences(20, 6),
            {"biDirectionalLSTM", "softmaxND"},
        ),
        _entry(
            "rnn",
            "Elman RNN (tanh) sequence classifier",
            lambda: _archs().RNNClassifier(),
            Input("sequence", (1, 20, 6)),
            data.ACTIVITIES,
            data.sensor_sequences(20, 6),
            {"simpleRecurrent", "softmaxND"},
        ),
        _entry(
            "gru_text",
            "token ids -> embedding -> GRU (converted as a loop) -> dense",
            lambda: _archs().GRUTextClassifier(),
            Input("tokens", (1, 12), dtype="int32"),
            data.SENTIMENTS,
            data.sentences(12),
            {"embeddingND", "loop", "softmaxND"},
        ),
        _entry(
            "unet",
            "two-level UNet: transposed-conv and nearest upsampling, skip concats",
            lambda: _archs().UNet(),
            Input("image", (1, 1, 32, 32)),
            None,
            data.padded_digits(32),
            {"convolution", "upsample", "concat", "softmax"},
        ),
        _entry(
            "segmentation",
            "DeepLab-style head: bilinear upsampling x4 (iOS 14 only)",
            lambda: _archs().SegmentationHead(),
            Input("image", (1, 1, 32, 32)),
            None,
            data.padded_digits(32),
            {"convolution", "upsample"},
            {"iOS13": "Upsample operation with Align Corners mode"},
        ),
        _entry(
            "audio_cnn1d",
            "raw-waveform 1-D conv keyword classifier, global average pool",
            lambda: _archs().AudioCNN1d(),
            Input("waveform", (1, 1, 1600)),
            data.KEYWORDS,
            data.waveforms(1600),
            {"convolution", "expandDims", "squeeze", "reduceMean"},
        ),
        _entry(
            "tabular_mlp",
            "dense-ReLU MLP on the 13 wine features, integer class labels",
            lambda: _archs().TabularMLP(),
            Input("features", (1, 13)),
            (0, 1, 2),
            data.wine_table,
            {"innerProduct", "activation", "softmaxND"},
        ),
        _entry(
            "embedding_net",
            "conv feature extractor with an L2-normalised 16-d output",
            lambda: _archs().EmbeddingNet(),
            Input("image", (1, 1, 28, 28)),
            None,
            data.digit_tensors,
            {"convolution", "reduceL2", "divideBroadcastable"},
        ),
    )
}


def entry(name: str) -> Entry:
    """The zoo entry ``name`` (KeyError lists the names)."""
    try:
        return ZOO[name]
    except KeyError:
        raise KeyError(f"no zoo model {name!r}; the zoo has {sorted(ZOO)}") from None


@functools.cache
def _torch_model(name: str):
    import torch

    torch.manual_seed(SEED)
    module = entry(name).make()
    generator = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for sub in module.modules():  # trained-looking statistics: no identity normalisation
            if isinstance(sub, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                n = sub.num_features
                sub.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
                sub.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            if isinstance(sub, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.LayerNorm)):
                sub.weight.copy_(0.5 + torch.rand(sub.weight.shape, generator=generator))
                sub.bias.copy_(0.2 * torch.randn(sub.bias.shape, generator=generator))
    return module.eval()


def torch_model(name: str):
    """The torch module of ``name`` in eval mode, seeded (one instance per process)."""
    return _torch_model(name)


def real_batch(name: str, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` realistic examples of ``name``'s input and the classes they were made from."""
    return entry(name).real(count, seed)


def random_batch(name: str, count: int, seed: int = 0) -> np.ndarray:
    """``count`` random examples in the input's range and dtype (like :func:`real_batch`)."""
    spec, rng = entry(name).input, np.random.default_rng(seed)
    if spec.image:
        channels, height, width = spec.shape[1:]
        shape = (count, height, width) + ((3,) if channels == 3 else ())
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if spec.dtype == "int32":
        vocabulary = torch_model(name).embed.num_embeddings
        return rng.integers(0, vocabulary, (count, *spec.shape[1:]), dtype=np.int32)
    return rng.standard_normal((count, *spec.shape[1:])).astype(np.float32)


def feeds(name: str, example: np.ndarray) -> dict[str, np.ndarray]:
    """One example as the converted model's input dict: the multiArray with its leading batch
    axis of 1 (float32, as declared, token ids included), or the image's pixel array."""
    spec = entry(name).input
    if spec.image:
        return {spec.name: example}
    return {spec.name: example.reshape(spec.shape).astype(np.float32)}


def _torch_input(spec: Input, example: np.ndarray):
    import torch

    if spec.dtype == "int32":
        return torch.as_tensor(example.reshape(spec.shape), dtype=torch.int64)
    x = np.asarray(example, dtype=np.float32)
    if spec.image:  # Core ML preprocessing: pixel * scale + bias, per channel
        x = x.reshape(spec.shape[2], spec.shape[3], -1).transpose(2, 0, 1) * spec.scale
        x = x + np.asarray(spec.bias or (0.0,), np.float32)[:, None, None]
    return torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32).reshape(spec.shape))


def torch_predict(name: str, batch: np.ndarray) -> np.ndarray:
    """torch's output for each example of ``batch`` (float32, one row per example); the
    examples run one at a time, as the model was traced with a batch of 1."""
    import torch

    model, spec = torch_model(name), entry(name).input
    with torch.no_grad():
        rows = [model(_torch_input(spec, example))[0].numpy() for example in batch]
    return np.stack(rows).astype(np.float32)


@contextlib.contextmanager
def _quiet():
    """coremltools reports progress bars on stderr and logs warnings about its native library,
    untested torch versions and renamed outputs; torch warns about tracing."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stderr(io.StringIO()),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def _coreml_input(ct, spec: Input):
    if spec.image:
        layout = getattr(ct.colorlayout, spec.image)
        bias = list(spec.bias) if len(spec.bias) > 1 else (spec.bias or (0.0,))[0]
        return ct.ImageType(
            name=spec.name, shape=spec.shape, scale=spec.scale, bias=bias, color_layout=layout
        )
    return ct.TensorType(name=spec.name, shape=spec.shape, dtype=np.dtype(spec.dtype).type)


def convert_now(name: str, target: str):
    """Trace and convert ``name`` for ``target`` (no cache); coremltools' ``MLModel``."""
    import torch

    with _quiet():
        import coremltools as ct

        item = entry(name)
        example = _torch_input(item.input, random_batch(name, 1)[0])
        with torch.no_grad():
            traced = torch.jit.trace(torch_model(name), example)
        extra = {}
        if item.labels is not None:
            extra["classifier_config"] = ct.ClassifierConfig(list(item.labels))
        return ct.convert(
            traced,
            convert_to="neuralnetwork",
            minimum_deployment_target=getattr(ct.target, target),
            inputs=[_coreml_input(ct, item.input)],
            **extra,
        )


def versions() -> dict[str, str]:
    """The versions a conversion depends on."""
    return {p: importlib.metadata.version(p) for p in ("torch", "coremltools", "numpy")}


@functools.cache
def _fingerprint() -> str:
    digest = hashlib.sha256(repr(sorted(versions().items())).encode())
    here = Path(__file__).parent
    for source in ("torch_archs.py", "torch_zoo.py", "zoo_data.py"):
        digest.update((here / source).read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path | None:
    """Where converted specs are kept between runs, or ``None`` when disabled."""
    setting = os.environ.get(CACHE_VARIABLE, "")
    if setting.lower() in ("0", "off", "no", "false"):
        return None
    if setting:
        return Path(setting)
    return Path(tempfile.gettempdir()) / f"coreml-updatable-zoo-{os.getuid()}"


class Conversion(NamedTuple):
    """A converted spec (serialized) and the shape of every tensor coremltools' intermediate
    program gave it, by name (most layer outputs keep their tensor's name; blobs the backend
    adds, e.g. around a rank-2 batchnorm, are absent)."""

    blob: bytes
    shapes: dict[str, list]


def _program_shapes(mlmodel) -> dict[str, list]:
    shapes: dict[str, list] = {}

    def visit(block):
        for op in block.operations:
            for var in op.outputs:
                if getattr(var, "shape", None) is not None and op.op_type != "const":
                    shapes[var.name] = [
                        int(d) if isinstance(d, (int, np.integer)) else str(d) for d in var.shape
                    ]
            for inner in getattr(op, "blocks", ()):
                visit(inner)

    function = mlmodel._mil_program.functions["main"]
    for name, var in function.inputs.items():
        shapes[name] = [int(d) if isinstance(d, (int, np.integer)) else str(d) for d in var.shape]
    visit(function)
    return shapes


def _write_atomic(path: Path, payload: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
        handle.write(payload)
    os.replace(handle.name, path)


@functools.cache
def _conversion(name: str, target: str) -> Conversion | str:
    """The conversion, or the text of coremltools' error (a failure is cached too)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {list(TARGETS)}")
    folder = cache_dir()
    path = folder / f"{name}-{target}-{_fingerprint()}.mlmodel" if folder else None
    if path is not None and path.is_file() and path.with_suffix(".json").is_file():
        return Conversion(path.read_bytes(), json.loads(path.with_suffix(".json").read_text()))
    try:
        mlmodel = convert_now(name, target)
    except Exception as error:  # coremltools raises many types; the text is the finding
        return f"{type(error).__name__}: {error}"
    result = Conversion(mlmodel.get_spec().SerializeToString(), _program_shapes(mlmodel))
    if path is not None:  # atomic: parallel test workers may write the same entry
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(path.with_suffix(".json"), json.dumps(result.shapes).encode())
        _write_atomic(path, result.blob)
        for stale in folder.glob(f"{name}-{target}-*"):  # other versions or sources
            if stale.stem != path.stem:
                stale.unlink(missing_ok=True)
    return result


def conversion_error(name: str, target: str) -> str | None:
    """coremltools' error converting ``name`` for ``target``, or ``None`` when it converts."""
    result = _conversion(entry(name).name, target)
    return result if isinstance(result, str) else None


def _result(name: str, target: str) -> Conversion:
    result = _conversion(entry(name).name, target)
    if isinstance(result, str):
        raise RuntimeError(f"coremltools cannot convert zoo model {name!r} for {target}: {result}")
    return result


def converted(name: str, target: str) -> proto.Model:
    """``name`` converted for ``target``: a fresh ``Model`` message on every call.

    Raises:
        RuntimeError: coremltools cannot convert it (the message has coremltools' error).
    """
    spec = proto.Model()
    spec.ParseFromString(_result(name, target).blob)
    return spec


def tensor_shapes(name: str, target: str) -> dict[str, list]:
    """Shapes of the converted model's tensors by blob name, as coremltools inferred them."""
    return dict(_result(name, target).shapes)
