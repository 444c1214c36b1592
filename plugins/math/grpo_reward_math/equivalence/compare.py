"""A whole predicted answer against the gold answer: units, choice letters, lists, tuples written
as lists, hedges; single values go to :func:`~grpo_reward_math.equivalence.kinds.items_equal`."""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from grpo_reward_math.equivalence.context import Context
from grpo_reward_math.equivalence.kinds import items_equal
from grpo_reward_math.equivalence.latex import DECIMAL_COMMA_RE
from grpo_reward_math.equivalence.normalise import Prepared
from grpo_reward_math.equivalence.numeric import is_number
from grpo_reward_math.equivalence.parse import make_item
from grpo_reward_math.equivalence.sets import is_relation, matched_count, relation_to_set, sets_equal
from grpo_reward_math.equivalence.units import unit_ratio
from grpo_reward_math.equivalence.values import Answer, Item


@dataclass
class Verdict:
    """A score and, for a 0, why."""

    value: float
    reason: str = ""


def compare(
    gold: Answer, pred: Answer, gold_is_list: bool, partial_credit: bool, tolerance: float = 0.0
) -> Verdict:
    """Score of ``pred`` against ``gold`` (1, 0, or a fraction of list items with partial credit)."""
    ctx = Context(tolerance=tolerance)
    g_items, p_items = gold.items, pred.items
    if pred.choice and len(g_items) == 1 and g_items[0].text == pred.choice:
        return Verdict(1.0)  # gold "D", prediction "(D) 4"
    if gold.units and pred.units and gold.units != pred.units:
        ratio = unit_ratio(pred.units, gold.units)
        if ratio is None:
            return Verdict(0.0, f"different units: {gold.units!r} vs {pred.units!r}")
        # 1.5 km vs 1500 m: the prediction in the gold's unit
        p_items = [Item(raw=i.raw, expr=i.expr * ratio) if is_number(i.expr) else i for i in p_items]
    if not p_items:
        return Verdict(0.0, "no answer")
    if len(g_items) == 1 and len(p_items) > 1:
        g = g_items[0]
        # (a, b) as an open interval / tuple gold against "a, b"
        ge = g.expr
        if isinstance(ge, sympy.Interval) and ge.left_open and ge.right_open and len(p_items) == 2:
            ge = sympy.Tuple(ge.start, ge.end)
        if isinstance(ge, sympy.Tuple) and len(ge) == len(p_items):
            inner = ctx.entries()
            ok = all(items_equal(Item(raw=str(a), expr=a), pi, inner) for a, pi in zip(ge.args, p_items))
            return Verdict(1.0 if ok else 0.0, "" if ok else "tuple mismatch")
        # a decimal comma, "1,5" for 1.5
        if len(p_items) == 2 and DECIMAL_COMMA_RE.match(pred.cleaned.strip()):
            alt = make_item(pred.cleaned.strip().replace(",", "."), Prepared(pred.cleaned))
            if items_equal(g, alt, ctx):
                return Verdict(1.0)
        # "x < 2 or x > 3" against a set: the union of the relations' solution sets
        if isinstance(ge, sympy.Set) and all(pi.expr is not None and is_relation(pi.expr) for pi in p_items):
            sets = [relation_to_set(pi.expr) for pi in p_items]
            if all(x is not None for x in sets):
                ok = sets_equal(ge, sympy.Union(*sets), ctx)
                return Verdict(1.0 if ok else 0.0)
        # several answers offered for one value: a hedge, unless they all agree
        if all(items_equal(g, pi, ctx) for pi in p_items):
            return Verdict(1.0)
        return Verdict(0.0, "several different answers for a single-valued gold")
    if len(g_items) > 1 and len(p_items) == 1:
        p = p_items[0]
        pe = p.expr
        if isinstance(pe, sympy.Interval) and pe.left_open and pe.right_open and len(g_items) == 2:
            pe = sympy.Tuple(pe.start, pe.end)
        if isinstance(pe, sympy.Tuple) and len(pe) == len(g_items):
            inner = ctx.entries()
            ok = all(items_equal(gi, Item(raw=str(b), expr=b), inner) for gi, b in zip(g_items, pe.args))
            if ok:
                return Verdict(1.0)
        if len(g_items) == 2 and DECIMAL_COMMA_RE.match(gold.cleaned.strip()):
            alt = make_item(gold.cleaned.strip().replace(",", "."), Prepared(gold.cleaned))
            if items_equal(alt, p, ctx):
                return Verdict(1.0)
    if len(g_items) == 1 and len(p_items) == 1:
        ok = items_equal(g_items[0], p_items[0], ctx)
        return Verdict(1.0 if ok else 0.0)
    matched = matched_count(g_items, p_items, lambda g, p: items_equal(g, p, ctx))
    if matched == len(g_items) == len(p_items):
        return Verdict(1.0)
    if partial_credit and gold_is_list:
        return Verdict(matched / max(len(g_items), len(p_items)), "partial list")
    return Verdict(0.0, f"list: {matched} of {len(g_items)} matched, {len(p_items)} given")
