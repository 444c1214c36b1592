"""The comparison context, passed explicitly down every comparison (no module state)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Context:
    """How strictly values are compared.

    ``tolerance``: largest relative error of a decimal approximation of an irrational gold (the
    verifier's option). ``in_structure``: comparing entries of a matrix, tuple or interval, where
    a rounded decimal (0.33 for 1/3) stands for its exact value.
    """

    tolerance: float = 0.0
    in_structure: bool = False

    def entries(self) -> Context:
        """The context for the entries of a matrix, tuple or interval."""
        return self if self.in_structure else replace(self, in_structure=True)
