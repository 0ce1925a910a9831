"""Weight surgery: turning a trained checkpoint into the initialisation of a lighter variant of its recipe."""
from __future__ import annotations

import re

from torch import Tensor

__all__ = ["drop_finest_decoder_levels"]

_UP = re.compile(r"^(?P<pre>tokenizer\.decoder\.up\.)(?P<level>\d+)(?P<rest>\..*)$")
_SKIP = re.compile(r"^(?P<pre>tokenizer\.lr_skips\.)(?P<level>\d+)(?P<rest>\..*)$")


def drop_finest_decoder_levels(state: dict[str, Tensor], levels: int = 1) -> dict[str, Tensor]:
    """The state of a model with ``tokenizer.decoder_shuffle_levels=levels`` from one with the full decoder.

    The finest ``levels`` decoder levels and their LR skips go, the levels above move down to their indices, and
    what no longer fits is left out so that it starts fresh: the new finest level's upsampling, the output norm
    and the output convolution (which then predicts sub-pixel values; zero-initialised in recipes with
    ``zero_init_output``, so the variant starts as the LR it adds its detail to). Everything else is kept."""
    if levels < 1:
        raise ValueError(f"drop_finest_decoder_levels: levels must be >= 1, got {levels}")
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith(("tokenizer.decoder.norm_out.", "tokenizer.decoder.conv_out.")):
            continue
        match = _UP.match(key) or _SKIP.match(key)
        if match is None:
            out[key] = value
            continue
        level = int(match["level"]) - levels
        if level < 0 or (match.re is _UP and level == 0 and match["rest"].startswith(".upsample.")):
            continue
        out[f"{match['pre']}{level}{match['rest']}"] = value
    if len(out) == len(state):
        raise ValueError("drop_finest_decoder_levels: the state has no decoder levels (tokenizer.decoder.up.*)")
    return out
