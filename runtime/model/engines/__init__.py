"""Runtime, model layer: the engines that run each Core ML model type."""
