"""Workflows that compose the siblings: `fit` (with ``base="auto"`` it runs select's
`rank` first) and `compare` (runs `fit` and the baselines of `evaluation`)."""
