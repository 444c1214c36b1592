"""Units written after a value: stripping them, naming them canonically, converting between them."""

from __future__ import annotations

import re
from typing import Any

import sympy

from grpo_reward_math.equivalence.latex import unwrap_text_commands

# units after a value: a \\text{} group, words after a space ("12 meters"), or a unit abbreviation
# written on ("5cm"); never letters glued to the number ("4abc" is a product)
TRAILING_WORDS_RE = re.compile(
    r"(?:\s*\\(?:text|textnormal|textrm|textit|mathrm|mbox)\s*\{\s*(?!(?:or|and)\s*\})[^{}]*\}"
    r"|(?<=[\d}\)])(?:\s+[a-zA-Z]{3,}(?:\s+[a-zA-Z]{2,})*|\s*(?:cm|km|kg|mm|ml|ft|hr|hrs)\b))"
    r"\s*(?:\^\s*\{?\d\}?)?$"
)


_UNIT_SYNONYMS = {
    "cm": "centimeter",
    "centimetre": "centimeter",
    "m": "meter",
    "metre": "meter",
    "km": "kilometer",
    "kilometre": "kilometer",
    "mm": "millimeter",
    "millimetre": "millimeter",
    "kg": "kilogram",
    "g": "gram",
    "s": "second",
    "sec": "second",
    "min": "minute",
    "h": "hour",
    "hr": "hour",
    "ft": "foot",
    "feet": "foot",
    "in": "inch",
    "inche": "inch",
    "mi": "mile",
    "lb": "pound",
    "l": "liter",
    "litre": "liter",
    "ml": "milliliter",
    "millilitre": "milliliter",
    "sq": "square",
    "yd": "yard",
    "oz": "ounce",
}


def canonical_units(text: str) -> str:
    """``\\text{ cm}^2`` -> ``centimeter^2``; ``hrs`` -> ``hour``: for telling units apart."""
    t = unwrap_text_commands(text).lower()
    t = re.sub(r"\^\s*\{?\s*(\d)\s*\}?", r"^\1", t)
    words = []
    for word in re.findall(r"[a-z]+|\^\d|/", t):
        if (
            len(word) > 3
            and word.endswith("s")
            and not word.endswith("ss")
            or word in ("hrs", "mins", "secs", "lbs", "yds")
        ):
            word = word[:-1]
        words.append(_UNIT_SYNONYMS.get(word, word))
    return " ".join(words)


_R = sympy.Rational
_UNIT_FACTORS = {
    "millimeter": ("length", _R(1, 1000)),
    "centimeter": ("length", _R(1, 100)),
    "meter": ("length", _R(1)),
    "kilometer": ("length", _R(1000)),
    "inch": ("length", _R(127, 5000)),
    "foot": ("length", _R(381, 1250)),
    "yard": ("length", _R(1143, 1250)),
    "mile": ("length", _R(201168, 125)),
    "gram": ("mass", _R(1, 1000)),
    "kilogram": ("mass", _R(1)),
    "second": ("time", _R(1)),
    "minute": ("time", _R(60)),
    "hour": ("time", _R(3600)),
    "day": ("time", _R(86400)),
    "week": ("time", _R(604800)),
    "milliliter": ("volume", _R(1, 1000)),
    "liter": ("volume", _R(1)),
}


def _unit_factor(units: str) -> tuple[str, Any] | None:
    m = re.fullmatch(r"([a-z]+)(?: \^(\d))?", units)
    if not m or m.group(1) not in _UNIT_FACTORS:
        return None
    kind, factor = _UNIT_FACTORS[m.group(1)]
    power = int(m.group(2) or 1)
    return f"{kind}^{power}", factor**power


def unit_ratio(from_units: str, to_units: str) -> Any:
    """How many ``to_units`` one ``from_units`` is (km -> m: 1000); None if not convertible."""
    a, b = _unit_factor(from_units), _unit_factor(to_units)
    if a is None or b is None or a[0] != b[0]:
        return None
    return a[1] / b[1]


def strip_units(s: str) -> str:
    for _ in range(3):
        new = TRAILING_WORDS_RE.sub("", s).strip()
        if new == s or not new:
            break
        s = new
    return s
