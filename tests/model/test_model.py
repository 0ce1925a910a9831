"""The model beyond the golden numbers: full-size layout, importer errors, gradient paths, sampling."""
from __future__ import annotations

import json

import pytest
import torch

import realiisr
from realiisr.convert.reference import (
    convert_reference_state_dict,
    load_reference,
    read_reference_checkpoint,
    reference_recipe,
)
from realiisr.core.weights import WeightsError


@pytest.fixture(scope="module")
def full_size():
    with torch.device("meta"):
        return realiisr.build("real_iisr_x4")


def test_full_size_parameter_counts(full_size):
    """The numbers of ../shared/golden/real_iisr_d24_param_summary.json (the paper's 1144.6M)."""
    assert full_size.num_parameters(trainable_only=True) == 1_144_665_865
    assert full_size.num_parameters() == 1_253_614_220
    frozen = sum(p.numel() for p in full_size.parameters() if not p.requires_grad)
    assert frozen == 108_948_355


def test_derived_tables_are_not_in_checkpoints(full_size):
    keys = set(full_size.state_dict())
    assert not any("rope" in k or k.endswith(".levels") or "mask" in k for k in keys)
    assert full_size.generator.rope_cos.shape == (4288, 32)


def test_full_size_reference_layout_maps_onto_the_model(full_size, shared_dir):
    manifest = json.loads((shared_dir / "golden" / "real_iisr_d24_state_dict_manifest.json").read_text())
    fake = {k: torch.empty(shape, device="meta") for k, (shape, _dtype) in manifest.items()}
    converted = convert_reference_state_dict(fake)
    own = full_size.state_dict()
    assert set(converted) == set(own), (sorted(set(converted) - set(own))[:5], sorted(set(own) - set(converted))[:5])
    assert all(tuple(converted[k].shape) == tuple(own[k].shape) for k in own)
    dropped = set(manifest) - {k for k in manifest if not k.startswith("vq.")}
    assert len(dropped) == 13  # the vq.* aliases


def test_vqvae_layout_fills_tokenizer_and_codebook(full_size, shared_dir):
    manifest = json.loads((shared_dir / "golden" / "vqvae_manifest.json").read_text())
    fake = {f"vae.{k}": torch.empty(shape, device="meta") for k, (shape, _dtype) in manifest.items()}
    converted = convert_reference_state_dict(fake)
    scope = {k for k in full_size.state_dict() if k.startswith("tokenizer.") or k == "codebook.embedding.weight"}
    assert set(converted) == scope


@pytest.fixture(scope="module")
def tiny_reference(golden):
    config = {"build_var_kwargs": {"patch_nums": [1, 2, 3, 4, 6, 8], "V": 512, "Cvae": 32, "ch": 32, "depth": 2,
                                   "embed_dim": 128, "num_heads": 2},
              "stems": {"con_embedding": {"block_out_channels": [16, 32, 64, 128, 128]}}}
    return reference_recipe(config), golden["state_dict"]


def test_importer_reports_bad_keys_by_name(tiny_reference):
    recipe, state = tiny_reference
    model = realiisr.build(recipe)
    broken = dict(state)
    del broken["head.bias"]
    broken["blocks.0.attn.extra"] = torch.zeros(1)
    broken["word_embed.weight"] = torch.zeros(128, 16)
    with pytest.raises(WeightsError) as info:
        load_reference(model, broken)
    message = str(info.value)
    assert "missing (1): generator.head.bias" in message
    assert "unexpected (1): generator.blocks.0.attn.extra" in message
    assert "generator.word_embed.weight: file (128, 16) vs model (128, 32)" in message
    aliased = dict(state)
    aliased["vq.U"] = aliased["vq.U"] + 1
    with pytest.raises(WeightsError, match="vq.U differs from vae.quantize.U"):
        load_reference(model, aliased)


def test_checkpoint_layouts_are_detected(tiny_reference, tmp_path):
    _, state = tiny_reference
    torch.save({"trainer": {"var_wo_ddp": state}}, tmp_path / "Real-IISR.pth")
    layout, loaded = read_reference_checkpoint(tmp_path / "Real-IISR.pth")
    assert layout == "real_iisr" and set(loaded) == set(state)
    vae = {k[4:]: v for k, v in state.items() if k.startswith("vae.")}
    torch.save({"trainer": {"vae_local": vae}}, tmp_path / "VQVAE.pth")
    layout, loaded = read_reference_checkpoint(tmp_path / "VQVAE.pth")
    assert layout == "vqvae" and all(k.startswith("vae.") for k in loaded)
    torch.save({"trainer": {"optimizer": {}}}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="none of 'var_wo_ddp', 'vae_local'"):
        read_reference_checkpoint(tmp_path / "other.pth")


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    torch.save({"trainer": {"var_wo_ddp": {"x": torch.zeros(1)}}, "hook": _Pickled()}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="weights_only=True"):
        read_reference_checkpoint(tmp_path / "bad.pth")


class _Pickled:
    pass


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return realiisr.build("real_iisr_x4_tiny")


@pytest.fixture
def detail():
    torch.manual_seed(0)
    return realiisr.build("real_iisr_x4_tiny_detail", **{"tokenizer.zero_init_output": False})  # a decoder with an output


def _images(batch=2, size=128, seed=0):
    gen = torch.Generator().manual_seed(seed)
    hr = torch.rand(batch, 1, size // 8, size // 8, generator=gen)
    hr = torch.nn.functional.interpolate(hr, size=(size, size), mode="bilinear").expand(-1, 3, -1, -1) * 2 - 1
    lr = torch.nn.functional.avg_pool2d(hr, 4)
    return torch.nn.functional.interpolate(lr, size=(size, size), mode="bicubic").clamp(-1, 1), hr.contiguous()


def test_tokenizer_and_base_codebook_are_frozen(tiny):
    assert not any(p.requires_grad for p in tiny.tokenizer.parameters())
    assert not tiny.codebook.embedding.weight.requires_grad
    assert tiny.codebook.U.requires_grad and tiny.codebook.gate.requires_grad


def _pixel_grads(model, path):
    model.options["pixel_loss_path"] = path
    model.loss_weights["ce"] = 0.0
    with torch.no_grad():
        model.codebook.gate.fill_(0.5)
    lr, hr = _images()
    out = model.training_losses(lr, hr)
    out["total"].backward()
    head = model.generator.head.weight.grad
    return (0.0 if head is None else float(head.abs().sum())), float(model.codebook.U.grad.abs().sum())


def test_argmax_pixel_path_trains_only_the_codebook_condition(tiny):
    head, factors = _pixel_grads(tiny, "argmax")
    assert head == 0.0 and factors > 0


def test_soft_pixel_path_also_trains_the_transformer(tiny):
    head, factors = _pixel_grads(tiny, "soft")
    assert head > 0 and factors > 0


def test_training_step_reduces_the_loss(tiny):
    lr, hr = _images()
    params = [p for p in tiny.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=1e-3)
    first = None
    for _ in range(5):
        out = tiny.training_losses(lr, hr)
        optim.zero_grad()
        out["total"].backward()
        optim.step()
        first = first if first is not None else float(out["total"].detach())
    assert float(out["total"]) < first


@pytest.mark.parametrize("batch", [1, 3])
def test_sampling_any_batch_is_deterministic_for_a_seed(tiny, batch):
    tiny.eval()
    lr, _ = _images(batch)
    a = tiny.sample(lr, top_k=50, top_p=0.9, generator=torch.Generator().manual_seed(3), return_details=True)
    b = tiny.sample(lr, top_k=50, top_p=0.9, generator=torch.Generator().manual_seed(3), return_details=True)
    assert a["img"].shape == (batch, 3, 128, 128) and 0 <= float(a["img"].min()) and float(a["img"].max()) <= 1
    assert all(torch.equal(x, y) for x, y in zip(a["indices"], b["indices"]))
    greedy = tiny.sample(lr)
    assert torch.equal(greedy, tiny.sample(lr))


def test_bf16_autocast_inference_on_cpu(tiny):
    tiny.eval()
    lr, _ = _images(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        img = tiny.sample(lr)
    assert img.shape == (1, 3, 128, 128) and torch.isfinite(img).all()


def test_wrong_image_size_is_a_clear_error(tiny):
    with pytest.raises(ValueError, match="images must be 128x128"):
        tiny.tokenizer.tokenize(torch.zeros(1, 3, 64, 64), tiny.codebook)


def test_convert_cli_round_trip(tiny_reference, golden, tmp_path, shared_dir):
    from realiisr.cli import main

    _, state = tiny_reference
    ckpt = tmp_path / "Real-IISR.pth"
    torch.save({"trainer": {"var_wo_ddp": state}}, ckpt)
    out = tmp_path / "converted" / "tiny.safetensors"
    sidecar = shared_dir / "golden" / "official_tiny_a.json"
    assert main(["convert", str(ckpt), "-o", str(out), "--config", str(sidecar)]) == 0
    model = realiisr.build(out.with_suffix(".yaml"), pretrained=True).eval()
    inp = golden["inputs"]
    with torch.no_grad():
        img = model.sample(inp["lr"], inp["label_B"])
    torch.testing.assert_close(img, golden["infer"]["img"], atol=1e-4, rtol=0)
    assert main(["convert", str(ckpt), "-o", str(out)]) == 2  # full-size recipe: the tiny file does not fit


def test_unknown_option_value_names_the_option():
    with pytest.raises(ValueError, match="option output_base must be one of"):
        realiisr.build("real_iisr_x4_tiny", **{"options.output_base": "hr"})


def test_lr_output_base_codes_the_detail_and_adds_it_to_the_lr(detail):
    lr, hr = _images()
    assert detail.options["output_base"] == "lr"
    assert torch.allclose(detail.compose(detail.tokenizer_target(lr, hr), lr), hr, atol=1e-6)
    with torch.no_grad():  # a decoder that outputs no detail: the output is the LR input itself
        detail.tokenizer.decoder.conv_out.weight.zero_()
        detail.tokenizer.decoder.conv_out.bias.zero_()
    detail.eval()
    assert torch.allclose(detail.sample(lr), (lr + 1) / 2, atol=1e-6)
    assert torch.allclose(detail.training_losses(lr, hr)["sr"], (lr + 1) / 2, atol=1e-6)
    reference = realiisr.build("real_iisr_x4_tiny")
    assert torch.equal(reference.tokenizer_target(lr, hr), hr)


def test_soft_inference_decodes_the_posterior_mean(detail):
    detail.eval()
    lr, _ = _images(1)
    detail.options["infer_decode"] = "indices"
    by_indices = detail.sample(lr)
    detail.options["infer_decode"] = "soft"
    assert (detail.sample(lr) - by_indices).abs().max() > 0.2  # an untrained head is far from one-hot
    with torch.no_grad():  # near one-hot distributions: the mean is the argmax code
        detail.generator.head.weight.mul_(1e4)
        detail.generator.head.bias.mul_(1e4)
    detail.options["infer_decode"] = "indices"
    by_indices = detail.sample(lr)
    detail.options["infer_decode"] = "soft"
    assert torch.allclose(detail.sample(lr), by_indices, atol=0.05)  # (a near tie may still mix two codes)


def test_lr_conditioned_decoder_needs_and_uses_the_lr():
    torch.manual_seed(0)
    detail = realiisr.build("real_iisr_x4_tiny_detail",
                            **{"tokenizer.zero_init_output": False, "tokenizer.lr_condition": "unshuffle"})
    lr, hr = _images(1)
    tokens = detail.tokenizer.tokenize(detail.tokenizer_target(lr, hr), detail.codebook).indices
    with pytest.raises(ValueError, match="lr_condition='unshuffle' decodes with the LR image"):
        detail.tokenizer.decode_indices(tokens, detail.codebook)
    a = detail.tokenizer.decode_indices(tokens, detail.codebook, lr=lr)
    b = detail.tokenizer.decode_indices(tokens, detail.codebook, lr=-lr)
    assert a.shape == (1, 3, 128, 128) and (a - b).abs().max() > 1e-3
    with pytest.raises(ValueError, match="lr_condition must be"):
        realiisr.build("real_iisr_x4_tiny_detail", **{"tokenizer.lr_condition": "concat"})


def test_zero_initialised_detail_decoder_starts_as_the_lr():
    model = realiisr.build("real_iisr_x4_tiny_detail").eval()
    lr, _ = _images(1)
    assert torch.equal(model.sample(lr), (lr + 1) / 2)


@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
def test_preallocated_kv_cache_equals_concatenation(tiny, monkeypatch, dtype):
    """Keys and values written in place into buffers sized once give the very numbers of a cache grown by
    concatenation (CFG doubles the batch; bf16 autocast makes bf16 keys)."""
    from realiisr.generators.blocks import SelfAttention

    lr, _ = _images(batch=2)
    model = tiny.eval()

    def sample():
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            out = model.sample(lr, cfg=1.5, top_k=4, top_p=0.9, generator=torch.Generator().manual_seed(1),
                               return_details=True)
        return out["indices"], out["logits"]

    buffered = sample()
    original = SelfAttention.set_caching
    monkeypatch.setattr(SelfAttention, "set_caching", lambda self, on, capacity=None: original(self, on, None))
    concatenated = sample()
    for a, b in zip(buffered[0], concatenated[0], strict=True):
        assert torch.equal(a, b)
    for a, b in zip(buffered[1], concatenated[1], strict=True):
        assert torch.equal(a, b)


def test_kv_cache_overflow_is_a_named_error(tiny):
    attn = tiny.generator.blocks[0].attn
    attn.set_caching(True, capacity=3)
    try:
        k = torch.zeros(1, attn.num_heads, 2, attn.head_dim)
        attn.cache = attn._append(k, k)
        with pytest.raises(RuntimeError, match="KV cache: 4 tokens .* do not fit the buffer"):
            attn._append(k, k)
    finally:
        attn.set_caching(False)


def test_activation_checkpointing_gives_the_same_gradients():
    """``generator.activation_checkpointing`` recomputes each block in the backward: same loss, same gradients."""
    lr, hr = _images(batch=2)
    grads = []
    for recompute in (False, True):
        torch.manual_seed(0)
        model = realiisr.build("real_iisr_x4_tiny", **{"generator.activation_checkpointing": recompute}).train()
        loss = model.training_losses(lr, hr)["total"]
        loss.backward()
        grads.append((float(loss), {n: p.grad.clone() for n, p in model.generator.named_parameters() if p.grad is not None}))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-6)
    assert grads[0][1].keys() == grads[1][1].keys()
    for name, grad in grads[0][1].items():
        torch.testing.assert_close(grads[1][1][name], grad, atol=1e-6, rtol=1e-5, msg=name)


def test_fused_adamw_only_for_cuda_parameters():
    from realiisr.training.optim import build_optimizer

    model = torch.nn.Linear(3, 3)
    assert not build_optimizer(model, 1e-3).defaults.get("fused")
    if torch.cuda.is_available():
        assert build_optimizer(model.cuda(), 1e-3).defaults["fused"]


def test_pyramid_lr_condition_starts_as_unshuffle_and_reaches_every_level():
    """``lr_condition="pyramid"`` loads an ``"unshuffle"`` state unchanged in function (its per-level LR convs
    start at zero), and once those convs are non-zero a fine-grained LR change reaches the output directly."""
    torch.manual_seed(0)
    base = realiisr.build("real_iisr_x4_tiny_detail",
                          **{"tokenizer.zero_init_output": False, "tokenizer.lr_condition": "unshuffle"}).eval()
    pyramid = realiisr.build("real_iisr_x4_tiny_detail",
                             **{"tokenizer.zero_init_output": False, "tokenizer.lr_condition": "pyramid"}).eval()
    missing = pyramid.load_state_dict(base.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith("tokenizer.lr_skips.") for k in missing)
    lr = torch.rand(1, 3, 128, 128) * 2 - 1
    fhat = torch.randn(1, pyramid.tokenizer.z_channels, 16, 16)
    with torch.no_grad():
        assert torch.equal(pyramid.tokenizer.decode_fhat_unclamped(fhat, lr), base.tokenizer.decode_fhat_unclamped(fhat, lr))
        for conv in pyramid.tokenizer.lr_skips:
            conv.weight.normal_(std=0.05)
        wiggle = torch.zeros_like(lr)
        wiggle[..., 60:68, 60:68] = 0.2 * (-1) ** torch.arange(8).view(8, 1).add(torch.arange(8)).float()
        response = (pyramid.tokenizer.decode_fhat_unclamped(fhat, lr + wiggle)
                    - pyramid.tokenizer.decode_fhat_unclamped(fhat, lr))
        latent_only = base.tokenizer.decode_fhat_unclamped(fhat, lr + wiggle) - base.tokenizer.decode_fhat_unclamped(fhat, lr)
    assert (response - latent_only).abs().max() > 1e-3  # the per-level convs, not the latent projection alone
    assert {id(m) for m in pyramid.tokenizer.decoder_modules()} >= {id(pyramid.tokenizer.lr_skips), id(pyramid.tokenizer.lr_proj)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rope_rotates_each_pair_by_its_angle(dtype):
    """The complex-multiply RoPE equals the rotation written out in float64, on the strided q/k views the
    attention passes (a permuted slice of the fused projection), in both dtypes, and keeps the gradient."""
    from realiisr.generators.blocks import apply_rope, rope_angles

    angles = rope_angles(16, [1, 2, 3])  # [14, 8]
    qkv = torch.randn(2, 14, 3, 4, 16, dtype=torch.float64).permute(2, 0, 3, 1, 4)
    x = qkv[1].to(dtype).requires_grad_()
    out = apply_rope(x, angles.cos(), angles.sin())
    a, b = x.double().unflatten(-1, (-1, 2)).unbind(-1)
    cos, sin = angles.double().cos(), angles.double().sin()
    expected = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)
    assert out.dtype == dtype and out.shape == x.shape
    tol = 1e-6 if dtype == torch.float32 else 3e-2  # bf16: two roundings of ~2^-8 each
    torch.testing.assert_close(out.double(), expected, rtol=tol, atol=tol)
    out.float().square().sum().backward()  # a rotation keeps the norm: d/dx |R x|² = 2x
    torch.testing.assert_close(x.grad.double(), 2 * x.detach().double(), rtol=tol, atol=tol)


def test_block_for_the_last_token_only_keeps_the_whole_cache(tiny):
    """The first scale's last block computes the sampled position only: the same output there and the same
    keys and values of every position in the cache as the full block."""
    gen = tiny.generator.eval()
    block = gen.blocks[-1]
    x = torch.randn(2, gen.first_l, gen.width)
    cond = torch.randn(2, gen.width)
    cos, sin = gen.rope_cos[: gen.first_l], gen.rope_sin[: gen.first_l]
    outs, caches = [], []
    for last in (None, 1):
        block.attn.set_caching(True, capacity=gen.first_l)
        try:
            with torch.no_grad():
                outs.append(block(x, cond, cos, sin, None, last))
            caches.append(tuple(t.clone() for t in block.attn.cache))
        finally:
            block.attn.set_caching(False)
    full, last_only = outs
    assert last_only.shape == (2, 1, gen.width)
    torch.testing.assert_close(last_only, full[:, -1:], rtol=1e-5, atol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(*caches))
