"""The code verifier passes the grpo-core conformance kit on each backend available here."""

from __future__ import annotations

import grpo_reward_code
import pytest
from grpo_reward_code import CodeVerifier

from grpo_core.testing import Example, Kit

TESTS = {"type": "assert", "code": "assert add(2, 3) == 5\nassert add(-1, 1) == 0", "entry_point": "add"}
STDIO = {"type": "stdio", "cases": [{"input": "2 3\n", "output": "5\n"}]}
EXAMPLES = [
    Example(
        {"prompt": "add", "completion": "```python\ndef add(a, b):\n    return a + b\n```", "tests": TESTS},
        1.0,
    ),
    Example(
        {"prompt": "add", "completion": "```python\ndef add(a, b):\n    return a - b\n```", "tests": TESTS},
        0.0,
    ),
    Example(
        {
            "prompt": "sum",
            "completion": "```python\na, b = map(int, input().split())\nprint(a + b)\n```",
            "tests": STDIO,
        },
        1.0,
    ),
    Example({"prompt": "sum", "completion": "```python\nprint(4)\n```", "tests": STDIO}, 0.0),
]


@pytest.mark.parametrize("check", Kit.CHECKS)
def test_code_conformance(check: str, backend_options: dict) -> None:
    options = {**backend_options, "timeout_s": 10.0, "case_timeout_s": 5.0}
    kit = Kit(CodeVerifier, EXAMPLES, options=options, plugin=grpo_reward_code)
    getattr(kit, f"check_{check}")()
