"""Entry-point discovery, allow/deny switches, and broken plugins reported without harm."""

from __future__ import annotations

from pathlib import Path

import pytest

from grpo_core.plugins import PluginRegistry

BROKEN = Path(__file__).parent / "fixtures" / "broken_plugins"


@pytest.fixture
def with_broken_plugins(monkeypatch):
    monkeypatch.syspath_prepend(str(BROKEN))


def test_installed_plugins_report_distribution_and_version():
    registry = PluginRegistry.from_entry_points()
    info = registry.plugins["format"]
    assert info.distribution == "grpo-reward-format"
    assert info.version
    assert {"format", "tag_count"} <= set(info.verifiers)
    assert registry.verifier_plugin["format"] == "format"


def test_broken_plugins_are_reported_and_the_others_load(with_broken_plugins):
    registry = PluginRegistry.from_entry_points()
    errors = registry.errors()
    assert "grpo_this_module_does_not_exist" in errors["broken_import"][0]
    assert "registration exploded" in errors["hook_raises"][0]
    bad = " | ".join(errors["bad_registration"])
    assert "is not a subclass of grpo_core.Verifier" in bad
    assert "name must be an identifier" in bad
    assert "already registered by plugin 'bad_registration'" in bad
    # The valid verifier of the half-bad plugin, and every healthy plugin, still load.
    assert "fine_from_bad_plugin" in registry.verifiers
    assert "format" in registry.verifiers
    assert registry.plugins["broken_import"].distribution == "grpo-broken"


def test_load_allow_list(monkeypatch, with_broken_plugins):
    monkeypatch.setenv("GRPO_LOAD_PLUGINS", "grpo-reward-format")  # a distribution name
    registry = PluginRegistry.from_entry_points()
    assert set(registry.plugins) == {"format"}
    monkeypatch.setenv("GRPO_LOAD_PLUGINS", "")
    assert PluginRegistry.from_entry_points().plugins == {}


def test_disable_list(monkeypatch, with_broken_plugins):
    monkeypatch.setenv("GRPO_DISABLE_PLUGINS", "broken_import, hook_raises,bad_registration")
    registry = PluginRegistry.from_entry_points()
    assert not {"broken_import", "hook_raises", "bad_registration"} & set(registry.plugins)
    assert "format" in registry.plugins


def test_add_plugin_by_hand():
    import grpo_throwaway

    registry = PluginRegistry()
    info = registry.add_plugin(grpo_throwaway, "mine")
    assert "misbehaving" in info.verifiers
    assert registry.verifier_class("misbehaving").name == "misbehaving"


def test_switches_accept_either_spelling_of_a_distribution(monkeypatch):
    monkeypatch.setenv("GRPO_DISABLE_PLUGINS", "GRPO_Reward.Format")
    assert "format" not in PluginRegistry.from_entry_points().plugins


def test_two_distributions_claiming_one_entry_point_name_is_reported(monkeypatch):
    from importlib import metadata

    real = metadata.entry_points(group="grpo")
    fmt = next(ep for ep in real if ep.name == "format")

    class OtherDist:
        metadata = {"Name": "grpo-reward-format-fork"}
        version = "9.9"

    clash = metadata.EntryPoint("format", "grpo_reward_length", "grpo")
    clash = clash._for(OtherDist())
    monkeypatch.setattr(metadata, "entry_points", lambda group: [fmt, clash])
    registry = PluginRegistry.from_entry_points()
    assert "also declared by 'grpo-reward-format-fork'" in registry.errors()["format"][0]
    assert registry.plugins["format"].distribution == "grpo-reward-format"
