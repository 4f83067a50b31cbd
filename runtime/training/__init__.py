"""Runtime, training layer: Core ML's update tasks (``MLUpdateTask``) and what they run.

The task and its events, the neural-network and kNN updates, the training backend, the
epoch loop, optimizers, losses, backpropagation, shuffle order, batch providers and the
write-back of trained weights.
"""
