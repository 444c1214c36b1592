"""String clean-up of one answer: LaTeX noise, unicode, percent/degree/currency marks, units, a
naming left side ("x = 5") and computation chains ("2+3 = 5") set aside."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from grpo_reward_math.equivalence.latex import balanced, unwrap_text_commands
from grpo_reward_math.equivalence.units import TRAILING_WORDS_RE, canonical_units
from grpo_reward_math.extract import strip_outer_box

_DEGREE_RE = re.compile(
    r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree|\s*\\text\{\s*°\s*\}|\bdegrees?\b", re.IGNORECASE
)
_BOLD_RE = re.compile(r"\\(?:mathbf|bm|boldsymbol|mathit|mathnormal)\s*\{([^{}]*)\}")
_TRIG_RE = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![a-z])")
_TRIG_DEGREE_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°)")
_PERCENT_RE = re.compile(r"\\%|%|\bpercent(?:age)?\b|\bpct\b", re.IGNORECASE)
_THOUSANDS_SPACED_RE = re.compile(r"(?<=\d)(?:(?:\{,\}|,\\!|\\!|\\,|\\;|\\:|\\ |~)+\s*)(?=\d{3}(?!\d))")
_THOUSANDS_COMMA_RE = re.compile(r"^-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")
_THOUSANDS_SPACE_RE = re.compile(r"^-?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?$")
_CURRENCY_RE = re.compile(r"\\\$|\$|€|£|¥|\\euro|\bdollars?\b|\bcents?\b|\byuan\b|\beuros?\b", re.IGNORECASE)
_SPACING_RE = re.compile(
    r"\\left(?![a-zA-Z])|\\right(?![a-zA-Z])|\\displaystyle|(?<!\\)\\!|\\quad|\\qquad|(?<!\\)\\,|(?<!\\)\\;|(?<!\\)\\:"
)
_TEXTLIKE_RE = re.compile(r"^[A-Za-z][A-Za-z .,'’\-]*$")


def text_form(s: str) -> str | None:
    """A lower-case word form when ``s`` is a text answer (``\\text{Evelyn}``, ``(B)``), else None."""
    t = unwrap_text_commands(s).strip().strip("$").strip()
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


# escapes a JSON string ate: "\\frac" read as form feed + "rac", "\\theta" as tab + "heta"
_EATEN_ESCAPES = {"\f": "\\f", "\t": "\\t", "\b": "\\b", "\r": "\\r", "\n": "\\n"}
# only before the rest of a command that is common in answers (a tab before "ext{13}" stays a tab)
_EATEN_ESCAPE_RE = re.compile(
    r"(?<!\\)(?:\f(?=rac\b|rac\{|orall\b)|\t(?=heta\b|imes\b|an\b|au\b|riangle\b|frac\b)"
    r"|\x08(?=eta\b|inom\b|ar\{|egin\{)|\r(?=ho\b|ight\b)|\n(?=eq\b|abla\b|otin\b|u\b))"
)
_TEXT_FUNCTION_RE = re.compile(
    r"\\(?:text|mathrm|operatorname|textrm)\s*\{\s*"
    r"(sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|sinh|cosh|tanh|log|ln|exp)\s*\}"
)
_SUFFIX = r"(st|nd|rd|th)"
_ORDINAL_RE = re.compile(
    r"(?<![\d.])(\d{1,6})(?:\^\s*\{\s*\\(?:text|mathrm|textrm)\s*\{\s*" + _SUFFIX + r"\s*\}\s*\}"
    r"|\^\s*\{\s*" + _SUFFIX + r"\s*\}|\^\s*" + _SUFFIX + r"\b"
    r"|\s*\\(?:text|mathrm|textrm)\s*\{\s*" + _SUFFIX + r"\s*\}|" + _SUFFIX + r"\b)"
)
_DEGREES_MINUTES_RE = re.compile(
    r"(?<![\d.])(\d+)\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°)\s*"
    r"(\d+(?:\.\d+)?)\s*(?:'|′|\^\s*\{?\s*\\prime\s*\}?)"
    r"(?:\s*(\d+(?:\.\d+)?)\s*(?:''|\"|″|\^\s*\{?\s*\\prime\\prime\s*\}?))?"
)
_TEXT_GROUP_RE = re.compile(r"\\text\s*\{([^{}]*)\}")
_TEXT_SEPARATOR_RE = re.compile(r"(\band\b|\bor\b|,|;)")


def _split_text_group(m: re.Match) -> str:
    """``\\text{ apples and }`` -> ``\\text{ apples } and \\text{ }``: the separator leaves the text."""
    parts = _TEXT_SEPARATOR_RE.split(m.group(1))
    if len(parts) == 1:
        return m.group(0)
    return " ".join(f"\\text{{{p}}}" if i % 2 == 0 else p for i, p in enumerate(parts))


def _ordinal_suffix(n: int) -> str:
    if n % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _ordinal(m: re.Match) -> str:
    """``3^{\\text{rd}}`` -> ``3`` when the suffix is the number's own; else unchanged."""
    suffix = next(g for g in m.groups()[1:] if g)
    return m.group(1) if _ordinal_suffix(int(m.group(1))) == suffix else m.group(0)


def _degrees_minutes(m: re.Match) -> str:
    """``30^\\circ 30'`` -> the exact degrees ``\\frac{61}{2}^\\circ``."""
    value = Fraction(m.group(1)) + Fraction(m.group(2)) / 60 + Fraction(m.group(3) or 0) / 3600
    return f"\\frac{{{value.numerator}}}{{{value.denominator}}}^\\circ"


def restore_written_forms(s: str) -> str:
    """Forms that do not parse as written: escapes eaten by JSON, ``\\text{cos}``, ordinals
    (``21^{\\text{st}}``), degrees with minutes, a ``\\text{}`` group holding 'and' between values."""
    if _EATEN_ESCAPE_RE.search(s):
        s = _EATEN_ESCAPE_RE.sub(lambda m: _EATEN_ESCAPES[m.group(0)], s)
    if "{" in s:
        s = _TEXT_FUNCTION_RE.sub(r"\\\1 ", s)
    if re.search(r"\d[\s^{]*(?:\\text|\\mathrm|\\textrm)?\s*\{?\s*(?:st|nd|rd|th)\b", s):
        s = _ORDINAL_RE.sub(_ordinal, s)
    if "'" in s or "′" in s or "prime" in s:
        s = _DEGREES_MINUTES_RE.sub(_degrees_minutes, s)
    if "\\text" in s:  # "3 \\text{ apples and } 5 \\text{ pears}": the 'and' (or comma) separates values
        s = _TEXT_GROUP_RE.sub(_split_text_group, s)
    return re.sub(r"\\text\s*\{\s*\}", " ", s) if "\\text" in s else s


def clean(s: str) -> Prepared:
    s = strip_outer_box(restore_written_forms(s)).strip()
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
        new = TRAILING_WORDS_RE.sub("", s).strip()
        if new == s or not new:
            break
        units = s[len(new) :] + " " + units
        s = new
    if s.startswith("\\text{") or s.startswith("\\mbox{"):
        inner = unwrap_text_commands(s).strip()
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
    if s.startswith("{") and s.endswith("}") and balanced(s[1:-1]):
        s = s[1:-1].strip()  # "{1, 2}" written without the backslashes of a set
    if _THOUSANDS_COMMA_RE.match(s):
        s = s.replace(",", "")
    elif _THOUSANDS_SPACE_RE.match(s):
        s = s.replace(" ", "")
    return Prepared(s.strip(), percent, degrees, canonical_units(units))


_APPROX_RE = re.compile(r"\\approx|≈|\\sim(?![a-z])")


def collapse_chain(s: str) -> str:
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


_REPEATING_RE = re.compile(r"(?<!\d)(-?)(\d*)\.(\d*)\\(?:overline|bar|dot)\s*\{?(\d+)\}?")
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


_CIRCLED_RE = re.compile("[\u2460-\u2473]+")


def _circled(m: re.Match) -> str:
    """Circled digits (choice numbers): ``①③`` -> ``1, 3``."""
    return ", ".join(str(ord(ch) - 0x2460 + 1) for ch in m.group(0))


def _unicode_to_latex(s: str) -> str:
    if s.isascii():
        return s
    s = _CIRCLED_RE.sub(_circled, s)
    s = _SQRT_UNICODE_RE.sub(lambda m: "\\sqrt{" + m.group(1).strip("(){}") + "}", s)
    return _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], s)


def _repeating_to_fraction(m: re.Match) -> str:
    """``0.1\\overline{6}`` -> ``\\frac{1}{6}`` (exact)."""
    sign, whole, fixed, period = m.group(1), m.group(2) or "0", m.group(3), m.group(4)
    value = Fraction(int(whole)) + (Fraction(int(fixed), 10 ** len(fixed)) if fixed else 0)
    value += Fraction(int(period), (10 ** len(period) - 1) * 10 ** len(fixed))
    return f"{sign}\\frac{{{value.numerator}}}{{{value.denominator}}}"


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
