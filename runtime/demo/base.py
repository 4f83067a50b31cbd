"""Runtime, demo layer: the demo's base model: a small convolutional digit classifier for 0..6,
trained on device terms by this toolkit's own runtime.

Architecture (the shape of Apple's updatable-MNIST example, smaller)::

    image 28x28 grayscale, scaled by 1/255
    conv1 8@3x3 valid -> ReLU -> max pool 2x2      (26x26x8 -> 13x13x8)
    conv2 16@3x3 valid -> ReLU -> max pool 2x2     (11x11x16 -> 5x5x16)
    flatten -> dense1 400->64 -> ReLU `embedding`  (the penultimate layer, used by the kNN)
    dense2 64->7 `logits` -> softmax `labelProbabilities`; predicted feature `label`

The spec is written directly with the Core ML protobuf classes (importing coremltools'
builder takes seconds, too long for a demo's start); a test checks it against the same
network built with coremltools' ``NeuralNetworkBuilder``. Training marks *every* layer
updatable (cross-entropy, Adam) and runs an ``UpdateTask`` over the base training digits;
the shipped classifier is then stripped back to a plain, non-updatable model, as an app's
starting point would be.
"""

from __future__ import annotations

import numpy as np

from updatable import proto

LABELS = tuple(str(digit) for digit in range(7))
IMAGE, LABEL, PROBABILITIES = "image", "label", "labelProbabilities"
EMBEDDING, HEAD = "embedding", "dense2"
TRAINABLE = ("conv1", "conv2", "dense1", "dense2")
# (name, kernel channels, output channels); weights He-initialised for ReLU
CONVOLUTIONS = (("conv1", 1, 8), ("conv2", 8, 16))
FLAT, HIDDEN = 16 * 5 * 5, 64
# changes whenever the architecture or the training recipe does: a cached base model with
# another recipe is retrained
RECIPE_KEY = "coreml-updatable.demo-base"
ARCHITECTURE = "conv8-conv16-dense64-v1"


def _conv(nn, name: str, cin: int, cout: int, source: str, target: str, rng) -> None:
    layer = nn.layers.add(name=name, input=[source], output=[target])
    conv = layer.convolution
    conv.outputChannels, conv.kernelChannels, conv.nGroups = cout, cin, 1
    conv.kernelSize.extend([3, 3])
    conv.stride.extend([1, 1])
    conv.dilationFactor.extend([1, 1])
    conv.valid.paddingAmounts.borderAmounts.add()
    conv.valid.paddingAmounts.borderAmounts.add()
    conv.hasBias = True
    # Core ML stores convolution weights as [Cout, Cin, kH, kW]
    weights = rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (9 * cin))
    conv.weights.floatValue.extend(weights.astype(np.float32).ravel().tolist())
    conv.bias.floatValue.extend([0.0] * cout)


def _dense(nn, name: str, cin: int, cout: int, source: str, target: str, scale: float, rng) -> None:
    layer = nn.layers.add(name=name, input=[source], output=[target])
    dense = layer.innerProduct
    dense.inputChannels, dense.outputChannels, dense.hasBias = cin, cout, True
    weights = rng.standard_normal((cout, cin)) * np.sqrt(scale / cin)  # [out, in]
    dense.weights.floatValue.extend(weights.astype(np.float32).ravel().tolist())
    dense.bias.floatValue.extend([0.0] * cout)


def _relu(nn, name: str, source: str, target: str) -> None:
    nn.layers.add(name=name, input=[source], output=[target]).activation.ReLU.SetInParent()


def _max_pool(nn, name: str, source: str, target: str) -> None:
    pool = nn.layers.add(name=name, input=[source], output=[target]).pooling
    pool.type = pool.MAX
    pool.kernelSize.extend([2, 2])
    pool.stride.extend([2, 2])
    pool.valid.paddingAmounts.borderAmounts.add()
    pool.valid.paddingAmounts.borderAmounts.add()


def build_base(seed: int = 0) -> proto.Model:
    """The untrained base classifier (see the module docstring), weights drawn from
    ``numpy.random.default_rng(seed)`` in layer order."""
    rng = np.random.default_rng(seed)
    spec = proto.Model(specificationVersion=1)
    description = spec.description
    image = description.input.add(name=IMAGE).type.imageType
    image.width = image.height = 28
    image.colorSpace = proto.ImageFeatureType.GRAYSCALE
    description.input[0].shortDescription = "28x28 grayscale digit, white strokes on black"
    description.output.add(name=PROBABILITIES).type.dictionaryType.stringKeyType.SetInParent()
    description.output.add(name=LABEL).type.stringType.SetInParent()
    description.predictedFeatureName = LABEL
    description.predictedProbabilitiesName = PROBABILITIES

    nn = spec.neuralNetworkClassifier
    nn.stringClassLabels.vector.extend(LABELS)
    nn.labelProbabilityLayerName = PROBABILITIES
    scaler = nn.preprocessing.add(featureName=IMAGE).scaler
    scaler.channelScale = 1.0 / 255.0
    blob = IMAGE
    for index, (name, cin, cout) in enumerate(CONVOLUTIONS, start=1):
        _conv(nn, name, cin, cout, blob, f"c{index}", rng)
        _relu(nn, f"relu{index}", f"c{index}", f"c{index}r")
        _max_pool(nn, f"pool{index}", f"c{index}r", f"p{index}")
        blob = f"p{index}"
    nn.layers.add(name="flatten", input=[blob], output=["flat"]).flatten.SetInParent()
    _dense(nn, "dense1", FLAT, HIDDEN, "flat", "d1", 2.0, rng)
    _relu(nn, "relu3", "d1", EMBEDDING)
    _dense(nn, HEAD, HIDDEN, len(LABELS), EMBEDDING, "logits", 1.0, rng)
    nn.layers.add(name="softmax", input=["logits"], output=[PROBABILITIES]).softmax.SetInParent()
    return spec


def strip_training(spec: proto.Model) -> proto.Model:
    """A copy of ``spec`` as a plain classifier: no updatable layers or weights, no
    ``updateParams`` and no training inputs."""
    plain = proto.Model()
    plain.CopyFrom(spec)
    nn = plain.neuralNetworkClassifier
    for layer in nn.layers:
        layer.isUpdatable = False
        kind = layer.WhichOneof("layer")
        if kind in ("convolution", "innerProduct"):
            params = getattr(layer, kind)
            params.weights.isUpdatable = False
            params.bias.isUpdatable = False
    nn.ClearField("updateParams")
    plain.isUpdatable = False
    plain.description.ClearField("trainingInput")
    return plain


def recipe(source: str, epochs: int, train_count: int, seed: int) -> str:
    """The identity of a trained base model: architecture, data and training settings."""
    return f"{ARCHITECTURE}; {source}; {train_count} examples; {epochs} epochs; seed {seed}"


def recipe_of(spec: proto.Model) -> str | None:
    """The recipe stored in a base model's metadata, if it has one."""
    return spec.description.metadata.userDefined.get(RECIPE_KEY)


def describe(spec: proto.Model, recipe_text: str, accuracy: float) -> None:
    """Write the model's metadata: what it is, its recipe and its validation accuracy."""
    metadata = spec.description.metadata
    metadata.shortDescription = (
        f"Digit classifier for 0..6 (validation accuracy {accuracy:.1%}), trained with "
        "coreml-updatable's UpdateTask on the CPU"
    )
    metadata.author = "coreml-updatable demo"
    metadata.userDefined[RECIPE_KEY] = recipe_text


def make_trainable(spec: proto.Model, epochs: int, seed: int) -> proto.Model:
    """Mark every convolution and innerProduct updatable, with cross-entropy on the softmax
    and Adam (lr 0.003, batch 32); each value an app could change has a plausible range."""
    import updatable
    from updatable import DoubleParam, IntParam

    updatable.make_updatable(spec, TRAINABLE)
    updatable.set_loss(spec, "cross_entropy")
    updatable.set_optimizer(
        spec,
        "adam",
        learning_rate=DoubleParam(0.003, range=(1e-5, 0.1)),
        mini_batch_size=IntParam(32, range=(1, 256)),
        beta1=DoubleParam(0.9, range=(0.0, 0.999)),
        beta2=DoubleParam(0.999, range=(0.0, 0.9999)),
        eps=DoubleParam(1e-8, range=(1e-10, 1e-4)),
    )
    updatable.set_epochs(spec, IntParam(epochs, range=(1, 100)))
    updatable.set_shuffle(spec, True, seed=seed)
    return spec


def train_base(
    images,
    labels,
    validation_images,
    validation_labels,
    *,
    epochs: int,
    source: str,
    seed: int,
    emit,
) -> tuple[proto.Model, object, float]:
    """Train the base classifier with an ``UpdateTask`` over every layer.

    Returns the plain (stripped) trained classifier, the
    :class:`~runtime.demo.flows.UpdateOutcome` (losses per epoch and mini-batch) and its
    accuracy on the validation digits, measured after every epoch from ``context.model``.
    """
    from runtime.demo.flows import image_provider, run_update
    from runtime.tools.evaluation import evaluate

    validation_examples = [{IMAGE: image} for image in validation_images]
    validation_truth = [str(label) for label in validation_labels]

    def accuracy(model) -> float:
        return evaluate(model, validation_examples, validation_truth).accuracy

    spec = make_trainable(build_base(seed), epochs, seed)
    outcome = run_update(spec, image_provider(images, labels), "base", emit, accuracy)
    final = outcome.validation_accuracy[-1]
    trained = strip_training(outcome.spec)
    describe(trained, recipe(source, epochs, len(labels), seed), final)
    return trained, outcome, final
