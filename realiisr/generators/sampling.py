"""Token sampling: top-k, then top-p (nucleus), then a draw from an explicit ``torch.Generator``."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = ["sample_top_k_top_p"]


def sample_top_k_top_p(
    logits: Tensor, top_k: int = 0, top_p: float = 0.0, generator: Optional[torch.Generator] = None
) -> Tensor:
    """Sample one token per row of ``logits [B, l, V]`` → ``[B, l]``; the input is not modified.

    ``top_k > 0`` keeps the k largest logits; ``0 < top_p < 1`` then drops the least likely tokens whose
    cumulative probability is at most ``1 - top_p`` (the most likely token always stays). ``top_k == 1`` is
    the argmax (no randomness), as the reference's test settings use.
    """
    if top_k == 1:
        return logits.argmax(dim=-1)
    b, n, vocab = logits.shape
    logits = logits.float().clone()
    if 0 < top_k < vocab:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits.masked_fill_(logits < kth, float("-inf"))
    if 0.0 < top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=False)
        drop_sorted = sorted_logits.softmax(dim=-1).cumsum(dim=-1) <= (1 - top_p)
        drop_sorted[..., -1:] = False
        logits.masked_fill_(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))
    probs = logits.softmax(dim=-1).view(-1, vocab)
    return torch.multinomial(probs, 1, generator=generator).view(b, n)
