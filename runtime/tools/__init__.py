"""Runtime, tools layer: what apps and demos use around the runtime (datasets, evaluation,
plots)."""
