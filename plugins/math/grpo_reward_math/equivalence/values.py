"""What the equivalence steps pass along: an answer's items and the parse failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Unparseable(ValueError):
    """The answer string could not be turned into a comparable value."""


@dataclass
class Item:
    """One value of an answer (a list answer has several)."""

    raw: str
    expr: Any = None
    text: str | None = None
    lhs: str | None = None
    decimals: int | None = None  # places of a plain decimal literal
    percent: bool = False
    degrees: bool = False
    alternatives: list[Any] = field(default_factory=list)


@dataclass
class Answer:
    """A whole answer: its items (one for a single value), the cleaned text and flags."""

    items: list[Item]
    cleaned: str
    units: str = ""
    choice: str = ""  # "(D) 4": the option letter written with the value
