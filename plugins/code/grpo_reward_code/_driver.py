# ruff: noqa: UP031, SIM115
"""The in-sandbox test driver (standard library only; shipped as a job file ``_grpo_driver.py``).

It reads its instructions from stdin (JSON: a nonce, the test spec, options) so the tests and expected
outputs are never files the program could read, makes itself non-dumpable (a child cannot read its
memory), runs the tests and reports each outcome as a line ``<nonce> <json>`` on a private copy of
stdout. A program that exits early never produces the final ``done`` line, so it cannot fake a pass.
The program never runs in this process: ``assert``/``call`` run it in a child (``--child``) that never
sees the nonce, the reporter or (``call``) the expected values; stdio runs it per case as a command.

Formats:
- ``assert``: solution + test code in one namespace (in the child); top-level ``assert`` statements (of
  the module and of a ``check`` function's body) are reported one by one and counted here (residual
  risk: code in the child can tamper with that reporting; see the plugin README).
  ``check(entry_point)`` is called when the tests define ``check``.
- ``call``: the child calls ``fn_name`` (or ``Solution().fn_name``) with each case's JSON args and
  returns the JSON-encoded result; here it is compared to ``expected`` (tuples as lists, floats within
  the tolerance, integers exactly; a result that is not JSON-serialisable fails).
- ``stdio``: run the program once per case with the case's input; compare normalised output (trailing
  whitespace ignored, exact line count, float tokens of the expected output within the tolerance,
  other tokens exactly).
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
        # the tolerance is for floats only: integers (of any size) compare exactly
        if tol is None or not (isinstance(a, float) or isinstance(b, float)):
            return a == b
        if a != a or b != b:  # NaN equals NaN here
            return a != a and b != b
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


# -- the program's own process -------------------------------------------------------------------
# ``assert`` and ``call`` run the program in a child process (this file, ``--child <fd>``). The child
# never sees the nonce, the reporter or (``call``) the expected values: it reports raw outcomes as JSON
# lines on a private pipe and this parent counts and compares them. The parent is non-dumpable, so the
# child (same user) cannot read its memory or its /proc fds.
_MAX_LINE = 64 << 20


class _Child:
    def __init__(self, request):
        import subprocess

        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            pass_fds=(write_fd,),
            close_fds=True,
            start_new_session=True,
        )
        os.close(write_fd)
        self.fd = read_fd
        self.buf = bytearray()
        with contextlib.suppress(OSError):
            self.proc.stdin.write(json.dumps(request).encode())
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def next(self, timeout=None):
        """The child's next message (a dict); None when it exited (or broke the protocol); "timeout"."""
        import select

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[: end + 1]
                try:
                    message = json.loads(line)
                except ValueError:
                    return None
                return message if isinstance(message, dict) else None
            if len(self.buf) > _MAX_LINE:
                return None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    return "timeout"
            try:
                chunk = os.read(self.fd, 1 << 20)
            except OSError:
                return None
            if not chunk:
                return None
            self.buf.extend(chunk)

    def kill(self):
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _load_program(request, send):
    with open(request["program_file"]) as handle:
        program = handle.read()
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        exec(compile(program, "solution.py", "exec"), namespace)
    except BaseException as exc:
        send(error="solution raised while loading: " + _describe(exc))
        return None
    return namespace


def child_main(fd):
    """Runs in the child: the program (and, for ``assert``, the tests); raw outcomes go to ``fd``."""
    request = json.loads(sys.stdin.read())
    out = os.fdopen(fd, "w")

    def send(**message):
        out.write(json.dumps(message) + "\n")
        out.flush()

    _silence_stdout()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    try:
        namespace = _load_program(request, send)
        if namespace is not None:
            send(loaded=True)
            if request["kind"] == "call":
                _child_call(request, namespace, send)
            else:
                _child_assert(request, namespace, send)
            send(end=True)
    finally:
        with contextlib.suppress(Exception):
            out.flush()
        os._exit(0)


# -- assert --------------------------------------------------------------------------------------
def _child_assert(request, namespace, send):
    tree = _CountAsserts().run(request["code"])
    entry_point = request.get("entry_point")
    namespace["__grpo_case__"] = lambda lineno, text: send(ok=True)
    namespace["__grpo_fail__"] = lambda lineno, text, exc: send(
        ok=False, msg=f"{text} failed: {_describe(exc)}"[:400]
    )
    try:
        exec(compile(tree, "<tests>", "exec"), namespace)
        check = namespace.get("check")
        if callable(check) and entry_point:
            if entry_point not in namespace:
                send(error=f"entry point {entry_point!r} is not defined")
                return
            check(namespace[entry_point])
    except BaseException as exc:
        send(error=_describe(exc))


def run_assert(spec, reporter, program_file):
    tests = spec.get("code", "")
    counter = _CountAsserts()
    counter.run(tests)
    reporter.emit(total=max(counter.count, 1))
    child = _Child(
        {
            "kind": "assert",
            "program_file": program_file,
            "code": tests,
            "entry_point": spec.get("entry_point"),
        }
    )
    passed = 0
    try:
        while True:
            message = child.next()
            if not isinstance(message, dict):
                # exited (or broke the protocol) before reporting every assert: the rest fail
                for _ in range(max(counter.count - passed, 1)):
                    reporter.case(False, "the program exited before every test ran")
                return
            if message.get("end"):
                break
            if "error" in message:
                reporter.emit(error=str(message["error"])[:400])
                return
            if "ok" in message:
                if message["ok"] is True:
                    if passed < counter.count:  # never more passes than there are asserts
                        passed += 1
                        reporter.case(True)
                else:
                    reporter.case(False, str(message.get("msg", ""))[:400])
    finally:
        child.kill()
    if counter.count == 0:
        reporter.case(True)


# -- call ----------------------------------------------------------------------------------------
def _alarm(seconds):
    def on_alarm(signum, frame):
        raise _CaseTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _child_call(request, namespace, send):
    name = request.get("fn_name")
    fn = namespace.get(name)
    if fn is None and isinstance(namespace.get("Solution"), type):
        try:
            fn = getattr(namespace["Solution"](), name, None)
        except Exception:
            fn = None
    if not callable(fn):
        send(error=f"function {name!r} is not defined")
        return
    for index, case in enumerate(request["cases"]):
        args = case.get("args", [])
        kwargs = case.get("kwargs", {})
        try:
            _alarm(request["case_timeout"])
            try:
                got = fn(*args, **kwargs) if isinstance(args, list) else fn(args, **kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _CaseTimeout:
            send(i=index, timeout=True)
            continue
        except BaseException as exc:
            send(i=index, raised=_describe(exc))
            continue
        try:
            text = json.dumps(got)
        except BaseException:
            send(i=index, unserialisable=type(got).__name__)
            continue
        send(i=index, json=text)


def run_call(spec, reporter, program_file, options):
    cases = spec.get("cases") or []
    reporter.emit(total=len(cases))
    name = spec.get("fn_name")
    tol = options.get("float_tolerance")
    request = {
        "kind": "call",
        "program_file": program_file,
        "fn_name": name,
        "case_timeout": options["case_timeout"],
        "cases": [{"args": case.get("args", []), "kwargs": case.get("kwargs", {})} for case in cases],
    }
    child = _Child(request)
    try:
        message = child.next()
        if not isinstance(message, dict) or "error" in message or not message.get("loaded"):
            why = message.get("error") if isinstance(message, dict) else None
            reporter.emit(error=str(why or "the program exited before running the tests")[:400])
            return
        alive = True
        for index, case in enumerate(cases):
            args = case.get("args", [])
            shown = (
                ", ".join(json.dumps(a) for a in args)[:150]
                if isinstance(args, list)
                else json.dumps(args)[:150]
            )
            message = child.next(options["case_timeout"] + 2.0) if alive else None
            if message == "timeout":
                child.kill()
                alive = False
                reporter.case(False, f"call {name}({shown}) timed out")
                continue
            if not isinstance(message, dict) or message.get("i") != index:
                alive = False
                reporter.case(False, f"call {name}({shown}): the program exited before returning")
                continue
            if message.get("timeout"):
                reporter.case(False, f"call {name}({shown}) timed out")
                continue
            if "raised" in message:
                reporter.case(False, f"call {name}({shown}) raised {str(message['raised'])[:300]}")
                continue
            if "json" not in message:
                kind = str(message.get("unserialisable", "?"))[:80]
                reporter.case(
                    False, f"{name}({shown}) returned a value that is not JSON-serialisable ({kind})"
                )
                continue
            text = str(message["json"])
            try:
                got = json.loads(text)
            except ValueError:
                reporter.case(False, f"{name}({shown}) returned an undecodable value")
                continue
            expected = case.get("expected")
            ok = _close(got, expected, tol)
            reporter.case(
                ok,
                "" if ok else f"{name}({shown}) returned {text[:200]}, expected {json.dumps(expected)[:200]}",
            )
    finally:
        child.kill()


# -- stdio ---------------------------------------------------------------------------------------
def _number(token):
    try:
        return float(token)
    except ValueError:
        return None


def _float_token(token):
    """A token compared with the tolerance: it looks like a float (has '.', 'e'/'E', or is inf/nan)."""
    if _number(token) is None:
        return False
    low = token.lower().lstrip("+-")
    return "." in token or "e" in low or low in ("inf", "infinity", "nan")


def _close_token(x, y, tol):
    if x == y:
        return True
    if tol is None or not _float_token(y):
        return False
    a, b = _number(x), _number(y)
    if a is None:
        return False
    if a != a or b != b:
        return a != a and b != b
    return abs(a - b) <= tol * max(1.0, abs(b))


def _same_output(got, expected, tol):
    got_lines = [line.rstrip() for line in got.replace("\r\n", "\n").rstrip().split("\n")]
    exp_lines = [line.rstrip() for line in expected.replace("\r\n", "\n").rstrip().split("\n")]
    if len(got_lines) != len(exp_lines):
        return False, "expected %d line(s), got %d" % (len(exp_lines), len(got_lines))
    for index, (a, b) in enumerate(zip(got_lines, exp_lines)):
        if a == b:
            continue
        ta, tb = a.split(), b.split()
        if len(ta) == len(tb) and all(_close_token(x, y, tol) for x, y in zip(ta, tb)):
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
            _silence_stdout()
            if kind == "assert":
                run_assert(spec, reporter, job["program_file"])
            elif kind == "call":
                run_call(spec, reporter, job["program_file"], options)
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
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child_main(int(sys.argv[2]))
    else:
        main()
