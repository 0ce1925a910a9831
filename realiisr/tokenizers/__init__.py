"""Builtin tokenizers (registered on import; TOKENIZERS imports this package on first lookup)."""
from realiisr.tokenizers import multiscale_vqvae  # noqa: F401
