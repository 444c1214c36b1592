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

# Whole blocks first (they may contain anything), then inline spans, then tokens.
_FENCED = re.compile(r"(```|~~~)[^\n]*\n?.*?(?:\1|\Z)", re.DOTALL)
_LATEX_ENV = re.compile(r"\\begin\{([^{}]{1,40})\}.*?(?:\\end\{\1\}|\Z)", re.DOTALL)
_DISPLAY_MATH = re.compile(r"\$\$.*?(?:\$\$|\Z)|\\\[.*?(?:\\\]|\Z)", re.DOTALL)
_INLINE_MATH = re.compile(r"\\\(.*?\\\)|(?<![\\$])\$(?!\s)[^$\n]{1,400}?(?<![\s\\])\$", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_URL = re.compile(r"(?:https?|ftp)://\S+|www\.\S+|\b[\w.+-]+@[\w-]+\.[\w.-]+\b", re.IGNORECASE)
_MARKUP = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>\n]{0,200})?/?>")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
# A line of unfenced code: a statement keyword opening it, or code punctuation ending it.
_CODE_LINE = re.compile(
    r"^[ \t]*(?:(?:def|class|import|from|return|elif|while|for|print|var|let|const|function|public|"
    r"private|static|void|int|#include|#define|using|namespace)\b[^\n]*[:;{(=]|[^\n]*[;{}][ \t]*$"
    r"|[\w.\[\]]+[ \t]*(?:[-+*/%]?=|==|!=|<=|>=)[^\n]*$)",
    re.MULTILINE,
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
    for pattern in (_FENCED, _LATEX_ENV, _DISPLAY_MATH):  # blocks end a sentence
        text = pattern.sub(_BREAK, text)
    for pattern in (_INLINE_MATH, _INLINE_CODE, _URL, _MARKUP):  # inline spans keep it whole
        text = pattern.sub(" ", text)
    text = _CODE_LINE.sub(_BREAK, text)
    return _LATEX_COMMAND.sub(" ", text)
