"""Names are unambiguous: an impostor plugin never wins by load order; hook misspellings and
half-registered plugins are reported as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from grpo_core import Engine
from grpo_core.errors import AmbiguousNameError, UnknownVerifierError
from grpo_core.plugins import PluginRegistry

IMPOSTOR = Path(__file__).parent / "fixtures" / "impostor"


@pytest.fixture
def with_impostor(monkeypatch):
    monkeypatch.syspath_prepend(str(IMPOSTOR))


def test_a_name_claimed_twice_is_ambiguous_and_names_both_distributions(with_impostor):
    registry = PluginRegistry.from_entry_points()
    with pytest.raises(AmbiguousNameError) as caught:
        registry.verifier_class("format")
    message = str(caught.value)
    assert "'grpo-impostor'" in message and "'grpo-reward-format'" in message
    assert "grpo-reward-format:format" in message and "GRPO_DISABLE_PLUGINS" in message
    assert "format" not in registry.verifiers  # no bare-name winner
    with pytest.raises(AmbiguousNameError):
        Engine([{"verifier": "format"}], registry=registry)


def test_a_qualified_name_chooses_and_the_reward_keeps_the_bare_name(with_impostor):
    registry = PluginRegistry.from_entry_points()
    real = registry.verifier_class("grpo-reward-format:format")
    assert real.__module__.startswith("grpo_reward_format")
    assert registry.verifier_class("grpo_Reward.Format:format") is real  # any spelling of the dist
    assert registry.verifier_class("impostor:format").__module__ == "grpo_impostor"  # or the plugin
    wrong = {"prompt": "q", "completion": "no tags at all"}
    with Engine([{"verifier": "grpo-reward-format:format"}], registry=registry) as engine:
        assert engine.names == ["format"]
        assert engine.score([wrong]).values("format") == [0.0]
        assert "grpo-reward-format" in engine.sources["format"]
    with pytest.raises(UnknownVerifierError, match="grpo-impostor:format"):
        registry.verifier_class("nobody:format")


def test_disabling_one_claimant_resolves_the_clash(monkeypatch, with_impostor):
    monkeypatch.setenv("GRPO_DISABLE_PLUGINS", "grpo-impostor")
    registry = PluginRegistry.from_entry_points()
    assert registry.verifier_class("format").__module__.startswith("grpo_reward_format")
    assert registry.clashes() == []


def test_backend_names_clash_the_same_way(with_impostor):
    registry = PluginRegistry.from_entry_points()
    with pytest.raises(AmbiguousNameError, match="sandbox backend 'subprocess' is ambiguous"):
        registry.sandbox_backend_class("subprocess")
    assert "subprocess" not in registry.sandbox_backends
    assert registry.sandbox_backend_class("grpo-impostor:subprocess").__name__ == "FakeBackend"
    kinds = {(c["kind"], c["name"]) for c in registry.clashes()}
    assert kinds == {("verifier", "format"), ("sandbox backend", "subprocess")}


def test_a_clashing_backend_is_refused_not_replaced_by_the_builtin(with_impostor, monkeypatch):
    import grpo_core.plugins
    import sandboxes

    monkeypatch.setattr(grpo_core.plugins, "get_registry", PluginRegistry.from_entry_points)
    with pytest.raises(AmbiguousNameError, match="sandbox backend 'subprocess' is ambiguous"):
        sandboxes.get_backend("subprocess")
    # nor by `auto` going down a preference list that names it, nor by settings given for it
    with pytest.raises(AmbiguousNameError, match="sandbox backend 'subprocess' is ambiguous"):
        sandboxes.get_backend("auto", preference=["bwrap", "subprocess"])
    with pytest.raises(AmbiguousNameError, match="sandbox backend 'subprocess' is ambiguous"):
        sandboxes.get_backend("bwrap", {"subprocess": {}})


def test_a_misspelled_hook_is_a_plugin_error(with_impostor):
    registry = PluginRegistry.from_entry_points()
    info = registry.plugins["misspelled"]
    assert info.status == "failed"
    assert "'register_verifier' matches no grpo hook" in info.errors[0]
    assert "register_verifiers" in info.errors[0]


def test_a_plugin_without_hook_implementations_is_reported():
    registry = PluginRegistry()
    info = registry.add_plugin(object(), "empty")
    assert info.status == "failed" and "defines no hook implementation" in info.errors[0]


def test_partial_registration_reports_what_loaded_and_what_did_not(with_impostor):
    registry = PluginRegistry.from_entry_points()
    info = registry.plugins["partial"]
    assert info.status == "partial"
    assert info.verifiers == [f"part{i}" for i in range(9)]
    assert "the tenth verifier could not be built" in info.errors[0]
    assert registry.verifier_class("part8").name == "part8"
    assert registry.plugins["format"].status == "ok"
