"""Entry-point plugins with fake distributions: lazy loading, isolation, collisions, blocking, switches."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

from realiisr.core import GUIDANCE, PHYSICS_LOSSES, RECIPES, PluginLoadError, RegistryError, UnknownNameError

GUIDANCE_SOURCE = """
from realiisr.core.interfaces import Guidance

class {cls}(Guidance):
    origin = "{origin}"
"""

LOSS_SOURCE = """
from realiisr.core.interfaces import PhysicsLoss

class ShadowToc(PhysicsLoss):
    def forward(self, sr, hr):
        return (sr - hr).abs().mean()
"""


def test_discovery_reads_metadata_only_and_loads_per_name(fake_dist):
    fake_dist(
        "lazy-dist",
        {"realiisr.guidance": {"lazy_edge": "lazy_mod_a:LazyA", "lazy_heat": "lazy_mod_b:LazyB"}},
        {
            "lazy_mod_a": GUIDANCE_SOURCE.format(cls="LazyA", origin="a"),
            "lazy_mod_b": GUIDANCE_SOURCE.format(cls="LazyB", origin="b"),
        },
    )
    assert "lazy_edge" in GUIDANCE.names() and "lazy_heat" in GUIDANCE.names()
    assert "lazy_edge" in GUIDANCE
    assert GUIDANCE.describe("lazy_edge").source == "plugin lazy-dist==1.0"
    assert "lazy_mod_a" not in sys.modules and "lazy_mod_b" not in sys.modules
    assert GUIDANCE.get("lazy_edge").origin == "a"
    assert "lazy_mod_a" in sys.modules and "lazy_mod_b" not in sys.modules  # only the asked-for plugin
    assert GUIDANCE.get("lazy_dist:lazy_heat").origin == "b"  # qualified name
    assert GUIDANCE.get("Lazy-Dist:lazy_heat").origin == "b"  # distribution names are normalised


def test_broken_plugin_is_isolated_reported_and_warned_once(fake_dist):
    fake_dist(
        "shaky-dist",
        {"realiisr.guidance": {"broken_guide": "shaky_broken:Thing", "fine_guide": "shaky_fine:Fine"}},
        {
            "shaky_broken": "raise ImportError('needs libfoo, which is not installed')\n",
            "shaky_fine": GUIDANCE_SOURCE.format(cls="Fine", origin="fine"),
        },
        version="2.3",
    )
    assert "broken_guide" in GUIDANCE.names()  # listing never imports
    with pytest.warns(RuntimeWarning, match="shaky_dist:broken_guide"):
        with pytest.raises(PluginLoadError) as info:
            GUIDANCE.get("broken_guide")
    message = str(info.value)
    assert "shaky-dist==2.3" in message and "needs libfoo" in message
    assert info.value.info.status == "failed"
    assert isinstance(info.value.__cause__, ImportError)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second request raises again but does not warn again
        with pytest.raises(PluginLoadError):
            GUIDANCE.get("broken_guide")
        assert GUIDANCE.get("fine_guide").origin == "fine"  # the other component is unaffected
    with pytest.raises(UnknownNameError, match="failed: ImportError: needs libfoo"):
        GUIDANCE.get("broken_guid")  # a near miss lists the failed plugin that would have provided it


def test_plugin_of_the_wrong_kind_fails_cleanly(fake_dist):
    fake_dist(
        "wrong-dist",
        {"realiisr.guidance": {"not_guidance": "wrong_mod:Linear"}, "realiisr.recipes": {"bad_recipe": "wrong_mod:D"}},
        {"wrong_mod": "from torch.nn import Linear\nD = {'name': 'x'}\n"},
    )
    with pytest.warns(RuntimeWarning):
        with pytest.raises(PluginLoadError, match="not a subclass of realiisr Guidance"):
            GUIDANCE.get("not_guidance")
    with pytest.warns(RuntimeWarning):
        with pytest.raises(PluginLoadError, match="expected a realiisr Recipe"):
            RECIPES.get("bad_recipe")


def test_builtin_wins_a_collision_and_plugin_stays_qualified(fake_dist):
    fake_dist("shadow-dist", {"realiisr.physics_losses": {"toc": "shadow_mod:ShadowToc"}}, {"shadow_mod": LOSS_SOURCE})
    with pytest.warns(RuntimeWarning, match="the builtin wins"):
        names = PHYSICS_LOSSES.names()
    assert "toc" in names and "shadow_dist:toc" in names
    assert PHYSICS_LOSSES.get("toc").__module__ == "realiisr.losses.thermal_order"
    assert PHYSICS_LOSSES.get("shadow_dist:toc").__name__ == "ShadowToc"


def test_two_plugins_with_one_name_are_ambiguous(fake_dist):
    fake_dist("dist-one", {"realiisr.guidance": {"twin": "twin_one:Twin"}}, {"twin_one": GUIDANCE_SOURCE.format(cls="Twin", origin="one")})
    fake_dist("dist-two", {"realiisr.guidance": {"twin": "twin_two:Twin"}}, {"twin_two": GUIDANCE_SOURCE.format(cls="Twin", origin="two")})
    names = GUIDANCE.names()
    assert "dist_one:twin" in names and "dist_two:twin" in names and "twin" not in names
    with pytest.raises(RegistryError) as info:
        GUIDANCE.get("twin")
    assert "'dist_one:twin'" in str(info.value) and "'dist_two:twin'" in str(info.value)
    assert GUIDANCE.get("dist_one:twin").origin == "one"
    assert GUIDANCE.get("dist_two:twin").origin == "two"


@pytest.mark.parametrize("block", ["blocked_guide", "block_dist:blocked_guide", "block-dist"])
def test_blocked_plugin_is_not_listed_or_loaded(fake_dist, monkeypatch, block):
    monkeypatch.setenv("REALIISR_PLUGINS_BLOCK", f"something_else, {block}")
    fake_dist(
        "block-dist",
        {"realiisr.guidance": {"blocked_guide": "blocked_mod:Blocked"}},
        {"blocked_mod": GUIDANCE_SOURCE.format(cls="Blocked", origin="x")},
    )
    assert "blocked_guide" not in GUIDANCE.names() and "blocked_guide" not in GUIDANCE
    with pytest.raises(PluginLoadError, match="blocked by REALIISR_PLUGINS_BLOCK"):
        GUIDANCE.get("blocked_guide")
    assert "blocked_mod" not in sys.modules


def test_autoload_can_be_disabled(fake_dist, monkeypatch):
    fake_dist("off-dist", {"realiisr.guidance": {"off_guide": "off_mod:Off"}}, {"off_mod": GUIDANCE_SOURCE.format(cls="Off", origin="x")})
    monkeypatch.setenv("REALIISR_DISABLE_PLUGINS", "1")
    GUIDANCE.refresh()
    assert "off_guide" not in GUIDANCE.names()
    with pytest.raises(UnknownNameError, match="Plugin discovery is off"):
        GUIDANCE.get("off_guide")
    assert GUIDANCE.names(source="plugin") == []


def test_a_broken_plugin_never_breaks_import(fake_dist):
    site = fake_dist(
        "crash-dist",
        {"realiisr.recipes": {"crash_recipe": "crash_mod:R"}, "realiisr.guidance": {"crash_guide": "crash_mod:G"}},
        {"crash_mod": "raise RuntimeError('boom at import')\n"},
    )
    code = (
        "import warnings, realiisr\n"
        "warnings.simplefilter('ignore')\n"
        "print(sorted(realiisr.list_recipes()))\n"
        "print(realiisr.PHYSICS_LOSSES.build('toc'))\n"
        "from realiisr.cli.info import report\n"
        "print(report())\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), *sys.path]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "real_iisr_x4" in done.stdout and "crash_recipe" in done.stdout
    assert "ThermalOrderConsistencyLoss" in done.stdout
    assert "plugin failures (2)" in done.stdout and "boom at import" in done.stdout
