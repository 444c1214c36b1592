"""Choosing a backend through the registry only: by name, ``auto`` down a preference list, settings
validated by the backend that declares them."""

from __future__ import annotations

import pytest
from pydantic import Field

import grpo_core.plugins
from grpo_core import hookimpl
from grpo_core.plugins import PluginRegistry
from sandboxes import (
    BackendOptions,
    BackendOptionsError,
    Job,
    Result,
    SandboxBackend,
    SandboxUnavailable,
    backend_classes,
    get_backend,
)
from sandboxes.base import UNSAFE_ENV
from sandboxes.choose import resolve


def fake_backend(name: str, *, up: bool = True, safe: bool = True) -> type[SandboxBackend]:
    class Settings(BackendOptions):
        level: int = Field(1, ge=0)

    class Fake(SandboxBackend):
        Options = Settings

        def __init__(self, *, level: int = 1) -> None:
            self.level = level

        @classmethod
        def available(cls) -> tuple[bool, str]:
            return (True, "") if cls.up else (False, f"{cls.name} is switched off")

        def _run(self, job: Job) -> Result:
            return Result(exit_code=0, stdout=f"{self.name}:{self.level}")

    Fake.name, Fake.up, Fake.safe = name, up, safe
    return Fake


class Plugin:
    def __init__(self, *objects) -> None:
        self.objects = objects

    @hookimpl
    def register_sandbox_backends(self, register):
        for obj in self.objects:
            register(obj)


@pytest.fixture
def registry(monkeypatch):
    """A registry holding only the backends a test adds (``add(name, **flags)``)."""
    reg = PluginRegistry()
    monkeypatch.setattr(grpo_core.plugins, "get_registry", lambda **_: reg)
    count = 0

    def add(*objects) -> None:
        nonlocal count
        count += 1
        info = reg.add_plugin(Plugin(*objects), f"plugin{count}")
        assert not info.errors, info.errors

    reg.add = add
    return reg


def job() -> Job:
    return Job(["true"])


def test_auto_takes_the_first_available_backend_in_preference_order(registry):
    registry.add(fake_backend("alpha", up=False), fake_backend("beta"), fake_backend("gamma"))
    assert get_backend("auto", preference=["alpha", "beta", "gamma"]).name == "beta"
    assert get_backend("auto", preference=("gamma", "beta")).name == "gamma"
    assert get_backend("alpha").name == "alpha"  # named explicitly: no availability gate here


def test_auto_reports_every_reason_when_nothing_is_available(registry):
    broken = fake_backend("broken")
    broken.available = classmethod(lambda cls: 1 / 0)
    registry.add(fake_backend("alpha", up=False), fake_backend("beta", up=False), broken)
    with pytest.raises(SandboxUnavailable, match="no safe sandbox backend") as caught:
        get_backend("auto", preference=["alpha", "broken", "beta"])
    message = str(caught.value)
    assert "alpha is switched off" in message and "beta is switched off" in message
    assert "broken: availability check failed: ZeroDivisionError" in message
    assert "registered: alpha, beta, broken" in message


def test_the_preference_list_is_checked(registry):
    registry.add(fake_backend("alpha"), fake_backend("risky", safe=False))
    with pytest.raises(SandboxUnavailable, match="unknown sandbox backend 'nope'; registered: alpha, risky"):
        get_backend("auto", preference=["alpha", "nope"])  # a typo fails even when alpha would do
    with pytest.raises(BackendOptionsError, match="'risky' gives no isolation and is never chosen"):
        get_backend("auto", preference=["risky"])
    with pytest.raises(BackendOptionsError, match="'alpha' is listed twice"):
        get_backend("auto", preference=["alpha", "alpha"])
    with pytest.raises(BackendOptionsError, match="non-empty list"):
        get_backend("auto", preference=[])


def test_settings_are_validated_by_their_backend_before_anything_starts(registry):
    registry.add(fake_backend("alpha"), fake_backend("beta"))
    chosen = get_backend("alpha", {"alpha": {"level": 3}, "beta": {"level": 5}})
    assert chosen.run(job()).stdout == "alpha:3"
    with pytest.raises(BackendOptionsError) as caught:
        get_backend("alpha", {"alpha": {"levle": 3}})
    assert "backend_options.alpha.levle: Extra inputs are not permitted" in str(caught.value)
    assert "settings of the alpha backend: level" in str(caught.value)
    with pytest.raises(BackendOptionsError, match=r"backend_options\.alpha\.level: Input should be greater"):
        get_backend("alpha", {"alpha": {"level": -1}})
    # the settings of a backend that is not chosen are checked too: a typo never waits for a fallback
    with pytest.raises(BackendOptionsError, match=r"backend_options\.beta\.colour"):
        get_backend("alpha", {"beta": {"colour": "red"}})
    with pytest.raises(BackendOptionsError, match=r"backend_options\.nope: unknown sandbox backend 'nope'"):
        get_backend("alpha", {"nope": {}})
    with pytest.raises(BackendOptionsError, match=r"backend_options\.alpha: expected a mapping"):
        get_backend("alpha", {"alpha": ["level", 3]})
    with pytest.raises(BackendOptionsError, match="the alpha backend's settings are given twice"):
        get_backend("alpha", {"alpha": {"level": 3}, "plugin1:alpha": {"level": 4}})


def test_a_backend_without_isolation_needs_the_opt_in(registry, monkeypatch):
    monkeypatch.delenv(UNSAFE_ENV, raising=False)
    registry.add(fake_backend("risky", safe=False))
    with pytest.raises(SandboxUnavailable, match="'risky' backend runs untrusted code without any isolation"):
        get_backend("risky")
    assert get_backend("risky", allow_unsafe=True).name == "risky"
    monkeypatch.setenv(UNSAFE_ENV, "1")
    assert get_backend("risky").name == "risky"


def test_a_registered_object_that_is_not_a_backend_is_refused(registry):
    class NotABackend:
        name = "odd"

    registry.add(NotABackend)
    with pytest.raises(SandboxUnavailable, match="'odd' from .* is not a sandboxes.SandboxBackend subclass"):
        get_backend("odd")


def test_builtins_register_through_the_entry_point_only(monkeypatch):
    registry = PluginRegistry.from_entry_points()
    monkeypatch.setattr(grpo_core.plugins, "get_registry", lambda **_: registry)
    for name in ("docker", "bwrap", "subprocess"):
        claim = registry.sandbox_backend_claim(name)
        assert (claim.distribution, claim.plugin) == ("grpo-core", "sandboxes")
        assert resolve(f"grpo-core:{name}") is claim.obj  # the qualified spelling works as for verifiers

    monkeypatch.setenv("GRPO_DISABLE_PLUGINS", "sandboxes")
    registry = PluginRegistry.from_entry_points()
    assert not {"docker", "bwrap", "subprocess"} & set(backend_classes())
    for name in ("bwrap", "docker"):
        with pytest.raises(SandboxUnavailable) as caught:
            get_backend(name)
        message = str(caught.value)
        assert f"unknown sandbox backend {name!r}" in message
        assert "remove 'sandboxes' from GRPO_DISABLE_PLUGINS" in message
    with pytest.raises(SandboxUnavailable, match="remove 'sandboxes' from GRPO_DISABLE_PLUGINS"):
        get_backend("auto")


def test_builtin_settings_models_name_the_bad_key():
    from sandboxes.choose import check_options

    with pytest.raises(BackendOptionsError, match=r"backend_options\.docker\.mode: Input should be"):
        check_options({"docker": {"mode": "exex"}})
    with pytest.raises(BackendOptionsError, match=r"backend_options\.docker\.imag: Extra inputs"):
        check_options({"docker": {"imag": "x"}})
    with pytest.raises(
        BackendOptionsError, match=r"backend_options\.bwrap\.extra_ro_binds: .*relative/dir.* absolute"
    ):
        check_options({"bwrap": {"extra_ro_binds": ["relative/dir"]}})
    with pytest.raises(BackendOptionsError, match=r"backend_options\.subprocess\.x: Extra inputs"):
        check_options({"subprocess": {"x": 1}})
    checked = check_options({"docker": {"mode": "exec", "pool_size": 2}, "bwrap": {"cgroups": "off"}})
    assert {cls.name: opts.model_dump() for cls, opts in checked.items()} == {
        "docker": {
            "image": "grpo-sandbox-python:latest",
            "mode": "exec",
            "pool_size": 2,
            "warm": True,
            "runtime": None,
        },
        "bwrap": {
            "cgroups": "off",
            "extra_ro_binds": (),
            "python": "python3",
            "mode": "session",
            "pool_size": None,
            "warm": True,
        },
    }


def test_bwrap_gets_its_settings(monkeypatch):
    from sandboxes.local import BwrapBackend

    if not BwrapBackend.available()[0]:
        pytest.skip("bwrap is not installed")
    backend = get_backend("bwrap", {"bwrap": {"cgroups": "off"}})
    assert isinstance(backend, BwrapBackend) and backend.cgroups is None
    assert backend.cgroup_problem == "disabled (cgroups=off)"
    result = backend.run(Job(["python3", "-c", "print(6 * 7)"]))
    assert result.ok and result.stdout.strip() == "42", result


def test_bwrap_refuses_an_interpreter_that_is_not_installed():
    from sandboxes.local import BwrapBackend

    if not BwrapBackend.available()[0]:
        pytest.skip("bwrap is not installed")
    for python in ("no-such-python", "/nonexistent/bin/python3"):
        with pytest.raises(SandboxUnavailable, match=r"backend_options\.bwrap\.python"):
            get_backend("bwrap", {"bwrap": {"python": python, "cgroups": "off"}})


def test_docker_refuses_a_runtime_the_engine_does_not_have():
    from sandboxes.docker_backend import docker_unavailable_reason

    if docker_unavailable_reason():
        pytest.skip("no Docker engine with the sandbox image")
    with pytest.raises(SandboxUnavailable, match=r"runtime 'no-such-runtime' is not installed.*runc"):
        get_backend("docker", {"docker": {"runtime": "no-such-runtime", "warm": False}})


def test_the_code_verifier_checks_the_whole_choice_when_its_options_are_validated(monkeypatch):
    """Before anything starts (`grpo train --check` included): an unsafe named backend without the
    opt-in, an unused but wrong preference list, an unknown backend's settings."""
    from grpo_reward_code.verifier import CodeOptions
    from pydantic import ValidationError

    monkeypatch.delenv(UNSAFE_ENV, raising=False)
    with pytest.raises(ValidationError, match=r"backend: .subprocess. runs untrusted code.*allow_unsafe"):
        CodeOptions.model_validate({"backend": "subprocess"})
    assert CodeOptions.model_validate({"backend": "subprocess", "allow_unsafe": True}).backend == "subprocess"
    monkeypatch.setenv(UNSAFE_ENV, "1")
    assert CodeOptions.model_validate({"backend": "subprocess"}).backend == "subprocess"
    with pytest.raises(ValidationError, match=r"backend_preference: unknown sandbox backend 'nosuch'"):
        CodeOptions.model_validate({"backend": "bwrap", "backend_preference": ["nosuch", "docker"]})
    with pytest.raises(ValidationError, match=r"backend_options\.docker\.imag"):
        CodeOptions.model_validate({"backend": "bwrap", "backend_options": {"docker": {"imag": "x"}}})


def test_the_docker_pool_defaults_to_what_can_run_at_once(monkeypatch):
    """Containers beyond CPUs / cpus-per-container only cost start-up and memory; the process-wide
    cap on jobs in flight still bounds the pool."""
    from sandboxes.base import ConcurrencyLimit
    from sandboxes.docker_backend import Hardening, default_pool_size

    monkeypatch.setattr(ConcurrencyLimit, "size", classmethod(lambda cls: 16))
    for cpus, per_container, expected in ((2, 1.0, 2), (8, 1.0, 8), (8, 0.5, 16), (64, 1.0, 16), (1, 2.0, 1)):
        monkeypatch.setattr("os.cpu_count", lambda cpus=cpus: cpus)
        assert default_pool_size(Hardening(cpus=per_container)) == expected, (cpus, per_container)
