"""``evaluate --without guidance|tokens``: a component's input taken away on one model object, for a block only."""
from __future__ import annotations

import pytest
import torch

import realiisr
from realiisr.evaluation.component_ablation import without


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = realiisr.build("real_iisr_x4_tiny_detail").eval()
    # the recipe starts its decoder's output at zero (output = the LR whatever the tokens): give it a voice
    torch.nn.init.normal_(model.tokenizer.decoder.conv_out.weight, std=0.05)
    return model


def _sample(model, lr):
    torch.manual_seed(1)
    return model.sample(lr, cfg=0.0)


def test_each_component_moves_a_random_model_and_comes_back(model):
    torch.manual_seed(2)
    lr = torch.rand(2, 3, 128, 128) * 2 - 1
    full = _sample(model, lr)
    guidance = model.guidance
    for component in ("guidance", "tokens"):
        with without(model, component) as ablated:
            assert ablated is model
            changed = _sample(model, lr)
        assert (changed - full).abs().max() > 1e-6, component  # random weights: small but real
        assert torch.equal(_sample(model, lr), full), component  # restored exactly
    assert model.guidance is guidance and "decode_soft" not in model.__dict__


def test_without_guidance_shows_it_only_the_mean(model):
    seen = []
    hook = model.guidance.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        with without(model, "guidance"):
            _sample(model, torch.rand(1, 3, 128, 128) * 2 - 1)
    finally:
        hook.remove()
    assert seen and float(seen[0].std()) < 1e-6


def test_refusals_name_the_problem():
    hard = realiisr.build("real_iisr_x4_tiny").eval()
    with pytest.raises(ValueError, match="posterior mean"):
        with without(hard, "tokens"):
            pass
    with pytest.raises(ValueError, match="expected one of guidance, tokens"):
        with without(hard, "decoder"):
            pass
