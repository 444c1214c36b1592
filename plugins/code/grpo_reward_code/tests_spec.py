"""Checking a row's ``tests`` before anything runs: malformed tests are the row's fault.

A test spec that cannot be run as written (wrong types, no cases, test code that does not compile)
would otherwise read as a wrong program for every completion; here it becomes ``invalid_input``
naming the field.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

KINDS = ("assert", "stdio", "call")


class TestsError(ValueError):
    """The row's ``tests`` cannot be run as written (message names the field)."""


@lru_cache(maxsize=512)
def _compile_error(code: str) -> str | None:
    try:
        compile(code, "<tests>", "exec", 0x400)  # PyCF_ONLY_AST: parse only
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def validate_tests(raw: Any) -> dict[str, Any]:
    """The tests as a dict, or :class:`TestsError` naming what is wrong."""
    tests = raw
    if isinstance(tests, str):
        try:
            tests = json.loads(tests)
        except json.JSONDecodeError as exc:
            raise TestsError(f"`tests` is a string but not JSON: {exc}") from None
    if not isinstance(tests, dict):
        raise TestsError(f"`tests` must be an object, got {type(tests).__name__}")
    kind = tests.get("type")
    if kind not in KINDS:
        raise TestsError(f"`tests.type` must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "assert":
        code = tests.get("code")
        if not isinstance(code, str) or not code.strip():
            raise TestsError("`tests.code` must be a non-empty string of Python test code")
        entry = tests.get("entry_point")
        if entry is not None and (not isinstance(entry, str) or not entry.isidentifier()):
            raise TestsError(f"`tests.entry_point` must be a Python name, got {entry!r}")
        problem = _compile_error(code)
        if problem:
            raise TestsError(f"`tests.code` does not compile: {problem}")
        return tests
    cases = tests.get("cases")
    if not isinstance(cases, list) or not cases:
        raise TestsError(f"`tests.cases` must be a non-empty list, got {type(cases).__name__}")
    for index, case in enumerate(cases):
        where = f"`tests.cases[{index}]`"
        if not isinstance(case, dict):
            raise TestsError(f"{where} must be an object, got {type(case).__name__}")
        if kind == "stdio":
            for key in ("input", "output"):
                if key == "input" and key not in case:
                    continue
                if not isinstance(case.get(key), str):
                    raise TestsError(f"{where}.{key} must be a string, got {type(case.get(key)).__name__}")
        else:
            if "args" in case and not isinstance(case["args"], list):
                raise TestsError(f"{where}.args must be a list, got {type(case['args']).__name__}")
            kwargs = case.get("kwargs", {})
            if not isinstance(kwargs, dict):
                raise TestsError(f"{where}.kwargs must be an object, got {type(kwargs).__name__}")
            if "expected" not in case:
                raise TestsError(f"{where} needs `expected`")
            if not _is_json(case["expected"]) or not _is_json(case.get("args", [])) or not _is_json(kwargs):
                raise TestsError(f"{where} must hold JSON values only")
    if kind == "call":
        name = tests.get("fn_name")
        if not isinstance(name, str) or not name.isidentifier():
            raise TestsError(f"`tests.fn_name` must be a Python name, got {name!r}")
    return tests
