"""Numbers and expressions compared numerically: exact values, decimals at their written precision,
random-point evaluation with mpmath for expressions with symbols."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import sympy

from grpo_reward_math.equivalence.context import Context
from grpo_reward_math.equivalence.parse import float_to_rational
from grpo_reward_math.equivalence.values import Item

HIGH_PRECISION = 60
#: decimal places from which a correctly rounded decimal stands for a repeating rational (1/12)
FULL_PRECISION_PLACES = 10


def is_number(expr: Any) -> bool:
    try:
        return isinstance(expr, sympy.Expr) and not expr.free_symbols and not expr.has(sympy.Symbol)
    except Exception:
        return False


def exact_equal_numbers(a: Any, b: Any) -> bool | None:
    """True/False if decidable, None if evaluation failed."""
    try:
        if a == b:
            return True
        if isinstance(a, sympy.Rational) and isinstance(b, sympy.Rational):
            return False
        import mpmath

        if a.has(sympy.oo, -sympy.oo, sympy.zoo) or b.has(sympy.oo, -sympy.oo, sympy.zoo):
            return bool(a == b)
        fa, fb = mp_function(a, []), mp_function(b, [])
        if fa is None or fb is None:
            return None
        va, vb = mp_value(fa, [], HIGH_PRECISION), mp_value(fb, [], HIGH_PRECISION)
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
        return float_to_rational(expr), places if places is not None else decimals_of_float(expr)
    if expr.atoms(sympy.Float):
        return float_to_rational(expr), places
    return expr, places


def numbers_equal(g: Item, p: Item, g_expr: Any, p_expr: Any, ctx: Context) -> bool:
    """Exact values must match exactly; decimals are compared at the precision they are written with."""
    g_expr, g_places = _exact_and_places(g_expr, g.decimals)
    p_expr, p_places = _exact_and_places(p_expr, p.decimals)
    g = Item(raw=g.raw, decimals=g_places)
    p = Item(raw=p.raw, decimals=p_places)
    exact = exact_equal_numbers(g_expr, p_expr)
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
            needed = 2 if ctx.in_structure else FULL_PRECISION_PLACES
            return p.decimals >= needed and _rounds_to(g_expr, p_expr, p.decimals)
        # an irrational gold (\\sqrt{2}, \\pi): a correctly rounded decimal to machine precision, or
        # with the tolerance option set, one of 3+ places within that relative error
        if p.decimals >= FULL_PRECISION_PLACES or (ctx.in_structure and p.decimals >= 2):
            return _rounds_to(g_expr, p_expr, p.decimals)
        if ctx.tolerance <= 0 or p.decimals < 3:
            return False
        try:
            rel = abs(sympy.N((g_expr - p_expr) / g_expr, 20))
            if rel > ctx.tolerance:
                return False
        except Exception:
            return False
        return _rounds_to(g_expr, p_expr, p.decimals)
    return False


def mp_function(expr: Any, symbols: list[Any]) -> Any:
    """A fast mpmath evaluator of ``expr`` (no exact zero tests, unlike sympy.N)."""
    try:
        numbers = expr.atoms(sympy.Rational)
        if numbers:
            # literal integers would otherwise be evaluated as Python ints/floats (3/10**2 -> 0.03)
            expr = expr.xreplace({n: sympy.Float(n, 80) for n in numbers if n not in (0, 1, -1)})
        return sympy.lambdify(symbols, expr, modules="mpmath")
    except Exception:
        return None


def mp_value(fn: Any, args: list[Any], dps: int) -> Any:
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


def symbolic_equal(a: Any, b: Any) -> bool | None:
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
        fa, fb = mp_function(a, symbols), mp_function(b, symbols)
        if fa is None or fb is None:
            return None
        agree = 0
        for point in _random_points(symbols, 6, seed=len(symbols) * 7919 + 17):
            args = [mpmath.mpf(int(v.p)) / int(v.q) for v in point.values()]
            va, vb = mp_value(fa, args, 40), mp_value(fb, args, 40)
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


def decimals_of_float(x: Any) -> int | None:
    try:
        text = str(sympy.Float(x, 15)).rstrip("0")
        return len(text.split(".", 1)[1]) if "." in text else 0
    except Exception:
        return None
