"""The Real-IISR recipes. Numbers follow the reference implementation (../shared/research/official-code.md)."""
from __future__ import annotations

from realiisr.core.recipes import Recipe, register_recipe
from realiisr.scales import REFERENCE_PATCH_NUMS

PATCH_NUMS_512 = list(REFERENCE_PATCH_NUMS)

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

# A CPU-trainable configuration: 128² crops, an 8×8 last token map, the reference's structure at small size.
PATCH_NUMS_128 = [1, 2, 3, 4, 6, 8]
REAL_IISR_X4_TINY = REAL_IISR_X4.replace(
    name="real_iisr_x4_tiny",
    description="Real-IISR at CPU-trainable size: 128² output, VAR d4 width 128, vocab 512, conv stems (16..128)",
    **{
        "tokenizer.ch": 32,
        "tokenizer.patch_nums": PATCH_NUMS_128,
        "codebook.vocab_size": 512,
        "codebook.context_dim": 128,
        "guidance.width": 128,
        "guidance.stem_widths": [16, 32, 64, 128, 128],
        "guidance.num_heads": 2,
        "generator.depth": 4,
        "generator.width": 128,
        "generator.num_heads": 2,
        "generator.drop_path_rate": 0.0,
        "generator.patch_nums": PATCH_NUMS_128,
        "generator.context_maps": [8, 8],
        "generator.vocab_size": 512,
        "meta": {"paper": "arXiv:2603.04745", "trainable_parameters": 3165569, "frozen_tokenizer_parameters": 4498179},
    },
)

# The base of the shipped real_iisr_x4_flir (below): the tiny model with the departures meant to lift a small,
# briefly trained model over bicubic — an 8× tokenizer (16×16 last token map; at equal training its
# reconstruction was ~2 dB better than 16×), tokens that code the detail over the LR (output_base="lr", a
# zero-initialised output so it starts as bicubic), the soft pixel-loss path, posterior-mean decoding and no AdaIN
# fix (the output is anchored to the LR already). Its decoder sees no LR by default; trained on two real pairs,
# an LR-conditioned one (tokenizer.lr_condition="unshuffle") learnt to ignore its tokens, but trained on ~1,300
# real frames degraded by the flir_iisr preset it uses them (aligned PSNR on the sample pairs' crops after 1,500
# steps: 36.3 dB with the tokens, 32.8 dB with a zero latent, bicubic 32.7), which the shipped chain builds on.
PATCH_NUMS_128_X8 = [1, 2, 3, 4, 6, 8, 11, 16]
REAL_IISR_X4_TINY_DETAIL = REAL_IISR_X4_TINY.replace(
    name="real_iisr_x4_tiny_detail",
    description="experimental tiny Real-IISR: 8× tokenizer coding the detail over the LR, "
    "posterior-mean decoding (options output_base/infer_decode/color_fix)",
    **{
        "tokenizer.ch_mult": [1, 2, 2, 4],
        "tokenizer.patch_nums": PATCH_NUMS_128_X8,
        "tokenizer.zero_init_output": True,
        "guidance.stem_widths": [16, 32, 64, 128],
        "generator.patch_nums": PATCH_NUMS_128_X8,
        "generator.context_maps": [16, 16],
        "options": {"output_base": "lr", "pixel_loss_path": "soft", "infer_decode": "soft", "color_fix": "none"},
        "meta": {"paper": "arXiv:2603.04745", "trainable_parameters": 2329473, "frozen_tokenizer_parameters": 4386563},
    },
)

register_recipe(REAL_IISR_X4_DINOV3, _builtin=True)
register_recipe(REAL_IISR_X4_TINY, _builtin=True)
register_recipe(REAL_IISR_X4_TINY_DETAIL, _builtin=True)

# The shipped weights (model card: realiisr/weights/real_iisr_x4_flir.md; reproduced by
# scripts/train_shipped_cpu.sh). tiny_detail with the LR at every decoder level and without the decoder's
# full-resolution level (its last kept level predicts 2×2 sub-pixels: 0.77× the time; distilled from the full
# decoder, which it matches on the sweep and the sample pairs); the loss weights are those of its joint training
# stage (the decoder tuned on the generator's soft prediction: ce 0.1, mse 250, toc 25).
REAL_IISR_X4_FLIR = REAL_IISR_X4_TINY_DETAIL.replace(
    name="real_iisr_x4_flir",
    description="shipped weights: real_iisr_x4_tiny_detail with the LR fed to every decoder level, trained on "
    "1,253 real thermal frames degraded like FLIR-IISR's real LR (flir_iisr preset)",
    **{
        "tokenizer.lr_condition": "pyramid",
        "tokenizer.decoder_shuffle_levels": 1,
        "loss_weights": {"ce": 0.1, "mse": 250.0, "toc": 25.0},
        # classifier-free guidance off by default: on the sweep and the sample pairs it changed no score by
        # 0.01 dB (cfg 1 vs 0), and skipping its negative half halves the generator's work
        "options": {**REAL_IISR_X4_TINY_DETAIL.options, "cfg": 0.0},
        "weights": {
            "file": "real_iisr_x4_flir.safetensors",
            "sha256": "db010aef9ce41c56e9233af837f861ac06256399c13273683ab56345aedc1d9a",
            "description": "model card: realiisr/weights/real_iisr_x4_flir.md",
        },
        "meta": {
            "paper": "arXiv:2603.04745",
            "model_card": "realiisr/weights/real_iisr_x4_flir.md",
            # real FLIR-IISR sample pairs used for validation only, never as training data
            "training_holdout": ["000009_0", "000191_1", "000822_0", "001135_1"],
        },
    },
)
register_recipe(REAL_IISR_X4_FLIR, _builtin=True)

# The window model of `realiisr upscale CLIP --temporal 2` (model card: realiisr/weights/real_iisr_x4_flir_temporal.md;
# reproduced by scripts/train_temporal_cpu.sh): the shipped weights fine-tuned for 1,000 + 800 + 800 steps on window
# guides (realiisr.inference.window: five moving looks at each HR crop, each degraded on its own, fused onto the
# centre look; in the last stage back-projected onto every look in 3 passes, `window_back_projection`, which is what
# clips give it). The single-frame architecture of those weights: the full decoder (the single-frame model's was
# distilled into the lighter one afterwards); `window_of` names the single-frame recipe whose clips it takes.
REAL_IISR_X4_FLIR_TEMPORAL = REAL_IISR_X4_FLIR.replace(
    name="real_iisr_x4_flir_temporal",
    description="window model of real_iisr_x4_flir for clips (`upscale --temporal N`): reads each frame's "
    "neighbours fused along the motion and back-projected; fine-tuned on synthetic moving windows "
    "(flir_iisr_camera, then flir_iisr)",
    **{
        "tokenizer.decoder_shuffle_levels": 0,
        "weights": {
            "file": "real_iisr_x4_flir_temporal.safetensors",
            "sha256": "13d58a221f821ca653a86c8b7218a83169e5e74fdd7bc2ac80138bdd8182d31d",
            "description": "model card: realiisr/weights/real_iisr_x4_flir_temporal.md",
        },
        "meta": {
            "paper": "arXiv:2603.04745",
            "model_card": "realiisr/weights/real_iisr_x4_flir_temporal.md",
            "training_holdout": ["000009_0", "000191_1", "000822_0", "001135_1"],
            "window_of": "real_iisr_x4_flir",
            "temporal_radius": 2,
            "window_back_projection": 3,
        },
    },
)
register_recipe(REAL_IISR_X4_FLIR_TEMPORAL, _builtin=True)
