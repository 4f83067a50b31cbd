"""Spec side, validation layer: Core ML's per-layer checks of neural networks (rules Y1-Y7),
one module per family of layer kinds, run by the network walk in ``walk``.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkLayerValidator.cpp``
and ``NeuralNetworkValidator.cpp``; ``registry.LAYER_RULES`` maps each oneof name of
``NeuralNetworkLayer`` to its rules; the validator's docstring lists the rule ids.
"""
