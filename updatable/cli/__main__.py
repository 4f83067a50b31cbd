"""Command line: ``python -m updatable.cli``: the same as the ``updatable`` console script."""

from __future__ import annotations

import sys

from updatable.cli import main

sys.exit(main())
