"""A whole answer string -> an :class:`Answer`: clean-up, bounds, splitting into items (lists,
'and'/'or', ``\\pm``, assignment groups) and parsing each; gold answers in any dataset form."""

from __future__ import annotations

import re

import sympy
from math_verify import parse
from sympy import Basic, MatrixBase

from grpo_reward_math.bounds import check_bounds
from grpo_reward_math.equivalence.latex import DECIMAL_COMMA_RE
from grpo_reward_math.equivalence.normalise import clean, restore_written_forms, strip_simple_lhs
from grpo_reward_math.equivalence.parse import make_item
from grpo_reward_math.equivalence.values import Answer, Item, Unparseable
from grpo_reward_math.extract import _is_prose, extract_answer, find_boxes, last_box_cluster

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


def _is_pm_tuple(s: str) -> bool:
    """``(…, …)`` whose entries each hold at most one ± sign."""
    t = s.strip()
    if not (t.startswith("(") and t.endswith(")")):
        return False
    entries = split_top_level(t[1:-1])
    return len(entries) > 1 and all(len(_PM_RE.findall(e)) <= 1 for e in entries)


# "Largest: 9", "\\text{Total: } 15": a label and a colon before the value
_TEXT_LABEL_RE = re.compile(
    r"^\s*\\text(?:bf)?\s*\{\s*[A-Za-z][A-Za-z ]{0,30}?\s*:\s*\}\s*(?=\S)"
    r"|^\s*\\text(?:bf)?\s*\{\s*[A-Za-z][A-Za-z' ]{0,40}?\s*\}\s*(?=[-\d(\[]|\\frac|\\sqrt)"
)
_WORD_LABEL_RE = re.compile(r"^\s*[A-Za-z][A-Za-z ]{2,30}?\s*:\s*(?=\S)")
_LETTER_LABEL_RE = re.compile(r"^\s*[A-Za-z]\s*:\s*(?=[-\d\\(])")
# "k \\in \\mathbb{Z}", "\\text{where } n \\in \\mathbb{N}": the domain of a family's parameter
_PARAMETER_DOMAIN_RE = re.compile(
    r"^\s*(?:\\text\s*\{\s*(?:where|for|with)\s*\}\s*)?[A-Za-z](?:\s*,\s*[A-Za-z])*\s*(?:\\in|∈)\s*"
    r"(?:\\mathbb\s*\{\s*[ZN]\s*\}|\\mathbb\s*[ZN]|[ZN])\s*$"
    r"|^\s*\\text\s*\{[^{}]*\bintegers?\b[^{}]*\}\s*(?:[A-Za-z]\s*)?$"
)


def strip_label(piece: str) -> str:
    """``Largest: 9`` -> ``9``; ``x: 3`` -> ``3``; ``\\text{ratio: } 1:2`` -> ``1:2``;
    ``\\text{Tom has } 12`` -> ``12``. A plain label needs a colon-free value (``a:b``, ``3:2``)."""
    m = _TEXT_LABEL_RE.match(piece)
    if m:
        return piece[m.end() :]
    m = _WORD_LABEL_RE.match(piece) or _LETTER_LABEL_RE.match(piece)
    if not m or ":" in piece[m.end() :]:
        return piece
    return piece[m.end() :]


def expand_pm(s: str) -> list[str]:
    """``a \\pm b`` -> [``a + b``, ``a - b``]. Several signs only in a tuple, one per entry, read
    together (``(\\pm 2, \\mp 3)`` -> ``(2, -3), (-2, 3)``); other strings are left to the parser."""
    found = _PM_RE.findall(s)
    if len(found) > 1 and _is_pm_tuple(s):
        plus = _PM_RE.sub(lambda m: "+" if m.group(0) in ("\\pm", "±") else "-", s)
        minus = _PM_RE.sub(lambda m: "-" if m.group(0) in ("\\pm", "±") else "+", s)
        return [plus, minus]
    if len(found) != 1:
        return [s]
    sign = found[0] in ("\\pm", "±")
    plus = _PM_RE.sub("+", s, count=1)
    minus = _PM_RE.sub("-", s, count=1)
    return [plus, minus] if sign else [minus, plus]


def flatten_sets(item: Item) -> list[Item]:
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
    if len(pieces) > 1:  # "k\\pi, k \\in \\mathbb{Z}": the parameter's domain is no answer
        pieces = [piece for piece in pieces if not _PARAMETER_DOMAIN_RE.match(piece)] or pieces
    if len(pieces) > 64:
        raise Unparseable("too many items")
    items: list[Item] = []
    if len(pieces) == 1 and DECIMAL_COMMA_RE.match(s):
        pieces = [s]
    for piece in pieces:
        for variant in expand_pm(strip_label(piece)):
            item = make_item(variant, prepared, is_gold)
            items.extend(flatten_sets(item) if len(pieces) >= 1 else [item])
    return Answer(items=items, cleaned=s, units=prepared.units, choice=choice)


def analyse_gold(raw: str, max_chars: int) -> Answer:
    """The gold answer in any dataset form; a long solution text is mined for its boxed answer.

    Raises Unparseable (the row is ``invalid_input``) when no form of it parses or it breaks a bound.
    """
    text = str(raw)
    if len(text) <= 300:
        text = restore_written_forms(text)  # before strip(): "\\frac" eaten by JSON starts with a form feed
    text = text.strip()
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
            return Answer(items=flatten_sets(item), cleaned=str(value))
    raise Unparseable("gold answer could not be parsed")
