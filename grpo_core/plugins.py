"""Discovering plugins through entry points and collecting what they register.

Each entry point of group ``grpo`` is loaded on its own: a plugin that fails to import or registers
something wrong is recorded (by name, with the error) and the others still load.
``GRPO_LOAD_PLUGINS`` (comma-separated allow-list; empty = none) and ``GRPO_DISABLE_PLUGINS``
(deny-list) match an entry-point name or a distribution name.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from grpo_core import hookspecs
from grpo_core.errors import UnknownVerifierError
from grpo_core.verifier import Isolation, Verifier

LOAD_ENV = "GRPO_LOAD_PLUGINS"
DISABLE_ENV = "GRPO_DISABLE_PLUGINS"


@dataclass
class PluginInfo:
    """What ``grpo plugins`` reports about one plugin."""

    name: str
    distribution: str | None = None
    version: str | None = None
    verifiers: list[str] = field(default_factory=list)
    sandbox_backends: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "verifiers": self.verifiers,
            "sandbox_backends": self.sandbox_backends,
            "errors": self.errors,
        }


def _normalise(name: str) -> str:
    """PEP 503 spelling, so ``grpo_reward_math`` and ``grpo-reward-math`` name the same plugin."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _env_list(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {_normalise(item.strip()) for item in raw.split(",") if item.strip()}


def _plugin_selected(entry_point_name: str, distribution: str | None) -> bool:
    names = {_normalise(n) for n in (entry_point_name, distribution) if n}
    allow = _env_list(LOAD_ENV)
    if allow is not None and not names & allow:
        return False
    deny = _env_list(DISABLE_ENV) or set()
    return not names & deny


def _entry_point_distribution(entry_point: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


class PluginRegistry:
    """The loaded plugins and the verifiers and sandbox backends they registered."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.verifiers: dict[str, type[Verifier]] = {}
        self.verifier_plugin: dict[str, str] = {}
        self.sandbox_backends: dict[str, Any] = {}
        self.sandbox_backend_plugin: dict[str, str] = {}

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def from_entry_points(cls, group: str = hookspecs.ENTRY_POINT_GROUP) -> PluginRegistry:
        registry = cls()
        registry.load_entry_points(group)
        return registry

    def load_entry_points(self, group: str = hookspecs.ENTRY_POINT_GROUP) -> None:
        seen: dict[str, str | None] = {}
        for entry_point in sorted(metadata.entry_points(group=group), key=lambda ep: ep.name):
            distribution, version = _entry_point_distribution(entry_point)
            if entry_point.name in seen:
                first = seen[entry_point.name]
                if distribution != first and entry_point.name in self.plugins:
                    self.plugins[entry_point.name].errors.append(
                        f"entry point {entry_point.name!r} is also declared by {distribution!r}; "
                        f"kept {first!r}, ignored the other (uninstall one)"
                    )
                continue  # otherwise the same distribution visible twice on sys.path
            seen[entry_point.name] = distribution
            if not _plugin_selected(entry_point.name, distribution):
                continue
            info = PluginInfo(entry_point.name, distribution, version)
            try:
                plugin = entry_point.load()
            except Exception as exc:  # a broken plugin must not take the others down
                info.errors.append(f"failed to import {entry_point.value}: {type(exc).__name__}: {exc}")
                self.plugins[info.name] = info
                continue
            self.add_plugin(plugin, info.name, info)

    def add_plugin(self, plugin: Any, name: str, info: PluginInfo | None = None) -> PluginInfo:
        """Register a plugin object (a module or any object with hookimpls) and collect from it."""
        info = info or PluginInfo(name, *_module_distribution(plugin))
        self.plugins[name] = info
        try:
            self.manager.register(plugin, name=name)
        except Exception as exc:
            info.errors.append(f"invalid plugin: {type(exc).__name__}: {exc}")
            return info
        self._collect(name, info, "register_verifiers", self._add_verifier, info.verifiers)
        self._collect(
            name, info, "register_sandbox_backends", self._add_sandbox_backend, info.sandbox_backends
        )
        return info

    def _collect(
        self,
        plugin_name: str,
        info: PluginInfo,
        hook_name: str,
        add: Callable[[Any, str], str],
        names: list[str],
    ) -> None:
        hook = getattr(self.manager.hook, hook_name)
        for impl in hook.get_hookimpls():
            if impl.plugin_name != plugin_name:
                continue

            def register(obj: Any, _plugin: str = plugin_name) -> None:
                try:
                    names.append(add(obj, _plugin))
                except (TypeError, ValueError) as exc:
                    info.errors.append(f"{hook_name}: {exc}")

            try:
                impl.function(register=register)
            except Exception as exc:
                info.errors.append(f"{hook_name} raised {type(exc).__name__}: {exc}")

    def _add_verifier(self, cls: Any, plugin_name: str) -> str:
        if not (isinstance(cls, type) and issubclass(cls, Verifier)):
            raise TypeError(f"{cls!r} is not a subclass of grpo_core.Verifier")
        name = getattr(cls, "name", "")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{cls.__qualname__}.name must be an identifier, got {name!r}")
        if not isinstance(cls.isolation, Isolation):
            raise ValueError(f"{cls.__qualname__}.isolation must be a grpo_core.Isolation")
        if name in self.verifiers:
            other = self.verifier_plugin[name]
            raise ValueError(f"verifier {name!r} is already registered by plugin {other!r}")
        self.verifiers[name] = cls
        self.verifier_plugin[name] = plugin_name
        return name

    def _add_sandbox_backend(self, cls: Any, plugin_name: str) -> str:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise ValueError(f"sandbox backend {cls!r} has no name")
        if name in self.sandbox_backends:
            other = self.sandbox_backend_plugin[name]
            raise ValueError(f"sandbox backend {name!r} is already registered by plugin {other!r}")
        self.sandbox_backends[name] = cls
        self.sandbox_backend_plugin[name] = plugin_name
        return name

    # -- lookup --------------------------------------------------------------------------------
    def verifier_class(self, name: str) -> type[Verifier]:
        try:
            return self.verifiers[name]
        except KeyError:
            raise UnknownVerifierError(name, list(self.verifiers)) from None

    def errors(self) -> dict[str, list[str]]:
        return {name: info.errors for name, info in self.plugins.items() if info.errors}

    def describe(self) -> list[dict[str, Any]]:
        return [self.plugins[name].as_dict() for name in sorted(self.plugins)]


def _module_distribution(plugin: Any) -> tuple[str | None, str | None]:
    """Best-effort distribution of a plugin registered by hand (not through an entry point)."""
    module = getattr(plugin, "__name__", None) if isinstance(plugin, type(sys)) else None
    module = module or getattr(type(plugin), "__module__", None)
    if not module:
        return None, None
    top = module.split(".")[0]
    for dist_name in metadata.packages_distributions().get(top, []):
        try:
            return dist_name, metadata.version(dist_name)
        except metadata.PackageNotFoundError:
            continue
    return None, None


_default_registry: PluginRegistry | None = None


def get_registry(*, refresh: bool = False) -> PluginRegistry:
    """The process-wide registry of installed plugins, loaded once."""
    global _default_registry
    if _default_registry is None or refresh:
        _default_registry = PluginRegistry.from_entry_points()
    return _default_registry
