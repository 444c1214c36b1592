"""Completions that hang or blow up naive rule-based math checkers.

Shared by the plugin's tests and ``benchmarks/math_adversarial.py``; plugin authors can use them to
check that their own verifier returns promptly.
"""

from __future__ import annotations

import random


def unicode_noise(n: int, seed: int = 7) -> str:
    """``n`` characters drawn from ASCII, assorted BMP blocks and emoji, reproducibly."""
    rng = random.Random(seed)
    return "".join(
        chr(rng.choice((rng.randint(0x20, 0x7E), rng.randint(0xA0, 0x2FFF), rng.randint(0x1F300, 0x1F6FF))))
        for _ in range(n)
    )


ADVERSARIAL_COMPLETIONS: dict[str, str] = {
    "power tower 5^{5^{5^{5^5}}}": "The final answer is $\\boxed{5^{5^{5^{5^5}}}}$",
    "power tower 10^{10^{10^{10}}}": "The final answer is $\\boxed{10^{10^{10^{10}}}}$",
    "9^{9^9}": "\\boxed{9^{9^{9}}}",
    "2^{10^9}": "\\boxed{2^{10^{9}}}",
    "factorial tower ((10!)!)!": "\\boxed{((10!)!)!}",
    "123456789!": "\\boxed{123456789!}",
    "1 MB of digits, boxed": "\\boxed{" + "7" * 1_000_000 + "}",
    "1 MB of digits, plain": "1" * 1_000_000,
    "5000 nested braces": "\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}",
    "2000 nested parentheses": "\\boxed{" + "(" * 2000 + "1" + ")" * 2000 + "}",
    "7 nested logs": "\\boxed{\\log(\\log(\\log(\\log(\\log(\\log(\\log(x)))))))}",
    "(x+1)^{100000}": "\\boxed{(x+1)^{100000}}",
    "50k random unicode": unicode_noise(50_000),
    "random unicode in a box": "\\boxed{" + unicode_noise(500, seed=3) + "}",
    "2000 unclosed boxes": "\\boxed{\\frac{1}{2" * 2000,
    # a long digit run inside the search window: quadratic regexes in the clean-up took 10-50 s here
    "15k digits in a box, then a prime": "\\boxed{" + "1" * 15_000 + "'}",
    "15k digits under \\sin, boxed": "\\boxed{\\sin " + "1" * 15_000 + "^\\circ}",
}

#: inputs that must be scored (status ok), not merely killed at the time limit
MUST_FINISH = ("15k digits in a box, then a prime", "15k digits under \\sin, boxed")
