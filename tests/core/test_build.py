"""realiisr.build: recipe → components → module, overrides, plugin swaps, missing components, weights."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import realiisr
from realiisr.core import CODEBOOKS, GENERATORS, GUIDANCE, TOKENIZERS, UnknownNameError
from realiisr.core.interfaces import Codebook, Generator, Guidance, Tokenizer
from realiisr.core.recipes import Recipe
from realiisr.core.weights import WeightsError


class TinyTokenizer(Tokenizer):
    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 1)


class TinyCodebook(Codebook):
    def __init__(self, vocab_size: int = 8, dim: int = 4) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)


class TinyGuidance(Guidance):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(3, width)


class TinyGenerator(Generator):
    def __init__(self, depth: int = 1, width: int = 4) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))


@pytest.fixture
def tiny_recipe(fresh_registries) -> Recipe:
    TOKENIZERS.register(TinyTokenizer, name="tiny_tokenizer")
    CODEBOOKS.register(TinyCodebook, name="tiny_codebook")
    GUIDANCE.register(TinyGuidance, name="tiny_guidance")
    GENERATORS.register(TinyGenerator, name="tiny_generator")
    return Recipe.from_dict(
        {
            "name": "tiny_test",
            "scale": 4,
            "tokenizer": {"type": "tiny_tokenizer"},
            "codebook": {"type": "tiny_codebook", "kwargs": {"vocab_size": 16}},
            "guidance": "tiny_guidance",
            "generator": {"type": "tiny_generator", "kwargs": {"depth": 2}},
            "losses": {"mse": "mse", "toc": {"type": "toc", "patch_size": 4}},
            "loss_weights": {"ce": 1.0, "mse": 0.2, "toc": 0.8},
        }
    )


def test_build_returns_module_with_resolved_recipe(tiny_recipe):
    model = realiisr.build(tiny_recipe, **{"generator.depth": 3})
    assert isinstance(model, nn.Module) and isinstance(model, realiisr.RealIISR)
    assert len(model.generator.blocks) == 3
    assert model.recipe.generator.kwargs["depth"] == 3
    assert model.codebook.embedding.num_embeddings == 16
    assert model.losses["toc"].patch_size == 4 and model.loss_weights == {"ce": 1.0, "mse": 0.2, "toc": 0.8}
    assert realiisr.build(model.recipe.to_dict()).recipe == model.recipe  # the recipe rebuilds the same model


def test_build_with_installed_plugin_component_swapped_in(tiny_recipe):
    pytest.importorskip("realiisr_example_plugin", reason="pip install -e plugins/realiisr-example-plugin")
    model = realiisr.build(tiny_recipe, guidance="realiisr_example_plugin:edge_only", overrides={"losses.grad": "gradient_direction"})
    assert type(model.guidance).__name__ == "EdgeOnlyGuidance"
    assert GUIDANCE.describe("edge_only").source.startswith("plugin realiisr-example-plugin==")
    sr, hr = torch.rand(2, 3, 32, 32, requires_grad=True), torch.rand(2, 3, 32, 32)
    loss = model.losses["grad"](sr, hr)
    loss.backward()
    assert loss.item() > 0 and sr.grad.abs().sum() > 0


def test_real_model_with_plugin_guidance_trains_and_samples():
    pytest.importorskip("realiisr_example_plugin", reason="pip install -e plugins/realiisr-example-plugin")
    swap = {"type": "edge_only", "width": 128, "stem_widths": [16, 32, 64, 128, 128], "num_heads": 2}
    model = realiisr.build("real_iisr_x4_tiny", guidance=swap)
    lr = torch.rand(1, 3, 128, 128) * 2 - 1
    out = model.training_losses(lr, lr)
    out["total"].backward()
    assert model.guidance.edge_encoder.conv_out.weight.grad is not None
    assert model.eval().sample(lr).shape == (1, 3, 128, 128)


def test_plugin_recipe_is_available():
    pytest.importorskip("realiisr_example_plugin", reason="pip install -e plugins/realiisr-example-plugin")
    recipe = realiisr.get_recipe("example_edge_only_x4")
    assert recipe.guidance.type == "realiisr_example_plugin:edge_only"
    assert recipe.loss_weights["grad_dir"] == 0.1


def test_missing_component_names_the_recipe_field():
    with pytest.raises(UnknownNameError) as info:
        realiisr.build("real_iisr_x4_tiny", generator="vra")
    message = str(info.value)
    assert "recipe 'real_iisr_x4_tiny' field 'generator' needs generator 'vra'" in message
    assert "Did you mean: 'var'" in message


def test_unknown_recipe_suggests_close_match():
    with pytest.raises(UnknownNameError, match="Did you mean: 'real_iisr_x4'"):
        realiisr.build("real_iisr_x8")


def test_device_and_dtype(tiny_recipe):
    model = realiisr.build(tiny_recipe, device="cpu", dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in model.parameters())


def test_weights_round_trip_and_errors(tiny_recipe, tmp_path):
    from safetensors.torch import save_file

    from realiisr.core.weights import sha256_of

    model = realiisr.build(tiny_recipe)
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    loaded = realiisr.build(tiny_recipe, weights=path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)

    hashed = realiisr.core.recipes.apply_overrides(tiny_recipe, {"weights": {"file": str(path), "sha256": sha256_of(path)}})
    assert torch.equal(realiisr.build(hashed, pretrained=True).codebook.embedding.weight, model.codebook.embedding.weight)
    tampered = realiisr.core.recipes.apply_overrides(hashed, {"weights.sha256": "0" * 64})
    with pytest.raises(WeightsError, match="has sha256"):
        realiisr.build(tampered, pretrained=True)

    with pytest.raises(WeightsError, match=r"missing \(2\): generator.blocks.2.bias, generator.blocks.2.weight"):
        realiisr.build(tiny_recipe, weights=path, **{"generator.depth": 3})
    with pytest.raises(WeightsError, match=r"shape mismatch \(1\): codebook.embedding.weight"):
        realiisr.build(tiny_recipe, weights=path, **{"codebook.vocab_size": 9})
    pickle_file = tmp_path / "tiny.pth"
    torch.save(model.state_dict(), pickle_file)
    with pytest.raises(WeightsError, match="not .safetensors"):
        realiisr.build(tiny_recipe, weights=pickle_file)
    with pytest.raises(WeightsError, match="ships no weights"):
        realiisr.build(tiny_recipe, pretrained=True)


@pytest.mark.parametrize("content", [b"not safetensors at all", b"", b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}"])
def test_a_corrupt_weights_file_gets_a_named_error(tiny_recipe, tmp_path, content, capsys):
    from realiisr.cli import main

    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match="broken.safetensors' is not a readable safetensors file"):
        realiisr.build(tiny_recipe, weights=path)
    frame = tmp_path / "frame.png"
    from PIL import Image

    Image.new("L", (16, 16), 100).save(frame)
    assert main(["upscale", str(frame), "-o", str(tmp_path / "out"), "--recipe", "real_iisr_x4_tiny",
                 "--weights", str(path)]) == 2
    assert "is not a readable safetensors file" in capsys.readouterr().err
