"""Runtime, jobs layer: Create ML style training jobs, sessions and checkpoints.

Sessions (``train``, ``resume``), the job and its runner, snapshots and checkpoints,
progress, stopping criteria and the frozen-feature cache.
"""
