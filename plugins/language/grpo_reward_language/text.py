"""From a completion to the prose whose language counts: the chain of thought, without code or math.

R1's reward is "the proportion of target language words in the CoT". Code, LaTeX, URLs, numbers
and variable names are no language's words: left in, they would make a Chinese CoT full of
``\\frac`` and ``for i in range`` look English. They are removed here before any unit is counted: blocks
(fenced code, display math, environments, code lines) end a sentence; inline spans (``$x$``, inline
code, URLs, markup) are cut out of it, so "on pose $f(x)=x^2$ et on cherche" stays one sentence.
"""

from __future__ import annotations

import re

_BREAK = "\n"

# Whole blocks first (they may contain anything), then inline spans, then tokens. Each pattern runs
# only when a cheap substring test says it can match: this runs on every completion.
_FENCED = re.compile(r"(```|~~~)[^\n]*\n?.*?(?:\1|\Z)", re.DOTALL)
_LATEX_ENV = re.compile(r"\\begin\{([^{}]{1,40})\}.*?(?:\\end\{\1\}|\Z)", re.DOTALL)
_DISPLAY_MATH = re.compile(r"\$\$.*?(?:\$\$|\Z)|\\\[.*?(?:\\\]|\Z)", re.DOTALL)
_PAREN_MATH = re.compile(r"\\\(.*?\\\)", re.DOTALL)
_DOLLAR_MATH = re.compile(r"(?<![\\$])\$(?!\s)[^$\n]{1,400}?(?<![\s\\])\$")
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_URL = re.compile(r"(?:https?|ftp)://\S+|www\.\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_MARKUP = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>\n]{0,200})?/?>")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
# Words inside math are still words: \text{...} and friends keep their argument.
_TEXT_ARG = re.compile(r"\\(?:text|textbf|textit|textrm|mbox)\s*\{([^{}]{0,400})\}")


def _keep_text(match: re.Match[str]) -> str:
    """A math span's replacement: its ``\\text{}`` arguments (so prose cannot hide in math)."""
    span = match.group(0)
    return " " + " ".join(_TEXT_ARG.findall(span)) + " " if "\\" in span else " "


def _keep_text_break(match: re.Match[str]) -> str:
    return _BREAK + _keep_text(match) + _BREAK


# A line of unfenced code: a statement's shape ("def f(", "for x in ...:", "let x =", "return ...;"),
# code punctuation ending it, or an assignment opening it ("total += f(i)").
_CODE_LINE = re.compile(
    r"[ \t]*(?:(?:def|class|function)\s+\w+\s*[(:]"
    r"|import\s+[\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+)*\s*$|from\s+[\w.]+\s+import\b"
    r"|for\s+\w+(?:\s*,\s*\w+)*\s+in\s.*:\s*$|(?:if|elif|while)\s.*:\s*$|else\s*:|return\b.*[;)\]\w]\s*$"
    r"|print\(|#\s*(?:include|define)\b|(?:let|const|var|int|float|double|auto)\s+\w+\s*="
    r"|.*[;{}]\s*$|[\w.\[\]]+\s*(?:[-+*/%]?=|==|!=|<=|>=))"
)
# Invisible format characters (zero-width spaces/joiners, bidi marks, soft hyphens): removed first,
# so words split by them are still words (else "t\u200bh\u200be" would hide English from a zh target).
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_CODE_HINT = re.compile(r"[=;{}:(]|^\s*(?:import|from|return)\b", re.MULTILINE)

#: (substrings any of which lets the pattern match, pattern, replacement): blocks end a sentence,
#: inline spans are cut out of it.
_STEPS = (
    (("```", "~~~"), _FENCED, _BREAK),
    (("\\begin{",), _LATEX_ENV, _keep_text_break),
    (("$$", "\\["), _DISPLAY_MATH, _keep_text_break),
    (("\\(",), _PAREN_MATH, _keep_text),
    (("$",), _DOLLAR_MATH, _keep_text),
    (("`",), _INLINE_CODE, " "),
    (("://", "www.", "WWW."), _URL, " "),
    (("@",), _EMAIL, " "),
    (("<",), _MARKUP, " "),
    (("\\",), _LATEX_COMMAND, " "),
)


def chain_of_thought(completion: str, tag: str = "think") -> tuple[str, str]:
    """The text inside ``<tag>…</tag>`` (all such blocks; an unclosed one runs to the end; with only a
    closing tag, the text before it), else the whole completion. Returns (text, where it came from)."""
    open_tag, close_tag = f"<{tag}>", f"</{tag}>"
    if open_tag in completion:
        parts = []
        for chunk in completion.split(open_tag)[1:]:
            parts.append(chunk.split(close_tag, 1)[0])
        return "\n".join(parts), "think"
    if close_tag in completion:  # the template opened the tag in the prompt
        return completion.split(close_tag, 1)[0], "think"
    return completion, "completion"


def strip_non_linguistic(text: str) -> str:
    """Remove code blocks, inline code, LaTeX/math, URLs, e-mail addresses, markup and code lines."""
    if not text.isascii():
        text = _INVISIBLE.sub("", text)
    for hints, pattern, replacement in _STEPS:
        if any(hint in text for hint in hints):
            text = pattern.sub(replacement, text)
    if _CODE_HINT.search(text):
        text = "\n".join(_BREAK if _CODE_LINE.match(line) else line for line in text.split("\n"))
    return text
