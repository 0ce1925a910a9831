"""Experiments built from the library: the ablation table (``realiisr ablate``)."""
