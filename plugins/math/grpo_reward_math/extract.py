"""Answer extraction from completions and gold answers: pure string work, no sympy.

Everything here runs in the engine's main process too (``cache_key``), so it must be cheap and
linear in the input: bounded windows, ``str.rfind`` scans and simple regexes only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

#: Only this many trailing characters of a completion are searched for an answer.
SEARCH_WINDOW = 20_000

BOX_COMMANDS = ("\\boxed", "\\fbox", "\\framebox")
_ANSWER_TAG_RE = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL | re.IGNORECASE)
_FINAL_RE = re.compile(
    r"(?:final\s+answer\s*(?:is|:|=)|\bthe\s+answer\s+is|\banswer\s*:|\banswer\s+is)\s*:?\s*",
    re.IGNORECASE,
)
_WS_RE = re.compile(r"\s+")
_SEPARATOR_WORDS = {"and", "or", "text", "quad", "qquad", "mbox", "textrm", "textbf", "mathrm"}
_WORD_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")


def _prose_words(s: str) -> list[str]:
    """Words of two or more letters outside LaTeX commands and $…$ math, minus 'and'/'or'."""
    outside = re.sub(r"\$[^$]*\$", " ", s)
    return [w for w in _WORD_RE.findall(outside) if w.lower() not in _SEPARATOR_WORDS]


def _is_prose(s: str) -> bool:
    return len(_prose_words(s)) >= 3


@dataclass
class Extraction:
    """What was found in a completion: the answer strings (several for a cluster of boxes)."""

    answers: list[str] = field(default_factory=list)
    method: str = ""
    #: distinct boxed answers found in the last cluster of boxes (several: a hedge unless gold is a list)
    cluster: int = 0

    @property
    def found(self) -> bool:
        return bool(self.answers) and any(a.strip() for a in self.answers)


def _brace_matches(text: str) -> dict[int, int]:
    """``{`` index -> index just past its ``}``, for every balanced group (one linear pass;
    escaped braces ``\\{`` are not groups)."""
    matches: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            matches[stack.pop()] = i + 1
        i += 1
    return matches


def find_boxes(text: str) -> list[tuple[int, int, str]]:
    """All ``\\boxed{…}`` / ``\\fbox{…}`` groups as (start, end, content), in order (linear time)."""
    if "\\boxed" not in text and "\\fbox" not in text and "\\framebox" not in text:
        return []
    groups = _brace_matches(text)
    found: list[tuple[int, int, str]] = []
    for command in BOX_COMMANDS:
        start = 0
        while True:
            i = text.find(command, start)
            if i < 0:
                break
            j = i + len(command)
            if j < len(text) and text[j].isalpha():  # \boxedfoo: another command
                start = j
                continue
            while j < len(text) and text[j] == " ":
                j += 1
            if j < len(text) and text[j] == "{":
                end = groups.get(j, -1)
                if end > 0:
                    found.append((i, end, text[j + 1 : end - 1]))
            elif command == "\\boxed" and j < len(text) and text[j] not in "{}":
                # "\boxed 5": a single token
                m = re.match(r"[^\s$.,;]{1,100}", text[j : j + 101])
                if m:
                    found.append((i, j + m.end(), m.group(0)))
            start = j
    found.sort()
    # drop boxes nested in other boxes
    result: list[tuple[int, int, str]] = []
    for box in found:
        if result and box[0] < result[-1][1]:
            continue
        result.append(box)
    return result


_CLUSTER_GAP_RE = re.compile(
    r"^[\s$,;.:&]*(?:\\quad|\\qquad|\\text\{[^{}]{0,40}\}|\\\]|\\\[|\\\)|\\\(|and|or|,|\$|\s|\\\\)*[\s$,;.:]*$",
    re.IGNORECASE,
)


def last_box_cluster(text: str, boxes: list[tuple[int, int, str]]) -> list[str]:
    """Contents of the last run of boxes separated only by punctuation, 'and', 'or', short text."""
    if not boxes:
        return []
    cluster = [boxes[-1]]
    for box in reversed(boxes[:-1]):
        gap = text[box[1] : cluster[0][0]]
        if (
            len(gap) <= 80
            and "\n\n" not in gap
            and (_CLUSTER_GAP_RE.match(gap) or len(_prose_words(gap)) <= 2)
        ):
            cluster.insert(0, box)
        else:
            break
    return [content for _, _, content in cluster]


def _unclosed_box(text: str) -> int:
    """Index of the content of a ``\\boxed{`` whose brace never closes and that no complete box
    follows, else -1: the completion was cut inside its answer."""
    if "\\boxed" not in text and "\\fbox" not in text and "\\framebox" not in text:
        return -1
    groups = _brace_matches(text)
    last_open = -1
    last_complete = -1
    for command in BOX_COMMANDS:
        start = 0
        while (i := text.find(command, start)) >= 0:
            j = i + len(command)
            start = j
            if j < len(text) and text[j].isalpha():
                continue
            while j < len(text) and text[j] == " ":
                j += 1
            if j < len(text) and text[j] == "{":
                if j in groups:
                    last_complete = max(last_complete, i)
                else:
                    last_open = max(last_open, j + 1)
    return last_open if last_open > last_complete else -1


def _unclosed_tag(text: str) -> int:
    """Index of the content of a last ``<answer>`` that no ``</answer>`` closes, else -1."""
    lower = text.lower()
    i = lower.rfind("<answer>")
    if i < 0 or lower.find("</answer>", i) >= 0:
        return -1
    return i + len("<answer>")


def _strip_math_delimiters(s: str) -> str:
    s = s.strip()
    changed = True
    while changed and s:
        changed = False
        for left, right in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
            if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
                s = s[len(left) : len(s) - len(right)].strip()
                changed = True
                break
    return s


def _final_answer_span(text: str) -> tuple[int, str] | None:
    """The answer after the last 'final answer is' / 'the answer is' / 'Answer:' anchor."""
    last = None
    for m in _FINAL_RE.finditer(text):
        last = m
    if last is None:
        return None
    position = last.start()
    rest = text[last.end() :].lstrip()
    if not rest:
        return None
    boxes = find_boxes(rest[:2000])
    if boxes and boxes[0][0] < 200:
        return position, boxes[-1][2]
    for left, right in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if rest.startswith(left):
            end = rest.find(right, len(left))
            if end > 0:
                return position, rest[len(left) : end]
    # plain text: up to the end of the sentence or line
    m = re.match(r"(.*?)(?:\.\s|\.$|\n|\s+I hope|$)", rest[:500], re.DOTALL)
    span = (m.group(1) if m else rest[:500]).strip().rstrip(".")
    if _is_prose(span):
        return None  # a sentence: left to the fallback search
    return (position, span) if span else None


def _candidates(text: str, method: str, allow_truncated: bool) -> tuple[int, Extraction] | None:
    """(position, extraction) of the last answer found by one method, or None."""
    if method == "boxed" and allow_truncated:
        cut = _unclosed_box(text)
        if cut >= 0 and text[cut:].strip():
            return cut, Extraction([text[cut:].strip()], "boxed", 1)
    if method == "answer_tag":
        matches = list(_ANSWER_TAG_RE.finditer(text)) if "<answer>" in text.lower() else []
        if matches:
            content = matches[-1].group(1)
            boxes = find_boxes(content)
            if boxes:
                cluster = last_box_cluster(content, boxes)
                return matches[-1].start(), Extraction(cluster, "answer_tag", len(set(cluster)))
            content = _strip_math_delimiters(content)
            if content:
                return matches[-1].start(), Extraction([content], "answer_tag", 1)
    elif method == "boxed":
        boxes = find_boxes(text)
        if boxes:
            cluster = last_box_cluster(text, boxes)
            return boxes[-1][0], Extraction(cluster, "boxed", len(set(cluster)))
    elif method == "final_answer":
        found = _final_answer_span(text)
        if found:
            position, span = found
            span = _strip_math_delimiters(span)
            if span:
                return position, Extraction([span], "final_answer", 1)
    return None


def extract_answer(
    text: str,
    priority: tuple[str, ...],
    after_think: bool,
    prefer_last: bool = True,
    allow_truncated: bool = False,
) -> Extraction:
    """Find the final answer in a completion.

    Each method in ``priority`` proposes its last answer; with ``prefer_last`` the one written last
    in the completion wins (ties go by priority), otherwise the first method that finds one.
    A completion cut inside its answer (an unclosed ``<answer>`` when tags are looked for, or an
    unclosed ``\\boxed{``) has none (method ``truncated``) unless ``allow_truncated``: the model
    never finished it, and its prefix ("<answer>2" of "<answer>25") must not earn reward.
    """
    if after_think:
        cut = text.rfind("</think>")
        if cut < 0:
            return Extraction(method="no_think_end")
        text = text[cut + len("</think>") :]
    if len(text) > SEARCH_WINDOW:
        text = text[-SEARCH_WINDOW:]
    if not allow_truncated and (
        ("answer_tag" in priority and _unclosed_tag(text) >= 0) or _unclosed_box(text) >= 0
    ):
        return Extraction(method="truncated")
    best: tuple[int, int, Extraction] | None = None
    for rank, method in enumerate(priority):
        found = _candidates(text, method, allow_truncated)
        if found is None:
            continue
        if not prefer_last:
            return found[1]
        position, extraction = found
        if best is None or position > best[0]:
            best = (position, -rank, extraction)
    return best[2] if best else Extraction(method="none")


# -- normalisation for cache keys and cheap string equality -------------------------------------
_KEY_DROP_RE = re.compile(r"\\left(?![a-zA-Z])|\\right(?![a-zA-Z])|\\displaystyle")


def normalize_key(s: str) -> str:
    """A conservative normal form: equal forms are always equivalent answers."""
    s = _strip_math_delimiters(s)
    s = _KEY_DROP_RE.sub("", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _WS_RE.sub(" ", s).strip().rstrip(".").strip()
    return s


def compact(s: str) -> str:
    """normalize_key without any whitespace (for substring tests)."""
    return _WS_RE.sub("", normalize_key(s))


def digest(s: str, limit: int = 512) -> str:
    """The string itself when short, else a stable hash (keeps cache keys small)."""
    if len(s) <= limit:
        return s
    return "sha1:" + hashlib.sha1(s.encode("utf-8", "surrogatepass")).hexdigest()


_HEDGE_RE = re.compile(
    r"\\text\s*\{\s*or\s*\}|\\textrm\s*\{\s*or\s*\}|\\mbox\s*\{\s*or\s*\}|\bor\b|\\lor\b|\\vee\b|/\s*or\b",
    re.IGNORECASE,
)


_RELATION_RE = re.compile(r"<|>|\\le|\\ge|\\leq|\\geq|\\lt|\\gt|≤|≥")


def has_hedge(answer: str) -> bool:
    """'2 or 3', '2 \\text{ or } 3', … — an answer that offers alternative values.

    Relations joined by 'or' (``x < 2 or x > 3``) describe one set and are no hedge.
    """
    return bool(_HEDGE_RE.search(answer)) and not _RELATION_RE.search(answer)


_WORD_WRAPPER_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mbox)\s*\{([^{}]*)\}")
_WORDS_RE = re.compile(r"[A-Za-z][A-Za-z '’-]*")


def is_word_answer(s: str) -> bool:
    """Words only (``Evelyn``, ``\\text{odd}``): no operator, digit or LaTeX command outside text."""
    t = _WORD_WRAPPER_RE.sub(r"\1", _strip_math_delimiters(s)).strip().strip(".")
    return bool(_WORDS_RE.fullmatch(t))


def strip_outer_box(s: str) -> str:
    """``\\boxed{X}`` (the whole string) -> ``X``."""
    s = _strip_math_delimiters(s)
    boxes = find_boxes(s)
    if len(boxes) == 1 and boxes[0][0] == 0 and boxes[0][1] == len(s.rstrip(" .")):
        return boxes[0][2].strip()
    return s
