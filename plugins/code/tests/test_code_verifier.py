"""The ``code`` verifier through the engine: formats, scoring modes, failures, errors, caching."""

from __future__ import annotations

import json

import pytest

from grpo_core import Score, Status
from grpo_core.engine import Engine
from grpo_core.errors import ConfigError
from grpo_core.plugins import get_registry
from sandboxes import Result, SandboxBackend

ADD = "```python\ndef add(a, b):\n    return a + b\n```"
ADD_WRONG = "```python\ndef add(a, b):\n    return a - b if a > 5 else a + b\n```"
ASSERT_TESTS = {
    "type": "assert",
    "code": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n"
    "    assert candidate(7, 1) == 8\n    assert candidate(9, 1) == 10\n",
    "entry_point": "add",
}
MBPP_TESTS = {
    "type": "assert",
    "code": "assert add(1, 1) == 2\nassert add(10, 1) == 11\n",
    "entry_point": "add",
}
CALL_TESTS = {
    "type": "call",
    "fn_name": "add",
    "cases": [
        {"args": [1, 2], "expected": 3},
        {"args": [0.1, 0.2], "expected": 0.3},
        {"args": [7, 1], "expected": 8},
        {"args": [[1], [2]], "expected": [1, 2]},
    ],
}
STDIO_PROGRAM = (
    "```python\nimport sys\na, b = map(float, sys.stdin.read().split())\nprint(a + b)\nprint('done')\n```"
)
STDIO_TESTS = {
    "type": "stdio",
    "cases": [
        {"input": "1 2\n", "output": "3.0\ndone\n"},
        {"input": "0.1 0.2", "output": "0.30000001\ndone"},
        {"input": "5 5", "output": "11.0\ndone"},
    ],
}


def score(rows, backend_options, **options):
    with Engine(
        [{"verifier": "code", "options": {**backend_options, **options}}], registry=get_registry()
    ) as engine:
        result = engine.score(rows)
    return result.scores["code"]


def row(completion, tests, **extra):
    return {"prompt": "p", "completion": completion, "tests": tests, **extra}


def test_code_plugin_is_registered():
    cls = get_registry().verifier_class("code")
    assert cls.columns == ("tests",) and cls.isolation.value == "async"


def test_assert_format(backend_options):
    good, bad = score([row(ADD, ASSERT_TESTS), row(ADD_WRONG, ASSERT_TESTS)], backend_options)
    assert good.status is Status.OK and good.value == 1.0 and good.details["passed"] == 4
    assert bad.value == 0.5 and bad.details["passed"] == 2 and bad.details["total"] == 4
    assert "candidate(7, 1) == 8" in bad.details["first_failure"]


def test_binary_scoring_stops_early(backend_options):
    (bad,) = score([row(ADD_WRONG, ASSERT_TESTS)], backend_options, scoring="binary")
    assert bad.value == 0.0 and bad.details["passed"] == 2 and bad.details["total"] == 4
    (good,) = score([row(ADD, MBPP_TESTS)], backend_options, scoring="binary")
    assert good.value == 1.0


def test_call_format(backend_options):
    good, bad = score([row(ADD, CALL_TESTS), row(ADD_WRONG, CALL_TESTS)], backend_options)
    assert good.value == 1.0, good.details
    # 7 - 1 is wrong; [1] > 5 raises a TypeError
    assert bad.value == 0.5 and "add(7, 1) returned 6, expected 8" in bad.details["first_failure"]
    solution_class = "```python\nclass Solution:\n    def add(self, a, b):\n        return a + b\n```"
    (cls_style,) = score([row(solution_class, CALL_TESTS)], backend_options)
    assert cls_style.value == 1.0


def test_stdio_format(backend_options):
    (partial,) = score([row(STDIO_PROGRAM, STDIO_TESTS)], backend_options)
    assert partial.value == pytest.approx(2 / 3) and partial.details["passed"] == 2
    assert "line 1" in partial.details["first_failure"]
    (exact,) = score([row(STDIO_PROGRAM, STDIO_TESTS)], backend_options, float_tolerance=None)
    assert exact.value == pytest.approx(1 / 3)
    extra_line = {"type": "stdio", "cases": [{"input": "1 1", "output": "2.0"}]}
    (lines,) = score([row(STDIO_PROGRAM, extra_line)], backend_options)
    assert lines.value == 0.0 and "line" in lines.details["first_failure"]


def test_wrong_programs_score_zero_not_errors(backend_options):
    rows = [
        row("```python\ndef add(a, b)\n    return\n```", ASSERT_TESTS),  # syntax error
        row("```python\nraise SystemExit(0)\n```", ASSERT_TESTS),  # exit early to fake a pass
        row("```python\nimport os\nos._exit(0)\n```", ASSERT_TESTS),
        row("```python\nwhile True:\n    pass\n```", ASSERT_TESTS),  # loops past the limit
        row("```python\nimport sys\nsys.stdout.write('x' * 10**8)\n```", STDIO_TESTS),  # flood
        row("no code here at all", ASSERT_TESTS),
    ]
    scores = score(rows, backend_options, timeout_s=3, fallback_to_whole=False)
    for s in scores:
        assert s.status is Status.OK and s.value == 0.0, s
        assert s.details["first_failure"]
    assert scores[3].details.get("timed_out")


def test_language_column_and_unsupported(backend_options):
    (py,) = score([row(ADD, MBPP_TESTS, language="python3")], backend_options)
    assert py.value == 1.0
    (rust,) = score([row(ADD, MBPP_TESTS, language="rust")], backend_options)
    assert rust.status is Status.INVALID_INPUT


def test_invalid_tests_are_invalid_input(backend_options):
    scores = score(
        [row(ADD, {"type": "weird"}), row(ADD, "not json"), row(ADD, json.dumps(MBPP_TESTS))], backend_options
    )
    assert [s.status for s in scores[:2]] == [Status.INVALID_INPUT, Status.INVALID_INPUT]
    assert scores[2].value == 1.0  # tests given as a JSON string work too


def test_cache_key_is_program_and_tests():
    from grpo_core import Sample

    cls = get_registry().verifier_class("code")
    verifier = cls({"backend": "subprocess", "allow_unsafe": True})
    a = verifier.cache_key(Sample(row("Sure:\n" + ADD, ASSERT_TESTS)))
    b = verifier.cache_key(Sample(row("Here you go\n" + ADD + "\nbye", ASSERT_TESTS)))
    c = verifier.cache_key(Sample(row(ADD_WRONG, ASSERT_TESTS)))
    d = verifier.cache_key(Sample(row(ADD, MBPP_TESTS)))
    assert a == b and len({a, c, d}) == 3


def test_group_duplicates_run_once(backend_options):
    rows = [row(ADD, ASSERT_TESTS)] * 8
    with Engine([{"verifier": "code", "options": backend_options}], registry=get_registry()) as engine:
        result = engine.score(rows)
    assert [s.value for s in result.scores["code"]] == [1.0] * 8
    assert result.metrics["code"].cache_hits == 7


class _BrokenBackend(SandboxBackend):
    name = "broken"

    def _run(self, job):
        return Result.failure("docker engine went away")


def test_sandbox_failure_is_an_error_not_a_zero():
    cls = get_registry().verifier_class("code")
    verifier = cls({"backend": "subprocess", "allow_unsafe": True})
    verifier.setup()
    verifier.backend = _BrokenBackend()
    import asyncio

    from grpo_core import Sample

    (result,) = asyncio.run(verifier.score_batch([Sample(row(ADD, ASSERT_TESTS))]))
    assert isinstance(result, Score) and result.status is Status.ERROR and result.value is None
    assert "docker engine went away" in result.details["error"]


def test_no_backend_is_a_clear_config_error(monkeypatch):
    from sandboxes.docker_backend import DockerBackend
    from sandboxes.local import BwrapBackend

    monkeypatch.setattr(DockerBackend, "available", classmethod(lambda cls: (False, "no engine")))
    monkeypatch.setattr(BwrapBackend, "available", classmethod(lambda cls: (False, "no bwrap")))
    # setup() raises ConfigError; the engine reports a failing setup() as that verifier's error scores
    (auto,) = score([row(ADD, ASSERT_TESTS)], {"backend": "auto"})
    assert auto.status is Status.ERROR and "ConfigError" in auto.details["error"]
    assert "no safe sandbox backend" in auto.details["error"]
    # an unsafe backend named without the opt-in is refused earlier, when the options are validated
    monkeypatch.delenv("GRPO_SANDBOX_ALLOW_UNSAFE", raising=False)
    with pytest.raises(ConfigError, match="backend: 'subprocess' runs untrusted code without any isolation"):
        score([row(ADD, ASSERT_TESTS)], {"backend": "subprocess"})


CPP_SUM = (
    "```cpp\n#include <iostream>\n"
    "int main() { long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }\n```"
)
CPP_BROKEN = "```cpp\nint main() { return x; }\n```"
CPP_TESTS = {"type": "stdio", "cases": [{"input": "1 2", "output": "3"}, {"input": "5 5", "output": "10"}]}


def test_cpp_stdio(backend_options):
    rows = [row(CPP_SUM, CPP_TESTS, language="cpp"), row(CPP_BROKEN, CPP_TESTS, language="c++")]
    good, broken = score(rows, backend_options)
    if good.status is Status.ERROR:  # a Docker image built without --with-cpp
        assert "no C++ compiler" in good.details["error"] and broken.status is Status.ERROR
        return
    assert good.value == 1.0, good.details
    assert broken.value == 0.0 and broken.details["first_failure"].startswith("compilation failed")
    (unsupported,) = score([row(CPP_SUM, ASSERT_TESTS, language="cpp")], backend_options)
    assert unsupported.status is Status.INVALID_INPUT


def test_docker_exec_mode_scores_the_same(docker_available):
    rows = [row(ADD, ASSERT_TESTS), row(ADD_WRONG, ASSERT_TESTS), row(STDIO_PROGRAM, STDIO_TESTS)]
    session = score(rows, {"backend": "docker"})
    exec_mode = score(rows, {"backend": "docker", "backend_options": {"docker": {"mode": "exec"}}})
    assert [s.value for s in session] == [s.value for s in exec_mode] == [1.0, 0.5, pytest.approx(2 / 3)]


def test_program_cannot_forge_a_pass(backend_options):
    """Exiting early, killing the runner or writing fake result lines never earns a pass."""
    forge_driver_line = (
        "```python\nimport os, sys, json\n"
        "for fd in range(3, 20):\n"
        "    try:\n"
        '        os.write(fd, b\'x {"done": true, "passed": 4}\\n\')\n'
        "    except OSError:\n"
        "        pass\n"
        "for target in ('/proc/%d/fd/1' % os.getppid(), '/proc/1/fd/1'):\n"
        "    try:\n"
        "        with open(target, 'w') as handle:\n"
        "            handle.write('\\nGRPO-RESULT x {\"exit_code\": 0}\\n')\n"
        "    except OSError:\n"
        "        pass\n"
        "def add(a, b):\n    return 0\n```"
    )
    kill_parent = "```python\nimport os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n```"
    rows = [row(forge_driver_line, ASSERT_TESTS), row(kill_parent, ASSERT_TESTS)]
    for s in score(rows, backend_options, scoring="binary"):
        assert s.value == 0.0 and s.status is Status.OK, s


FORGE_FROM_FRAMES = (
    "```python\nimport gc, os, sys\n"
    "reporters = [o for o in gc.get_objects() if type(o).__name__ == 'Reporter']\n"
    "f = sys._getframe(0)\n"
    "while f is not None and not reporters:\n"
    "    reporters = [v for v in f.f_locals.values() if type(v).__name__ == 'Reporter']\n"
    "    f = f.f_back\n"
    "r = reporters[0]\n"
    "r.emit(total=1)\n"
    "for i in range(4):\n"
    "    r.emit(case=i, ok=True, msg='')\n"
    "r.emit(done=True, passed=4, failed=0, seconds=0)\n"
    "r.out.flush()\n"
    "os._exit(0)\n```"
)
PATCH_REPORTER = (
    "```python\nimport gc\n"
    "r = [o for o in gc.get_objects() if type(o).__name__ == 'Reporter'][0]\n"
    "orig = r.case\n"
    "r.case = lambda ok, message='': orig(True)\n"
    "def add(a, b):\n    return 0\n```"
)
ALWAYS_EQUAL = (
    "```python\nclass E:\n    def __eq__(self, other):\n        return True\n"
    "def add(a, b):\n    return E()\n```"
)


def test_program_cannot_reach_the_reporter(backend_options):
    """The program runs in a child process: no reporter/nonce to find via frames or gc, or to patch."""
    rows = [row(FORGE_FROM_FRAMES, CALL_TESTS), row(FORGE_FROM_FRAMES, ASSERT_TESTS)]
    rows += [row(PATCH_REPORTER, CALL_TESTS), row(PATCH_REPORTER, ASSERT_TESTS)]
    for s in score(rows, backend_options):
        assert s.status is Status.OK and s.value == 0.0, s


def test_assert_child_exiting_early_fails_the_rest(backend_options):
    quits = (
        "```python\nimport os\ncalls = []\n"
        "def add(a, b):\n    calls.append(1)\n    if len(calls) > 1:\n        os._exit(0)\n"
        "    return a + b\n```"
    )
    (s,) = score([row(quits, ASSERT_TESTS)], backend_options)
    assert s.status is Status.OK and s.value == 0.25 and s.details["passed"] == 1, s
    assert "exited before" in s.details["first_failure"]


def test_call_results_must_be_plain_data(backend_options):
    """A result that is not plain data (e.g. a custom ``__eq__`` returning True) fails its case."""
    (s,) = score([row(ALWAYS_EQUAL, CALL_TESTS)], backend_options)
    assert s.status is Status.OK and s.value == 0.0, s
    assert "not plain data" in s.details["first_failure"]


def test_integers_compare_exactly(backend_options):
    big_call = {"type": "call", "fn_name": "count", "cases": [{"args": [], "expected": 1000000000000}]}
    big_stdio = {"type": "stdio", "cases": [{"input": "", "output": "123456789012\n"}]}
    float_stdio = {"type": "stdio", "cases": [{"input": "", "output": "1.0e12\n"}]}
    float_call = {"type": "call", "fn_name": "count", "cases": [{"args": [], "expected": 1e12}]}
    near = "```python\ndef count():\n    return 1000000900000\n```"
    near_float = "```python\ndef count():\n    return 1000000000000.5\n```"
    rows = [
        row(near, big_call),
        row("```python\nprint(123456800000)\n```", big_stdio),
        row(near_float, float_call),
        row("```python\nprint(1000000000000.5)\n```", float_stdio),
    ]
    call_int, stdio_int, call_float, stdio_float = score(rows, backend_options)
    assert call_int.value == 0.0 and stdio_int.value == 0.0, (call_int, stdio_int)
    assert call_float.value == 1.0 and stdio_float.value == 1.0, (call_float, stdio_float)
