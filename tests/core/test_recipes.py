"""Recipes: data round trips (dict, YAML), dotted overrides, component swaps, validation."""
from __future__ import annotations

import pytest

import realiisr
from realiisr.core.recipes import ComponentSpec, Recipe, RecipeError, apply_overrides, get_recipe


@pytest.fixture
def recipe() -> Recipe:
    return get_recipe("real_iisr_x4")


def test_full_size_recipe_matches_the_reference(recipe):
    assert recipe.scale == 4
    assert recipe.generator.type == "var"
    assert recipe.generator.kwargs["depth"] == 24 and recipe.generator.kwargs["width"] == 1536
    assert recipe.generator.kwargs["patch_nums"] == [1, 2, 3, 4, 6, 9, 13, 18, 24, 32]
    assert recipe.codebook.kwargs["vocab_size"] == 4096 and recipe.codebook.kwargs["rank"] == 8
    assert recipe.guidance.kwargs["stem_widths"] == [32, 128, 256, 512, 1536]
    assert dict(recipe.loss_weights) == {"ce": 1.0, "mse": 0.2, "toc": 0.8}
    assert recipe.meta["trainable_parameters"] == 1_144_665_865


def test_get_recipe_returns_a_copy(recipe):
    recipe.generator.kwargs["depth"] = 2
    assert get_recipe("real_iisr_x4").generator.kwargs["depth"] == 24


def test_dict_and_yaml_round_trip(recipe, tmp_path):
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    path = tmp_path / "recipe.yaml"
    recipe.to_yaml(path)
    assert Recipe.from_yaml(path) == recipe
    assert Recipe.from_yaml(path.read_text()) == recipe
    assert realiisr.core.recipes.resolve_recipe(str(path)) == recipe


def test_dotted_overrides(recipe):
    new = apply_overrides(
        recipe,
        {
            "generator.depth": 4,
            "generator.kwargs.num_heads": 4,
            "losses.toc.threshold": 0.2,
            "loss_weights.toc": 0.0,
            "scale": 2,
            "guidance": {"alpha": 2.0},
        },
    )
    assert new.generator.kwargs["depth"] == 4 and new.generator.kwargs["num_heads"] == 4
    assert new.generator.kwargs["width"] == 1536  # untouched keys stay
    assert new.losses["toc"].kwargs == {"patch_size": 8, "threshold": 0.2}
    assert new.loss_weights["toc"] == 0.0 and new.scale == 2
    assert new.guidance.type == "tsg" and new.guidance.kwargs["alpha"] == 2.0
    assert recipe.generator.kwargs["depth"] == 24  # the original is unchanged


def test_component_swaps(recipe):
    swapped = apply_overrides(recipe, {"guidance": "my_dist:edge_only"})
    assert swapped.guidance == ComponentSpec("my_dist:edge_only", {})  # old kwargs belong to the old type
    kept = apply_overrides(recipe, {"generator.type": "var_v2"})
    assert kept.generator.type == "var_v2" and kept.generator.kwargs["depth"] == 24
    full = apply_overrides(recipe, {"codebook": {"type": "vq", "vocab_size": 16}})
    assert full.codebook == ComponentSpec("vq", {"vocab_size": 16})
    no_toc = apply_overrides(recipe, {"losses.toc": None})
    assert "toc" not in no_toc.losses and "toc" not in no_toc.loss_weights
    extra = apply_overrides(recipe, {"losses.grad": "grad_loss", "loss_weights.grad": 0.5})
    assert extra.losses["grad"].type == "grad_loss" and extra.loss_weights["grad"] == 0.5


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"generatr.depth": 3}, "does not fit recipe"),
        ({"losses.tocc.threshold": 0.1}, "has no loss 'tocc'"),
        ({"loss_weights.missing": 1.0}, "not in losses"),
        ({"scale": 0}, "scale must be a positive int"),
        ({"guidance": 3}, "must be a name or a mapping"),
    ],
)
def test_bad_overrides_name_the_problem(recipe, overrides, message):
    with pytest.raises(RecipeError, match=message):
        apply_overrides(recipe, overrides)


def test_bad_recipe_data(recipe):
    data = recipe.to_dict()
    data["colour"] = "blue"
    with pytest.raises(RecipeError, match=r"unknown fields \['colour'\]"):
        Recipe.from_dict(data)
    data = recipe.to_dict()
    del data["generator"]
    with pytest.raises(RecipeError, match=r"missing fields \['generator'\]"):
        Recipe.from_dict(data)
    data = recipe.to_dict()
    data["codebook"] = {"rank": 8}
    with pytest.raises(RecipeError, match="field 'codebook': a component needs a 'type'"):
        Recipe.from_dict(data)


def test_list_recipes(recipe):
    assert {"real_iisr_x4", "real_iisr_x4_tiny", "real_iisr_x4_dinov3"} <= set(realiisr.list_recipes())
    assert realiisr.list_recipes("real_iisr_*")[:5] == ["real_iisr_x4", "real_iisr_x4_dinov3", "real_iisr_x4_flir",
                                                        "real_iisr_x4_flir_temporal", "real_iisr_x4_tiny"]
    # the full size ships none; the shipped model and its window model for clips do
    assert realiisr.list_recipes(pretrained=True) == ["real_iisr_x4_flir", "real_iisr_x4_flir_temporal"]


def test_user_recipe_registration(recipe, fresh_registries):
    mine = apply_overrides(recipe, {"name": "my_recipe"})
    realiisr.register_recipe(mine)
    assert realiisr.get_recipe("my_recipe") == mine
    assert realiisr.RECIPES.describe("my_recipe").source == "user"
    with pytest.raises(realiisr.RegistryError, match="already registered"):
        realiisr.register_recipe(mine)
