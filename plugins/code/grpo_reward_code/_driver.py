# ruff: noqa: UP031, SIM115
"""The in-sandbox test driver (standard library only; shipped as a job file ``_grpo_driver.py``).

It reads its instructions from stdin (JSON: a nonce, the test spec, options) so the tests and expected
outputs are never files the program could read, makes itself non-dumpable (a child cannot read its
memory), runs the tests and reports each outcome as a line ``<nonce> <json>`` on a private copy of
stdout. A program that exits early never produces the final ``done`` line, so it cannot fake a pass.

Formats:
- ``assert``: solution + test code in one namespace; top-level ``assert`` statements (of the module
  and of a ``check`` function's body) are counted one by one; ``check(entry_point)`` is called when
  the tests define ``check``.
- ``call``: call ``fn_name`` (or ``Solution().fn_name``) with each case's JSON args; compare to
  ``expected`` (tuples as lists, floats within the tolerance).
- ``stdio``: run the program once per case with the case's input; compare normalised output (trailing
  whitespace ignored, exact line count, numeric tokens within the tolerance).
"""

import contextlib
import json
import os
import signal
import sys
import time


class _Stop(BaseException):
    pass


class _CaseTimeout(Exception):
    pass


def _nondumpable():
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass


class Reporter:
    def __init__(self, nonce, binary):
        self.nonce = nonce
        self.binary = binary
        self.out = os.fdopen(os.dup(1), "w")
        self.passed = 0
        self.failed = 0

    def emit(self, **record):
        self.out.write(self.nonce + " " + json.dumps(record) + "\n")
        self.out.flush()

    def case(self, ok, message=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        self.emit(case=self.passed + self.failed - 1, ok=bool(ok), msg=str(message)[:400])
        if not ok and self.binary:
            raise _Stop()


def _silence_stdout():
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = open(1, "w", closefd=False)


def _describe(exc):
    text = f"{type(exc).__name__}: {exc}"
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in ("<tests>", "solution.py"):
            line = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    if line:
        text += " (%s line %d)" % line
    return text


def _close(a, b, tol):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if tol is None:
            return a == b
        return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    return a == b


# -- assert --------------------------------------------------------------------------------------
PyCF_ONLY_AST = 0x400  # compile() flag: return the syntax tree (no need to import the slower `ast`)


def _walk(node):
    yield node
    for name in node._fields:
        value = getattr(node, name, None)
        for item in value if isinstance(value, list) else [value]:
            if hasattr(item, "_fields"):
                yield from _walk(item)


def _locate(tree, like):
    for node in _walk(tree):
        if "lineno" in node._attributes:
            node.lineno, node.col_offset = like.lineno, like.col_offset
            node.end_lineno, node.end_col_offset = like.end_lineno, like.end_col_offset


def _segment(lines, node):
    """The source text of ``node`` (offsets are UTF-8 byte offsets)."""
    try:
        chunk = lines[node.lineno - 1 : node.end_lineno]
        if len(chunk) == 1:
            return chunk[0][node.col_offset : node.end_col_offset].decode("utf-8", "replace")
        chunk[0] = chunk[0][node.col_offset :]
        chunk[-1] = chunk[-1][: node.end_col_offset]
        return b"".join(chunk).decode("utf-8", "replace")
    except (TypeError, IndexError):
        return "assert"


class _CountAsserts:
    """Wrap each top-level assert (module, and the body of ``def check``) in a counting try."""

    def __init__(self):
        self.count = 0

    def wrap(self, body):
        out = []
        for node in body:
            if type(node).__name__ == "Assert":
                self.count += 1
                text = _segment(self.lines, node)[:200]
                template = compile(
                    "try:\n    pass\nexcept Exception as __grpo_exc__:\n"
                    "    __grpo_fail__(%d, %r, __grpo_exc__)\nelse:\n    __grpo_case__(%d, %r)"
                    % (node.lineno, text, node.lineno, text),
                    "<tests>",
                    "exec",
                    PyCF_ONLY_AST,
                ).body[0]
                _locate(template, node)
                template.body = [node]
                out.append(template)
            else:
                out.append(node)
        return out

    def run(self, source):
        self.lines = source.encode("utf-8").splitlines(True)
        tree = compile(source, "<tests>", "exec", PyCF_ONLY_AST)
        tree.body = self.wrap(tree.body)
        for node in tree.body:
            if type(node).__name__ == "FunctionDef" and node.name == "check":
                node.body = self.wrap(node.body)
        return tree


def run_assert(spec, reporter, program):
    tests = spec.get("code", "")
    entry_point = spec.get("entry_point")
    counter = _CountAsserts()
    tree = counter.run(tests)
    reporter.emit(total=max(counter.count, 1))
    namespace = {"__name__": "solution", "__builtins__": __builtins__}

    def case(lineno, text):
        reporter.case(True)

    def fail(lineno, text, exc):
        reporter.case(False, f"{text} failed: {_describe(exc)}")

    try:
        exec(compile(program, "solution.py", "exec"), namespace)
    except BaseException as exc:
        reporter.emit(error="solution raised while loading: " + _describe(exc))
        return
    namespace["__grpo_case__"] = case
    namespace["__grpo_fail__"] = fail
    try:
        exec(compile(tree, "<tests>", "exec"), namespace)
        check = namespace.get("check")
        if callable(check) and entry_point:
            if entry_point not in namespace:
                reporter.emit(error=f"entry point {entry_point!r} is not defined")
                return
            check(namespace[entry_point])
    except _Stop:
        raise
    except BaseException as exc:
        reporter.emit(error=_describe(exc))
        return
    if counter.count == 0:
        reporter.case(True)


# -- call ----------------------------------------------------------------------------------------
def _alarm(seconds):
    def on_alarm(signum, frame):
        raise _CaseTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def run_call(spec, reporter, program, options):
    cases = spec.get("cases") or []
    reporter.emit(total=len(cases))
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        exec(compile(program, "solution.py", "exec"), namespace)
    except BaseException as exc:
        reporter.emit(error="solution raised while loading: " + _describe(exc))
        return
    name = spec.get("fn_name")
    fn = namespace.get(name)
    if fn is None and isinstance(namespace.get("Solution"), type):
        try:
            fn = getattr(namespace["Solution"](), name, None)
        except Exception:
            fn = None
    if not callable(fn):
        reporter.emit(error=f"function {name!r} is not defined")
        return
    tol = options.get("float_tolerance")
    for case in cases:
        args = case.get("args", [])
        kwargs = case.get("kwargs", {})
        shown = (
            ", ".join(json.dumps(a) for a in args)[:150] if isinstance(args, list) else json.dumps(args)[:150]
        )
        try:
            _alarm(options["case_timeout"])
            try:
                got = fn(*args, **kwargs) if isinstance(args, list) else fn(args, **kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _CaseTimeout:
            reporter.case(False, f"call {name}({shown}) timed out")
            continue
        except _Stop:
            raise
        except BaseException as exc:
            reporter.case(False, f"call {name}({shown}) raised {_describe(exc)}")
            continue
        try:
            got_plain = json.loads(json.dumps(got))
        except (TypeError, ValueError):
            got_plain = got
        expected = case.get("expected")
        ok = _close(got_plain, expected, tol)
        reporter.case(
            ok,
            "" if ok else f"{name}({shown}) returned {got!r}, expected {expected!r}",
        )


# -- stdio ---------------------------------------------------------------------------------------
def _number(token):
    try:
        return float(token)
    except ValueError:
        return None


def _same_output(got, expected, tol):
    got_lines = [line.rstrip() for line in got.replace("\r\n", "\n").rstrip().split("\n")]
    exp_lines = [line.rstrip() for line in expected.replace("\r\n", "\n").rstrip().split("\n")]
    if len(got_lines) != len(exp_lines):
        return False, "expected %d line(s), got %d" % (len(exp_lines), len(got_lines))
    for index, (a, b) in enumerate(zip(got_lines, exp_lines)):
        if a == b:
            continue
        ta, tb = a.split(), b.split()
        if len(ta) == len(tb) and all(
            x == y
            or (
                tol is not None
                and _number(x) is not None
                and _number(y) is not None
                and abs(_number(x) - _number(y)) <= tol * max(1.0, abs(_number(y)))
            )
            for x, y in zip(ta, tb)
        ):
            continue
        return False, "line %d: got %r, expected %r" % (index + 1, a[:120], b[:120])
    return True, ""


def run_stdio(spec, reporter, command, options):
    import subprocess

    cases = spec.get("cases") or []
    reporter.emit(total=len(cases))
    tol = options.get("float_tolerance")
    cap = options["output_bytes"]
    for index, case in enumerate(cases):
        out_path = "_out_%d" % index
        err_path = "_err_%d" % index
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=out, stderr=err, start_new_session=True
                )
            except OSError as exc:
                reporter.emit(error=f"cannot run the program: {exc}")
                return
            try:
                proc.communicate(case.get("input", "").encode(), timeout=options["case_timeout"])
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                reporter.case(False, "case %d timed out" % index)
                continue
            finally:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
        with open(out_path, "rb") as handle:
            got = handle.read(cap).decode("utf-8", "replace")
        if proc.returncode != 0:
            with open(err_path, "rb") as handle:
                tail = handle.read(4096).decode("utf-8", "replace").strip().splitlines()[-1:]
            reporter.case(
                False,
                "case %d exited with %d%s" % (index, proc.returncode, ": " + tail[0][:200] if tail else ""),
            )
            continue
        ok, why = _same_output(got, case.get("output", ""), tol)
        reporter.case(ok, "" if ok else "case %d: %s" % (index, why))


def main():
    job = json.loads(sys.stdin.read())
    _nondumpable()
    reporter = Reporter(job["nonce"], job["binary"])
    options = job["options"]
    spec = job["tests"]
    kind = spec.get("type")
    started = time.monotonic()
    try:
        if kind == "stdio":
            run_stdio(spec, reporter, job["command"], options)
        else:
            with open(job["program_file"]) as handle:
                program = handle.read()
            _silence_stdout()
            sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
            if kind == "assert":
                run_assert(spec, reporter, program)
            elif kind == "call":
                run_call(spec, reporter, program, options)
            else:
                reporter.emit(error=f"unknown test type {kind!r}")
    except _Stop:
        pass
    reporter.emit(
        done=True,
        passed=reporter.passed,
        failed=reporter.failed,
        seconds=round(time.monotonic() - started, 4),
    )
    reporter.out.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
