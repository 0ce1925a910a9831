"""The lighter decoder (``tokenizer.decoder_shuffle_levels``) and the surgery that initialises it from a checkpoint
of the full one (:func:`realiisr.training.surgery.drop_finest_decoder_levels`)."""
import pytest
import torch

import realiisr
from realiisr.training.surgery import drop_finest_decoder_levels

_PYRAMID = {"tokenizer.lr_condition": "pyramid"}


def _last_block_output(level):
    seen = {}

    def keep(module, args, out):  # a copy: the next GroupNorm+SiLU may overwrite the block's output in place
        seen["out"] = out.clone()

    return seen, level.block[-1].register_forward_hook(keep)


def test_a_shuffled_decoder_gives_the_full_size_and_starts_as_the_lr():
    torch.manual_seed(0)
    model = realiisr.build("real_iisr_x4_tiny_detail", **_PYRAMID, **{"tokenizer.decoder_shuffle_levels": 1}).eval()
    decoder = model.tokenizer.decoder
    assert len(decoder.up) == 3 and not hasattr(decoder.up[0], "upsample")
    assert decoder.conv_out.out_channels == 12  # 3 channels × 4 sub-pixel positions
    assert [conv.in_channels for conv in model.tokenizer.lr_skips] == [12, 48]  # the LR unshuffled ×2 and ×4
    lr = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        out = model.sample(lr)
    assert out.shape == (2, 3, 128, 128)
    torch.testing.assert_close(out, (lr + 1) / 2)  # zero-initialised output: the LR itself


def test_surgery_keeps_every_coarser_level_of_a_trained_decoder():
    """After the surgery the lighter model computes, up to its last level, exactly what the full one computes
    before the level that was dropped: the levels, their LR skips and everything else moved with their weights."""
    torch.manual_seed(0)
    full = realiisr.build("real_iisr_x4_tiny_detail", **_PYRAMID, **{"tokenizer.zero_init_output": False}).eval()
    for conv in full.tokenizer.lr_skips:
        conv.weight.data.normal_(std=0.05)
    light = realiisr.build("real_iisr_x4_tiny_detail", **_PYRAMID, **{"tokenizer.decoder_shuffle_levels": 1}).eval()
    state = drop_finest_decoder_levels(full.state_dict(), 1)
    missing = light.load_state_dict(state, strict=False).missing_keys
    assert sorted(missing) == sorted(f"tokenizer.decoder.{m}.{p}" for m in ("norm_out", "conv_out")
                                     for p in ("weight", "bias"))
    assert not set(state) - set(light.state_dict())
    seen_full, h1 = _last_block_output(full.tokenizer.decoder.up[1])
    seen_light, h2 = _last_block_output(light.tokenizer.decoder.up[0])
    lr = torch.rand(1, 3, 128, 128) * 2 - 1
    fhat = torch.randn(1, full.tokenizer.z_channels, 16, 16)
    with torch.no_grad():
        full.tokenizer.decode_fhat(fhat, lr)
        light.tokenizer.decode_fhat(fhat, lr)
    h1.remove()
    h2.remove()
    assert seen_full["out"].shape == (1, 64, 64, 64)
    torch.testing.assert_close(seen_light["out"], seen_full["out"], rtol=0, atol=0)


def test_bad_shuffle_levels_and_a_state_without_a_decoder_are_named():
    with pytest.raises(ValueError, match="shuffle_levels"):
        realiisr.build("real_iisr_x4_tiny_detail", **{"tokenizer.decoder_shuffle_levels": 4})
    with pytest.raises(ValueError, match="no decoder levels"):
        drop_finest_decoder_levels({"generator.head.weight": torch.zeros(1)}, 1)
    with pytest.raises(ValueError, match="levels must be"):
        drop_finest_decoder_levels({}, 0)
