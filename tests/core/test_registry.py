"""Registry semantics: names, duplicates, override, aliases, build specs, listing, close-match errors."""
from __future__ import annotations

import pytest
from torch import nn

from realiisr.core import PHYSICS_LOSSES, RegistryError, UnknownNameError
from realiisr.core._registry import Registry
from realiisr.core.interfaces import Guidance, PhysicsLoss, component_checks


def _registry() -> Registry:
    check, check_built = component_checks(Guidance)
    return Registry("guidance", check=check, check_built=check_built)


class Alpha(Guidance):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.width = width


class Beta(Guidance):
    pass


def test_register_decorator_and_call_forms():
    reg = _registry()

    @reg.register(name="alpha", aliases=("a1",), paper="x")
    class Decorated(Alpha):
        pass

    reg.register(Beta, name="beta")
    assert reg.get("alpha") is Decorated and reg.get("a1") is Decorated
    assert reg.get("beta") is Beta
    assert reg.describe("a1").name == "alpha" and reg.describe("alpha").meta == {"paper": "x"}
    assert reg.describe("beta").source == "user"  # defined in a test module, not in realiisr


def test_duplicate_name_raises_and_override_replaces():
    reg = _registry()
    reg.register(Alpha, name="alpha", aliases=("first",))
    with pytest.raises(RegistryError, match="'alpha' is already registered"):
        reg.register(Beta, name="alpha")
    with pytest.raises(RegistryError, match="'first' is already registered"):
        reg.register(Beta, name="other", aliases=("first",))
    reg.register(Beta, name="alpha", override=True)
    assert reg.get("alpha") is Beta
    assert "first" not in reg  # the replaced entry's aliases went with it


@pytest.mark.parametrize("bad", ["Alpha", "two words", "1x", "dash-name", ""])
def test_names_must_be_snake_case(bad):
    with pytest.raises(RegistryError, match="snake_case"):
        _registry().register(Alpha, name=bad)


def test_wrong_kind_of_object_is_refused():
    reg = _registry()
    with pytest.raises(TypeError, match="not a subclass of realiisr Guidance"):
        reg.register(nn.Linear, name="linear")
    with pytest.raises(TypeError, match="factory function"):
        reg.register(42, name="number")


def test_build_from_name_mapping_and_instance():
    reg = _registry()
    reg.register(Alpha, name="alpha")
    assert reg.build("alpha").width == 4
    assert reg.build("alpha", width=8).width == 8
    assert reg.build({"type": "alpha", "width": 5}).width == 5
    assert reg.build({"type": "alpha", "kwargs": {"width": 6}}, width=7).width == 7
    assert reg.build("alpha", width=None).width == 4  # None overrides keep the default
    built = Alpha(width=3)
    assert reg.build(built) is built
    with pytest.raises(RegistryError, match="already-built"):
        reg.build(built, width=2)
    with pytest.raises(RegistryError, match="no 'type' key"):
        reg.build({"width": 2})
    with pytest.raises(TypeError) as info:
        reg.build("alpha", depth=3)
    assert any("while building guidance 'alpha'" in note for note in info.value.__notes__)


def test_factory_function_result_is_checked():
    reg = _registry()

    def make_alpha(width: int = 2):
        return Alpha(width)

    def make_wrong():
        return nn.Identity()

    reg.register(make_alpha, name="made")
    reg.register(make_wrong, name="wrong")
    assert reg.build("made").width == 2
    with pytest.raises(TypeError, match="expected a realiisr Guidance instance"):
        reg.build("wrong")


def test_unknown_name_suggests_close_matches_and_points_to_info():
    reg = _registry()
    reg.register(Alpha, name="thermal_edge")
    with pytest.raises(UnknownNameError) as info:
        reg.get("thermal_egde")
    message = str(info.value)
    assert "no guidance named 'thermal_egde'" in message
    assert "Did you mean: 'thermal_edge'" in message
    assert "realiisr info" in message
    assert isinstance(info.value, KeyError)


def test_listing_is_sorted_naturally_and_filtered():
    reg = _registry()
    for name in ("stem_10", "stem_2", "edge", "stem_1"):
        reg.register(Alpha, name=name, override=True)
    assert reg.names() == ["edge", "stem_1", "stem_2", "stem_10"]
    assert reg.names("stem_*") == ["stem_1", "stem_2", "stem_10"]
    assert reg.names(["edge", "stem_1?"]) == ["edge", "stem_10"]
    assert list(reg) == reg.names() and len(reg) == 4


def test_builtin_locations_are_imported_lazily():
    reg = Registry("thing", locations=("realiisr.losses",))
    assert reg._builtins_imported is False
    reg.names()
    assert reg._builtins_imported is True


def test_builtin_physics_losses_are_registered():
    assert PHYSICS_LOSSES.names("*") [:2] == ["mse", "toc"]
    assert PHYSICS_LOSSES.describe("thermal_order").name == "toc"
    assert PHYSICS_LOSSES.describe("toc").source == "builtin"
    assert isinstance(PHYSICS_LOSSES.build({"type": "toc", "patch_size": 4}), PhysicsLoss)


def test_snapshot_restores_entries():
    reg = _registry()
    reg.register(Alpha, name="alpha")
    with reg.snapshot():
        reg.register(Beta, name="beta")
        reg.unregister("alpha")
        assert reg.names() == ["beta"]
    assert reg.names() == ["alpha"]
