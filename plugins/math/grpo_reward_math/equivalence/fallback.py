"""No anchored answer in a completion: math-verify's own search of its text."""

from __future__ import annotations

import sympy
from math_verify import parse
from sympy import Basic, MatrixBase

from grpo_reward_math.bounds import check_bounds
from grpo_reward_math.equivalence.answers import analyse, flatten_sets
from grpo_reward_math.equivalence.latex import PLAIN_DECIMAL_RE
from grpo_reward_math.equivalence.values import Answer, Item


def drop_malformed_inline(text: str) -> str:
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
    text = drop_malformed_inline(text)
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
    m = PLAIN_DECIMAL_RE.match(raw.replace(",", "").strip())
    if m:
        item.decimals = len(m.group(2))
    if isinstance(expr, sympy.Mul) and any(isinstance(a, sympy.UnevaluatedExpr) for a in expr.args):
        item.percent = True
    return Answer(items=flatten_sets(item), cleaned=raw)
