"""Finding the program in a completion: the last (or first) fenced block of the language."""

from __future__ import annotations

import re

FENCE = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE
)
UNCLOSED = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*)\Z", re.DOTALL | re.MULTILINE)

ALIASES = {
    "python": {"python", "py", "python3", "py3"},
    "cpp": {"cpp", "c++", "cc", "cxx"},
}


def _matches(tag: str, language: str) -> bool:
    tag = tag.lower()
    return tag in ALIASES.get(language, {language})


def extract_code(
    text: str, language: str = "python", mode: str = "last_block", fallback: bool = True
) -> str | None:
    """The program in ``text``.

    ``mode``: ``last_block`` / ``first_block`` (fenced blocks tagged with the language; untagged blocks
    count when none is tagged) or ``whole`` (the text as is). ``fallback``: with no block, use the whole
    text (an unclosed final fence is accepted too). ``None`` when nothing usable is found.
    """
    if mode == "whole":
        return text if text.strip() else None
    blocks = [(m.group(2), m.group(3)) for m in FENCE.finditer(text)]
    tagged = [body for tag, body in blocks if _matches(tag, language)]
    chosen = tagged or [body for tag, body in blocks if not tag]
    if chosen:
        body = chosen[-1] if mode == "last_block" else chosen[0]
        return body if body.strip() else None
    if not fallback:
        return None
    unclosed = UNCLOSED.search(text)
    if unclosed and (not unclosed.group(2) or _matches(unclosed.group(2), language)):
        body = unclosed.group(3)
        return body if body.strip() else None
    if blocks:  # only blocks of other languages: the text is not a program of this language
        return None
    return text if text.strip() else None
