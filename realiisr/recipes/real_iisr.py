"""The Real-IISR recipes. Numbers follow the reference implementation (../shared/research/official-code.md)."""
from __future__ import annotations

from realiisr.core.recipes import Recipe, register_recipe

PATCH_NUMS_512 = [1, 2, 3, 4, 6, 9, 13, 18, 24, 32]

REAL_IISR_X4 = Recipe.from_dict(
    {
        "name": "real_iisr_x4",
        "scale": 4,
        "description": "Real-IISR at the reference's full size: VAR d24, TSG with conv stems, CAC rank 8, 512² output.",
        "tokenizer": {
            "type": "multiscale_vqvae",
            "kwargs": {
                "z_channels": 32,
                "ch": 160,
                "ch_mult": [1, 1, 2, 2, 4],
                "num_res_blocks_encoder": 2,
                "num_res_blocks_decoder": 3,
                "beta": 0.25,
                "quant_conv_ks": 3,
                "quant_resi": 0.5,
                "share_quant_resi": 4,
                "patch_nums": PATCH_NUMS_512,
            },
        },
        "codebook": {
            "type": "cac",
            "kwargs": {"vocab_size": 4096, "dim": 32, "rank": 8, "context_dim": 1536, "hidden": 32},
        },
        "guidance": {
            "type": "tsg",
            "kwargs": {
                "width": 1536,
                "encoder": "conv",
                "stem_widths": [32, 128, 256, 512, 1536],
                "alpha": 3.0,
                "fusion_reduction": 4,
                "num_heads": 24,
            },
        },
        "generator": {
            "type": "var",
            "kwargs": {
                "depth": 24,
                "width": 1536,
                "num_heads": 24,
                "mlp_ratio": 4.0,
                "drop_path_rate": 0.1,
                "patch_nums": PATCH_NUMS_512,
                "context_maps": [32, 32],
                "vocab_size": 4096,
                "z_channels": 32,
                "num_classes": 2,
                "attn_l2_norm": True,
                "rope_grid": 32,
            },
        },
        "losses": {"mse": {"type": "mse"}, "toc": {"type": "toc", "kwargs": {"patch_size": 8, "threshold": 0.1}}},
        "loss_weights": {"ce": 1.0, "mse": 0.2, "toc": 0.8},
        "meta": {
            "paper": "arXiv:2603.04745",
            "reference": "github.com/JZD151/Real-IISR@31524bc",
            "trainable_parameters": 1144665865,
            "frozen_tokenizer_parameters": 108948355,
        },
    }
)

register_recipe(REAL_IISR_X4, _builtin=True)

REAL_IISR_X4_DINOV3 = REAL_IISR_X4.replace(
    name="real_iisr_x4_dinov3",
    description="real_iisr_x4 with DINOv3 (timm vit_small_patch16_dinov3) encoders for the thermal and edge maps; "
    "pass guidance.encoder_options.weights=PATH for pretrained weights (no download)",
    **{
        "guidance.encoder": "dinov3",
        "guidance.encoder_options": {"model": "vit_small_patch16_dinov3", "weights": None},
        "meta": {"paper": "arXiv:2603.04745"},
    },
)

# A CPU-trainable configuration: 128² crops, the reference's components at small size, and three documented
# departures that the shipped weights need (see realiisr/weights/MODEL_CARD.md for the evidence):
#   - an 8× tokenizer (16×16 last token map) instead of 16×: at equal training its reconstruction was ~3 dB better;
#   - output_base="lr": tokens code the detail over the LR input, so the output is never capped by the
#     tokenizer's reconstruction ceiling; and tokenizer.lr_condition="unshuffle": the decoder also sees the LR
#     (a residual tokenizer without it learnt nothing over 200 steps: its loss stayed at a zero predictor's);
#   - pixel_loss_path="soft" and infer_decode="soft": the pixel losses train the transformer, and inference
#     decodes the posterior mean of each scale's code vectors;
#   - color_fix="none": the output is already anchored to the LR, and AdaIN would pull its contrast back to the
#     blurred LR's.
PATCH_NUMS_128 = [1, 2, 3, 4, 6, 8, 11, 16]
REAL_IISR_X4_TINY = REAL_IISR_X4.replace(
    name="real_iisr_x4_tiny",
    description="Real-IISR at CPU-trainable size: 128² output, 8× tokenizer, VAR d4 width 128, vocab 512, conv stems; "
    "codes the detail over the LR input and decodes the posterior mean (options output_base/infer_decode)",
    **{
        "tokenizer.ch": 32,
        "tokenizer.ch_mult": [1, 2, 2, 4],
        "tokenizer.patch_nums": PATCH_NUMS_128,
        "tokenizer.lr_condition": "unshuffle",
        "tokenizer.zero_init_output": True,
        "codebook.vocab_size": 512,
        "codebook.context_dim": 128,
        "guidance.width": 128,
        "guidance.stem_widths": [16, 32, 64, 128],
        "guidance.num_heads": 2,
        "generator.depth": 4,
        "generator.width": 128,
        "generator.num_heads": 2,
        "generator.drop_path_rate": 0.0,
        "generator.patch_nums": PATCH_NUMS_128,
        "generator.context_maps": [16, 16],
        "generator.vocab_size": 512,
        "options": {"output_base": "lr", "pixel_loss_path": "soft", "infer_decode": "soft", "color_fix": "none"},
        "meta": {"paper": "arXiv:2603.04745", "trainable_parameters": 2329473, "frozen_tokenizer_parameters": 4441891},
    },
)

register_recipe(REAL_IISR_X4_DINOV3, _builtin=True)
register_recipe(REAL_IISR_X4_TINY, _builtin=True)
