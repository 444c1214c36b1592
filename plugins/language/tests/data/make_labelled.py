"""Writes labelled.jsonl: the language verifier's labelled test set, built from parallel.json.

Each row is a `grpo score` row (prompt, completion, target_language) plus `category`, `expected`
(the target's share of words, counted by hand-checkable rules: alphabetic words of two or more
letters; CJK sentences weigh as their English translation) and, for mixes, the `series` and `share`
the check needs. Run: python make_labelled.py (rewrites labelled.jsonl next to it).
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
P = json.loads((HERE / "parallel.json").read_text())
LANGS = ["en", "zh", "ja", "ko", "fr", "de", "ru", "es"]


def en_words(i: int) -> int:
    """Units of parallel sentence i: the English translation's words of two or more letters."""
    return sum(1 for w in P["en"][i].replace(",", " ").replace(".", " ").split() if len(w) > 1)


def join(lang_sentences: list[str]) -> str:
    return (
        "".join(lang_sentences)
        if all(s[-1] in "。！？" for s in lang_sentences)
        else " ".join(lang_sentences)
    )


def row(category, completion, target, expected, **extra):
    return {
        "prompt": "Solve the problem.",
        "completion": completion,
        "target_language": target,
        "category": category,
        "expected": expected,
        **extra,
    }


rows = []
# Monolingual, target = the text's language (three slices each, with and without <think> tags).
for lang in LANGS:
    for k, (a, b) in enumerate([(0, 5), (4, 9), (7, 12)]):
        text = join(P[lang][a:b])
        completion = f"<think>\n{text}\n</think>\n<answer>42</answer>" if k != 1 else text
        rows.append(row("monolingual", completion, lang, 1.0))
# Another language than the target.
for lang, target in [
    ("en", "fr"),
    ("zh", "en"),
    ("ja", "zh"),
    ("ko", "ja"),
    ("fr", "en"),
    ("de", "en"),
    ("ru", "en"),
    ("es", "fr"),
    ("en", "zh"),
    ("de", "fr"),
]:
    rows.append(row("other_language", f"<think>{join(P[lang][2:7])}</think><answer>7</answer>", target, 0.0))
# A close relative of the target (the hard case for a sentence-level identifier).
CLOSE = json.loads((HERE / "close.json").read_text(encoding="utf-8"))
for item in CLOSE:
    completion = f"<think>{item['text']}</think><answer>7</answer>"
    rows.append(row("other_language", completion, item["target"], 0.0, language=item["language"]))


def mix(first: str, second: str, target: str, pattern: str) -> tuple[str, float]:
    """Sentences 0..len(pattern)-1, each in `first` (pattern 'a') or `second` ('b')."""
    parts, hit, total = [], 0, 0
    for i, which in enumerate(pattern):
        lang = first if which == "a" else second
        parts.append(P[lang][i])
        units = (
            en_words(i)
            if lang in ("zh", "ja", "ko")
            else len([w for w in P[lang][i].replace(",", " ").replace(".", " ").split() if len(w) > 1])
        )
        total += units
        hit += units if lang == target else 0
    return " ".join(parts), hit / total


# Latin-script sentence mixes: expected = the target's share of the words.
for first, second, target, pattern in [
    ("en", "fr", "en", "abab"),
    ("en", "fr", "fr", "aaab"),
    ("en", "de", "en", "abbab"),
    ("es", "en", "es", "aabba"),
    ("fr", "de", "de", "ababab"),
    ("en", "es", "en", "abbbb"),
    ("ru", "en", "ru", "abab"),
]:
    text, share = mix(first, second, target, pattern)
    rows.append(row("latin_mix", f"<think>{text}</think>", target, round(share, 4)))
# CJK/Latin sentence mixes, k of 6 sentences in the target: must rise steadily with k.
for series, (target, other) in {"en_zh": ("en", "zh"), "zh_en": ("zh", "en"), "ja_en": ("ja", "en")}.items():
    for k in range(7):
        pattern = "".join("a" if i < k else "b" for i in range(6))
        text, share = mix(target, other, target, pattern[::-1] if k % 2 else pattern)
        rows.append(
            row("cjk_mix", f"<think>{text}</think>", target, round(share, 4), series=series, share=k / 6)
        )
# Code- and math-heavy chains of thought in the target language.
CODE_EN = (
    "<think>First, we need to count the pairs whose sum is even. I will write a short program.\n"
    "```python\ndef count_pairs(nums):\n    total = 0\n    for i in range(len(nums)):\n"
    "        for j in range(i + 1, len(nums)):\n            if (nums[i] + nums[j]) % 2 == 0:\n"
    "                total += 1\n    return total\n```\nThe loop calls `count_pairs` on the input list, "
    "and the result for the sample is six. Let me check the edge case where the list is empty.\n"
    "result = count_pairs([])\nIt returns zero, so the function handles that case.</think><answer>6</answer>"
)
MATH_ZH = (
    r"<think>首先，我们设 $x$ 为苹果的数量。根据题意，$2x + 3 = 11$，所以 $x = 4$。"
    r"然后验证：\[ 2 \cdot 4 + 3 = 11 \]，结果正确。因此答案是 $\boxed{4}$。</think><answer>4</answer>"
)
MATH_FR = (
    r"<think>On pose $f(x) = x^2 - 4x + 3$ et on cherche ses racines. "
    r"Le discriminant vaut $\Delta = b^2 - 4ac = 16 - 12 = 4$, donc il y a deux racines réelles. "
    r"\begin{align} x_1 &= \frac{4 - 2}{2} = 1 \\ x_2 &= \frac{4 + 2}{2} = 3 \end{align} "
    r"On vérifie que $f(1) = 0$ et $f(3) = 0$, ce qui confirme le résultat.</think><answer>1, 3</answer>"
)
MATH_EN = (
    r"<think>Let $a_n = 3n + 2$. The sum of the first $n$ terms is $S_n = \frac{n(5 + 3n + 2)}{2}$. "
    r"For $n = 10$ we get $S_{10} = \frac{10 \cdot 37}{2} = 185$. Let me double check with the formula "
    r"$S_n = \sum_{k=1}^{n} a_k$, which gives the same value.</think><answer>185</answer>"
)
CODE_ZH = (
    "<think>我们需要统计列表中偶数的个数。下面写一个函数：\n```python\ndef count_even(xs):\n"
    "    return sum(1 for x in xs if x % 2 == 0)\n```\n对输入 `[1, 2, 3, 4]` 调用 `count_even`，"
    "得到的结果是二。这与我们的手算一致。</think><answer>2</answer>"
)
MATH_RU = (
    r"<think>Пусть $v$ — скорость поезда. Тогда $v \cdot 3 = 240$, значит $v = 80$ км/ч. "
    r"Проверим: $80 \times 3 = 240$, всё сходится. Ответ: $80$.</think><answer>80</answer>"
)
for completion, target in [
    (CODE_EN, "en"),
    (MATH_ZH, "zh"),
    (MATH_FR, "fr"),
    (MATH_EN, "en"),
    (CODE_ZH, "zh"),
    (MATH_RU, "ru"),
]:
    rows.append(row("code_math", completion, target, 1.0))
# Very short texts.
for completion, target, expected in [
    ("<think>Let me think.</think><answer>4</answer>", "en", 1.0),
    ("<think>好的。</think>", "zh", 1.0),
    ("<think>好的。</think>", "en", 0.0),
    ("Je pense que oui.", "fr", 1.0),
    ("Да, верно.", "en", 0.0),
    ("<think>So x = 4.</think><answer>4</answer>", "en", 1.0),
    ("はい、そうです。", "ja", 1.0),
]:
    rows.append(row("short", completion, target, expected))
# No linguistic content at all.
for completion in [
    "",
    "<think>$$x^2 + 2x + 1 = (x + 1)^2$$</think><answer>1</answer>",
    "```python\nprint(2 + 2)\n```",
    "<think>12 + 30 = 42; 42 / 6 = 7</think><answer>7</answer>",
    "<think>x = 3, y = 4, z = x * y</think>",
]:
    rows.append(row("no_words", completion, "en", None))

with open(HERE / "labelled.jsonl", "w", encoding="utf-8") as out:
    for i, r in enumerate(rows):
        out.write(json.dumps({"id": i, **r}, ensure_ascii=False) + "\n")
print(f"{len(rows)} rows")
