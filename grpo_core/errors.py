"""Errors with messages meant for the person running the tool (CLI exit code 2)."""

from __future__ import annotations


class GrpoError(Exception):
    """Base of grpo-core's user-facing errors."""


class ConfigError(GrpoError):
    """A run config, CLI option or verifier option is wrong; the message names the field and fix."""


class UnknownVerifierError(ConfigError):
    def __init__(self, name: str, known: list[str]) -> None:
        known_text = ", ".join(sorted(known)) or "none installed (pip install grpo-reward-format ...)"
        super().__init__(f"unknown verifier {name!r}; installed verifiers: {known_text}")
        self.name = name
        self.known = known


class DataError(GrpoError):
    """An input row is malformed or lacks a column a verifier needs; names file:line and field."""


class AmbiguousNameError(ConfigError):
    """A verifier or backend name claimed by two plugins, used bare: never resolved by load order."""

    def __init__(self, kind: str, name: str, claims: list) -> None:
        who = " and ".join(f"{c.qualifier!r}" for c in claims)
        choices = " or ".join(f"{c.qualified_name!r}" for c in claims)
        disable = " or ".join(f"GRPO_DISABLE_PLUGINS={c.qualifier}" for c in claims)
        super().__init__(
            f"{kind} {name!r} is ambiguous: it is provided by {who}; choose one with a qualified name "
            f"({choices}), or disable the one you do not want ({disable})"
        )
        self.name = name
        self.claims = claims
