"""Finding the program in a completion: the last (or first) fenced block of the language.

The completion is the policy's text, scanned on the host before any sandbox or timeout: the scan is
one pass over its lines (a fence regex over the whole text backtracked quadratically on openers that
never close: 64 KB of them held the event loop for 19 s).
"""

from __future__ import annotations

import bisect
import re

#: an opening fence line: 3+ backticks or tildes, then the info string (its first word is the tag)
OPENER = re.compile(r"[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)")

ALIASES = {
    "python": {"python", "py", "python3", "py3"},
    "cpp": {"cpp", "c++", "cc", "cxx"},
}


def _matches(tag: str, language: str) -> bool:
    tag = tag.lower()
    return tag in ALIASES.get(language, {language})


def fenced_blocks(text: str) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """``(tag, body)`` of every closed fenced block in order, and ``(tag, rest of the text)`` of the
    first opening fence line (for an unclosed final block).

    A block opens on a fence line followed by a newline and closes at the next line that is the same
    fence alone (spaces and tabs around it); a fence that never closes tries its shorter prefixes (3
    at least; the block is then untagged), and a line that closes nothing is just text. Closing lines
    are indexed first, so each opener costs a lookup instead of a scan of the rest of the text."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    closers: dict[tuple[str, int], list[int]] = {}  # (fence char, length) -> its closing lines
    for index, line in enumerate(lines):
        bare = line.strip(" \t")
        if len(bare) >= 3 and bare[0] in "`~" and bare == bare[0] * len(bare):
            closers.setdefault((bare[0], len(bare)), []).append(index)
    lengths = {char: sorted(n for c, n in closers if c == char) for char in "`~"}
    blocks: list[tuple[str, str]] = []
    first: tuple[str, str] | None = None
    index = 0
    while index < len(lines) - 1:  # an opening line needs a newline after it
        opener = OPENER.match(lines[index])
        if opener is None:
            index += 1
            continue
        run, tag = opener.group(1), opener.group(2)
        if first is None:
            first = (tag, text[offsets[index + 1] :])
        end = None
        # the run, then its shorter prefixes, but only lengths some line closes: at most as many
        # tries as the run is long, each a lookup
        known = lengths[run[0]]
        for length in reversed(known[: bisect.bisect_right(known, len(run))]):
            later = closers[(run[0], length)]
            found = bisect.bisect_right(later, index)
            if found < len(later):
                end, tag = later[found], tag if length == len(run) else ""
                break
        if end is None:
            index += 1
            continue
        blocks.append((tag, text[offsets[index + 1] : offsets[end]]))
        index = end + 1
    return blocks, first


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
    blocks, unclosed = fenced_blocks(text)
    tagged = [body for tag, body in blocks if _matches(tag, language)]
    chosen = tagged or [body for tag, body in blocks if not tag]
    if chosen:
        body = chosen[-1] if mode == "last_block" else chosen[0]
        return body if body.strip() else None
    if not fallback:
        return None
    if unclosed and (not unclosed[0] or _matches(unclosed[0], language)):
        body = unclosed[1]
        return body if body.strip() else None
    if blocks:  # only blocks of other languages: the text is not a program of this language
        return None
    return text if text.strip() else None
