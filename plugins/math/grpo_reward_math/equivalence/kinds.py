"""One gold value against one predicted value, by kind: text, relation, set/interval,
matrix/tuple, number, expression. :func:`items_equal` aligns the pair and asks each kind in turn;
a kind answers True/False for pairs it owns and None for pairs it does not."""

from __future__ import annotations

import re
from typing import Any

import sympy
from math_verify import verify
from sympy import MatrixBase

from grpo_reward_math.equivalence.context import Context
from grpo_reward_math.equivalence.numeric import (
    decimals_of_float,
    exact_equal_numbers,
    is_number,
    numbers_equal,
    symbolic_equal,
)
from grpo_reward_math.equivalence.parse import float_to_rational, parse_latex
from grpo_reward_math.equivalence.sets import equations_equal, is_relation, relation_to_set, sets_equal
from grpo_reward_math.equivalence.values import Item


def items_equal(g: Item, p: Item, ctx: Context) -> bool:
    """One gold value against one predicted value."""
    verdict = text_equal(g, p)
    if verdict is not None:
        return verdict
    if g.expr is None or p.expr is None:
        return False
    # both written with the same name on the left (x = 1 vs y = 1 differ when both name it)
    if g.lhs and p.lhs and g.lhs != p.lhs and len(g.lhs) == 1 and len(p.lhs) == 1:
        return False
    aligned = _align(g, p, ctx)
    if isinstance(aligned, bool):
        return aligned
    ge, pe = aligned
    for kind in (structure_equal, relation_equal, set_equal):
        verdict = kind(ge, pe, ctx)
        if verdict is not None:
            return verdict
    if not isinstance(ge, sympy.Expr) or not isinstance(pe, sympy.Expr):
        return mv_verify(ge, pe)
    if is_number(ge) and is_number(pe):
        return number_equal(g, p, ge, pe, ctx)
    return expression_equal(ge, pe)


def _align(g: Item, p: Item, ctx: Context) -> tuple[Any, Any] | bool:
    """The pair's values in comparable shapes, or the verdict when an equation form decides it."""
    ge, pe = unevaluated_pct(g.expr), unevaluated_pct(p.expr)
    pe = _unify_symbols(ge, pe)
    renamed = rename_arguments(g.lhs, p.lhs, ge, pe)
    if renamed is None:
        return False
    pe = rename_family_parameter(ge, renamed)
    if isinstance(ge, sympy.Tuple) and isinstance(pe, sympy.Interval) and pe.left_open and pe.right_open:
        pe = sympy.Tuple(pe.start, pe.end)
    if isinstance(pe, sympy.Tuple) and isinstance(ge, sympy.Interval) and ge.left_open and ge.right_open:
        ge = sympy.Tuple(ge.start, ge.end)
    # "y = 2x + 3" (its left side set aside) against the equation "2x - y + 3 = 0"
    if isinstance(pe, sympy.Eq) and g.lhs and not p.lhs:
        full = _full_expr(g)
        if isinstance(full, sympy.Eq):
            return equations_equal(full, pe, ctx)
    if isinstance(ge, sympy.Eq) and p.lhs and not g.lhs:
        full = _full_expr(p)
        if isinstance(full, sympy.Eq):
            return equations_equal(ge, full, ctx)
    # "ab = 10" (its left side set aside as a name) against the gold "\\frac{10}{a}": the left side
    # uses the gold's symbols, so the equation is solved for its new one
    if p.lhs and not g.lhs and not isinstance(ge, sympy.Eq) and getattr(ge, "free_symbols", None):
        full = _full_expr(p)
        if isinstance(full, sympy.Eq) and full.lhs.free_symbols & ge.free_symbols:
            solved = _solve_for_new_symbol(full, ge)
            if solved is not None:
                pe = solved
    # equations written with a non-simple left side: the gold's form decides
    if isinstance(pe, sympy.Eq) and not isinstance(ge, sympy.Eq):
        # "2 + 3 = 5" is a computation ending in its result; "2x + 3 = 5" does not answer "5"
        # (a named left side such as "x =" was already set aside)
        if getattr(pe.lhs, "free_symbols", {None}):
            solved = _solve_for_new_symbol(pe, ge)
            if solved is None:
                return False
            pe = solved
        else:
            pe = pe.rhs
    elif isinstance(ge, sympy.Eq) and not isinstance(pe, sympy.Eq):
        return False  # "a + 3z = 0" is not answered by "0"
    if isinstance(ge, MatrixBase) and isinstance(pe, sympy.Tuple) and 1 in ge.shape:
        pe = sympy.Matrix(ge.shape[0], ge.shape[1], list(pe.args)) if len(pe) == len(ge) else pe
    elif isinstance(pe, MatrixBase) and isinstance(ge, sympy.Tuple) and 1 in pe.shape:
        ge = sympy.Matrix(pe.shape[0], pe.shape[1], list(ge.args)) if len(ge) == len(pe) else ge
    return ge, pe


# -- the kinds ------------------------------------------------------------------------------------------
def text_equal(g: Item, p: Item) -> bool | None:
    """Text answers (``\\text{Evelyn}``, ``(B)``): equal words; None when a value decides."""
    if g.text is None and p.text is None:
        return None
    if g.text is not None and p.text is not None and g.text == p.text:
        return True
    if g.expr is None or p.expr is None:
        return False
    return None


def structure_equal(ge: Any, pe: Any, ctx: Context) -> bool | None:
    """Matrices and tuples: entry by entry, entries compared as values inside a structure."""
    if isinstance(ge, MatrixBase) or isinstance(pe, MatrixBase):
        return matrices_equal(ge, pe, ctx)
    if isinstance(ge, sympy.Tuple) or isinstance(pe, sympy.Tuple):
        if isinstance(ge, sympy.Tuple) and isinstance(pe, sympy.Tuple) and len(ge) == len(pe):
            inner = ctx.entries()
            return all(
                items_equal(Item(raw=str(a), expr=a), Item(raw=str(b), expr=b), inner)
                for a, b in zip(ge.args, pe.args)
            )
        return False
    return None


def relation_equal(ge: Any, pe: Any, ctx: Context) -> bool | None:
    """Equations and inequalities: against each other, or against a set of solutions."""
    if not (is_relation(ge) or is_relation(pe)):
        return None
    if is_relation(ge) and is_relation(pe):
        return equations_equal(ge, pe, ctx) or mv_verify(ge, pe)
    if is_relation(ge) and isinstance(pe, sympy.Set):
        gs = relation_to_set(ge)
        return gs is not None and sets_equal(gs, pe, ctx)
    if is_relation(pe) and isinstance(ge, sympy.Set):
        ps = relation_to_set(pe)
        return ps is not None and sets_equal(ge, ps, ctx)
    return False


def set_equal(ge: Any, pe: Any, ctx: Context) -> bool | None:
    """Intervals, unions and finite sets: only against another set."""
    if not (isinstance(ge, sympy.Set) or isinstance(pe, sympy.Set)):
        return None
    return isinstance(ge, sympy.Set) and isinstance(pe, sympy.Set) and sets_equal(ge, pe, ctx)


def number_equal(g: Item, p: Item, ge: Any, pe: Any, ctx: Context) -> bool:
    """Two constants, with the percent and degree marks their items carry."""
    if g.percent != p.percent:
        # 25% vs 25 (the same figure written with or without the sign; not for figures below 1,
        # where "0.375%" is no way of writing 0.375) or vs 0.25
        if _at_least_one(ge) and numbers_equal(g, p, ge, pe, ctx):
            return True
        # as a fraction: the percent figure's written places count two more (12.5% = 0.125)
        factor = sympy.Rational(1, 100)
        if g.percent:
            scaled = Item(raw=g.raw, decimals=None if g.decimals is None else g.decimals + 2)
            return numbers_equal(scaled, p, ge * factor, pe, ctx)
        scaled = Item(raw=p.raw, decimals=None if p.decimals is None else p.decimals + 2)
        return numbers_equal(g, scaled, ge, pe * factor, ctx)
    if numbers_equal(g, p, ge, pe, ctx):
        return True
    if g.degrees != p.degrees and (ge.has(sympy.pi) or pe.has(sympy.pi)):
        conv = sympy.pi / 180
        return bool(exact_equal_numbers(ge * conv, pe) if g.degrees else exact_equal_numbers(ge, pe * conv))
    return any(exact_equal_numbers(ge, alt) for alt in p.alternatives) or any(
        exact_equal_numbers(alt, pe) for alt in g.alternatives
    )


def expression_equal(ge: Any, pe: Any) -> bool:
    """Expressions with symbols (or one side constant): numeric evaluation, then sympy/math-verify."""
    if is_number(ge) != is_number(pe):
        # a constant against an expression with symbols: only sympy can tell (e.g. sin^2x+cos^2x)
        return bool(symbolic_equal(ge, pe))
    if _symbol_text_equal(ge, pe):
        return True
    result = symbolic_equal(ge, pe)
    if result is not None:
        return result
    return mv_verify(ge, pe)


# -- helpers --------------------------------------------------------------------------------------------
_FUNCTION_HEAD_RE = re.compile(r"^(.+?)\((.+)\)$")


def _symbol_named(expr: Any, name: str) -> Any:
    for sym in getattr(expr, "free_symbols", ()):
        if isinstance(sym, sympy.Symbol) and sym.name == name:
            return sym
    return None


def rename_arguments(g_lhs: str | None, p_lhs: str | None, ge: Any, pe: Any) -> Any:
    """``g(t) = t^2+1`` against ``g(x) = x^2+1``: the prediction's arguments renamed to the gold's,
    position by position. None when the prediction also uses a gold argument it does not bind
    (``f(u) = 2x + 3``): that is another function."""
    if not g_lhs or not p_lhs or g_lhs == p_lhs:
        return pe
    gm, pm = _FUNCTION_HEAD_RE.match(g_lhs), _FUNCTION_HEAD_RE.match(p_lhs)
    if not gm or not pm or gm.group(1) != pm.group(1):
        return pe
    g_args = [a.strip().lstrip("\\") for a in gm.group(2).split(",")]
    p_args = [a.strip().lstrip("\\") for a in pm.group(2).split(",")]
    if len(g_args) != len(p_args) or not all(re.fullmatch(r"[A-Za-z]+", a) for a in g_args + p_args):
        return pe
    if len(set(p_args)) != len(p_args):
        return pe
    for name in g_args:
        if name not in p_args and _symbol_named(pe, name) is not None:
            return None
    mapping = {}
    for p_name, g_name in zip(p_args, g_args):
        sym = _symbol_named(pe, p_name)
        if sym is not None and p_name != g_name:
            mapping[sym] = _symbol_named(ge, g_name) or sympy.Symbol(g_name, **sym.assumptions0)
    try:
        return pe.xreplace(mapping) if mapping else pe
    except Exception:
        return pe


#: names of the integer parameter of a periodic family (``\\frac{\\pi}{2} + k\\pi``)
_FAMILY_PARAMETERS = ("k", "n", "m", "j", "l")


def rename_family_parameter(ge: Any, pe: Any) -> Any:
    """``\\frac{\\pi}{2} + n\\pi`` against ``\\frac{\\pi}{2} + k\\pi``: one integer parameter
    under another name. Only for families in π, where such a letter is a free integer."""
    try:
        if not (ge.has(sympy.pi) and pe.has(sympy.pi)):
            return pe
        g_free = {s.name: s for s in ge.free_symbols if isinstance(s, sympy.Symbol)}
        p_free = {s.name: s for s in pe.free_symbols if isinstance(s, sympy.Symbol)}
        g_only = [n for n in _FAMILY_PARAMETERS if n in g_free and n not in p_free]
        p_only = [n for n in _FAMILY_PARAMETERS if n in p_free and n not in g_free]
        if len(g_only) != 1 or len(p_only) != 1:
            return pe
        if set(g_free) - {g_only[0]} != set(p_free) - {p_only[0]}:
            return pe
        return pe.xreplace({p_free[p_only[0]]: g_free[g_only[0]]})
    except Exception:
        return pe


def _solve_for_new_symbol(eq: Any, ge: Any) -> Any:
    """``ab = 10`` against the gold ``\\frac{10}{a}``: the equation solved for its one symbol the gold
    lacks, when it is linear in it. Only for a gold with symbols (``2x + 3 = 13`` never answers 5)."""
    try:
        g_symbols = ge.free_symbols
        if not g_symbols:
            return None
        extra = eq.free_symbols - g_symbols
        if len(extra) != 1 or not eq.free_symbols & g_symbols:
            return None
        (sym,) = extra
        poly = sympy.Poly(eq.lhs - eq.rhs, sym)
        if poly.degree() != 1:
            return None
        a, b = poly.all_coeffs()
        if a == 0:
            return None
        return sympy.simplify(-b / a) if sympy.count_ops(b) + sympy.count_ops(a) < 60 else -b / a
    except Exception:
        return None


def unevaluated_pct(expr: Any) -> Any:
    """latex2sympy turns ``X\\%`` into ``X * UnevaluatedExpr(1/100)``: keep X."""
    if isinstance(expr, sympy.Mul) and any(isinstance(a, sympy.UnevaluatedExpr) for a in expr.args):
        rest = [a for a in expr.args if not isinstance(a, sympy.UnevaluatedExpr)]
        return sympy.Mul(*rest)
    return expr


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


def matrices_equal(a: Any, b: Any, ctx: Context) -> bool:
    """Same shape (a row against a column of the same length too), equal entries."""
    ctx = ctx.entries()
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
            xi = Item(raw=str(x), expr=float_to_rational(x))
            yi = Item(raw=str(y), expr=float_to_rational(y))
            if x.atoms(sympy.Float) or y.atoms(sympy.Float):
                # an approximate entry: compared at its written precision
                if x.atoms(sympy.Float):
                    xi.decimals = decimals_of_float(x)
                if y.atoms(sympy.Float):
                    yi.decimals = decimals_of_float(y)
            if not items_equal(xi, yi, ctx):
                return False
        return True
    except Exception:
        return False


def mv_verify(g: Any, p: Any) -> bool:
    try:
        return bool(verify(g, p, timeout_seconds=None))
    except Exception:
        return False
