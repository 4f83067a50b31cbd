"""Spec side, editing layer: model surgery on ``.mlmodel`` protobufs.

One module per kind of edit (surgery, loss, training configuration, classifier, kNN builder,
pipeline builder) over the nested-model walk of :mod:`~updatable.edit.nested`; every public
edit is importable from ``updatable``.
"""
