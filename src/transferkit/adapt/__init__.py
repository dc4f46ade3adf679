"""Adapt a pretrained body to labelled data: strategies probe, partial, full, lora and
contrastive (`transferkit.fit` is the workflow that runs them).

>>> from transferkit import fit                # doctest: +SKIP
>>> r = fit("train.csv", out="my-model")       # doctest: +SKIP
"""
