"""Reward hacks against the code verifier: a wrong program never earns reward, on every backend.

Each attack is a program that would pass (or did pass, in earlier versions) if the program shared an
interpreter with the tests, or if the comparison were loose; each must score 0 with status ok. The
expected answers are drawn at random per run, so no program here can know them.

These programs are hostile (one kills every process it may signal): they run on the sandboxed
backends only, never on the unsafe ``subprocess`` backend.
"""

from __future__ import annotations

import math
import os
import random

import pytest

from grpo_core import Status
from grpo_core.engine import Engine
from grpo_core.plugins import get_registry

SECRET = random.Random().randrange(10_000, 99_999)


@pytest.fixture(params=["bwrap", "docker"])
def backend_options(request):
    """Sandboxed backends only (this overrides the conftest fixture, which includes ``subprocess``)."""
    if request.param == "docker":
        from sandboxes.docker_backend import docker_unavailable_reason

        why = docker_unavailable_reason()
        if why and os.environ.get("CI"):
            pytest.fail(f"CI requires Docker for the code verifier tests: {why}")
        if why:
            pytest.skip(why)
    else:
        from sandboxes.local import BwrapBackend

        ok, why = BwrapBackend.available()
        if not ok:
            pytest.skip(why)
    return {"backend": request.param}


def score(rows, backend_options, **options):
    with Engine(
        [{"verifier": "code", "options": {**backend_options, **options}}], registry=get_registry()
    ) as engine:
        result = engine.score(rows)
    return result.scores["code"]


def row(program, tests, **extra):
    return {"prompt": "p", "completion": f"```python\n{program}\n```", "tests": tests, **extra}


def assert_tests(code, entry="f"):
    return {"type": "assert", "code": code, "entry_point": entry}


CHECK_SECRET = assert_tests(
    f"import math\n\ndef check(candidate):\n    assert candidate(1) == {SECRET}\n"
    f"    assert math.isclose(candidate(2), {SECRET}.5)\n    assert abs(candidate(3) - {SECRET}) < 1e-9\n"
)

ASSERT_ATTACKS = {
    "always_equal_object": (
        "class E:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
        "    def __sub__(self, other):\n        return 0\n    __rsub__ = __sub__\n"
        "    def __float__(self):\n        return 0.0\n"
        "def f(x):\n    return E()"
    ),
    "patch_isclose_and_abs": (
        "import math, builtins\nmath.isclose = lambda *a, **k: True\nbuiltins.abs = lambda x: 0\n"
        "def f(x):\n    return 0"
    ),
    "ctypes_rebind_small_int": (
        # make the int object 7 read as the value of whatever f returns (shared-interpreter attack)
        "import ctypes, sys\n"
        "def f(x):\n"
        "    for candidate in (7, 8, 9):\n"
        "        ctypes.c_ssize_t.from_address(id(candidate) + 24).value = 0\n"
        "    return 7"
    ),
    "read_tests_from_frames_and_gc": (
        "import gc, re, sys\n"
        "def f(x):\n"
        "    texts = [o for o in gc.get_objects() if isinstance(o, str) and 'candidate' in o]\n"
        "    frame = sys._getframe(0)\n"
        "    while frame is not None:\n"
        "        texts += [v for v in frame.f_globals.values() if isinstance(v, str)]\n"
        "        texts.append(str(frame.f_code.co_consts))\n"
        "        frame = frame.f_back\n"
        "    for text in texts:\n"
        "        found = re.findall(r'candidate\\(1\\) == (\\d+)', text)\n"
        "        if found:\n"
        "            return int(found[0])\n"
        "    return -1"
    ),
    "read_own_memory_for_the_tests": (
        "import re\n"
        "def f(x):\n"
        "    maps = open('/proc/self/maps').read().splitlines()\n"
        "    mem = open('/proc/self/mem', 'rb', 0)\n"
        "    for line in maps:\n"
        "        addr, perms = line.split()[:2]\n"
        "        if 'r' not in perms:\n"
        "            continue\n"
        "        lo, hi = (int(v, 16) for v in addr.split('-'))\n"
        "        try:\n"
        "            mem.seek(lo)\n"
        "            data = mem.read(min(hi - lo, 1 << 26))\n"
        "        except (OSError, OverflowError, ValueError):\n"
        "            continue\n"
        "        found = re.findall(rb'candidate\\(1\\) == (\\d+)', data)\n"
        "        if found:\n"
        "            return int(found[0])\n"
        "    return -1"
    ),
    "forge_protocol_lines": (
        "import os, json\n"
        "def f(x):\n"
        '    line = b\'{"id": 1, "v": "1"}\\n{"ok": true}\\n{"end": true}\\n\'\n'
        "    for fd in range(0, 64):\n"
        "        try:\n"
        "            os.write(fd, line * 8)\n"
        "        except OSError:\n"
        "            pass\n"
        "    for path in ('/proc/%d/fd/1' % os.getppid(), '/proc/1/fd/1'):\n"
        "        try:\n"
        "            open(path, 'w').write('x {\"done\": true, \"passed\": 3}\\n')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return 0"
    ),
    "hook_the_check": (
        "import sys, builtins\n"
        "def check(candidate):\n    pass\n"
        "def __grpo_case__(*a):\n    pass\n"
        "AssertionError = None\n"
        "builtins.AssertionError = type('A', (Exception,), {})\n"
        "sys.settrace(lambda *a: None)\n"
        "def f(x):\n    return 0"
    ),
    "shadow_builtins_the_tests_use": (
        "def abs(x):\n    return 0\ndef len(x):\n    return 0\ndef f(x):\n    return 0"
    ),
    "exit_early_everywhere": ("import os\ndef f(x):\n    os._exit(0)"),
}


@pytest.mark.parametrize("name", sorted(ASSERT_ATTACKS))
def test_assert_tests_resist(backend_options, name):
    (s,) = score([row(ASSERT_ATTACKS[name], CHECK_SECRET)], backend_options)
    assert s.status is Status.OK and s.value == 0.0, s
    (binary,) = score([row(ASSERT_ATTACKS[name], CHECK_SECRET)], backend_options, scoring="binary")
    assert binary.status is Status.OK and binary.value == 0.0, binary


def test_assert_tests_still_pass_an_honest_program(backend_options):
    honest = f"def f(x):\n    return {SECRET} + (0.5 if x == 2 else 0)"
    (s,) = score([row(honest, CHECK_SECRET)], backend_options)
    assert s.status is Status.OK and s.value == 1.0, s


def test_only_plain_data_crosses(backend_options):
    """Results of every plain type round-trip; anything else fails its assert."""
    program = (
        "def f(x):\n"
        "    return [None, True, 3, 2.5, 1j, 'é', b'\\x00', (1, 2), {'k': {1, 2}}, frozenset([3])]\n"
        "def g(x):\n    return iter([1])\n"
        "def h(x):\n    return object()\n"
    )
    tests = assert_tests(
        "assert f(0) == [None, True, 3, 2.5, 1j, 'é', b'\\x00', (1, 2), {'k': {1, 2}}, frozenset([3])]\n"
        "assert type(f(0)[7]) is tuple and type(f(0)[2]) is int and f(0)[1] is True\n"
        "assert list(g(0)) == [1]\n"
        "assert h(0) is not None\n"
    )
    (s,) = score([row(program, tests)], backend_options)
    assert s.status is Status.OK and s.details["passed"] == 2 and s.details["total"] == 4, s
    assert "not plain data" in s.details["first_failure"]


def test_tests_may_use_the_programs_helpers(backend_options):
    """HumanEval-style: the tests call helpers the prompt defined (e.g. ``poly``), through the proxy."""
    program = "def double(x):\n    return 2 * x\nLIMIT = 10\ndef f(x):\n    return double(x) + 1"
    tests = assert_tests(
        "def check(candidate):\n    assert candidate(3) == double(3) + 1 == 7\n    assert LIMIT == 10\n"
    )
    (s,) = score([row(program, tests)], backend_options)
    assert s.value == 1.0, s


def test_exceptions_cross_by_builtin_type(backend_options):
    program = "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x"
    tests = assert_tests(
        "def check(candidate):\n    try:\n        candidate(-1)\n        ok = False\n"
        "    except ValueError:\n        ok = True\n    assert ok\n    assert candidate(2) == 2\n"
    )
    (s,) = score([row(program, tests)], backend_options)
    assert s.value == 1.0, s


def test_tests_passing_functions_are_invalid_input(backend_options):
    tests = assert_tests("def check(candidate):\n    assert candidate(lambda v: v) == 1\n")
    (s,) = score([row("def f(x):\n    return 1", tests)], backend_options)
    assert s.status is Status.INVALID_INPUT and "plain data" in s.details["reason"], s


# -- call and stdio comparisons -------------------------------------------------------------------
def call(expected, *args):
    return {"type": "call", "fn_name": "f", "cases": [{"args": list(args), "expected": expected}]}


def stdio(output, given=""):
    return {"type": "stdio", "cases": [{"input": given, "output": output}]}


def test_non_finite_results_match_only_themselves(backend_options):
    rows = [
        row("def f():\n    return float('inf')", call(SECRET)),
        row("def f():\n    return float('inf')", call(SECRET + 0.5)),
        row("def f():\n    return float('nan')", call(SECRET + 0.5)),
        row(f"def f():\n    return {SECRET}.5", call(math.inf)),
        row("print(float('inf'))", stdio(f"{SECRET}.5")),
        row(f"print({SECRET}.5)", stdio("inf")),
        row("print('nan')", stdio(f"{SECRET}.5")),
        row("print('1e999')", stdio(f"{SECRET}.5")),
    ]
    for s in score(rows, backend_options):
        assert s.status is Status.OK and s.value == 0.0, s
    good = [
        row("def f():\n    return float('inf')", call(math.inf)),
        row("def f():\n    return -float('inf')", call(-math.inf)),
        row("print('inf')", stdio("inf")),
        row("print('nan')", stdio("nan")),
    ]
    for s in score(good, backend_options):
        assert s.value == 1.0, s


def test_ints_bools_and_strings_compare_exactly(backend_options):
    rows = [
        row("import math\ndef f(n):\n    return math.exp(math.lgamma(n + 1))", call(math.factorial(30), 30)),
        row("def f():\n    return True", call(1)),
        row("def f():\n    return 1", call(True)),
        row("def f():\n    return 1.0", call(1)),
        row("def f():\n    return '1'", call(1)),
        row("def f():\n    return 1", call("1")),
        row("def f():\n    return [1, 2.0]", call([1, 2])),
        row("def f():\n    return {'a': 1, 'b': 2}", call({"a": 1})),
        row("print('1.0')", stdio("1")),
        row("print('１')", stdio("1")),  # a full-width digit is not the digit 1
        row("print('0.5000001_0')", stdio("0.5")),
        # number tokens are ASCII: other digits are text, even where float() would take them, and
        # Unicode case folding makes no "inf" of a dotless i (float() raised on it in the driver)
        row(f"print('{SECRET}.５')", stdio(f"{SECRET}.5")),
        row(f"print('{SECRET}.\u0665')", stdio(f"{SECRET}.5")),  # an Arabic-Indic five
        row("print('\u0131nf')", stdio(f"{SECRET}.5")),
        row("print('\u0130NF')", stdio("inf")),
        row("print('infin\u0131ty')", stdio(f"{SECRET}.5")),
    ]
    for s in score(rows, backend_options):
        assert s.status is Status.OK and s.value == 0.0, s
    good = [
        row("import math\ndef f(n):\n    return math.factorial(n)", call(math.factorial(30), 30)),
        row("def f():\n    return 1", call(1.0)),  # an int answer may match a float
        row("def f():\n    return 0.1 + 0.2", call(0.3)),
        row("def f():\n    return (1, [2, 3])", call([1, [2, 3]])),
        row("print('0.30000000000000004')", stdio("0.3")),
    ]
    for s in score(good, backend_options):
        assert s.value == 1.0, s


def test_the_whole_output_is_compared(backend_options):
    """The right answer, then more than output_bytes of blanks, then a wrong line: not a pass."""
    program = f"import sys\nprint({SECRET})\nsys.stdout.write(' \\n' * (700 * 1024))\nprint('wrong')"
    small = f"import sys\nprint({SECRET})\nsys.stdout.write(' ' * 5000)\nprint()"
    rows = [row(program, stdio(str(SECRET))), row(small, stdio(str(SECRET)))]
    big, over_cap = (
        score(rows[:1], backend_options)[0],
        score(rows[1:], backend_options, output_bytes=4096)[0],
    )
    assert big.status is Status.OK and big.value == 0.0, big
    assert over_cap.status is Status.OK and over_cap.value == 0.0, over_cap
    assert "exceeds" in over_cap.details["first_failure"]


def test_pure_comparison_rules():
    """The driver's comparison functions, without a sandbox."""
    from grpo_reward_code import _driver as d

    tol = 1e-6
    assert d.same_value(3, 3, tol) and not d.same_value(3.0, 3, tol) and not d.same_value(True, 1, tol)
    assert d.same_value(1, 1.0, tol) and d.same_value(0.1 + 0.2, 0.3, tol)
    assert not d.same_value(math.inf, 1e308, tol) and not d.same_value(1e308, math.inf, tol)
    assert d.same_value(math.inf, math.inf, tol) and d.same_value(math.nan, math.nan, tol)
    assert not d.same_value(-math.inf, math.inf, tol) and not d.same_value(math.nan, math.inf, tol)
    assert not d.same_value(10**400, 1e300, tol)  # an int too large for a float
    assert not d.same_value(None, 0, tol) and not d.same_value("a", ["a"], tol)
    assert d.same_token("0.3000001", "0.3", tol) and not d.same_token("0.31", "0.3", tol)
    assert not d.same_token("3.0", "3", tol) and not d.same_token("inf", "1.5", tol)
    # a long wrong token is rejected in one pass (the old number pattern split a digit run n ways:
    # this one took minutes, burning the case's time)
    assert not d.same_token("1" * 200_000 + "x", "1.5", tol) and d.same_token(
        "1" * 50 + ".5", "1" * 50 + ".5", tol
    )
    ok, _ = d.same_output("1\n2\n\n", "1\n2", tol)
    assert ok and not d.same_output("1\n2\n3", "1\n2", tol)[0]
    for value in [None, True, 1, -2.5, 1j, "x", b"y", [1, (2,)], {(1, 2): {3}}, frozenset({4}), {"a": []}]:
        assert d.loads(d.dumps(value)) == value and type(d.loads(d.dumps(value))) is type(value)
    for bad in [object(), iter([]), type("I", (int,), {})(3), {1: object()}]:
        with pytest.raises(d.Unencodable):
            d.dumps(bad)
    for text in ['{"x": 1}', '{"d": [[[1], 2]]}', '{"c": ["a", 1]}', "{}", '{"t": 1}']:
        with pytest.raises((ValueError, TypeError)):
            d.loads(text)


# -- malformed tests are the row's fault ----------------------------------------------------------
MALFORMED = {
    "integer input": {"type": "stdio", "cases": [{"input": 5, "output": "5"}]},
    "non-object case": {"type": "stdio", "cases": ["5"]},
    "integer cases": {"type": "stdio", "cases": 3},
    "empty cases": {"type": "call", "fn_name": "f", "cases": []},
    "no expected": {"type": "call", "fn_name": "f", "cases": [{"args": [1]}]},
    "args not a list": {"type": "call", "fn_name": "f", "cases": [{"args": 1, "expected": 1}]},
    "bad fn_name": {"type": "call", "fn_name": "f()", "cases": [{"args": [], "expected": 1}]},
    "syntax error": {"type": "assert", "code": "assert f(1) ==", "entry_point": "f"},
    "empty code": {"type": "assert", "code": "   ", "entry_point": "f"},
    "output not a string": {"type": "stdio", "cases": [{"input": "", "output": 3}]},
}


def test_malformed_tests_are_invalid_input(backend_options):
    rows = [row("def f(x=1):\n    return x\nprint(5)", tests) for tests in MALFORMED.values()]
    for (name, _), s in zip(MALFORMED.items(), score(rows, backend_options)):
        assert s.status is Status.INVALID_INPUT, (name, s)
        assert "tests" in s.details["reason"], (name, s)


# -- a program's own misbehaviour is a 0, never an error -------------------------------------------
MISBEHAVIOUR = {
    "deep_directory_tree": (
        "import os\n"
        "for _ in range(1500):\n"
        "    os.mkdir('d')\n"
        "    os.chdir('d')\n"
        "os.chmod('.', 0)\n"
        "def f(x):\n    return -1"
    ),
    "lone_surrogate_in_a_comment": "# \ud800 \udfff\ndef f(x):\n    return -1",
    "null_byte": "def f(x):\n    return -1 # \x00",
    "ptrace_pid_1": (
        "import ctypes, os, signal\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for pid in (1, os.getppid()):\n"
        "    libc.ptrace(16, pid, 0, 0)\n"  # PTRACE_ATTACH
        "    libc.ptrace(0x4206, pid, 0, 0)\n"  # PTRACE_SEIZE
        "    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):\n"
        "        try:\n            os.kill(pid, sig)\n        except OSError:\n            pass\n"
        "def f(x):\n    return -1"
    ),
    "kill_every_process": (
        "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"
        "def f(x):\n    return -1"
    ),
    "huge_integer_result": "def f(x):\n    return 10 ** 200000",
    "deep_nesting_result": (
        "import sys\nsys.setrecursionlimit(100000)\ndef f(x):\n    v = []\n    for _ in range(50000):\n"
        "        v = [v]\n    return v"
    ),
}


@pytest.mark.parametrize("name", sorted(MISBEHAVIOUR))
def test_misbehaviour_is_a_zero_not_an_error(backend_options, name):
    rows = [row(MISBEHAVIOUR[name], CHECK_SECRET), row(MISBEHAVIOUR[name], call(SECRET, 1))]
    for s in score(rows, backend_options):
        assert s.status is Status.OK and s.value == 0.0, s
    # and the sandbox is fine afterwards
    honest = f"def f(x):\n    return {SECRET} + (0.5 if x == 2 else 0)"
    (after,) = score([row(honest, CHECK_SECRET)], backend_options)
    assert after.value == 1.0, after


CPP_READS_STDIN = (
    '#include "/dev/stdin"\n#include <iostream>\n'
    "int main() { long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }"
)


def test_cpp_compiler_never_sees_the_instructions(backend_options):
    tests = {
        "type": "stdio",
        "cases": [{"input": "1 2", "output": "3"}, {"input": "5 5", "output": f"{SECRET}"}],
    }
    completion = f"```cpp\n{CPP_READS_STDIN}\n```"
    (s,) = score(
        [{"prompt": "p", "completion": completion, "tests": tests, "language": "cpp"}], backend_options
    )
    if s.status is Status.ERROR:  # a Docker image built without --with-cpp
        assert "compiler" in s.details["error"] or "g++" in s.details["error"]
        return
    assert s.status is Status.OK and s.value == 0.5, s  # compiled against an empty stdin
    assert (
        str(SECRET) not in str(s.details.get("first_failure", "")) or "expected" in s.details["first_failure"]
    )


# -- set-up errors exit 2 before any row runs -------------------------------------------------------
def test_set_up_errors_exit_2(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from harness.cli import app

    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(row("def f():\n    return 1", call(1))) + "\n")
    out = tmp_path / "out.jsonl"

    def run(*options):
        args = ["score", str(rows), "--reward", "code", "-o", str(out)]
        for option in options:
            args += ["--option", option]
        return CliRunner().invoke(app, args)

    for bad in ("code.float_tolerance=nan", "code.float_tolerance=-1"):
        result = run(bad)
        assert result.exit_code == 2 and "float_tolerance" in result.output, result.output
    from sandboxes.local import BwrapBackend

    if BwrapBackend.available()[0]:
        from sandboxes import cgroups

        monkeypatch.setattr(cgroups, "detect", lambda: (None, "no cgroup here (test)"))
        result = run("code.backend=bwrap", "code.memory_mb=256")
        assert result.exit_code == 2 and "cannot enforce" in result.output, result.output
        assert "memory_mb" in result.output and not out.exists()
    from sandboxes.docker_backend import docker_unavailable_reason

    if docker_unavailable_reason() is None:
        result = run("code.backend=docker", 'code.backend_options={"docker": {"image": "nope:latest"}}')
        assert result.exit_code == 2 and "grpo sandbox build" in result.output, result.output


def test_deeply_nested_results_fed_back_are_the_programs_fault(backend_options):
    """The tests pass a helper's result back to ``candidate`` (HumanEval/38 style): a program that
    makes it nest too deeply gets a 0, not an invalid row."""
    program = (
        "def encode(s):\n    v = s\n    for _ in range(960):\n        v = [v]\n    return v\n"
        "def f(x):\n    return x"
    )
    tests = assert_tests(
        "def check(candidate):\n    e = encode('abc')\n    assert candidate(e) == 'abc'\n", entry="f"
    )
    (s,) = score([row(program, tests)], backend_options)
    assert s.status is Status.OK and s.value == 0.0, s


# The sandbox's runner is the zygote's parent, the driver's grandparent: the same uid may lower its
# limits. With no address space left it could not take the job's output, and the program's 0 became
# an infrastructure error.
STARVE_THE_RUNNER = (
    "import os, resource\n"
    "def parent(pid):\n"
    "    return int(open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()[1])\n"
    "runner = parent(parent(os.getppid()))\n"
    "resource.prlimit(runner, resource.RLIMIT_AS, (0, 0))\n"
    "def f(x):\n    return 'y' * 2000"
)


@pytest.mark.parametrize("scoring", ["binary", "fraction"])
def test_starving_the_runner_is_a_zero_not_an_error(backend_options, scoring):
    many = {"type": "call", "fn_name": "f", "cases": [{"args": [i], "expected": i} for i in range(300)]}
    (starved,) = score([row(STARVE_THE_RUNNER, many)], backend_options, scoring=scoring)
    assert starved.status is Status.OK and starved.value == 0.0, starved
    (after,) = score([row(f"def f(x):\n    return {SECRET}", call(SECRET, 1))], backend_options)
    assert after.value == 1.0, after
