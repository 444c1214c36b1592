"""Hard bounds checked on the answer string before sympy ever sees it.

Power towers, factorials of large numbers, thousands of digits and deep nesting make sympy / mpmath
compute for minutes or exhaust memory. These checks are linear scans; an answer that fails one is not
parsed (it can still match the gold as an identical string).
"""

from __future__ import annotations

import math
import re

MAX_DIGIT_RUN = 300
MAX_NESTING = 40
MAX_RESULT_DIGITS = 20_000
MAX_FACTORIAL = 2000

_DIGIT_RUN_RE = re.compile(rf"\d{{{MAX_DIGIT_RUN + 1},}}")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_FACTORIAL_RE = re.compile(r"(\d+)\s*!")


def _exponent_group(s: str, i: int) -> tuple[str, int]:
    """The exponent after the ``^`` at ``i - 1``: a braced group, a parenthesised group or one token."""
    n = len(s)
    while i < n and s[i] == " ":
        i += 1
    if i >= n:
        return "", i
    if s[i] in "{(":
        close = "}" if s[i] == "{" else ")"
        opener = s[i]
        depth = 0
        j = i
        while j < n:
            if s[j] == opener:
                depth += 1
            elif s[j] == close:
                depth -= 1
                if depth == 0:
                    return s[i + 1 : j], j + 1
            j += 1
        return s[i + 1 :], n
    if s[i].isdigit():
        m = _NUMBER_RE.match(s, i)
        assert m
        return m.group(0), m.end()
    if s[i] == "\\":
        m = re.match(r"\\[a-zA-Z]+", s[i:])
        return (m.group(0), i + m.end()) if m else (s[i : i + 2], i + 2)
    return s[i], i + 1


def _base_before(s: str, i: int) -> float | None:
    """The numeric literal just before the ``^`` at ``i`` (None: not a plain number)."""
    j = i
    while j > 0 and s[j - 1] in " }":
        j -= 1
    k = j
    while k > 0 and (s[k - 1].isdigit() or s[k - 1] == "."):
        k -= 1
    if k == j:
        return None
    try:
        return float(s[k:j])
    except ValueError:
        return None


def _log10_value(expr: str, depth: int = 0) -> float | None:
    """log10 of a purely numeric power expression (``10``, ``2^{3^4}``), None if not numeric.

    Returns ``math.inf`` when the value is astronomically large.
    """
    expr = expr.strip().strip("{}").strip()
    if depth > 6:
        return math.inf
    if re.fullmatch(r"\d+(?:\.\d+)?", expr):
        value = float(expr)
        return math.log10(value) if value > 0 else -math.inf
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(?:\^|\*\*)\s*(.+)", expr)
    if m:
        base = float(m.group(1))
        exp_log = _log10_value(m.group(2), depth + 1)
        if exp_log is None:
            return None
        if base <= 1:
            return 0.0
        if exp_log > 15:
            return math.inf
        return (10**exp_log) * math.log10(base)
    return None


def check_bounds(s: str, max_chars: int) -> str | None:
    """A reason string if ``s`` must not be handed to sympy, else None."""
    if len(s) > max_chars:
        return f"answer longer than {max_chars} characters"
    if _DIGIT_RUN_RE.search(s):
        return f"a number with more than {MAX_DIGIT_RUN} digits"
    depth = deepest = 0
    for ch in s:
        if ch in "{([":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in "})]":
            depth -= 1
    if deepest > MAX_NESTING:
        return f"nesting deeper than {MAX_NESTING}"
    flat = s.replace("**", "^")
    for m in _FACTORIAL_RE.finditer(flat):
        if int(m.group(1)) > MAX_FACTORIAL:
            return f"factorial of a number above {MAX_FACTORIAL}"
    if re.search(r"!\s*[)}]?\s*!|[)}]\s*!", flat) and flat.count("!") >= 2:
        return "nested factorials"
    if "^" in flat:
        for i, ch in enumerate(flat):
            if ch != "^":
                continue
            exponent, _ = _exponent_group(flat, i + 1)
            if exponent.count("^") >= 2:
                return "power tower deeper than 2"
            base = _base_before(flat, i)
            exp_log = _log10_value(exponent)
            if exp_log is None:
                if "^" in exponent and base is not None and base > 1:
                    # numeric base raised to a symbolic power tower, e.g. 2^{x^{10}}: keep it small
                    inner = exponent.split("^", 1)[1]
                    inner_log = _log10_value(inner)
                    if inner_log is None or inner_log > 2:
                        return "power tower with a large inner exponent"
                continue
            if exp_log == math.inf:
                return "exponent too large"
            exponent_value = 10**exp_log if exp_log > -300 else 0.0
            if base is not None and base > 1:
                if exponent_value * math.log10(base) > MAX_RESULT_DIGITS:
                    return "power with too many digits"
            elif exponent_value > 10**6:
                # symbolic base, huge numeric exponent: (x+1)^{10^9} expands forever
                return "exponent too large"
    return None
