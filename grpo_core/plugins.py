"""Discovering plugins through entry points and collecting what they register.

Each entry point of group ``grpo`` is loaded on its own: a plugin that fails to import or registers
something wrong is recorded (by name, with the error) and the others still load.
``GRPO_LOAD_PLUGINS`` (comma-separated allow-list; empty = none) and ``GRPO_DISABLE_PLUGINS``
(deny-list) match an entry-point name or a distribution name.

Names are unambiguous: a verifier or backend name claimed by two plugins is never resolved by load
order. Used bare it is an error naming both; ``distribution:name`` chooses one.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from grpo_core import hookspecs
from grpo_core.errors import AmbiguousNameError, ConfigError, UnknownVerifierError
from grpo_core.verifier import Isolation, Verifier

LOAD_ENV = "GRPO_LOAD_PLUGINS"
DISABLE_ENV = "GRPO_DISABLE_PLUGINS"


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


@dataclass
class PluginInfo:
    """What ``grpo plugins`` reports about one plugin: what it registered and what went wrong."""

    name: str
    distribution: str | None = None
    version: str | None = None
    verifiers: list[str] = field(default_factory=list)
    sandbox_backends: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``ok``; ``partial`` (some things registered, some failed); ``failed`` (nothing usable)."""
        if not self.errors:
            return "ok"
        return "partial" if self.verifiers or self.sandbox_backends else "failed"

    @property
    def qualifier(self) -> str:
        """The prefix of a qualified name (``distribution:name``): the distribution, else the plugin."""
        return self.distribution or self.name

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "verifiers": self.verifiers,
            "sandbox_backends": self.sandbox_backends,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class Claim:
    """One plugin's claim on a verifier or backend name."""

    name: str
    plugin: str
    distribution: str | None
    version: str | None
    obj: Any

    @property
    def qualifier(self) -> str:
        return self.distribution or self.plugin

    @property
    def qualified_name(self) -> str:
        return f"{self.qualifier}:{self.name}"

    @property
    def source(self) -> str:
        """``grpo-reward-math 0.1.0`` (or ``plugin 'x'`` for one registered by hand)."""
        if self.distribution:
            return f"{self.distribution} {self.version}" if self.version else self.distribution
        return f"plugin {self.plugin!r}"


class _Names:
    """Names claimed by plugins, of one kind (verifier or sandbox backend).

    A name claimed by two plugins is never resolved by load order: looking it up bare raises
    :class:`AmbiguousNameError`; ``distribution:name`` (or ``plugin:name``) picks one claim.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.claims: dict[str, list[Claim]] = {}

    def add(self, claim: Claim) -> None:
        existing = self.claims.setdefault(claim.name, [])
        if any(c.plugin == claim.plugin for c in existing):
            raise ValueError(f"{self.kind} {claim.name!r} is already registered by plugin {claim.plugin!r}")
        existing.append(claim)

    def unambiguous(self) -> dict[str, Claim]:
        return {name: claims[0] for name, claims in self.claims.items() if len(claims) == 1}

    def clashes(self) -> dict[str, list[Claim]]:
        return {name: claims for name, claims in self.claims.items() if len(claims) > 1}

    def resolve(self, name: str) -> Claim:
        qualifier, sep, bare = name.rpartition(":")
        if not sep:
            claims = self.claims.get(name, [])
            if len(claims) > 1:
                raise AmbiguousNameError(self.kind, name, claims)
            if claims:
                return claims[0]
            raise self._unknown(name)
        wanted = _normalise(qualifier.strip())
        for claim in self.claims.get(bare.strip(), []):
            if wanted in {_normalise(claim.qualifier), _normalise(claim.plugin)}:
                return claim
        raise self._unknown(name)

    def _unknown(self, name: str) -> ConfigError:
        known: list[str] = []
        for claimed, claims in sorted(self.claims.items()):
            known += [claimed] if len(claims) == 1 else [c.qualified_name for c in claims]
        if self.kind == "verifier":
            return UnknownVerifierError(name, known)
        return ConfigError(f"unknown {self.kind} {name!r}; installed: {', '.join(known) or 'none'}")


class PluginRegistry:
    """The loaded plugins and the verifiers and sandbox backends they registered."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._verifiers = _Names("verifier")
        self._backends = _Names("sandbox backend")

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
        self._check_hookimpls(name, info)
        self._collect(name, info, "register_verifiers", self._verifiers, info.verifiers)
        self._collect(name, info, "register_sandbox_backends", self._backends, info.sandbox_backends)
        return info

    def _check_hookimpls(self, plugin_name: str, info: PluginInfo) -> None:
        """A hook implementation that matches no hook spec (a misspelling) is a plugin error."""
        known = sorted(n for n, c in vars(self.manager.hook).items() if c.has_spec())
        callers = self.manager.get_hookcallers(self.manager.get_plugin(plugin_name)) or []
        if not callers:
            info.errors.append(
                f"defines no hook implementation; mark a function @grpo_core.hookimpl and name it one of "
                f"{known}"
            )
        for caller in callers:
            if caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin_name == plugin_name and not impl.opts.get("optionalhook"):
                    info.errors.append(
                        f"hook implementation {caller.name!r} matches no grpo hook; known hooks: {known} "
                        "(check the spelling)"
                    )

    def _collect(
        self, plugin_name: str, info: PluginInfo, hook_name: str, names: _Names, registered: list[str]
    ) -> None:
        hook = getattr(self.manager.hook, hook_name)
        check = self._check_verifier if names is self._verifiers else self._check_backend
        for impl in hook.get_hookimpls():
            if impl.plugin_name != plugin_name:
                continue

            def register(obj: Any) -> None:
                try:
                    name = check(obj)
                    names.add(Claim(name, plugin_name, info.distribution, info.version, obj))
                    registered.append(name)
                except (TypeError, ValueError) as exc:
                    info.errors.append(f"{hook_name}: {exc}")

            try:
                impl.function(register=register)
            except Exception as exc:
                info.errors.append(f"{hook_name} raised {type(exc).__name__}: {exc}")

    @staticmethod
    def _check_verifier(cls: Any) -> str:
        if not (isinstance(cls, type) and issubclass(cls, Verifier)):
            raise TypeError(f"{cls!r} is not a subclass of grpo_core.Verifier")
        name = getattr(cls, "name", "")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{cls.__qualname__}.name must be an identifier, got {name!r}")
        if not isinstance(cls.isolation, Isolation):
            raise ValueError(f"{cls.__qualname__}.isolation must be a grpo_core.Isolation")
        return name

    @staticmethod
    def _check_backend(cls: Any) -> str:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name or ":" in name:
            raise ValueError(f"sandbox backend {cls!r} has no name (or one with ':')")
        return name

    # -- lookup --------------------------------------------------------------------------------
    @property
    def verifiers(self) -> dict[str, type[Verifier]]:
        """Verifiers usable by their bare name (names claimed twice are left out: see clashes())."""
        return {name: claim.obj for name, claim in self._verifiers.unambiguous().items()}

    @property
    def verifier_plugin(self) -> dict[str, str]:
        return {name: claim.plugin for name, claim in self._verifiers.unambiguous().items()}

    @property
    def sandbox_backends(self) -> dict[str, Any]:
        """Backends usable by their bare name (names claimed twice are left out: see clashes())."""
        return {name: claim.obj for name, claim in self._backends.unambiguous().items()}

    def verifier_claim(self, name: str) -> Claim:
        """The claim behind ``name`` or ``distribution:name``; ambiguous or unknown names raise."""
        return self._verifiers.resolve(name)

    def verifier_class(self, name: str) -> type[Verifier]:
        return self.verifier_claim(name).obj

    def sandbox_backend_claim(self, name: str) -> Claim:
        return self._backends.resolve(name)

    def sandbox_backend_class(self, name: str) -> Any:
        """The backend class behind ``name`` or ``distribution:name``; ambiguous names raise."""
        return self.sandbox_backend_claim(name).obj

    def clashes(self) -> list[dict[str, Any]]:
        """Every name claimed by more than one plugin, with the claimants."""
        found = []
        for names in (self._verifiers, self._backends):
            for name, claims in sorted(names.clashes().items()):
                found.append(
                    {
                        "kind": names.kind,
                        "name": name,
                        "claimed_by": [
                            {
                                "plugin": c.plugin,
                                "distribution": c.distribution,
                                "qualified": c.qualified_name,
                            }
                            for c in claims
                        ],
                        "message": str(AmbiguousNameError(names.kind, name, claims)),
                    }
                )
        return found

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
