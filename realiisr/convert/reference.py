"""Importing the reference implementation's checkpoints (Real-IISR, VARSR, VQ-VAE layouts).

Every key is mapped by rule; the only keys dropped are ones whose content is derivable or duplicated, and
each is checked before it is dropped: the ``vq.*`` aliases (equal to ``vae.quantize.*``), the mask and
level buffers ``attn_bias_for_masking`` / ``lvl_1L`` (rebuilt from the configuration), the constant
``zero_k_bias`` and the VQ-VAE training statistic ``ema_vocab_hit_SV``. Anything else that does not fit
raises :class:`~realiisr.core.weights.WeightsError` naming the keys. Files are read with
``torch.load(weights_only=True)``: no pickled code runs.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
from torch import Tensor

from realiisr.core.recipes import Recipe
from realiisr.core.weights import WeightsError, fit_problems, load_into, sha256_of
from realiisr.scales import REFERENCE_PATCH_NUMS

__all__ = [
    "reference_recipe",
    "convert_reference_state_dict",
    "read_reference_checkpoint",
    "load_reference",
    "convert_checkpoint",
]

_PREFIXES = [  # (reference prefix, our prefix), first match wins
    ("vae.quantize.quant_resi.qresi_ls.", "tokenizer.phis."),
    ("vae.quantize.embedding.", "codebook.embedding."),
    ("vae.quantize.lora_gate", "codebook.gate"),
    ("vae.quantize.U", "codebook.U"),
    ("vae.quantize.V", "codebook.V"),
    ("vae.", "tokenizer."),
    ("cb_cond.", "codebook.cond_mlp."),
    ("con_embedding.", "guidance.lr_encoder."),
    ("heatmap_embedding.", "guidance.heat_encoder."),
    ("edge_embedding.", "guidance.edge_encoder."),
    ("fusion_block.local_att.", "guidance.fusion.local_branch."),
    ("fusion_block.global_att.", "guidance.fusion.global_branch."),
    ("cross_attention.", "guidance.cross_attention."),
    ("", "generator."),
]
_OFFICIAL_STEMS = [32, 128, 256, 512, 1536]


def reference_recipe(config: Mapping[str, Any], name: str = "reference_import") -> Recipe:
    """The recipe equal to a reference model built with these constructor arguments.

    ``config`` may be a golden sidecar's ``config`` section (``build_var_kwargs``, ``stems``, …) or a flat
    mapping of ``build_var`` arguments (``patch_nums``, ``V``, ``Cvae``, ``ch``, ``depth``, …).
    """
    kwargs = dict(config.get("build_var_kwargs", config))
    depth = int(kwargs.get("depth", 24))
    width = int(kwargs.get("embed_dim", 64 * depth))
    heads = int(kwargs.get("num_heads", depth))
    patch_nums = [int(p) for p in kwargs.get("patch_nums", REFERENCE_PATCH_NUMS)]
    vocab, cvae = int(kwargs.get("V", 4096)), int(kwargs.get("Cvae", 32))
    stems = list(config.get("stems", {}).get("con_embedding", {}).get("block_out_channels", _OFFICIAL_STEMS))
    rank = int(config.get("VectorQuantizer", {}).get("lora_rank", 8))
    aff = config.get("AFF", {})
    side = patch_nums[-1]
    return Recipe.from_dict(
        {
            "name": name,
            "scale": 4,
            "tokenizer": {"type": "multiscale_vqvae", "kwargs": {
                "z_channels": cvae, "ch": int(kwargs.get("ch", 160)), "ch_mult": [1, 1, 2, 2, 4],
                "num_res_blocks_encoder": 2, "num_res_blocks_decoder": 3, "quant_conv_ks": 3, "quant_resi": 0.5,
                "share_quant_resi": int(kwargs.get("share_quant_resi", 4)), "patch_nums": patch_nums}},
            "codebook": {"type": "cac", "kwargs": {"vocab_size": vocab, "dim": cvae, "rank": rank,
                                                   "context_dim": width, "hidden": 4 * rank}},
            "guidance": {"type": "tsg", "kwargs": {"width": width, "encoder": "conv", "stem_widths": stems,
                                                   "alpha": 3.0, "fusion_reduction": int(aff.get("r", 4)),
                                                   "num_heads": heads}},
            "generator": {"type": "var", "kwargs": {
                "depth": depth, "width": width, "num_heads": heads, "mlp_ratio": float(kwargs.get("mlp_ratio", 4.0)),
                "drop_path_rate": 0.1 * depth / 24, "patch_nums": patch_nums, "context_maps": [side, side],
                "vocab_size": vocab, "z_channels": cvae, "num_classes": int(kwargs.get("num_classes", 2)),
                "attn_l2_norm": bool(kwargs.get("attn_l2_norm", True)), "rope_grid": 32}},
            "losses": {"mse": {"type": "mse"}, "toc": {"type": "toc", "kwargs": {"patch_size": 8, "threshold": 0.1}}},
            "loss_weights": {"ce": 1.0, "mse": 0.2, "toc": 0.8},
            "meta": {"imported_from": "reference implementation (JZD151/Real-IISR)"},
        }
    )


def _map_key(key: str) -> str:
    for src, dst in _PREFIXES:
        if key.startswith(src):
            mapped = dst + key[len(src):]
            return mapped.replace(".attn.scale_mul_1H11", ".attn.scale_mul")
    raise AssertionError("unreachable: the empty prefix matches every key")


def convert_reference_state_dict(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Reference ``Real_IISR`` (or ``VQVAE`` with a ``vae.`` prefix) state dict → ``RealIISR`` state dict."""
    out: dict[str, Tensor] = {}
    problems = []
    for key, value in state.items():
        if key.startswith("vq."):
            twin = "vae.quantize." + key[3:]
            if twin in state and not value.is_meta and not torch.equal(state[twin], value):
                problems.append(f"{key} differs from {twin}")
            continue
        if key in ("attn_bias_for_masking", "lvl_1L") or key.endswith("ema_vocab_hit_SV"):
            continue
        if key.endswith(".zero_k_bias"):
            if not value.is_meta and torch.count_nonzero(value):
                problems.append(f"{key} is not zero")
            continue
        out[_map_key(key)] = value
    if problems:
        raise WeightsError("reference checkpoint is inconsistent: " + "; ".join(problems))
    return out


def read_reference_checkpoint(path: Union[str, Path]) -> tuple[str, dict[str, Tensor]]:
    """``(layout, state_dict)`` of a reference file: ``real_iisr`` (``['trainer']['var_wo_ddp']`` with TSG keys),
    ``varsr`` (the same without TSG), ``vqvae`` (``['trainer']['vae_local']``) or a bare state dict."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint {str(path)!r} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"cannot read {str(path)!r} with torch.load(weights_only=True): {exc}") from exc
    state = blob
    if isinstance(blob, Mapping) and isinstance(blob.get("trainer"), Mapping):
        trainer = blob["trainer"]
        for key in ("var_wo_ddp", "vae_local"):
            if key in trainer:
                state = trainer[key]
                break
        else:
            raise WeightsError(f"{str(path)!r}: ['trainer'] has none of 'var_wo_ddp', 'vae_local' (keys {sorted(trainer)})")
    elif isinstance(blob, Mapping) and isinstance(blob.get("state_dict"), Mapping):
        state = blob["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(f"{str(path)!r} holds no state dict of tensors")
    if any(k.startswith("encoder.") for k in state):
        return "vqvae", {f"vae.{k}": v for k, v in state.items()}
    if any(k.startswith("heatmap_embedding.") for k in state):
        return "real_iisr", dict(state)
    return "varsr", dict(state)


def load_reference(model: torch.nn.Module, state: Mapping[str, Tensor], *, layout: str = "real_iisr") -> None:
    """Load a reference state dict into a built model: strictly for ``real_iisr``; for ``vqvae`` only the
    tokenizer and the base codebook (and they must be complete); for ``varsr`` everything but the TSG branch
    and the CAC factors, which VARSR does not have."""
    converted = convert_reference_state_dict(state)
    if layout == "real_iisr":
        load_into(model, converted, what="reference checkpoint")
        return
    own = model.state_dict()
    if layout == "vqvae":
        scope = [k for k in own if k.startswith("tokenizer.") or k == "codebook.embedding.weight"]
    elif layout == "varsr":
        tsg_only = re.compile(r"^(guidance\.(heat_encoder|edge_encoder|fusion|cross_attention)\.|codebook\.(U|V|gate|cond_mlp))")
        scope = [k for k in own if not tsg_only.match(k)]
    else:
        raise WeightsError(f"unknown reference layout {layout!r}")
    problems = fit_problems({k: own[k] for k in scope}, converted)
    if problems:
        raise WeightsError(f"{layout} checkpoint does not fit: " + "; ".join(problems))
    model.load_state_dict({k: converted[k] for k in scope}, strict=False)


def convert_checkpoint(
    path: Union[str, Path], out: Union[str, Path], config: Optional[Mapping[str, Any]] = None
) -> tuple[Recipe, Path]:
    """Reference checkpoint → ``out`` (.safetensors) plus ``out`` with ``.yaml``: the recipe that loads it.

    The key layout is checked against a model built on the meta device (no memory, seconds), so a file
    that would not load strictly is refused before anything is written.
    """
    layout, state = read_reference_checkpoint(path)
    if layout != "real_iisr":
        raise WeightsError(
            f"{str(path)!r} is a {layout} checkpoint; converting needs a complete Real-IISR checkpoint "
            "(load VQVAE/VARSR files into a built model with load_reference(..., layout=...))"
        )
    recipe = reference_recipe(config or {}, name=Path(out).stem.replace("-", "_").lower())
    converted = convert_reference_state_dict(state)
    with torch.device("meta"):
        from realiisr.core.build import build

        own = build(recipe).state_dict()
    problems = fit_problems(own, converted)
    if problems:
        raise WeightsError(f"{str(path)!r} does not fit the recipe from its configuration: " + "; ".join(problems))
    from safetensors.torch import save_file

    out = Path(out).with_suffix(".safetensors")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in converted.items()}, str(out))
    recipe = recipe.replace(**{"weights": {"file": str(out.resolve()), "sha256": sha256_of(out)}})
    recipe.to_yaml(out.with_suffix(".yaml"))
    return recipe, out


