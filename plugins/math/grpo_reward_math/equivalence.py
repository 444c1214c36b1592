"""Answer equivalence: string clean-up, splitting into items, sympy parsing and comparison.

Imports sympy, latex2sympy2_extended and math_verify at module level: import this module lazily
(the verifier does so in ``setup()``), never from the plugin's ``__init__``.

math-verify is called with its signal-based timeouts disabled (``timeout_seconds=None``); the
engine's process isolation bounds each sample's wall-clock time instead.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from typing import Any

import sympy
from latex2sympy2_extended.latex2sympy2 import NormalizationConfig, latex2sympy, normalize_latex
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from math_verify.grader import should_treat_as_complex
from sympy import Basic, MatrixBase

from grpo_reward_math.bounds import check_bounds
from grpo_reward_math.extract import _is_prose, extract_answer, find_boxes, last_box_cluster, strip_outer_box

logging.getLogger("math_verify").setLevel(logging.ERROR)

NORMALIZATION = NormalizationConfig(
    basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all", equations=False
)


class Unparseable(ValueError):
    """The answer string could not be turned into a comparable value."""


# -- string clean-up --------------------------------------------------------------------------------
_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mbox|operatorname)\s*\{")
_DEGREE_RE = re.compile(
    r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree|\s*\\text\{\s*°\s*\}|\bdegrees?\b", re.IGNORECASE
)
_BOLD_RE = re.compile(r"\\(?:mathbf|bm|boldsymbol|mathit|mathnormal)\s*\{([^{}]*)\}")
_TRIG_RE = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![a-z])")
_TRIG_DEGREE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°)")
_PERCENT_RE = re.compile(r"\\%|%|\bpercent(?:age)?\b|\bpct\b", re.IGNORECASE)
_THOUSANDS_SPACED_RE = re.compile(r"(?<=\d)(?:(?:\{,\}|,\\!|\\!|\\,|\\;|\\:|\\ |~)+\s*)(?=\d{3}(?!\d))")
_THOUSANDS_COMMA_RE = re.compile(r"^-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")
_THOUSANDS_SPACE_RE = re.compile(r"^-?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?$")
_DECIMAL_COMMA_RE = re.compile(r"^-?\d+,\d+$")
_PLAIN_DECIMAL_RE = re.compile(r"^[+-]?(\d*)\.(\d+)$")
_PLAIN_NUMBER_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")
# units after a value: a \\text{} group, words after a space ("12 meters"), or a unit abbreviation
# written on ("5cm"); never letters glued to the number ("4abc" is a product)
_TRAILING_WORDS_RE = re.compile(
    r"(?:\s*\\(?:text|textnormal|textrm|textit|mathrm|mbox)\s*\{\s*(?!(?:or|and)\s*\})[^{}]*\}"
    r"|(?<=[\d}\)])(?:\s+[a-zA-Z]{3,}(?:\s+[a-zA-Z]{2,})*|\s*(?:cm|km|kg|mm|ml|ft|hr|hrs)\b))"
    r"\s*(?:\^\s*\{?\d\}?)?$"
)
_CURRENCY_RE = re.compile(r"\\\$|\$|€|£|¥|\\euro|\bdollars?\b|\bcents?\b|\byuan\b|\beuros?\b", re.IGNORECASE)
_SPACING_RE = re.compile(
    r"\\left(?![a-zA-Z])|\\right(?![a-zA-Z])|\\displaystyle|(?<!\\)\\!|\\quad|\\qquad|(?<!\\)\\,|(?<!\\)\\;|(?<!\\)\\:"
)
_TEXTLIKE_RE = re.compile(r"^[A-Za-z][A-Za-z .,'’\-]*$")


def _unwrap_text_commands(s: str) -> str:
    """``\\text{abc}`` -> ``abc`` (balanced braces)."""
    for _ in range(20):
        m = _TEXT_CMD_RE.search(s)
        if not m:
            return s
        depth, j = 1, m.end()
        while j < len(s) and depth:
            if s[j] == "{":
                depth += 1
            elif s[j] == "}":
                depth -= 1
            j += 1
        inner = s[m.end() : j - 1] if depth == 0 else s[m.end() :]
        s = s[: m.start()] + inner + s[j:]
    return s


def text_form(s: str) -> str | None:
    """A lower-case word form when ``s`` is a text answer (``\\text{Evelyn}``, ``(B)``), else None."""
    t = _unwrap_text_commands(s).strip().strip("$").strip()
    t = t.strip("().[] ").strip()
    if not t or not _TEXTLIKE_RE.match(t):
        return None
    words = re.findall(r"[a-z]+", t.lower())
    return " ".join(words) or None


@dataclass
class Prepared:
    """An answer string after clean-up, with what the clean-up removed."""

    text: str
    percent: bool = False
    degrees: bool = False
    units: str = ""


def clean(s: str) -> Prepared:
    s = strip_outer_box(s).strip()
    if "\\begin" not in s:
        s = re.sub(r"\\\\(?=[a-zA-Z])", r"\\", s)  # JSON-escaped LaTeX: "\\frac" -> "\frac"
    s = s.replace('\\"', "").replace('"', "")
    s = re.sub(r"\\n(?![a-zA-Z])", " ", s)
    s = _unicode_to_latex(s)
    s = _THOUSANDS_SPACED_RE.sub("", s)
    s = _BOLD_RE.sub(r"\1", s)
    s = (
        s.replace("\n", " ")
        .replace("\\dfrac", "\\frac")
        .replace("\\tfrac", "\\frac")
        .replace("\\cfrac", "\\frac")
    )
    s = _SPACING_RE.sub(lambda m: " " if m.group(0) in ("\\quad", "\\qquad") else "", s)
    s = re.sub(r"(?<!\\)\\(?:;|:|,|!)", "", s)
    s = re.sub(r"(?<!\\)\\ ", " ", s)
    s = _THOUSANDS_SPACED_RE.sub("", s)
    s = s.replace("{,}", ",")
    percent = bool(_PERCENT_RE.search(s))
    if percent:
        s = _PERCENT_RE.sub("", s)
    if _TRIG_RE.search(s):
        # degrees inside trigonometric functions become radians: \sin 30^\circ = \sin(\pi/6)
        s = _TRIG_DEGREE_RE.sub(lambda m: f"({m.group(1)}\\pi/180)", s)
    degrees = bool(_DEGREE_RE.search(s))
    if degrees:
        s = _DEGREE_RE.sub("", s)
    s = _CURRENCY_RE.sub("", s)
    s = s.strip().rstrip(".").strip()
    # units after a value: "12 meters", "5\text{ cm}^2"
    units = ""
    for _ in range(3):
        new = _TRAILING_WORDS_RE.sub("", s).strip()
        if new == s or not new:
            break
        units = s[len(new) :] + " " + units
        s = new
    if s.startswith("\\text{") or s.startswith("\\mbox{"):
        inner = _unwrap_text_commands(s).strip()
        if re.match(r"^-?\d", inner):
            m = re.match(r"^(-?[\d.,/]+)\s*([A-Za-z ]*)$", inner)
            if m:
                s, units = m.group(1), m.group(2)
    s = _REPEATING_RE.sub(_repeating_to_fraction, s)
    s = _SCI_RE.sub(lambda m: f"{m.group(1)}\\times 10^{{{int(m.group(2))}}}", s)
    s = _IN_PREFIX_RE.sub("", s)
    builder = _SET_BUILDER_RE.match(s.strip())
    if builder:
        s = builder.group(1)  # {x | x > 2} -> x > 2
    s = s.replace("\\varnothing", "\\emptyset").replace("\\O ", "\\emptyset ")
    if re.fullmatch(r"\\\{\s*\\\}|\{\s*\}", s):
        s = "\\emptyset"
    if s.startswith("{") and s.endswith("}") and _balanced(s[1:-1]):
        s = s[1:-1].strip()  # "{1, 2}" written without the backslashes of a set
    if _THOUSANDS_COMMA_RE.match(s):
        s = s.replace(",", "")
    elif _THOUSANDS_SPACE_RE.match(s):
        s = s.replace(" ", "")
    return Prepared(s.strip(), percent, degrees, canonical_units(units))


_APPROX_RE = re.compile(r"\\approx|≈|\\sim(?![a-z])")


def _collapse_chain(s: str) -> str:
    """``x = 5+5+1 = 7 = 11`` -> ``x = 11``; ``x = 1/3 \\approx 0.33`` -> ``x = 1/3``."""
    if "," in s or ";" in s or "\\begin" in s:
        return s
    if _APPROX_RE.search(s):
        head = _APPROX_RE.split(s)[0]
        if not head.strip():
            s = _APPROX_RE.split(s)[-1].strip()  # "\\approx 3.14"
        elif "=" in head or not is_name_like(head):
            s = head.strip()
        else:
            s = head.strip() + " = " + _APPROX_RE.split(s)[-1].strip()
    if s.count("=") >= 2 and not re.search(r"[<>]|\\le|\\ge|\\ne|!=", s):
        parts = [p.strip() for p in s.split("=")]
        if all(parts):
            first, last = parts[0], parts[-1]
            s = f"{first} = {last}" if is_name_like(first) else last
    return s


_NAME_STRIP_RE = re.compile(
    r"_\{[^{}]*\}|_[A-Za-z0-9]|\^\{-1\}|\^-1|\\(?:text|mathrm|operatorname|frac|overline|angle)\b"
)


def is_name_like(lhs: str) -> bool:
    """A left side that names the answer (``x``, ``f(x)``, ``a_3``, ``|AB|``, ``V_1:V_2``,
    ``\\frac{NO}{BO}``) rather than an expression (``a + 3z``, ``7``, ``x^2``)."""
    t = _NAME_STRIP_RE.sub("", lhs).strip()
    if not t or not re.search(r"[A-Za-z]", t):
        return False
    if re.fullmatch(r"\(\s*[A-Za-z](?:\s*,\s*[A-Za-z])*\s*\)", t):
        return True  # (p, q) = (3, 2)
    t = re.sub(r"\\[a-zA-Z]+", "a", t)  # greek letters and other commands
    # function arguments may hold anything but '='
    t = re.sub(r"\([^()=]{0,30}\)", "", t)
    return bool(re.fullmatch(r"[A-Za-z{}|:/' ,]+", t))


_REPEATING_RE = re.compile(r"(-?)(\d*)\.(\d*)\\(?:overline|bar|dot)\s*\{?(\d+)\}?")
_SCI_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?\d{1,3})(?![\w.])")
_IN_PREFIX_RE = re.compile(r"^\s*[A-Za-z](?:_\{?\w+\}?)?\s*(?:\\in|∈)\s*")


_UNICODE = {
    "−": "-",
    "–": "-",
    "∞": "\\infty ",
    "π": "\\pi ",
    "×": "\\times ",
    "·": "\\cdot ",
    "⋅": "\\cdot ",
    "≤": "\\le ",
    "≥": "\\ge ",
    "≠": "\\ne ",
    "∪": "\\cup ",
    "∩": "\\cap ",
    "÷": "/",
    "½": "\\frac{1}{2}",
    "¼": "\\frac{1}{4}",
    "¾": "\\frac{3}{4}",
    "⁄": "/",
    "θ": "\\theta ",
    "α": "\\alpha ",
    "β": "\\beta ",
    "²": "^2",
    "³": "^3",
    "∅": "\\emptyset ",
    "ℝ": "\\mathbb{R}",
    "∈": "\\in ",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))
_SQRT_UNICODE_RE = re.compile(r"√\s*(\d+(?:\.\d+)?|[A-Za-z]|\([^()]*\)|\{[^{}]*\})")
_SET_BUILDER_RE = re.compile(r"^\\\{\s*[A-Za-z]\s*(?:\\in\s*\\mathbb\{R\}\s*)?(?:\||\\mid|:)\s*(.+?)\s*\\\}$")


def _unicode_to_latex(s: str) -> str:
    if s.isascii():
        return s
    s = _SQRT_UNICODE_RE.sub(lambda m: "\\sqrt{" + m.group(1).strip("(){}") + "}", s)
    return _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], s)


def _repeating_to_fraction(m: re.Match) -> str:
    """``0.1\\overline{6}`` -> ``\\frac{1}{6}`` (exact)."""
    sign, whole, fixed, period = m.group(1), m.group(2) or "0", m.group(3), m.group(4)
    value = Fraction(int(whole)) + (Fraction(int(fixed), 10 ** len(fixed)) if fixed else 0)
    value += Fraction(int(period), (10 ** len(period) - 1) * 10 ** len(fixed))
    return f"{sign}\\frac{{{value.numerator}}}{{{value.denominator}}}"


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


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
    t = _unwrap_text_commands(text).lower()
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
        new = _TRAILING_WORDS_RE.sub("", s).strip()
        if new == s or not new:
            break
        s = new
    return s


# -- splitting into items ---------------------------------------------------------------------------
_SEPARATOR_WORDS_RE = re.compile(
    r"\s*(?:\\text\s*\{\s*(?:and|or|,)\s*\}|\\mbox\s*\{\s*(?:and|or)\s*\}|\band\b|\bor\b|\\lor\b|\\vee\b|;)\s*",
    re.IGNORECASE,
)


def split_top_level(s: str) -> list[str]:
    """Split at commas (and 'and', 'or', ';') outside brackets and braces."""
    s = _SEPARATOR_WORDS_RE.sub(" , ", s)
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    i = 0
    in_env = 0
    while i < len(s):
        ch = s[i]
        if s.startswith("\\begin", i):
            in_env += 1
        elif s.startswith("\\end", i):
            in_env = max(0, in_env - 1)
        if ch == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            current.append(s[i : i + 2])
            i += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth <= 0 and not in_env:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


_PM_RE = re.compile(r"\\pm|\\mp|±|∓")


def expand_pm(s: str) -> list[str]:
    """``a \\pm b`` -> [``a + b``, ``a - b``] (one ± only; more are left to the parser)."""
    found = _PM_RE.findall(s)
    if len(found) != 1:
        return [s]
    sign = found[0] in ("\\pm", "±")
    plus = _PM_RE.sub("+", s, count=1)
    minus = _PM_RE.sub("-", s, count=1)
    return [plus, minus] if sign else [minus, plus]


_SIMPLE_LHS_RE = re.compile(
    r"^\s*(?:[A-Za-z](?:_\{?[\w,]+\}?)?(?:\^\{?-1\}?)?(?:'+)?(?:\s*\([^()=]{0,20}\))?|\\[a-zA-Z]+(?:_\{?\w+\}?)?|\|[^|]{1,10}\|)\s*$"
)


_NAME_SUM_RE = re.compile(r"^\s*[A-Za-z](?:\s*[+*]\s*[A-Za-z])+\s*$")
_PLAIN_VALUE_RE = re.compile(r"^\s*-?\s*(?:\d+(?:\.\d+)?|\\frac\{\d+\}\{\d+\}|\d+/\d+)\s*$")


def strip_simple_lhs(s: str, allow_name_sums: bool = False) -> tuple[str, str | None]:
    """``x = 5`` -> (``5``, ``x``); ``f(x)=2x`` -> (``2x``, ``f(x)``). Other strings unchanged.

    ``allow_name_sums`` (predictions only): ``m+n = 3`` -> ``3`` when the right side is a plain number
    (the "find m+n" answers of competitions), while ``2x + 3 = 5`` stays an equation.
    """
    if s.count("=") != 1 or any(op in s for op in ("\\le", "\\ge", "<", ">", "\\ne", "!=")):
        return s, None
    lhs, rhs = s.split("=", 1)
    if rhs.strip() and (_SIMPLE_LHS_RE.match(lhs) or is_name_like(lhs)):
        return rhs.strip(), re.sub(r"\s+", "", lhs)
    if allow_name_sums and _NAME_SUM_RE.match(lhs) and _PLAIN_VALUE_RE.match(rhs):
        return rhs.strip(), re.sub(r"\s+", "", lhs)
    return s, None


# -- parsing ----------------------------------------------------------------------------------------
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


def _float_to_rational(expr: Any) -> Any:
    """Replace every Float by the exact rational of its decimal form."""
    try:
        floats = expr.atoms(sympy.Float)
    except Exception:
        return expr
    if not floats:
        return expr
    mapping = {}
    for f in floats:
        try:
            mapping[f] = sympy.Rational(str(sympy.Float(f, 15)).rstrip("0") or "0")
        except Exception:
            return expr
    try:
        return expr.xreplace(mapping)
    except Exception:
        return expr


def _make_sll_converter() -> Any:
    """latex2sympy's converter with the ANTLR parser in SLL prediction mode (several times faster).

    Two-stage parsing: a syntax error under SLL (latex2sympy's error listener raises) is retried with
    the full LL prediction, so results are those of the stock parser. Uses a private class of the
    pinned latex2sympy2_extended; without it the stock parser is used.
    """
    try:
        from antlr4.atn.PredictionMode import PredictionMode
        from latex2sympy2_extended.latex2sympy2 import ConversionConfig, _Latex2Sympy
    except Exception:  # pragma: no cover - other latex2sympy2_extended versions
        return None

    class SLLConverter(_Latex2Sympy):
        def create_parser(self, latex_str: str) -> Any:
            parser = super().create_parser(latex_str)
            parser._interp.predictionMode = PredictionMode.SLL
            return parser

    return lambda is_real: SLLConverter(None, is_real, False, config=ConversionConfig())


_SLL_CONVERTER = _make_sll_converter()


def _latex_to_sympy(normalized: str, is_real: bool) -> Any:
    if _SLL_CONVERTER is not None:
        try:
            return _SLL_CONVERTER(is_real).parse(normalized)
        except Exception:
            pass
    return latex2sympy(normalized, is_real=is_real, convert_degrees=False, normalization_config=None)


_FAST_FRAC_RE = re.compile(r"^\s*(-?)\s*\\frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(-?\d+)\s*\}\s*$")
_FAST_SLASH_RE = re.compile(r"^\s*(-?\d+)\s*/\s*(-?\d+)\s*$")


def _fast_number(s: str) -> Any:
    """Integers, decimals and simple fractions without the LaTeX parser (most GRPO answers)."""
    t = s.strip()
    if _PLAIN_NUMBER_RE.match(t) and len(t) < 200:
        return sympy.Float(t) if "." in t else sympy.Integer(t)
    m = _FAST_FRAC_RE.match(t) or _FAST_SLASH_RE.match(t)
    if m:
        groups = m.groups()
        sign = -1 if len(groups) == 3 and groups[0] == "-" else 1
        num, den = int(groups[-2]), int(groups[-1])
        if den != 0:
            return sign * sympy.Rational(num, den)
    return None


@lru_cache(maxsize=4096)
def parse_latex(s: str) -> Any:
    """LaTeX (or plain) string -> sympy object; raises Unparseable."""
    if not s.strip():
        raise Unparseable("empty")
    fast = _fast_number(s)
    if fast is not None:
        return fast
    normalized = normalize_latex(s, NORMALIZATION)
    try:
        return _latex_to_sympy(normalized, not should_treat_as_complex(normalized))
    except Exception:
        pass
    # math-verify's own extraction (percent suffixes, 'and'-joined environments), no signal timeout
    try:
        found = parse(
            f"${s}$",
            extraction_config=[LatexExtractionConfig(), ExprExtractionConfig()],
            fallback_mode="no_fallback",
            parsing_timeout=None,
        )
    except Exception:
        found = []
    for value in found:
        if isinstance(value, (Basic, MatrixBase)):
            return value
    raise Unparseable(s)


NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80})
NUMBER_WORDS.update({"ninety": 90, "hundred": 100, "one hundred": 100, "a hundred": 100})


def make_item(raw: str, prepared: Prepared, is_gold: bool = True) -> Item:
    s, lhs = strip_simple_lhs(_collapse_chain(strip_units(raw)), allow_name_sums=not is_gold)
    item = Item(raw=raw, lhs=lhs, percent=prepared.percent, degrees=prepared.degrees)
    item.text = text_form(s)
    m = _PLAIN_DECIMAL_RE.match(s.strip())
    if m:
        item.decimals = len(m.group(2))
    if item.text is not None and item.text in NUMBER_WORDS:
        item.expr = sympy.Integer(NUMBER_WORDS[item.text])
        return item
    if item.text in ("infinity", "positive infinity"):
        item.expr = sympy.oo
        return item
    if item.text in ("all real numbers", "all reals", "all real x", "the real numbers"):
        item.expr = sympy.Reals
        return item
    if item.text in ("no solution", "no solutions", "no real solution", "no real solutions", "empty set"):
        item.expr = sympy.EmptySet
        return item
    if item.text is not None and len(item.text.replace(" ", "")) > 1 and " " in item.text:
        return item  # a phrase: compared as text only
    try:
        expr = parse_latex(s)
    except Unparseable:
        if _DECIMAL_COMMA_RE.match(s):
            expr = parse_latex(s.replace(",", "."))
        else:
            return item
    except Exception:
        return item
    item.expr = expr
    if _PLAIN_NUMBER_RE.match(s.strip()):
        item.expr = sympy.Rational(s.strip())  # exact, all written digits kept
    if _DECIMAL_COMMA_RE.match(s.strip()):
        item.alternatives.append(sympy.Rational(s.strip().replace(",", ".")))
    return item


@dataclass
class Answer:
    """A whole answer: its items (one for a single value), the cleaned text and flags."""

    items: list[Item]
    cleaned: str
    units: str = ""
    choice: str = ""  # "(D) 4": the option letter written with the value


def _flatten_sets(item: Item) -> list[Item]:
    expr = item.expr
    if isinstance(expr, sympy.FiniteSet) and not isinstance(expr, sympy.Interval):
        out = []
        for element in expr.args:
            out.append(Item(raw=str(element), expr=element, percent=item.percent, degrees=item.degrees))
        return out or [item]
    return [item]


_CHOICE_LABEL_RE = re.compile(
    r"^(?:\\text(?:bf)?\s*\{\s*)?\(([A-Ea-e])\)\s*\}?\s*(?:\\quad|\\ |~)?\s*(\S.*)$"
)


def _assignment_groups(s: str) -> list[str] | None:
    """``p=5,q=2;p=7,q=2`` -> [``(5,2)``, ``(7,2)``]: groups of assignments become tuples."""
    if ";" not in s or "," not in s:
        return None
    groups = [g.strip() for g in s.split(";") if g.strip()]
    tuples = []
    for group in groups:
        values = []
        for part in group.split(","):
            value, lhs = strip_simple_lhs(part.strip())
            if lhs is None:
                return None
            values.append(value)
        tuples.append("(" + ",".join(values) + ")")
    return tuples


def analyse(raw: str, max_chars: int, is_gold: bool = False) -> Answer:
    """Clean, bound-check, split and parse one answer string."""
    prepared = clean(raw)
    s = prepared.text
    choice = ""
    labelled = _CHOICE_LABEL_RE.match(s)
    if labelled and not is_gold and labelled.group(2).strip("{} "):
        choice, s = labelled.group(1).lower(), labelled.group(2).strip()
    reason = check_bounds(s, max_chars)
    if reason:
        raise Unparseable(reason)
    pieces = _assignment_groups(s)
    if pieces is None:
        pieces = split_top_level(s) if "," in s or ";" in s or re.search(r"\band\b|\bor\b", s) else [s]
    seen: set[str] = set()
    unique = []
    for piece in pieces:
        key = re.sub(r"\s+", "", piece)
        if key not in seen:
            seen.add(key)
            unique.append(piece)
    pieces = unique
    if len(pieces) > 64:
        raise Unparseable("too many items")
    items: list[Item] = []
    if len(pieces) == 1 and _DECIMAL_COMMA_RE.match(s):
        pieces = [s]
    for piece in pieces:
        for variant in expand_pm(piece):
            item = make_item(variant, prepared, is_gold)
            items.extend(_flatten_sets(item) if len(pieces) >= 1 else [item])
    return Answer(items=items, cleaned=s, units=prepared.units, choice=choice)


def analyse_gold(raw: str, max_chars: int) -> Answer:
    """The gold answer in any dataset form; a long solution text is mined for its boxed answer.

    Raises Unparseable (the row is ``invalid_input``) when no form of it parses or it breaks a bound.
    """
    text = str(raw).strip()
    if not text:
        raise Unparseable("empty gold answer")
    boxes = find_boxes(text)
    if boxes:
        cluster = last_box_cluster(text, boxes)
        joined = ", ".join(cluster) if len(cluster) > 1 else cluster[0]
        answer = analyse(joined, max_chars, is_gold=True)  # bound violations propagate
        if answer.items and all(i.expr is not None or i.text for i in answer.items):
            return answer
    if _is_prose(text):
        # a sentence or a solution: its anchored answer ("the answer is 12"), else math-verify's search
        found = extract_answer(
            text[-5000:], ("answer_tag", "final_answer"), after_think=False, allow_truncated=True
        )
        if found.found:
            answer = analyse(", ".join(found.answers), max_chars, is_gold=True)
            if answer.items and all(i.expr is not None or i.text for i in answer.items):
                return answer
        if len(text) <= 300:
            # a text answer ("\\text{The midpoints form a regular hexagon}") is compared as text
            answer = analyse(text, max_chars, is_gold=True)
            if len(answer.items) == 1 and answer.items[0].text and answer.items[0].expr is None:
                return answer
    elif len(text) <= 300:
        answer = analyse(text, max_chars, is_gold=True)
        if answer.items and all(i.expr is not None or i.text for i in answer.items):
            return answer
    # a solution text or an odd form: math-verify's extraction, timeout disabled, after the bounds
    tail = text[-5000:]
    reason = check_bounds(tail, 10**6)
    if reason:
        raise Unparseable(reason)
    try:
        found = parse(tail, parsing_timeout=None, fallback_mode="no_fallback")
    except Exception:
        found = []
    for value in found:
        if isinstance(value, (Basic, MatrixBase)):
            item = Item(raw=str(value), expr=value)
            return Answer(items=_flatten_sets(item), cleaned=str(value))
    raise Unparseable("gold answer could not be parsed")


# -- comparison -------------------------------------------------------------------------------------
HIGH_PRECISION = 60
#: decimal places from which a correctly rounded decimal stands for a repeating rational (1/12)
FULL_PRECISION_PLACES = 10
#: largest relative error of a decimal approximation of an irrational gold (set per call by compare)
_tolerance = 0.0
#: > 0 while comparing entries of matrices, tuples and intervals
_structure_depth = 0


class _InStructure:
    def __enter__(self) -> None:
        global _structure_depth
        _structure_depth += 1

    def __exit__(self, *exc: object) -> None:
        global _structure_depth
        _structure_depth -= 1


def _is_number(expr: Any) -> bool:
    try:
        return isinstance(expr, sympy.Expr) and not expr.free_symbols and not expr.has(sympy.Symbol)
    except Exception:
        return False


def _exact_equal_numbers(a: Any, b: Any) -> bool | None:
    """True/False if decidable, None if evaluation failed."""
    try:
        if a == b:
            return True
        if isinstance(a, sympy.Rational) and isinstance(b, sympy.Rational):
            return False
        import mpmath

        if a.has(sympy.oo, -sympy.oo, sympy.zoo) or b.has(sympy.oo, -sympy.oo, sympy.zoo):
            return bool(a == b)
        fa, fb = _mp_function(a, []), _mp_function(b, [])
        if fa is None or fb is None:
            return None
        va, vb = _mp_value(fa, [], HIGH_PRECISION), _mp_value(fb, [], HIGH_PRECISION)
        if va is None or vb is None:
            return None
        with mpmath.workdps(HIGH_PRECISION):
            scale = max(abs(va), abs(vb), 1)
            return bool(abs(va - vb) <= scale * mpmath.mpf(10) ** (-(HIGH_PRECISION - 12)))
    except Exception:
        return None


def _round_decimal(expr: Any, places: int, mode: str) -> Decimal | None:
    try:
        value = sympy.N(expr, places + 30)
        if not value.is_real:
            return None
        return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=mode)
    except (InvalidOperation, Exception):
        return None


def _decimal_of(expr: Any) -> Decimal | None:
    try:
        if isinstance(expr, sympy.Rational):
            f = Fraction(int(expr.p), int(expr.q))
            return Decimal(f.numerator) / Decimal(f.denominator)
    except Exception:
        pass
    return None


def _terminates(expr: Any, places: int) -> bool:
    """A rational whose decimal expansion ends within ``places`` digits."""
    if not isinstance(expr, sympy.Rational):
        return False
    return (expr * sympy.Integer(10) ** places).is_integer


def _rounds_to(exact: Any, decimal_value: Any, places: int) -> bool:
    target = _decimal_of(decimal_value)
    if target is None:
        return False
    for mode in (ROUND_HALF_UP, ROUND_HALF_EVEN):
        rounded = _round_decimal(exact, places, mode)
        if rounded is not None and rounded == target:
            return True
    return False


def _exact_and_places(expr: Any, places: int | None) -> tuple[Any, int | None]:
    """A bare Float -> (its exact decimal value, its written places); floats inside -> exact."""
    if isinstance(expr, sympy.Float):
        return _float_to_rational(expr), places if places is not None else _decimals_of_float(expr)
    if expr.atoms(sympy.Float):
        return _float_to_rational(expr), places
    return expr, places


def numbers_equal(g: Item, p: Item, g_expr: Any, p_expr: Any) -> bool:
    """Exact values must match exactly; decimals are compared at the precision they are written with."""
    g_expr, g_places = _exact_and_places(g_expr, g.decimals)
    p_expr, p_places = _exact_and_places(p_expr, p.decimals)
    g = Item(raw=g.raw, decimals=g_places)
    p = Item(raw=p.raw, decimals=p_places)
    exact = _exact_equal_numbers(g_expr, p_expr)
    if exact:
        return True
    if exact is None:
        return False
    # the gold is a decimal: the prediction must round to it at the gold's written precision
    if g.decimals is not None:
        if p.decimals is not None and p.decimals < g.decimals:
            return False
        return _rounds_to(p_expr, g_expr, g.decimals)
    # the prediction is a decimal approximation of an exact gold
    if p.decimals is not None:
        if isinstance(g_expr, sympy.Rational):
            if g_expr.is_integer or _terminates(g_expr, 12):
                return False  # exact integers and terminating rationals never pass on tolerance
            # a lone exact rational never passes on a short approximation (0.667 for 2/3); a value
            # printed to machine precision does, and so does a rounded entry of a matrix, tuple
            # or interval (0.33 for 1/3)
            needed = 2 if _structure_depth > 0 else FULL_PRECISION_PLACES
            return p.decimals >= needed and _rounds_to(g_expr, p_expr, p.decimals)
        # an irrational gold (\\sqrt{2}, \\pi): a correctly rounded decimal to machine precision, or
        # with the tolerance option set, one of 3+ places within that relative error
        if p.decimals >= FULL_PRECISION_PLACES or (_structure_depth > 0 and p.decimals >= 2):
            return _rounds_to(g_expr, p_expr, p.decimals)
        if _tolerance <= 0 or p.decimals < 3:
            return False
        try:
            rel = abs(sympy.N((g_expr - p_expr) / g_expr, 20))
            if rel > _tolerance:
                return False
        except Exception:
            return False
        return _rounds_to(g_expr, p_expr, p.decimals)
    return False


def _mp_function(expr: Any, symbols: list[Any]) -> Any:
    """A fast mpmath evaluator of ``expr`` (no exact zero tests, unlike sympy.N)."""
    try:
        numbers = expr.atoms(sympy.Rational)
        if numbers:
            # literal integers would otherwise be evaluated as Python ints/floats (3/10**2 -> 0.03)
            expr = expr.xreplace({n: sympy.Float(n, 80) for n in numbers if n not in (0, 1, -1)})
        return sympy.lambdify(symbols, expr, modules="mpmath")
    except Exception:
        return None


def _mp_value(fn: Any, args: list[Any], dps: int) -> Any:
    import mpmath

    try:
        with mpmath.workdps(dps):
            value = mpmath.mpmathify(fn(*args))
            if not mpmath.isfinite(value):
                return None
            return +value
    except Exception:
        return None


def _random_points(symbols: list[Any], count: int, seed: int) -> list[dict[Any, Any]]:
    rng = random.Random(seed)
    points = []
    for _ in range(count):
        point = {}
        for sym in symbols:
            value = sympy.Rational(rng.randint(150, 2900), 1000) * rng.choice((1, -1))
            point[sym] = value
        points.append(point)
    return points


def _symbolic_equal(a: Any, b: Any) -> bool | None:
    """Algebraic equality of two expressions with free symbols: evaluation at random points with
    mpmath at 40 digits (decides quickly), then sympy simplification. None: undecided."""
    import mpmath

    try:
        if a == b:
            return True
        symbols = sorted(a.free_symbols | b.free_symbols, key=str)
        if not symbols:
            return None
        if a.atoms(sympy.core.function.AppliedUndef) or b.atoms(sympy.core.function.AppliedUndef):
            return None
        fa, fb = _mp_function(a, symbols), _mp_function(b, symbols)
        if fa is None or fb is None:
            return None
        agree = 0
        for point in _random_points(symbols, 6, seed=len(symbols) * 7919 + 17):
            args = [mpmath.mpf(int(v.p)) / int(v.q) for v in point.values()]
            va, vb = _mp_value(fa, args, 40), _mp_value(fb, args, 40)
            if va is None or vb is None:
                if (va is None) != (vb is None):
                    agree -= 1
                continue
            scale = max(abs(va), abs(vb), 1)
            if abs(va - vb) > scale * mpmath.mpf(10) ** -25:
                return False
            agree += 1
        if agree >= 4:
            return True
        if agree <= 0 or sympy.count_ops(a) + sympy.count_ops(b) > 60:
            return None
        simplified = sympy.simplify(a - b)
        if simplified == 0:
            return True
        return None
    except Exception:
        return None


def _as_interval_list(s: Any) -> list[Any] | None:
    if isinstance(s, sympy.Interval):
        return [s]
    if isinstance(s, sympy.Union):
        parts = []
        for arg in s.args:
            sub = _as_interval_list(arg)
            if sub is None:
                return None
            parts.extend(sub)
        return parts
    if isinstance(s, sympy.FiniteSet):
        return [s]
    return None


def _sets_equal(g: Any, p: Any) -> bool:
    try:
        if g == p:
            return True
        gl, pl = _as_interval_list(g), _as_interval_list(p)
        if gl is not None and pl is not None and len(gl) == len(pl):
            used = [False] * len(pl)
            for gi in gl:
                for j, pj in enumerate(pl):
                    if used[j]:
                        continue
                    if _interval_equal(gi, pj):
                        used[j] = True
                        break
                else:
                    break
            else:
                return True
        return bool(sympy.simplify(g.symmetric_difference(p)).is_empty) if _exactish(g, p) else False
    except Exception:
        return False


def _exactish(*exprs: Any) -> bool:
    return all(not e.atoms(sympy.Float) for e in exprs)


def _interval_equal(a: Any, b: Any) -> bool:
    if isinstance(a, sympy.Interval) and isinstance(b, sympy.Interval):
        with _InStructure():
            return (
                a.left_open == b.left_open
                and a.right_open == b.right_open
                and _values_equal(a.start, b.start)
                and _values_equal(a.end, b.end)
            )
    if isinstance(a, sympy.FiniteSet) and isinstance(b, sympy.FiniteSet) and len(a) == len(b):
        return _match_all(list(a.args), list(b.args), _values_equal)
    return False


def _values_equal(a: Any, b: Any) -> bool:
    if a == b:
        return True
    if _is_number(a) and _is_number(b):
        return numbers_equal(Item(raw=str(a)), Item(raw=str(b)), a, b)
    result = _symbolic_equal(a, b)
    return bool(result)


def _match_all(golds: list[Any], preds: list[Any], eq: Any) -> bool:
    """A perfect matching between two equally long lists under ``eq`` (backtracking)."""
    if len(golds) != len(preds):
        return False
    return matched_count(golds, preds, eq) == len(golds)


def matched_count(golds: list[Any], preds: list[Any], eq: Any) -> int:
    """Size of a maximum matching (augmenting paths; lists are short)."""
    n, m = len(golds), len(preds)
    adj = [[j for j in range(m) if eq(golds[i], preds[j])] for i in range(n)]
    match_of_pred = [-1] * m

    def augment(i: int, seen: list[bool]) -> bool:
        for j in adj[i]:
            if seen[j]:
                continue
            seen[j] = True
            if match_of_pred[j] < 0 or augment(match_of_pred[j], seen):
                match_of_pred[j] = i
                return True
        return False

    return sum(1 for i in range(n) if augment(i, [False] * m))


def _relation_to_set(rel: Any) -> Any:
    try:
        calls = list(rel.atoms(sympy.core.function.AppliedUndef))
        if len(calls) == 1:
            rel = rel.xreplace({calls[0]: sympy.Symbol("_f_", real=True)})
        elif calls:
            return None
        if len(rel.free_symbols) != 1:
            return None
        return rel.as_set()
    except Exception:
        return None


def _is_relation(expr: Any) -> bool:
    if isinstance(expr, sympy.core.relational.Relational):
        return True
    return isinstance(expr, sympy.And) and all(
        isinstance(a, sympy.core.relational.Relational) for a in expr.args
    )


def _equations_equal(g: Any, p: Any) -> bool:
    """Two equations/inequalities with the same solution set: lhs-rhs proportional."""
    rel = sympy.core.relational
    if isinstance(g, sympy.Eq) and isinstance(p, sympy.Eq):
        a, b = g.lhs - g.rhs, p.lhs - p.rhs
        if a.free_symbols != b.free_symbols:
            return False
        try:
            ratio = sympy.simplify(a / b)
        except Exception:
            return False
        return bool(ratio.is_number and ratio != 0 and ratio.is_finite)
    inequalities = (rel.StrictLessThan, rel.LessThan, rel.StrictGreaterThan, rel.GreaterThan)
    if isinstance(g, inequalities) and isinstance(p, inequalities):
        # normalise to  expr  (<|<=)  0
        def norm(r: Any) -> tuple[Any, bool]:
            if isinstance(r, (rel.StrictLessThan, rel.LessThan)):
                return r.lhs - r.rhs, isinstance(r, rel.StrictLessThan)
            return r.rhs - r.lhs, isinstance(r, rel.StrictGreaterThan)

        (a, sa), (b, sb) = norm(g), norm(p)
        if sa != sb or a.free_symbols != b.free_symbols:
            return False
        try:
            ratio = sympy.simplify(a / b)
        except Exception:
            return False
        return bool(ratio.is_number and ratio.is_positive)
    if isinstance(g, sympy.And) and isinstance(p, sympy.And) or _is_relation(g) and _is_relation(p):
        gs, ps = _relation_to_set(g), _relation_to_set(p)
        if gs is not None and ps is not None and g.free_symbols == p.free_symbols:
            return _sets_equal(gs, ps)
    return False


def _unevaluated_pct(expr: Any) -> Any:
    """latex2sympy turns ``X\\%`` into ``X * UnevaluatedExpr(1/100)``: keep X."""
    if isinstance(expr, sympy.Mul) and any(isinstance(a, sympy.UnevaluatedExpr) for a in expr.args):
        rest = [a for a in expr.args if not isinstance(a, sympy.UnevaluatedExpr)]
        return sympy.Mul(*rest)
    return expr


def items_equal(g: Item, p: Item) -> bool:
    """One gold value against one predicted value."""
    # text answers
    if g.text is not None or p.text is not None:
        if g.text is not None and p.text is not None and g.text == p.text:
            return True
        if g.expr is None or p.expr is None:
            return False
    if g.expr is None or p.expr is None:
        return False
    ge, pe = g.expr, p.expr
    # both written with the same name on the left (x = 1 vs y = 1 differ when both name it)
    if g.lhs and p.lhs and g.lhs != p.lhs and len(g.lhs) == 1 and len(p.lhs) == 1:
        return False
    ge, pe = _unevaluated_pct(ge), _unevaluated_pct(pe)
    pe = _unify_symbols(ge, pe)
    if isinstance(ge, sympy.Tuple) and isinstance(pe, sympy.Interval) and pe.left_open and pe.right_open:
        pe = sympy.Tuple(pe.start, pe.end)
    if isinstance(pe, sympy.Tuple) and isinstance(ge, sympy.Interval) and ge.left_open and ge.right_open:
        ge = sympy.Tuple(ge.start, ge.end)
    # "y = 2x + 3" (its left side set aside) against the equation "2x - y + 3 = 0"
    if isinstance(pe, sympy.Eq) and g.lhs and not p.lhs:
        full = _full_expr(g)
        if isinstance(full, sympy.Eq):
            return _equations_equal(full, pe)
    if isinstance(ge, sympy.Eq) and p.lhs and not g.lhs:
        full = _full_expr(p)
        if isinstance(full, sympy.Eq):
            return _equations_equal(ge, full)
    # equations written with a non-simple left side: the gold's form decides
    if isinstance(pe, sympy.Eq) and not isinstance(ge, sympy.Eq):
        # "2 + 3 = 5" is a computation ending in its result; "2x + 3 = 5" does not answer "5"
        # (a named left side such as "x =" was already set aside)
        if getattr(pe.lhs, "free_symbols", {None}):
            return False
        pe = pe.rhs
    elif isinstance(ge, sympy.Eq) and not isinstance(pe, sympy.Eq):
        return False  # "a + 3z = 0" is not answered by "0"
    if isinstance(ge, MatrixBase) and isinstance(pe, sympy.Tuple) and 1 in ge.shape:
        pe = sympy.Matrix(ge.shape[0], ge.shape[1], list(pe.args)) if len(pe) == len(ge) else pe
    elif isinstance(pe, MatrixBase) and isinstance(ge, sympy.Tuple) and 1 in pe.shape:
        ge = sympy.Matrix(pe.shape[0], pe.shape[1], list(ge.args)) if len(ge) == len(pe) else ge
    if isinstance(ge, MatrixBase) or isinstance(pe, MatrixBase):
        return _matrices_equal(ge, pe)
    if isinstance(ge, sympy.Tuple) or isinstance(pe, sympy.Tuple):
        if isinstance(ge, sympy.Tuple) and isinstance(pe, sympy.Tuple) and len(ge) == len(pe):
            with _InStructure():
                return all(
                    items_equal(Item(raw=str(a), expr=a), Item(raw=str(b), expr=b))
                    for a, b in zip(ge.args, pe.args)
                )
        return False
    if _is_relation(ge) or _is_relation(pe):
        if _is_relation(ge) and _is_relation(pe):
            return _equations_equal(ge, pe) or _mv_verify(ge, pe)
        if _is_relation(ge) and isinstance(pe, sympy.Set):
            gs = _relation_to_set(ge)
            return gs is not None and _sets_equal(gs, pe)
        if _is_relation(pe) and isinstance(ge, sympy.Set):
            ps = _relation_to_set(pe)
            return ps is not None and _sets_equal(ge, ps)
        return False
    if isinstance(ge, sympy.Set) or isinstance(pe, sympy.Set):
        if isinstance(ge, sympy.Set) and isinstance(pe, sympy.Set):
            return _sets_equal(ge, pe)
        return False
    if not isinstance(ge, sympy.Expr) or not isinstance(pe, sympy.Expr):
        return _mv_verify(ge, pe)
    if _is_number(ge) and _is_number(pe):
        if g.percent != p.percent:
            # 25% vs 25 (the same figure written with or without the sign; not for figures below 1,
            # where "0.375%" is no way of writing 0.375) or vs 0.25
            if _at_least_one(ge) and numbers_equal(g, p, ge, pe):
                return True
            factor = sympy.Rational(1, 100)
            return bool(
                _exact_equal_numbers(ge * factor, pe) if g.percent else _exact_equal_numbers(ge, pe * factor)
            )
        if numbers_equal(g, p, ge, pe):
            return True
        if g.degrees != p.degrees and (ge.has(sympy.pi) or pe.has(sympy.pi)):
            conv = sympy.pi / 180
            return bool(
                _exact_equal_numbers(ge * conv, pe) if g.degrees else _exact_equal_numbers(ge, pe * conv)
            )
        return any(_exact_equal_numbers(ge, alt) for alt in p.alternatives) or any(
            _exact_equal_numbers(alt, pe) for alt in g.alternatives
        )
    if _is_number(ge) != _is_number(pe):
        # a constant against an expression with symbols: only sympy can tell (e.g. sin^2x+cos^2x)
        result = _symbolic_equal(ge, pe)
        return bool(result)
    if _symbol_text_equal(ge, pe):
        return True
    result = _symbolic_equal(ge, pe)
    if result is not None:
        return result
    return _mv_verify(ge, pe)


def _at_least_one(expr: Any) -> bool:
    try:
        return bool(abs(sympy.N(expr, 30)) >= 1)
    except Exception:
        return False


def _unify_symbols(ge: Any, pe: Any) -> Any:
    """Symbols with the same name but other assumptions (real or not) become the gold's."""
    try:
        gold_symbols = {sym.name: sym for sym in ge.free_symbols if isinstance(sym, sympy.Symbol)}
        mapping = {
            sym: gold_symbols[sym.name]
            for sym in pe.free_symbols
            if isinstance(sym, sympy.Symbol) and sym.name in gold_symbols and gold_symbols[sym.name] != sym
        }
        return pe.xreplace(mapping) if mapping else pe
    except Exception:
        return pe


def _full_expr(item: Item) -> Any:
    try:
        return parse_latex(item.raw)
    except Exception:
        return None


def _symbol_text_equal(a: Any, b: Any) -> bool:
    """``\\text{E}`` vs ``E``: math-verify's symbol/concatenation rules."""
    try:
        if isinstance(a, sympy.Symbol) and isinstance(b, sympy.Symbol):
            return a.name.lower() == b.name.lower()
        if (isinstance(a, sympy.Symbol) and b == sympy.E) or (isinstance(b, sympy.Symbol) and a == sympy.E):
            return (a if isinstance(a, sympy.Symbol) else b).name.lower() == "e"
    except Exception:
        pass
    return False


def _matrices_equal(a: Any, b: Any) -> bool:
    with _InStructure():
        return _matrices_equal_inner(a, b)


def _matrices_equal_inner(a: Any, b: Any) -> bool:
    try:
        if isinstance(a, sympy.MatrixExpr) or hasattr(a, "doit"):
            a = a.doit()
        if isinstance(b, sympy.MatrixExpr) or hasattr(b, "doit"):
            b = b.doit()
        if not (isinstance(a, MatrixBase) and isinstance(b, MatrixBase)):
            return False
        if a.shape != b.shape:
            if 1 in a.shape and 1 in b.shape and len(a) == len(b):
                b = b.reshape(*a.shape)
            else:
                return False
        for x, y in zip(a, b):
            xi = Item(raw=str(x), expr=_float_to_rational(x))
            yi = Item(raw=str(y), expr=_float_to_rational(y))
            if x.atoms(sympy.Float) or y.atoms(sympy.Float):
                # an approximate entry: compared at its written precision
                if x.atoms(sympy.Float):
                    xi.decimals = _decimals_of_float(x)
                if y.atoms(sympy.Float):
                    yi.decimals = _decimals_of_float(y)
            if not items_equal(xi, yi):
                return False
        return True
    except Exception:
        return False


def _decimals_of_float(x: Any) -> int | None:
    try:
        text = str(sympy.Float(x, 15)).rstrip("0")
        return len(text.split(".", 1)[1]) if "." in text else 0
    except Exception:
        return None


def _mv_verify(g: Any, p: Any) -> bool:
    try:
        return bool(verify(g, p, timeout_seconds=None))
    except Exception:
        return False


@dataclass
class Verdict:
    value: float
    reason: str = ""


def compare(
    gold: Answer, pred: Answer, gold_is_list: bool, partial_credit: bool, tolerance: float = 0.0
) -> Verdict:
    global _tolerance
    _tolerance = tolerance
    return _compare(gold, pred, gold_is_list, partial_credit)


def _compare(gold: Answer, pred: Answer, gold_is_list: bool, partial_credit: bool) -> Verdict:
    g_items, p_items = gold.items, pred.items
    if pred.choice and len(g_items) == 1 and g_items[0].text == pred.choice:
        return Verdict(1.0)  # gold "D", prediction "(D) 4"
    if gold.units and pred.units and gold.units != pred.units:
        ratio = unit_ratio(pred.units, gold.units)
        if ratio is None:
            return Verdict(0.0, f"different units: {gold.units!r} vs {pred.units!r}")
        # 1.5 km vs 1500 m: the prediction in the gold's unit
        p_items = [Item(raw=i.raw, expr=i.expr * ratio) if _is_number(i.expr) else i for i in p_items]
    if not p_items:
        return Verdict(0.0, "no answer")
    if len(g_items) == 1 and len(p_items) > 1:
        g = g_items[0]
        # (a, b) as an open interval / tuple gold against "a, b"
        ge = g.expr
        if isinstance(ge, sympy.Interval) and ge.left_open and ge.right_open and len(p_items) == 2:
            ge = sympy.Tuple(ge.start, ge.end)
        if isinstance(ge, sympy.Tuple) and len(ge) == len(p_items):
            with _InStructure():
                ok = all(items_equal(Item(raw=str(a), expr=a), pi) for a, pi in zip(ge.args, p_items))
            return Verdict(1.0 if ok else 0.0, "" if ok else "tuple mismatch")
        # a decimal comma, "1,5" for 1.5
        if len(p_items) == 2 and _DECIMAL_COMMA_RE.match(pred.cleaned.strip()):
            alt = make_item(pred.cleaned.strip().replace(",", "."), Prepared(pred.cleaned))
            if items_equal(g, alt):
                return Verdict(1.0)
        # "x < 2 or x > 3" against a set: the union of the relations' solution sets
        if isinstance(ge, sympy.Set) and all(pi.expr is not None and _is_relation(pi.expr) for pi in p_items):
            sets = [_relation_to_set(pi.expr) for pi in p_items]
            if all(x is not None for x in sets):
                ok = _sets_equal(ge, sympy.Union(*sets))
                return Verdict(1.0 if ok else 0.0)
        # several answers offered for one value: a hedge, unless they all agree
        if all(items_equal(g, pi) for pi in p_items):
            return Verdict(1.0)
        return Verdict(0.0, "several different answers for a single-valued gold")
    if len(g_items) > 1 and len(p_items) == 1:
        p = p_items[0]
        pe = p.expr
        if isinstance(pe, sympy.Interval) and pe.left_open and pe.right_open and len(g_items) == 2:
            pe = sympy.Tuple(pe.start, pe.end)
        if isinstance(pe, sympy.Tuple) and len(pe) == len(g_items):
            with _InStructure():
                ok = all(items_equal(gi, Item(raw=str(b), expr=b)) for gi, b in zip(g_items, pe.args))
            if ok:
                return Verdict(1.0)
        if len(g_items) == 2 and _DECIMAL_COMMA_RE.match(gold.cleaned.strip()):
            alt = make_item(gold.cleaned.strip().replace(",", "."), Prepared(gold.cleaned))
            if items_equal(alt, p):
                return Verdict(1.0)
    if len(g_items) == 1 and len(p_items) == 1:
        ok = items_equal(g_items[0], p_items[0])
        return Verdict(1.0 if ok else 0.0)
    matched = matched_count(g_items, p_items, items_equal)
    if matched == len(g_items) == len(p_items):
        return Verdict(1.0)
    if partial_credit and gold_is_list:
        return Verdict(matched / max(len(g_items), len(p_items)), "partial list")
    return Verdict(0.0, f"list: {matched} of {len(g_items)} matched, {len(p_items)} given")


def _drop_malformed_inline(text: str) -> str:
    """Blank ``$…$`` / ``\\(…\\)`` spans that run over a line break (inline math cannot)."""
    if "\n" not in text:
        return text
    out = []
    i = 0
    n = len(text)
    while i < n:
        if text.startswith("$$", i):
            j = text.find("$$", i + 2)
            j = n if j < 0 else j + 2
            out.append(text[i:j])
            i = j
            continue
        if text[i] == "$" and (i == 0 or text[i - 1] != "\\"):
            j = i + 1
            while j < n and not (text[j] == "$" and text[j - 1] != "\\"):
                j += 1
            if j >= n:
                out.append(text[i:])
                break
            span = text[i : j + 1]
            out.append(" " if "\n" in span else span)
            i = j + 1
            continue
        if text.startswith("\\(", i):
            j = text.find("\\)", i + 2)
            j = n if j < 0 else j + 2
            span = text[i:j]
            out.append(" " if "\n" in span else span)
            i = j
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def fallback_answer(text: str) -> Answer | None:
    """No anchored answer: math-verify's own search of the text (LaTeX, then plain numbers)."""
    # inline math cannot span lines: such a span is malformed and holds no answer
    text = _drop_malformed_inline(text)
    try:
        found = parse(text, parsing_timeout=None)
    except Exception:
        return None
    exprs = [v for v in found if isinstance(v, (Basic, MatrixBase))]
    strings = [v for v in found if isinstance(v, str)]
    if not exprs:
        return None
    expr = exprs[0]
    raw = strings[0] if strings else str(expr)
    if check_bounds(raw, 5000):
        return None
    try:
        answer = analyse(raw, 5000)
        if answer.items and all(i.expr is not None or i.text for i in answer.items):
            return answer
    except Exception:
        pass
    item = Item(raw=raw, expr=expr)
    m = _PLAIN_DECIMAL_RE.match(raw.replace(",", "").strip())
    if m:
        item.decimals = len(m.group(2))
    if isinstance(expr, sympy.Mul) and any(isinstance(a, sympy.UnevaluatedExpr) for a in expr.args):
        item.percent = True
    return Answer(items=_flatten_sets(item), cleaned=raw)


WARMUP_ANSWERS = (
    "\\frac{1}{2}",
    "3\\sqrt{2}",
    "\\frac{9a+11}{20}",
    "x^2 - 1",
    "(x-1)(x+1)",
    "[0, 1)",
    "(-\\infty, -1) \\cup (1, \\infty)",
    "(1, 2), (3, 4)",
    "\\{1, 2, 3\\}",
    "y = 2x + 3",
    "x \\le 3",
    "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
    "25\\%",
    "\\frac{\\pi}{3}",
    "2^{10}",
    "\\sin^2 x + \\cos^2 x",
    "\\log_2 8",
    "1 \\pm \\sqrt{19}",
    "e^{2}",
    "3+4i",
)


def warm_up() -> None:
    """Parse and compare representative answers once, so the LaTeX parser's prediction tables and
    sympy's caches are filled; processes forked afterwards (the engine's workers) inherit them."""
    answers = []
    for text in WARMUP_ANSWERS:
        try:
            answers.append(analyse(text, 1000))
        except Exception:
            continue
    for a, b in zip(answers, answers[1:] + answers[:1]):
        try:
            compare(a, b, False, False)
            compare(a, a, False, False)
        except Exception:
            continue
