"""Importing the reference implementation's checkpoints (``realiisr convert``)."""
from realiisr.convert.reference import convert_checkpoint, load_reference, read_reference_checkpoint, reference_recipe

__all__ = ["convert_checkpoint", "load_reference", "read_reference_checkpoint", "reference_recipe"]
