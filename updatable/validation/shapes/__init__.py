"""Spec side, validation layer: Core ML's shape inference of rank-5 (iOS 11/12) neural
networks (rule Y8): range arithmetic in ``ranges``, per-kind rules in ``spatial_kinds`` and
``other_kinds``, the pass and its rule in ``propagate``.
"""
