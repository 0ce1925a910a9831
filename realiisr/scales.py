"""The reference's scale schedule: token maps of 1² … 32² for a 512² image through a 16× tokenizer."""
from __future__ import annotations

__all__ = ["REFERENCE_PATCH_NUMS"]

#: Side of each scale's token map, coarse to fine (the reference's ``patch_nums``).
REFERENCE_PATCH_NUMS: tuple[int, ...] = (1, 2, 3, 4, 6, 9, 13, 18, 24, 32)
