"""Spec side, validation layer: Core ML's per-layer checks of neural networks (rules Y1-Y7,
and Y9 where Core ML's behaviour is undefined), one module per family of layer kinds, run in
Core ML's order by the network walk in ``walk``; ``registry.LAYER_RULES`` maps each of the
158 oneof names of ``NeuralNetworkLayer`` to its rules. The validator's docstring lists the
rule ids.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkLayerValidator.cpp``,
``NeuralNetworkValidator.cpp`` and ``NeuralNetworkValidatorUtils.hpp``, with
``ValidatorUtils-inl.hpp`` and ``QuantizationValidationUtils.cpp`` for weights.

What these sources do not say, and so is not checked here (no message is invented for it):

* **Load-time checks of the Core ML framework.** A device compiles a model before it runs
  it; that code is not published. Its shape inference of N-d networks (broadcastable shapes,
  matmul inner sizes, reshape element counts, gather indices, data types...) and its errors
  are not in the open validator; the open validator's own shape pass covers rank-5 networks
  only (Y8).
* **Layer kinds newer than the specification version.** The open validator does not compare
  a layer kind, or a parameter such as ``linearUpsampleMode``, with ``specificationVersion``:
  coremltools raises the version when it saves a model (``downgradeSpecificationVersion``
  reads which features need iOS 13, iOS 14...), and an older device refuses a model it cannot
  read when it loads it, with a message these sources do not hold. Our lint warns about it
  (X13).
* **Custom layers** are checked for a class name and well-formed weights only; whether the
  app provides the class is known on the device.

Checks ported although no model reaches them (Core ML's order makes an earlier check fire
first): a two-input convolution under the rank-5 mapping, static bias with dynamic
convolution weights, a weights input of convolution3d, the scatter layer's tensor counts and a
tensor rank below 1. Core ML's "Bias vector being ignored" (inner product) can never fire and
is left out.
"""
