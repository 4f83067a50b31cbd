"""One small valid network per layer kind of NeuralNetwork.proto (all 158), written as protobuf.

``every_layer.network(kind)`` returns a fresh spec-4 neural network with N-d arrays
(EXACT_ARRAY_MAPPING) whose layer ``L`` is of ``kind``, with the parameters Core ML's validator
requires; its inputs are model inputs ``x0``, ``x1``... of shape [1, 1, 2, 4, 4] (rank 5, which
every kind's rank rule accepts), its outputs ``y0``, ``y1``... are model outputs of undeclared
shape. Loop and branch kinds carry a one-layer nested network; loopBreak / loopContinue sit in a
loop's body (the layer under test is then inside it: ``nested(spec)`` finds it).

The validator tests mutate these layers one parameter at a time; the fuzz test mutates them at
random.
"""

from __future__ import annotations

from updatable import proto

_NN = proto.NeuralNetwork_pb2
INPUT_SHAPE = (1, 1, 2, 4, 4)


def _floats(weights, n: int) -> None:
    weights.floatValue.extend([0.5] * n)


def _conv(p) -> None:
    p.outputChannels = p.kernelChannels = 2
    p.kernelSize.extend([1, 1])
    p.stride.extend([1, 1])
    p.valid.SetInParent()
    _floats(p.weights, 4)


def _lstm_weights(w, x: int, h: int) -> None:
    for gate in ("inputGate", "forgetGate", "blockInput", "outputGate"):
        _floats(getattr(w, f"{gate}WeightMatrix"), h * x)
        _floats(getattr(w, f"{gate}RecursionMatrix"), h * h)


def _activations(repeated, n: int) -> None:
    for _ in range(n):
        repeated.add().sigmoid.SetInParent()


def _uni_lstm(p) -> None:
    p.inputVectorSize = p.outputVectorSize = 2
    _activations(p.activations, 3)
    _lstm_weights(p.weightParams, 2, 2)


def _bi_lstm(p) -> None:
    p.inputVectorSize = p.outputVectorSize = 2
    _activations(p.activationsForwardLSTM, 3)
    _activations(p.activationsBackwardLSTM, 3)
    for _ in range(2):
        _lstm_weights(p.weightParams.add(), 2, 2)


def _gru(p) -> None:
    p.inputVectorSize = p.outputVectorSize = 2
    for gate in ("update", "reset", "output"):
        _floats(getattr(p, f"{gate}GateWeightMatrix"), 4)
        _floats(getattr(p, f"{gate}GateRecursionMatrix"), 4)


def _simple_rnn(p) -> None:
    p.inputVectorSize = p.outputVectorSize = 2
    _floats(p.weightMatrix, 4)
    _floats(p.recursionMatrix, 4)
    p.activation.tanh.SetInParent()


def _conv3d(p) -> None:
    for field in (
        "outputChannels inputChannels nGroups kernelDepth kernelHeight kernelWidth strideDepth "
        "strideHeight strideWidth dilationDepth dilationHeight dilationWidth"
    ).split():
        setattr(p, field, 1)
    p.outputChannels = p.inputChannels = 2
    _floats(p.weights, 4)


def _pooling3d(p) -> None:
    for (
        field
    ) in "kernelDepth kernelHeight kernelWidth strideDepth strideHeight strideWidth".split():
        setattr(p, field, 1)


def _nested_layer(network, name: str, source: str, target: str):
    """A ``copy`` of ``source`` into ``target`` in a nested network."""
    inner = network.layers.add(name=name, input=[source], output=[target])
    inner.copy.SetInParent()
    return inner


def _branch(p) -> None:
    _nested_layer(p.ifBranch, "L_if", "x0", "y_if")


def _loop(p) -> None:
    p.maxLoopIterations = 1
    _nested_layer(p.bodyNetwork, "L_body", "x0", "y_body")


def _set(**values):
    def setup(p) -> None:
        for field, value in values.items():
            if isinstance(value, list):
                getattr(p, field).extend(value)
            else:
                setattr(p, field, value)

    return setup


def _weights_setup(*fields_and_sizes, **values):
    def setup(p) -> None:
        _set(**values)(p)
        for field, size in fields_and_sizes:
            _floats(getattr(p, field), size)

    return setup


# kind -> (inputs, outputs, parameter setup); the setup of a parameterless kind is None
SPECIAL: dict[str, tuple[int, int, object]] = {
    "convolution": (1, 1, _conv),
    "pooling": (1, 1, lambda p: (p.valid.SetInParent(), _set(kernelSize=[1, 1])(p))),
    "activation": (1, 1, lambda p: p.ReLU.SetInParent()),
    "innerProduct": (1, 1, _weights_setup(("weights", 8), inputChannels=4, outputChannels=2)),
    "embedding": (1, 1, _weights_setup(("weights", 6), inputDim=3, outputChannels=2)),
    "batchnorm": (
        1,
        1,
        _weights_setup(("gamma", 2), ("beta", 2), ("mean", 2), ("variance", 2), channels=2),
    ),
    "lrn": (1, 1, _set(k=1.0, localSize=1)),
    "crop": (1, 1, lambda p: [p.cropAmounts.borderAmounts.add() for _ in range(2)]),
    "padding": (
        1,
        1,
        lambda p: (
            p.constant.SetInParent(),
            [p.paddingAmounts.borderAmounts.add() for _ in range(2)],
        ),
    ),
    "upsample": (1, 1, _set(scalingFactor=[2, 2])),
    "cropResize": (2, 1, None),
    "add": (2, 1, None),
    "multiply": (2, 1, None),
    "average": (2, 1, None),
    "max": (2, 1, None),
    "min": (2, 1, None),
    "dot": (2, 1, None),
    "scale": (1, 1, _weights_setup(("scale", 1), shapeScale=[1])),
    "bias": (1, 1, _weights_setup(("bias", 1), shape=[1])),
    "loadConstant": (0, 1, _weights_setup(("data", 1), shape=[1, 1, 1])),
    "reshape": (1, 1, _set(targetShape=[2, 4, 4])),
    "permute": (1, 1, _set(axis=[0, 1, 2, 3])),
    "concat": (2, 1, None),
    "split": (1, 2, _set(nOutputs=2)),
    "reorganizeData": (1, 1, _set(blockSize=2)),
    "slice": (1, 1, _set(stride=1)),
    "simpleRecurrent": (2, 2, _simple_rnn),
    "gru": (1, 2, _gru),
    "uniDirectionalLSTM": (1, 3, _uni_lstm),
    "biDirectionalLSTM": (1, 5, _bi_lstm),
    "custom": (1, 1, _set(className="MyLayer")),
    "branch": (1, 0, _branch),
    "loop": (0, 0, _loop),
    "loopBreak": (0, 0, None),
    "loopContinue": (0, 0, None),
    "rangeStatic": (0, 1, _set(endValue=3.0, stepSizeValue=1.0)),
    "clip": (1, 1, _set(minVal=0.0, maxVal=6.0)),
    "tile": (1, 1, _set(reps=[1])),
    "stack": (2, 1, None),
    "scatter": (3, 1, None),
    "scatterND": (3, 1, None),
    "scatterAlongAxis": (3, 1, None),
    "whereBroadcastable": (3, 1, None),
    "splitND": (1, 2, _set(numSplits=2)),
    "concatND": (2, 1, None),
    "transpose": (1, 1, _set(axes=[0, 1, 2, 3, 4])),
    "sliceStatic": (
        1,
        1,
        _set(beginIds=[0], endIds=[1], strides=[1], beginMasks=[True], endMasks=[True]),
    ),
    "sliceDynamic": (2, 1, None),
    "topK": (1, 2, _set(K=1)),
    "embeddingND": (1, 1, _weights_setup(("weights", 6), vocabSize=3, embeddingSize=2)),
    "batchedMatmul": (2, 1, None),
    "loadConstantND": (0, 1, _weights_setup(("data", 1), shape=[1])),
    "fillStatic": (0, 1, _set(targetShape=[1])),
    "broadcastToStatic": (1, 1, _set(targetShape=[1, 1, 2, 4, 4])),
    "squeeze": (1, 1, _set(squeezeAll=True)),
    "expandDims": (1, 1, _set(axes=[0])),
    "reshapeStatic": (1, 1, _set(targetShape=[2, 16])),
    "rankPreservingReshape": (1, 1, _set(targetShape=[1, 1, 2, 4, 4])),
    "constantPad": (1, 1, _set(padAmounts=[0, 0])),
    "randomNormalStatic": (0, 1, _set(outputShape=[1])),
    "randomUniformStatic": (0, 1, _set(outputShape=[1], maxVal=1.0)),
    "randomUniformLike": (1, 1, _set(maxVal=1.0)),
    "randomUniformDynamic": (1, 1, _set(maxVal=1.0)),
    "randomBernoulliStatic": (0, 1, _set(outputShape=[1], prob=0.5)),
    "layerNormalization": (
        1,
        1,
        _weights_setup(("gamma", 4), ("beta", 4), normalizedShape=[4], eps=1e-5),
    ),
    "NonMaximumSuppression": (2, 4, None),
    "pooling3d": (1, 1, _pooling3d),
    "convolution3d": (1, 1, _conv3d),
    "gather": (2, 1, None),
    "gatherND": (2, 1, None),
    "gatherAlongAxis": (2, 1, None),
    "reverseSeq": (2, 1, None),
    "reshapeLike": (2, 1, None),
    "reshapeDynamic": (2, 1, None),
    "broadcastToLike": (2, 1, None),
    "broadcastToDynamic": (2, 1, None),
    "sliceBySize": (2, 1, None),
    "logicalAnd": (2, 1, None),
    "logicalOr": (2, 1, None),
    "logicalXor": (2, 1, None),
}
_BROADCASTABLE = "add subtract multiply divide max min floorDiv mod pow".split()
SPECIAL.update({f"{op}Broadcastable": (2, 1, None) for op in _BROADCASTABLE})
_TENSOR_RANK = {"rankPreservingReshape"}  # kinds that must declare their ranks


def kinds() -> list[str]:
    """Every oneof name of ``NeuralNetworkLayer.layer``."""
    return [f.name for f in _NN.NeuralNetworkLayer.DESCRIPTOR.oneofs_by_name["layer"].fields]


def _array(feature, shape=()) -> None:
    feature.type.multiArrayType.dataType = proto.ArrayFeatureType.ArrayDataType.Value("FLOAT32")
    feature.type.multiArrayType.shape.extend(shape)


def _layer(kind: str, container, name: str = "L"):
    n_in, n_out, setup = SPECIAL.get(kind, (1, 1, None))
    layer = container.layers.add(name=name)
    layer.input.extend(f"x{i}" for i in range(n_in))
    layer.output.extend(f"y{i}" for i in range(n_out))
    params = getattr(layer, kind)
    params.SetInParent()
    if setup is not None:
        setup(params)
    if kind in _TENSOR_RANK:
        layer.inputTensor.add(rank=5)
        layer.outputTensor.add(rank=5)
    return layer


def network(kind: str):
    """A valid network whose layer ``L`` is of ``kind`` (see the module docstring)."""
    spec = proto.Model(specificationVersion=4)
    nn = spec.neuralNetwork
    nn.arrayInputShapeMapping = _NN.EXACT_ARRAY_MAPPING
    n_in, n_out, _ = SPECIAL.get(kind, (1, 1, None))
    for i in range(max(n_in, 1)):
        _array(spec.description.input.add(name=f"x{i}"), INPUT_SHAPE)
    if kind in ("loopBreak", "loopContinue"):
        loop = _layer("loop", nn, "outer")
        _layer(kind, loop.loop.bodyNetwork)
    else:
        _layer(kind, nn)
    produced = [f"y{i}" for i in range(n_out)] or ["y_extra"]
    if not n_out:  # a layer without outputs: the model's output is a copy of its input
        _nested_layer(nn, "out", "x0", "y_extra")
    for name in produced:
        _array(spec.description.output.add(name=name))
    return spec


def nested(spec):
    """The layer under test ``L`` (inside the loop for loopBreak / loopContinue)."""
    layers = spec.neuralNetwork.layers
    if layers[0].name == "outer":
        layers = layers[0].loop.bodyNetwork.layers
    return next(layer for layer in layers if layer.name == "L")


# --- mutations used by the validator tests ---------------------------------------------------


def set_shape(features, name: str, shape) -> None:
    """Give model input or output ``name`` the multiArray ``shape`` (adding the feature)."""
    feature = next((f for f in features if f.name == name), None)
    if feature is None:
        feature = features.add(name=name)
        _array(feature)
    del feature.type.multiArrayType.shape[:]
    feature.type.multiArrayType.shape.extend(shape)


def rewire(spec, layer, inputs=None, outputs=None) -> None:
    """Set the layer's input / output blobs; an input that is not a model input becomes one
    (rank 5), an output becomes a model output of undeclared shape."""
    description = spec.description
    if inputs is not None:
        del layer.input[:]
        layer.input.extend(inputs)
        for name in inputs:
            if name not in {f.name for f in description.input}:
                _array(description.input.add(name=name), INPUT_SHAPE)
    if outputs is not None:
        del layer.output[:]
        layer.output.extend(outputs)
        for name in outputs:
            if name not in {f.name for f in description.output}:
                _array(description.output.add(name=name))
        produced = set(outputs) | {"y_extra"}
        kept = [f for f in description.output if f.name in produced]
        if not kept:  # every model needs an output: a copy of the input
            _nested_layer(spec.neuralNetwork, "out", "x0", "y_extra")
            _array(description.output.add(name="y_extra"))
        else:
            del description.output[:]
            description.output.extend(kept)


def declare_ranks(layer, inputs=(), outputs=()) -> None:
    """``inputTensor`` / ``outputTensor`` with these ranks."""
    del layer.inputTensor[:]
    del layer.outputTensor[:]
    for rank in inputs:
        layer.inputTensor.add(rank=rank)
    for rank in outputs:
        layer.outputTensor.add(rank=rank)
