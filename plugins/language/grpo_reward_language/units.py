"""Sentences, scripts and linguistic units: what the language reward counts.

Units are words, not characters. Alphabetic scripts (Latin, Cyrillic, Greek, ...) count one unit
per word of two or more letters (single letters are variables; tokens with digits, underscores or
camelCase are identifiers). CJK has no spaces, so its characters are weighted to make a sentence
and its English translation weigh about the same: on this plugin's parallel sentences
(``tests/data/parallel.json``, checked by a test), an English word corresponds on average to
``CHARS_PER_UNIT`` characters: 1.55 Han characters in Chinese, 2.1 Han and kana characters in
Japanese, 1.8 Hangul syllables in Korean.

CJK language comes from the script of each sentence (kana -> ja, Hangul -> ko, Han alone -> zh;
Han in a sentence with kana is Japanese). Alphabetic text is identified by the model per sentence.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

HAN = "\u3005\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
CJK = HAN + KANA + HANGUL

#: characters per unit, so a CJK sentence weighs about what its English translation does.
CHARS_PER_UNIT = {"zh": 1.55, "ja": 2.1, "ko": 1.8}

# Sentence ends: Western punctuation before a space, CJK punctuation, line breaks (plain string
# operations: a regex split costs more than everything else here).
_WESTERN_ENDS = tuple(p + s for p in ".!?;:…" for s in " \t")
_CJK_ENDS = str.maketrans({c: "\n" for c in "。！？；：…\r"})
# A word: letters with inner apostrophes or hyphens, not touching a digit, underscore or other
# letter (so identifiers such as x1, a_b, log2 yield nothing); CJK characters are not its letters.
_LETTER = rf"[^\W\d_{CJK}]"
_NOT_WORD_EDGE = rf"[^\W{CJK}]|['’\-]"
_WORD = rf"(?<!{_NOT_WORD_EDGE}){_LETTER}+(?:['’\-]{_LETTER}+)*(?!{_NOT_WORD_EDGE})"
_HAN_CHAR, _KANA_CHAR, _HANGUL_CHAR, _CJK_CHAR = (f"[{chars}]" for chars in (HAN, KANA, HANGUL, CJK))
_CAMEL = r"[a-z][A-Z]"
_CYRILLIC = r"[\u0400-\u04ff]"
_LATIN = r"[A-Za-z\u00c0-\u024f]"


@functools.cache
def _re(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled on first use: the wide character classes here cost ~20 ms to compile,
    which every command that loads the installed plugins (``grpo score --reward code`` too) would
    otherwise pay at start-up."""
    return re.compile(pattern)


@dataclass(slots=True)
class Sentence:
    """One sentence: its alphabetic words (with their script) and its CJK units by language."""

    words: list[str]
    script: str  # "latin", "cyrillic", "other" or "" (no words)
    cjk: dict[str, float]


def words_of(text: str) -> list[str]:
    """The words of alphabetic scripts, without numbers, single letters and identifiers."""
    return [
        word
        for word in _re(_WORD).findall(text)
        if len(word) > 1 and (word.islower() or not _re(_CAMEL).search(word))
    ]


def script_of(words: list[str]) -> str:
    if not words:
        return ""
    joined = "".join(words)
    if joined.isascii():
        return "latin"
    cyrillic, latin = len(_re(_CYRILLIC).findall(joined)), len(_re(_LATIN).findall(joined))
    if cyrillic > latin:
        return "cyrillic"
    if latin > 0:
        return "latin"
    return "other"


def cjk_units(text: str) -> dict[str, float]:
    """CJK units of one sentence, by language, decided by the sentence's script."""
    han = len(_re(_HAN_CHAR).findall(text))
    kana = len(_re(_KANA_CHAR).findall(text))
    hangul = len(_re(_HANGUL_CHAR).findall(text))
    units: dict[str, float] = {}
    if hangul:
        units["ko"] = (hangul + han) / CHARS_PER_UNIT["ko"]
    elif kana:
        units["ja"] = (kana + han) / CHARS_PER_UNIT["ja"]
    elif han:
        units["zh"] = han / CHARS_PER_UNIT["zh"]
    return units


def sentences(text: str) -> list[Sentence]:
    """The text's sentences that carry any unit."""
    for end in _WESTERN_ENDS:
        if end in text:
            text = text.replace(end, "\n")
    has_cjk = _re(_CJK_CHAR).search(text) is not None
    if has_cjk:
        text = text.translate(_CJK_ENDS)
    out = []
    for piece in text.split("\n"):
        if not piece or piece.isspace():
            continue
        words = words_of(piece)
        units = cjk_units(piece) if has_cjk and _re(_CJK_CHAR).search(piece) else {}
        if words or units:
            out.append(Sentence(words, script_of(words), units))
    return out
