"""Runtime, model layer: ``runtime.Model`` and what it needs to run any model type.

``mlmodel`` (``Model``), ``configuration`` (parameter keys, ``ModelConfiguration``),
``features`` and ``images`` (user values <-> feature batches), ``linked`` (linked-model
files) and ``engines/`` (one engine per model type, registered in ``engines/__init__.py``).
"""
