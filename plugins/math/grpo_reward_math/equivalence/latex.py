"""LaTeX string primitives shared by the clean-up, unit and parsing steps (no sympy)."""

from __future__ import annotations

import re

TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mbox|operatorname)\s*\{")
DECIMAL_COMMA_RE = re.compile(r"^-?\d+,\d+$")
PLAIN_DECIMAL_RE = re.compile(r"^[+-]?(\d*)\.(\d+)$")
PLAIN_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


def unwrap_text_commands(s: str) -> str:
    """``\\text{abc}`` -> ``abc`` (balanced braces)."""
    for _ in range(20):
        m = TEXT_CMD_RE.search(s)
        if not m:
            return s
        depth, j = 1, m.end()
        while j < len(s) and depth:
            if s[j] == "{":
                depth += 1
            elif s[j] == "}":
                depth -= 1
            j += 1
        inner = s[m.end() : j - 1] if depth == 0 else s[m.end() :]
        s = s[: m.start()] + inner + s[j:]
    return s


def balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0
