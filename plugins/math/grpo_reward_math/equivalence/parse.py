"""One cleaned answer piece -> an :class:`Item` holding its sympy value (LaTeX parser, fast paths)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import sympy
from latex2sympy2_extended.latex2sympy2 import NormalizationConfig, latex2sympy, normalize_latex
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse
from math_verify.grader import should_treat_as_complex
from sympy import Basic, MatrixBase

from grpo_reward_math.equivalence.latex import DECIMAL_COMMA_RE, PLAIN_DECIMAL_RE, PLAIN_NUMBER_RE
from grpo_reward_math.equivalence.normalise import Prepared, collapse_chain, strip_simple_lhs, text_form
from grpo_reward_math.equivalence.units import strip_units
from grpo_reward_math.equivalence.values import Item, Unparseable

NORMALIZATION = NormalizationConfig(
    basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all", equations=False
)


def float_to_rational(expr: Any) -> Any:
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
    if PLAIN_NUMBER_RE.match(t) and len(t) < 200:
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
    s, lhs = strip_simple_lhs(collapse_chain(strip_units(raw)), allow_name_sums=not is_gold)
    item = Item(raw=raw, lhs=lhs, percent=prepared.percent, degrees=prepared.degrees)
    item.text = text_form(s)
    m = PLAIN_DECIMAL_RE.match(s.strip())
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
        if DECIMAL_COMMA_RE.match(s):
            expr = parse_latex(s.replace(",", "."))
        else:
            return item
    except Exception:
        return item
    item.expr = expr
    if PLAIN_NUMBER_RE.match(s.strip()):
        item.expr = sympy.Rational(s.strip())  # exact, all written digits kept
    if DECIMAL_COMMA_RE.match(s.strip()):
        item.alternatives.append(sympy.Rational(s.strip().replace(",", ".")))
    return item
