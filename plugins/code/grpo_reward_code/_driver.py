# ruff: noqa: UP031, SIM115
"""The in-sandbox test driver (standard library only; shipped as a job file ``_grpo_driver.py``).

Run as ``python3 -I _grpo_driver.py`` (``-I``: the work dir, where the program may write files, is not
on ``sys.path``). Before it reads anything it forks the **program process**, so that process never
holds the tests, the expected values or the nonce, not even in freed memory; then it makes itself
non-dumpable (the program, same user, cannot read its memory or its /proc fds), reads its instructions
from stdin (JSON: nonce, tests, options) and reports each outcome as ``<nonce> <json>`` on its stdout.
A program that exits early never produces the final ``done`` line, so it cannot fake a pass.

Its top level only defines: the sandbox's zygote runs it once and each job calls ``main`` in a fresh
fork (``Job.script_entry``), so nothing here may depend on a job or keep state between jobs.

The program process loads the program and serves calls over a private pipe: a call's arguments and
its result cross as *plain data* (None, bool, int, float, complex, str, bytes, list, tuple, dict, set,
frozenset; anything else fails the call), so no object of the program's ever reaches the comparisons.

Formats:
- ``assert``: the test code runs here, in the driver; ``candidate`` (and any other name the tests take
  from the program, e.g. a helper defined in a HumanEval prompt) is a proxy calling into the program
  process. Builtins are never taken from the program. Top-level ``assert`` statements (of the module
  and of ``check``'s body) are counted one by one; ``check(entry_point)`` is called when defined.
- ``call``: ``fn_name`` (or ``Solution().fn_name``) is called with each case's args; the result is
  compared here (see ``same_value`` and the plugin README for the exact rules).
- ``stdio``: the program runs once per case with the case's input; the whole output is compared
  (an output over ``output_bytes`` fails the case; see ``same_output``).
"""

import _ast  # the compiler's node types (the C module behind ``ast``): set up once, at import
import builtins
import contextlib
import json
import os
import re
import signal
import sys
import time

#: a larger int <-> str limit than the default 4300 digits (factorials etc. cross as JSON ints)
INT_DIGITS = 100_000
#: the longest message the program process may send (one call's result)
MAX_LINE = 64 << 20
#: exception types a call may raise into the tests under their own name (others: ProgramError)
RAISABLE = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type)
    and issubclass(value, Exception)
    and not issubclass(value, (StopIteration, StopAsyncIteration, Warning))
}


class _Stop(BaseException):
    """Binary scoring: stop at the first failure."""


class Unsupported(BaseException):
    """The tests do something this verifier cannot do across processes: the row is invalid."""


class ProgramError(Exception):
    """The program raised an exception of a type the tests cannot see (or broke the protocol)."""


class CallTimeout(Exception):
    pass


class Unencodable(Exception):
    pass


def _find_prctl():
    try:
        import ctypes

        return ctypes.CDLL(None).prctl
    except Exception:
        return None


#: looked up at import: under the sandbox's zygote that is once per sandbox, not once per job
_PRCTL = _find_prctl()


def _nondumpable():
    with contextlib.suppress(Exception):
        _PRCTL(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


def _set_int_digits():
    with contextlib.suppress(AttributeError):
        sys.set_int_max_str_digits(INT_DIGITS)


# -- plain data across the pipe ------------------------------------------------------------------
# JSON, with one-key objects for the types JSON lacks; a bare JSON object never occurs.
def encode(value):
    """``value`` as JSON-ready data; raises Unencodable for anything but exact plain-data types."""
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is int or kind is float:
        return value
    if kind is list:
        return [encode(v) for v in value]
    if kind is tuple:
        return {"t": [encode(v) for v in value]}
    if kind is dict:
        return {"d": [[encode(k), encode(v)] for k, v in value.items()]}
    if kind is set:
        return {"s": [encode(v) for v in value]}
    if kind is frozenset:
        return {"f": [encode(v) for v in value]}
    if kind is complex:
        return {"c": [value.real, value.imag]}
    if kind is bytes:
        return {"b": value.hex()}
    raise Unencodable(kind.__name__)


def _hook(obj):
    if len(obj) != 1:
        raise ValueError("not a tagged value")
    ((tag, items),) = obj.items()
    if tag == "b" and type(items) is str:
        return bytes.fromhex(items)
    if type(items) is not list:
        raise ValueError("bad tagged value")
    if tag == "t":
        return tuple(items)
    if tag == "d":
        if not all(type(pair) is list and len(pair) == 2 for pair in items):
            raise ValueError("bad dict")
        return {k: v for k, v in items}
    if tag == "s":
        return set(items)
    if tag == "f":
        return frozenset(items)
    if tag == "c" and len(items) == 2 and all(type(x) in (int, float) for x in items):
        return complex(items[0], items[1])
    raise ValueError("unknown tag")


def dumps(value):
    return json.dumps(encode(value))


def loads(text):
    """Plain data from ``text`` (ValueError/TypeError/RecursionError when it is not)."""
    return json.loads(text, object_hook=_hook)


# -- comparing -----------------------------------------------------------------------------------
def _finite(x):
    return x - x == 0


def same_number(got, expected, tol):
    """Exact for ints (and bools, which are not ints); floats within ``tol``; inf/nan only themselves."""
    if type(expected) is bool or type(got) is bool:
        return type(got) is type(expected) and got == expected
    if type(expected) is int:
        return type(got) is int and got == expected
    # expected is a float: an int or a float answer may match it
    if not (_finite(got) and _finite(expected)):
        return got == expected or (got != got and expected != expected)
    if tol is None:
        return got == expected
    try:
        return abs(got - expected) <= tol * max(1.0, abs(expected))
    except OverflowError:  # an int too large for a float is not close to any float
        return False


def same_value(got, expected, tol):
    """Call results (JSON-decoded expected values; a tuple result equals a list)."""
    number = (int, float)
    if type(expected) in (*number, bool):
        return type(got) in (*number, bool) and same_number(got, expected, tol)
    if type(expected) is str or expected is None:
        return type(got) is type(expected) and got == expected
    if type(expected) is list:
        return (
            type(got) in (list, tuple)
            and len(got) == len(expected)
            and all(same_value(g, e, tol) for g, e in zip(got, expected))
        )
    if type(expected) is dict:
        if type(got) is not dict or len(got) != len(expected):
            return False
        return all(k in got and same_value(got[k], expected[k], tol) for k in expected)
    return False


# compiled on first use (stdio tokens only): compiling them costs every job ~0.3 ms otherwise
#: one way only to split a digit run (``\d+\.?\d*`` had n of them: quadratic on a long wrong token)
_NUMBER = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)"
_FLOATISH = r"[.eE]|inf|nan"
#: number tokens are ASCII: ``\d`` would take any script's digits (float() reads them), and Unicode
#: case folding would make an "inf" of a dotless i, which float() rejects
_ASCII_NOCASE = re.IGNORECASE | re.ASCII


def same_token(got, expected, tol):
    """One output token: exact, except float tokens (``.``, ``e``, inf, nan) within the tolerance."""
    if got == expected:
        return True
    if tol is None or not re.fullmatch(_NUMBER, expected, _ASCII_NOCASE):
        return False
    if not re.search(_FLOATISH, expected, _ASCII_NOCASE):
        return False
    if not re.fullmatch(_NUMBER, got, _ASCII_NOCASE):
        return False
    return same_number(float(got), float(expected), tol)


def same_output(got, expected, tol):
    """Whole outputs: trailing whitespace of lines and of the output ignored, same line count."""
    got_lines = [line.rstrip() for line in got.replace("\r\n", "\n").rstrip().split("\n")]
    exp_lines = [line.rstrip() for line in expected.replace("\r\n", "\n").rstrip().split("\n")]
    if len(got_lines) != len(exp_lines):
        return False, "expected %d line(s), got %d" % (len(exp_lines), len(got_lines))
    for index, (a, b) in enumerate(zip(got_lines, exp_lines)):
        if a == b:
            continue
        ta, tb = a.split(), b.split()
        if len(ta) == len(tb) and all(same_token(x, y, tol) for x, y in zip(ta, tb)):
            continue
        return False, "line %d: got %r, expected %r" % (index + 1, a[:120], b[:120])
    return True, ""


# -- reporting -----------------------------------------------------------------------------------
class Reporter:
    def __init__(self, nonce, binary):
        self.nonce = nonce
        self.binary = binary
        self.out = os.fdopen(os.dup(1), "w")
        self.passed = 0
        self.failed = 0

    def emit(self, flush=True, **record):
        self.out.write(self.nonce + " " + json.dumps(record) + "\n")
        if flush:
            self.out.flush()

    def case(self, ok, message=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        # binary scoring counts only a complete run (its ``done`` line flushes the cases before it):
        # no write, and no wake-up of the runner, per case; partial scoring keeps each case at once
        record = {"case": self.passed + self.failed - 1, "ok": bool(ok), "msg": str(message)[:400]}
        self.emit(flush=not self.binary, **record)
        if not ok and self.binary:
            raise _Stop()


def _devnull_std():
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


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


# -- the program process -------------------------------------------------------------------------
class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


def _serve_program(requests_fd, replies_fd):
    """The program process: load the program, then answer calls. Never sees the tests."""
    _set_int_digits()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    requests = os.fdopen(requests_fd, "rb")

    def send(**message):
        data = (json.dumps(message) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(replies_fd, view) :]

    targets = {}
    while True:
        line = requests.readline()
        if not line:
            return
        request = json.loads(line)
        if request["op"] == "load":
            send(**_load(request, targets))
        elif request["op"] == "call":
            send(id=request["id"], **_call(request, targets))


def _load(request, targets):
    try:
        with open(request["file"], "rb") as handle:
            source = handle.read()
        namespace = {"__name__": "solution", "__builtins__": builtins}
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, request["timeout"])
        try:
            exec(compile(source, "solution.py", "exec"), namespace)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Timeout:
        return {"error": "loading the program timed out"}
    except BaseException as exc:
        return {"error": "the program raised while loading: " + _describe(exc)[:300]}
    names = {}
    for name in request["names"]:
        value = namespace.get(name)
        if value is None and request.get("method") and isinstance(namespace.get("Solution"), type):
            try:
                value = getattr(namespace["Solution"](), name, None)
            except BaseException:
                value = None
        if callable(value):
            targets[name] = value
            names[name] = "call"
        elif name in namespace:
            with contextlib.suppress(Unencodable, RecursionError):
                names[name] = {"v": encode(value)}
    return {"loaded": True, "names": names}


def _call(request, targets):
    fn = targets.get(request["name"])
    if fn is None:
        return {"raised": ["NameError", "%r is not callable in the program" % request["name"]]}
    args = loads(request["a"])
    kwargs = loads(request["k"])
    signal.signal(signal.SIGALRM, _on_alarm)  # again: the program may have replaced it
    try:
        signal.setitimer(signal.ITIMER_REAL, request["timeout"])
        try:
            result = fn(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Timeout:
        return {"timeout": True}
    except BaseException as exc:
        return {"raised": [type(exc).__name__, str(exc)[:300]]}
    try:
        return {"v": dumps(result)}
    except (Unencodable, RecursionError, ValueError, TypeError) as exc:
        return {"bad": type(result).__name__ if isinstance(exc, Unencodable) else str(exc)[:100]}


def fork_program():
    """Fork the program process now, before this process has read anything of the job."""
    requests_r, requests_w = os.pipe()
    replies_r, replies_w = os.pipe()
    import gc

    gc.freeze()  # fewer copy-on-write faults in the child
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            _devnull_std()
            low, high = sorted((requests_r, replies_w))  # every other fd goes: three close_range calls
            os.closerange(3, low)
            os.closerange(low + 1, high)
            os.closerange(high + 1, 1 << 16)
            _serve_program(requests_r, replies_w)
        finally:
            os._exit(0)
    os.close(requests_r)
    os.close(replies_w)
    return Program(pid, replies_r, requests_w)


class Program:
    """The driver's handle on the program process."""

    def __init__(self, pid, replies_fd, requests_fd):
        self.pid = pid
        self.replies = replies_fd
        self.requests = requests_fd
        self.buf = bytearray()
        self.alive = True
        self.calls = 0

    def ask(self, message, timeout):
        """Send ``message``; the reply dict, or None when the process is gone (then it is killed)."""
        if not self.alive:
            return None
        try:
            data = (json.dumps(message) + "\n").encode()
            view = memoryview(data)
            while view:
                view = view[os.write(self.requests, view) :]
            reply = self._read(timeout + 1.0)
        except (OSError, ValueError):
            reply = None
        if not isinstance(reply, dict):
            self.kill()
            return "timeout" if reply == "timeout" else None
        return reply

    def _read(self, timeout):
        import select

        deadline = time.monotonic() + timeout
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[: end + 1]
                return json.loads(line)
            if len(self.buf) > MAX_LINE:
                return None
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.replies], [], [], left)[0]:
                return "timeout"
            chunk = os.read(self.replies, 1 << 20)
            if not chunk:
                return None
            self.buf.extend(chunk)

    def load(self, program_file, names, timeout, method=False):
        return self.ask(
            {
                "op": "load",
                "file": program_file,
                "names": sorted(names),
                "timeout": timeout,
                "method": method,
            },
            timeout,
        )

    def call(self, name, args, kwargs, timeout):
        """Call ``name`` in the program; returns its (plain-data) result or raises like it did."""
        if not self.alive:
            raise ProgramError("the program is no longer running")
        try:
            payload = {"a": dumps(list(args)), "k": dumps(dict(kwargs))}
        except Unencodable as exc:
            raise Unsupported(
                "the tests pass a value of type %s to %s(); only plain data can cross" % (exc, name)
            ) from None
        except RecursionError:
            # only data the program returned earlier nests this deep: its doing, not the tests'
            raise ProgramError("%s(): arguments nested too deeply" % name) from None
        self.calls += 1
        reply = self.ask(
            {"op": "call", "id": self.calls, "name": name, "timeout": timeout, **payload}, timeout
        )
        if reply == "timeout":
            raise CallTimeout("%s() timed out" % name)
        if reply is None or reply.get("id") != self.calls:
            self.kill()
            raise ProgramError("the program exited before returning")
        if reply.get("timeout"):
            raise CallTimeout("%s() timed out" % name)
        if "raised" in reply:
            kind, text = (list(reply["raised"]) + ["", ""])[:2]
            kind, text = str(kind)[:80], str(text)[:300]
            cls = getattr(builtins, kind) if kind in RAISABLE else ProgramError
            raise cls(text if cls is not ProgramError else "%s: %s" % (kind, text))
        if "v" not in reply:
            raise ProgramError(
                "%s() returned a value that is not plain data (%s)" % (name, str(reply.get("bad", "?"))[:80])
            )
        try:
            return loads(str(reply["v"]))
        except (ValueError, TypeError, RecursionError):
            raise ProgramError("%s() returned an undecodable value" % name) from None

    def kill(self):
        self.alive = False
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(self.pid, 0)


class Remote:
    """A program function as the tests see it: plain data in, plain data out."""

    def __init__(self, program, name, timeout):
        self._program = program
        self._name = name
        self._timeout = timeout
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        return self._program.call(self._name, args, kwargs, self._timeout)

    def __repr__(self):
        return "<program function %s>" % self._name


# -- assert --------------------------------------------------------------------------------------
PyCF_ONLY_AST = 0x400  # compile() flag: return the syntax tree


def _counted(node, text):
    """``node`` (an assert) inside ``try: ... except Exception as e: __grpo_fail__(line, text, e)
    else: __grpo_case__(line, text)``, built directly (no template to compile per assert) and
    placed at the assert's own position, so tracebacks name the test's line."""
    at = {
        "lineno": node.lineno,
        "col_offset": node.col_offset,
        "end_lineno": node.end_lineno,
        "end_col_offset": node.end_col_offset,
    }

    def name(ident):
        return _ast.Name(id=ident, ctx=_ast.Load(), **at)

    def call(function, args):
        return _ast.Expr(value=_ast.Call(func=name(function), args=args, keywords=[], **at), **at)

    where = [_ast.Constant(value=node.lineno, **at), _ast.Constant(value=text, **at)]
    failed = call("__grpo_fail__", [*where, name("__grpo_exc__")])
    handler = _ast.ExceptHandler(type=name("Exception"), name="__grpo_exc__", body=[failed], **at)
    return _ast.Try(
        body=[node], handlers=[handler], orelse=[call("__grpo_case__", where)], finalbody=[], **at
    )


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


class CountAsserts:
    """Wrap each top-level assert (module, and the body of ``def check``) in a counting try."""

    def __init__(self):
        self.count = 0

    def wrap(self, body):
        out = []
        for node in body:
            if type(node).__name__ == "Assert":
                self.count += 1
                out.append(_counted(node, _segment(self.lines, node)[:200]))
            else:
                out.append(node)
        return out

    def run(self, source):
        self.lines = source.encode("utf-8").splitlines(True)
        tree = compile(source, "<tests>", "exec", PyCF_ONLY_AST)
        # top-level functions and classes of the tests: never looked up in the program
        self.defined = {
            node.name
            for node in tree.body
            if type(node).__name__ in ("FunctionDef", "AsyncFunctionDef", "ClassDef")
        }
        tree.body = self.wrap(tree.body)
        for node in tree.body:
            if type(node).__name__ == "FunctionDef" and node.name == "check":
                node.body = self.wrap(node.body)
        return tree


def _names(code):
    """Every name the compiled tests use (a superset of their free names: cheap, and a name the
    tests never load as a global is harmless to provide)."""
    found = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            found |= _names(const)
    return found


def run_assert(spec, reporter, program, program_file, options):
    counter = CountAsserts()
    tree = counter.run(spec.get("code", ""))
    code = compile(tree, "<tests>", "exec")
    entry_point = spec.get("entry_point")
    reporter.emit(total=max(counter.count, 1))
    # names the tests take from the program: never a builtin, never one the tests define themselves
    # (their own definitions overwrite these when the test module runs)
    wanted = {name for name in _names(code) if not hasattr(builtins, name)} - counter.defined
    if entry_point:
        wanted.add(entry_point)
    timeout = options["case_timeout"]
    reply = program.load(program_file, wanted, timeout)
    if not isinstance(reply, dict) or not reply.get("loaded"):
        why = reply.get("error") if isinstance(reply, dict) else None
        reporter.emit(error=str(why or "the program exited while loading")[:400])
        return
    namespace = {"__name__": "__tests__", "__builtins__": builtins}
    for name, kind in dict(reply.get("names") or {}).items():
        if name not in wanted:
            continue
        if kind == "call":
            namespace[name] = Remote(program, name, timeout)
        elif isinstance(kind, dict) and "v" in kind:
            with contextlib.suppress(ValueError, TypeError, RecursionError):
                namespace[name] = loads(json.dumps(kind["v"]))
    namespace["__grpo_case__"] = lambda lineno, text: reporter.case(True)
    namespace["__grpo_fail__"] = lambda lineno, text, exc: reporter.case(
        False, "%s failed: %s" % (text, _describe(exc))
    )
    try:
        exec(code, namespace)
        check = namespace.get("check") if "check" in counter.defined else None
        if callable(check) and entry_point:
            if entry_point not in namespace:
                reporter.emit(error="entry point %r is not defined by the program" % entry_point)
                return
            check(namespace[entry_point])
    except (_Stop, Unsupported):
        raise
    except BaseException as exc:
        reporter.emit(error=_describe(exc)[:400])
        return
    if counter.count == 0:
        reporter.case(True)


# -- call ----------------------------------------------------------------------------------------
def run_call(spec, reporter, program, program_file, options):
    cases = spec.get("cases") or []
    reporter.emit(total=len(cases))
    name = spec.get("fn_name")
    tol = options.get("float_tolerance")
    timeout = options["case_timeout"]
    reply = program.load(program_file, {name}, timeout, method=True)
    if not isinstance(reply, dict) or not reply.get("loaded"):
        why = reply.get("error") if isinstance(reply, dict) else None
        reporter.emit(error=str(why or "the program exited while loading")[:400])
        return
    if (reply.get("names") or {}).get(name) != "call":
        reporter.emit(error="function %r is not defined" % name)
        return
    for case in cases:
        args = case.get("args", [])
        args = args if isinstance(args, list) else [args]
        kwargs = case.get("kwargs") or {}
        shown = ", ".join(json.dumps(a) for a in args)[:150]
        try:
            got = program.call(name, args, kwargs, timeout)
        except CallTimeout:
            reporter.case(False, "call %s(%s) timed out" % (name, shown))
            continue
        except Exception as exc:
            reporter.case(False, "call %s(%s) raised %s" % (name, shown, str(_describe(exc))[:300]))
            continue
        expected = case.get("expected")
        ok = same_value(got, expected, tol)
        try:
            got_text = json.dumps(got)[:200]
        except (TypeError, ValueError):
            got_text = repr(got)[:200]
        reporter.case(
            ok,
            ""
            if ok
            else "%s(%s) returned %s, expected %s" % (name, shown, got_text, json.dumps(expected)[:200]),
        )


# -- stdio ---------------------------------------------------------------------------------------
def _anonymous_file():
    """An unnamed file in the work dir (O_TMPFILE): no name the program could prepare or swap."""
    try:
        return os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
    except (AttributeError, OSError):
        path = "_out_" + os.urandom(8).hex()
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.unlink(path)
        return fd


def compile_program(spec_compile, reporter):
    """C++: compile in the driver, with no stdin (the compiler must never see the instructions)."""
    import shutil
    import subprocess

    if shutil.which(spec_compile["command"][0]) is None:
        reporter.emit(infra="no %s in the sandbox" % spec_compile["command"][0])
        return False
    log = _anonymous_file()
    try:
        proc = subprocess.run(
            spec_compile["command"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            timeout=spec_compile["timeout"],
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        reporter.emit(error="compilation timed out")
        return False
    if proc.returncode != 0:
        os.lseek(log, 0, 0)
        text = os.read(log, 4000).decode("utf-8", "replace")
        errors = [line for line in text.splitlines() if "error" in line]
        reporter.emit(error="compilation failed" + (": " + errors[0][:300] if errors else ""))
        return False
    return True


def run_stdio(spec, reporter, command, options):
    import subprocess

    cases = spec.get("cases") or []
    reporter.emit(total=len(cases))
    tol = options.get("float_tolerance")
    cap = options["output_bytes"]
    for index, case in enumerate(cases):
        out, err = _anonymous_file(), _anonymous_file()
        try:
            proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=out, stderr=err, start_new_session=True
            )
        except OSError as exc:
            reporter.emit(error="cannot run the program: %s" % exc)
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
        os.lseek(out, 0, 0)
        data = os.read(out, cap + 1)
        os.close(out)
        if proc.returncode != 0:
            os.lseek(err, 0, 0)
            tail = os.read(err, 4096).decode("utf-8", "replace").strip().splitlines()[-1:]
            os.close(err)
            reporter.case(
                False,
                "case %d exited with %d%s" % (index, proc.returncode, ": " + tail[0][:200] if tail else ""),
            )
            continue
        os.close(err)
        if len(data) > cap:
            reporter.case(False, "case %d: output exceeds %d bytes" % (index, cap))
            continue
        ok, why = same_output(data.decode("utf-8", "replace"), case.get("output", ""), tol)
        reporter.case(ok, "" if ok else "case %d: %s" % (index, why))


def main():
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != os.getcwd()]
    program = fork_program()
    _nondumpable()
    _set_int_digits()
    job = json.loads(sys.stdin.read())
    reporter = Reporter(job["nonce"], job["binary"])
    options = job["options"]
    spec = job["tests"]
    kind = spec.get("type")
    started = time.monotonic()
    try:
        if kind == "stdio":
            program.kill()
            if job.get("compile") is None or compile_program(job["compile"], reporter):
                run_stdio(spec, reporter, job["command"], options)
        else:
            _devnull_std()
            if kind == "assert":
                run_assert(spec, reporter, program, job["program_file"], options)
            elif kind == "call":
                run_call(spec, reporter, program, job["program_file"], options)
            else:
                reporter.emit(invalid="unknown test type %r" % kind)
    except _Stop:
        pass
    except Unsupported as exc:
        reporter.emit(invalid=str(exc)[:400])
    finally:
        program.kill()
    reporter.emit(
        done=True,
        passed=reporter.passed,
        failed=reporter.failed,
        seconds=round(time.monotonic() - started, 4),
        cpu=round(sum(os.times()[:4]), 4),  # this process and the program's, for the benchmark
    )
    reporter.out.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
