"""Sets, intervals and relations: equal as sets of solutions, with interval ends compared as values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy

from grpo_reward_math.equivalence.context import Context
from grpo_reward_math.equivalence.numeric import is_number, numbers_equal, symbolic_equal
from grpo_reward_math.equivalence.values import Item


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


def sets_equal(g: Any, p: Any, ctx: Context) -> bool:
    """Unions of intervals and finite sets, piece by piece; else sympy's symmetric difference."""
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
                    if _interval_equal(gi, pj, ctx):
                        used[j] = True
                        break
                else:
                    break
            else:
                return True
        return bool(sympy.simplify(g.symmetric_difference(p)).is_empty) if exactish(g, p) else False
    except Exception:
        return False


def exactish(*exprs: Any) -> bool:
    return all(not e.atoms(sympy.Float) for e in exprs)


def _interval_equal(a: Any, b: Any, ctx: Context) -> bool:
    if isinstance(a, sympy.Interval) and isinstance(b, sympy.Interval):
        inner = ctx.entries()
        return (
            a.left_open == b.left_open
            and a.right_open == b.right_open
            and values_equal(a.start, b.start, inner)
            and values_equal(a.end, b.end, inner)
        )
    if isinstance(a, sympy.FiniteSet) and isinstance(b, sympy.FiniteSet) and len(a) == len(b):
        return match_all(list(a.args), list(b.args), lambda x, y: values_equal(x, y, ctx))
    return False


def values_equal(a: Any, b: Any, ctx: Context) -> bool:
    """Two bare sympy values (interval ends, set elements)."""
    if a == b:
        return True
    if is_number(a) and is_number(b):
        return numbers_equal(Item(raw=str(a)), Item(raw=str(b)), a, b, ctx)
    result = symbolic_equal(a, b)
    return bool(result)


def match_all(golds: list[Any], preds: list[Any], eq: Callable[[Any, Any], bool]) -> bool:
    """A perfect matching between two equally long lists under ``eq``."""
    if len(golds) != len(preds):
        return False
    return matched_count(golds, preds, eq) == len(golds)


def matched_count(golds: list[Any], preds: list[Any], eq: Callable[[Any, Any], bool]) -> int:
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


def relation_to_set(rel: Any) -> Any:
    """The solution set of a relation in one variable (``x > 2`` -> ``(2, oo)``), else None."""
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


def is_relation(expr: Any) -> bool:
    if isinstance(expr, sympy.core.relational.Relational):
        return True
    return isinstance(expr, sympy.And) and all(
        isinstance(a, sympy.core.relational.Relational) for a in expr.args
    )


def equations_equal(g: Any, p: Any, ctx: Context) -> bool:
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
    if isinstance(g, sympy.And) and isinstance(p, sympy.And) or is_relation(g) and is_relation(p):
        gs, ps = relation_to_set(g), relation_to_set(p)
        if gs is not None and ps is not None and g.free_symbols == p.free_symbols:
            return sets_equal(gs, ps, ctx)
    return False
