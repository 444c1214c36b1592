"""The in-sandbox job runner (standard library only; its source is sent as ``python3 -c``).

It reads one job from stdin (a decimal length line, then that many bytes of JSON), writes the files
into a fresh work directory, runs the command in its own session under rlimits, streams stdout and
stderr with a byte cap (a flood stops the program, it is never buffered whole), enforces the wall
time, kills the whole process tree (with ``kill_all``: every process of the sandbox user but PID 1
and itself, so double-forked daemons die too), removes the work directory and prints one result line
``GRPO-RESULT <json>`` on its own stdout. Nothing the program prints reaches that stream. With
``kill_all`` (a sandbox of its own) it also empties the shared scratch dirs, removes every System V
IPC object and POSIX message queue (``ipc_leftovers``: how many could not be) and restores the work
root's mode, checking a directory can be made there (``workroot_ok``); ``program_started`` tells the
host whether a failed job got as far as starting its program.

Jobs marked ``preloaded_python`` (``python3 -I SCRIPT``) run in a process forked from the runner's
zygote (see ``Zygote``): no interpreter start-up per job (with ``script_entry``, no module set-up
either: the zygote runs SCRIPT's top level once and each job calls that function). After every job
the shared directories themselves are reset too (times, extended attributes), and clean-up trouble
(e.g. a tree too deep to remove) is reported as ``cleanup_failed`` (the host recycles the sandbox),
never as the job's error.

Because the source travels with every call, the runner always matches the host library and any
image with ``python3`` works.
"""

import base64
import contextlib
import hashlib
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import threading
import time

MARK = "GRPO-RESULT "
CHUNK = 65536
#: as PID 1, how often at least the runner collects the orphans a running job left (seconds)
REAP_EVERY = 0.02
REAP_BATCH = 512
#: shared scratch dirs emptied after every job (sandboxed modes only); /dev/mqueue: POSIX queues
SCRUB = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue")
#: the work root's mode (a program may chmod it; the next job must still be able to create its dir)
WORKROOT_MODE = 0o700
IPC_RMID = 0
#: files the host marked to keep, sent once per session: at most this many (first come), each at
#: most sandboxes.protocol.KEEP_BYTES (the host sends none larger; checked here all the same)
KEEP_FILES = 4
KEEP_BYTES = 1 << 20
#: the program has started (set once its process exists): a failure before that is retried by the host
_state = {"started": False}


def _protect_protocol():
    """Move the protocol's stdin and stdout to private close-on-exec fds and put /dev/null on 0-2.

    As the Docker pool's PID 1 those two fds are the container's attach stream, the host's only
    channel: a child the runner starts (a clean-up ``rm``, a job) must never inherit them, or any
    process of the sandbox user could read it and forge the next result line from /proc/PID/fd."""
    reader = os.fdopen(os.dup(0), "rb")  # os.dup: not inheritable
    _state["protocol_out"] = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    _state["protocol_in"] = reader


def _read_payload():
    stream = _state.get("protocol_in") or sys.stdin.buffer
    header = stream.readline(32)
    if not header:
        raise EOFError
    size = int(header.strip() or b"0")
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise RuntimeError("payload truncated")
        data += chunk
    return json.loads(data)


def _file_data(rel, spec):
    """A job file's bytes: sent whole (``b64``; with ``keep``, its sha256, kept for later jobs of
    this session) or, sent before, by that digest (``kept``). The host names only digests this
    runner listed as kept in an earlier result."""
    kept = _state.setdefault("kept", {})
    if "kept" in spec:
        data = kept.get(spec["kept"])
        if data is None:
            raise ValueError(f"no kept copy of {rel!r}")
        return data
    data = base64.b64decode(spec["b64"])
    digest = spec.get("keep")
    if (
        isinstance(digest, str)
        and digest not in kept
        and len(kept) < KEEP_FILES
        and len(data) <= KEEP_BYTES
        and hashlib.sha256(data).hexdigest() == digest
    ):
        kept[digest] = data
    return data


def _write_files(work, files):
    for rel, spec in files.items():
        norm = os.path.normpath(rel)
        if os.path.isabs(norm) or norm == ".." or norm.startswith(".." + os.sep):
            raise ValueError(f"file path escapes the work dir: {rel!r}")
        path = os.path.join(work, norm)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        data = _file_data(rel, spec)
        with open(path, "wb") as handle:
            handle.write(data)
        os.chmod(path, spec.get("mode", 0o644))


def _kill_everything(pgid, kill_all):
    """Kill the job's session, then (kill_all) every other process this user may signal.

    The zygote is spared: with one, processes are killed one by one from /proc (repeatedly, so a
    fork bomb's late children die too); without, by ``kill(-1)``.
    """
    if pgid is not None:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    if not kill_all:
        return 0
    zygote = _zygote["current"]
    spare = {zygote.pid} if zygote is not None and not zygote.dead else set()
    _restore_limits()
    for _ in range(400):
        if spare:
            try:
                victims = _others(spare)
            except OSError:  # /proc cannot be read (e.g. no file descriptor left): fail closed
                return 1
            if not victims:
                return 0
            for pid in victims:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        else:
            try:
                os.kill(-1, signal.SIGKILL)  # Linux spares PID 1 and the caller
            except ProcessLookupError:
                return 0
            except OSError:
                break
        time.sleep(0.002)
    try:
        return len(_others(spare))
    except OSError:
        return 1


def _below(a, b):
    """Whether resource limit ``a`` is lower than ``b`` (RLIM_INFINITY, -1, is the highest)."""
    infinity = resource.RLIM_INFINITY
    return a != infinity and (b == infinity or a < b)


def _restore_limits():
    """A job (same uid) may lower this runner's own limits: its open files (to blind the /proc
    sweep), its address space or data size (so the runner's next allocation fails). Put each soft
    limit back up to what it was at start, as far as the hard limit allows (the tamper check still
    sees a lowered hard limit, and the sandbox is then replaced)."""
    for number, (soft, _) in _state.get("limits", {}).items():
        with contextlib.suppress(ValueError, OSError):
            now_soft, now_hard = resource.getrlimit(number)
            if _below(now_soft, soft):
                resource.setrlimit(number, (now_hard if _below(now_hard, soft) else soft, now_hard))


def _state_of(path):
    """The state letter in a /proc ``stat`` file, None when the process is gone, ``?`` when it
    cannot be read (which counts as alive: a sweep that cannot see must not report all clear).
    Read as bytes: a process may give itself (or another process of its user) a non-UTF-8 name."""
    try:
        with open(path, "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0].decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except (OSError, IndexError, ValueError):
        return "?"


def _alive(pid):
    """Whether any thread of ``pid`` still runs: a thread group whose leader exited (raw SYS_exit)
    reads as a zombie in /proc/PID/stat while its other threads go on."""
    if _state_of(f"/proc/{pid}/stat") not in ("Z", "X", None):
        return True
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return True
    return any(_state_of(f"/proc/{pid}/task/{tid}/stat") not in ("Z", "X", None) for tid in tasks)


def _others(spare=()):
    """Live processes other than PID 1, this runner and ``spare``."""
    me = os.getpid()
    entries = os.listdir("/proc")  # an error here is the caller's: it could not look
    return [
        int(entry)
        for entry in entries
        if entry.isdigit() and int(entry) not in (1, me) and int(entry) not in spare and _alive(entry)
    ]


def _nondumpable():
    """No other process of the sandbox user may read this runner's memory or open its /proc fds."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except Exception:
        pass


#: signals a job may send the runner or the zygote (same uid) whose default action would end them;
#: both ignore these, and every job gets the defaults back (SIGKILL and SIGSTOP cannot be ignored:
#: a killed runner is the program's doing, a stopped one runs into the host's deadline)
_KEEP_DEFAULT = {"SIGKILL", "SIGSTOP", "SIGCHLD", "SIGCONT", "SIGWINCH", "SIGURG"}


def _catchable():
    for number in range(1, signal.NSIG):
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"SIGRT{number}"  # real-time signals: terminate by default
        if name not in _KEEP_DEFAULT:
            yield number


#: looked up once: every job's process sets all of them back to the default
_CATCHABLE = tuple(_catchable())


def _set_all(disposition):
    for number in _CATCHABLE:
        try:  # noqa: SIM105 (contextlib.suppress costs each job ~60 us here)
            signal.signal(number, disposition)
        except (OSError, ValueError, RuntimeError):
            pass


def _ignore_signals():
    _set_all(signal.SIG_IGN)


def _default_signals():
    """A job starts with the signal dispositions of a fresh ``python3`` (an ignored signal would
    survive even an exec)."""
    _set_all(signal.SIG_DFL)


#: every resource limit this kernel has, by name (looked up once: the check runs after every job)
_RLIMITS = sorted((name, getattr(resource, name)) for name in dir(resource) if name.startswith("RLIMIT_"))


def _process_state(pid):
    """What another process of the same uid can change on ``pid`` and every job forked from it would
    inherit: resource limits, scheduling policy and priority, nice value, CPU affinity."""
    state = {}
    # try/except, not contextlib.suppress: this runs twice after every job, ~22 lookups each
    for name, number in _RLIMITS:
        try:  # noqa: SIM105
            state[name] = resource.prlimit(pid, number)
        except (OSError, ValueError):
            pass
    for key, read in (
        ("sched_policy", os.sched_getscheduler),
        ("sched_priority", lambda pid: os.sched_getparam(pid).sched_priority),
        ("nice", lambda pid: os.getpriority(os.PRIO_PROCESS, pid)),
        ("affinity", lambda pid: sorted(os.sched_getaffinity(pid))),
        ("ioprio", _ioprio),
        ("sched_attr", _sched_attr),
    ):
        try:  # noqa: SIM105
            state[key] = read(pid)
        except OSError:
            pass
    return state


#: ioprio_get's syscall number (no Python API); IOPRIO_WHO_PROCESS = 1
_IOPRIO_GET = {"x86_64": 252, "aarch64": 31}.get(os.uname().machine)
#: sched_getattr's: the whole scheduling attribute (runtime, deadline, period, utilization clamps)
_SCHED_GETATTR = {"x86_64": 315, "aarch64": 275}.get(os.uname().machine)


def _sched_attr(pid):
    import ctypes

    if _SCHED_GETATTR is None:
        return None
    buffer = _state.get("sched_attr_buffer")
    if buffer is None:
        buffer = _state["sched_attr_buffer"] = ctypes.create_string_buffer(56)  # sched_attr, v1
    if _libc().syscall(_SCHED_GETATTR, pid, buffer, 56, 0) != 0:
        return None
    return buffer.raw


def _ioprio(pid):
    if _IOPRIO_GET is None:
        return None
    return _libc().syscall(_IOPRIO_GET, 1, pid)


def _tampered(baseline):
    """Which of the runner's and the zygote's own settings differ from their start (empty: none)."""
    changed = []
    for who, (pid, before) in baseline.items():
        after = _process_state(pid)
        changed += [f"{who} {key}" for key in before if after.get(key) != before[key]]
    return changed


def _result_line(result, nonce):
    return ("\n" + MARK + nonce + " " + json.dumps(result) + "\n").encode()


def _emit(result, nonce):
    _write_all(_result_line(result, nonce))


def _write_all(data):
    view = memoryview(data)
    while view:
        view = view[os.write(_state.get("protocol_out", 1), view) :]


def _starved_result():
    """A job whose program left the runner unable to allocate: the program's failure (killed), and
    the sandbox is not reused."""
    return {
        "exit_code": 137,
        "signal": signal.SIGKILL.value,
        "timed_out": False,
        "stdout": "",
        "stderr": "the program starved the sandbox runner (lowered its memory limits)",
        "stdout_truncated": True,
        "stderr_truncated": False,
        "output_limit_exceeded": False,
        "error": None,
        "program_started": True,
        "runner_starved": True,
        "runner_tampered": ["runner memory limits"],
    }


# -- the zygote: a pristine interpreter that runs ``python3 -I SCRIPT`` jobs by forking ---------------
# Forked when the runner starts, before it has read any job, so nothing of any job (tests, expected
# values, nonces) is ever in its memory or in that of the processes it forks. It never runs a job's
# program itself: per job it forks one process that becomes ``python3 -I SCRIPT`` (setsid, fds, cwd,
# rlimits, environment) and reports that process's exit status. The one thing of a job it runs is the
# top level of a SCRIPT sent with ``script_entry`` (the host's own, non-secret script that only
# defines: the code verifier's driver), before forking that job. A zygote that dies or is stopped
# (a program can signal it: same user) is not replaced from this runner, whose memory is no longer
# pristine: jobs fall back to a fresh interpreter and the result says ``zygote_lost``.
class Zygote:
    def __init__(self):
        import socket

        self.socket_mod = socket
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                parent.close()
                if "protocol_in" in _state:  # the zygote never holds the host's channel
                    _state["protocol_in"].close()
                    os.close(_state["protocol_out"])
                _zygote_main(child)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        child.close()
        self.pid = pid
        self.sock = parent
        self.lock = threading.Lock()
        self.dead = False

    def healthy(self):
        if self.dead:
            return False
        try:
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                self.dead = True
                return False
            state = _state_of(f"/proc/{self.pid}/stat")
        except (OSError, ChildProcessError):
            self.dead = True
            return False
        if state not in ("S", "R", "D"):
            self.close()
            return False
        return True

    def spawn(self, spec, fds):
        """Start the job's process; a _ZygoteProc, or None (then the runner starts it itself)."""
        if not self.healthy():
            return None
        try:
            self.sock.settimeout(5.0)
            self.socket_mod.send_fds(self.sock, [json.dumps(spec).encode()], list(fds))
            reply = json.loads(self.sock.recv(4096) or b"null")
            self.sock.settimeout(None)
            pid = int(reply["pid"])
        except (OSError, ValueError, TypeError, KeyError):
            self.close()
            return None
        return _ZygoteProc(self, pid)

    def close(self):
        self.dead = True
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ChildProcessError):
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            self.sock.close()


class _ZygoteProc:
    """The job's process started by the zygote, with the slice of ``Popen`` the runner uses."""

    def __init__(self, zygote, pid):
        self.zygote = zygote
        self.pid = pid
        self.returncode = None
        self._lock = threading.Lock()

    def wait(self):
        with self._lock:
            if self.returncode is None:
                try:
                    reply = json.loads(self.zygote.sock.recv(4096) or b"null")
                    self.returncode = os.waitstatus_to_exitcode(int(reply["status"]))
                except (OSError, ValueError, TypeError, KeyError):
                    # the zygote died mid-job: only the job could have done that
                    self.zygote.dead = True
                    self.returncode = -signal.SIGKILL
        return self.returncode


def _apply_rlimits(limits):
    for name, value in limits.items():
        number = getattr(resource, name, None)
        if number is not None and value is not None:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(number, (int(value), int(value)))
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")
    except OSError:
        pass
    _default_signals()


def _zygote_main(sock):
    import socket

    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    if sys.flags.no_site:  # jobs see the sys.path of `python3 -I`
        import site

        site.main()
    # what the job scripts (the code verifier's driver) import, and what generated programs import
    # most (typing alone costs a job ~4 ms): loaded once here, shared by every forked job
    preload = ("runpy", "json", "re", "select", "ctypes", "signal", "contextlib", "io")
    preload += ("typing", "math", "collections", "itertools", "functools", "heapq", "bisect", "string")
    for name in preload:
        with contextlib.suppress(ImportError):
            __import__(name)
    import gc

    # source -> code: a preloaded script is compiled once per zygote; with an entry function its top
    # level also runs once, here (it only defines: see Job.script_entry), and jobs only call the entry
    compiled = {}
    prepared = {}  # source -> the namespace its top level made (None: it raised, run it whole)

    while True:
        # while idle, reap children a job handed it (clone with CLONE_PARENT) that the runner killed
        # after the job ended: zombies would hold the sandbox's pids for every later job
        while not select.select([sock], [], [], 0.05)[0]:
            _reap_exited_children()
        _reap_exited_children()
        message, fds, _, _ = socket.recv_fds(sock, 1 << 16, 3)
        if not message:
            os._exit(0)
        spec = json.loads(message)
        code = namespace = None
        with contextlib.suppress(OSError, SyntaxError, ValueError):
            with open(os.path.join(spec["cwd"], spec["argv"][0]), "rb") as handle:
                source = handle.read()
            code = compiled.get(source)
            if code is None:
                code = compile(source, spec["argv"][0], "exec")
                if len(compiled) < 8:
                    compiled[source] = code
            if isinstance(spec.get("entry"), str) and source in compiled:
                if source not in prepared:
                    prepared[source] = _prepare_script(code, spec["argv"][0])
                namespace = prepared[source]
                if namespace is not None and not callable(namespace.get(spec["entry"])):
                    namespace = None
        gc.freeze()  # the child's collections skip these objects: their pages stay shared
        pid = os.fork()
        if pid == 0:
            sock.close()
            _become_job(spec, fds, code, namespace)
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = signal.SIGKILL
        _reap_exited_children()
        sock.send(json.dumps({"status": status}).encode())


def _prepare_script(code, filename):
    """Run a script's top level once in the zygote (before any job that uses it forks): the
    namespace it made, or None when it raised (jobs then run the script whole, as they do when it
    defines no such entry function). Its ``__name__`` is not ``__main__``: its main block does not
    run here."""
    import builtins

    namespace = {"__name__": "__grpo_preloaded__", "__file__": filename, "__builtins__": builtins}
    try:
        exec(code, namespace)
    except BaseException:
        return None
    return namespace


def _become_job(spec, fds, compiled_code=None, namespace=None):
    """In the zygote's child: become ``python3 -I SCRIPT ARGS`` for the job, then exit (with a
    prepared ``namespace``: call its entry function, what SCRIPT's main block would do)."""
    import io
    import runpy
    import types

    code = 1
    try:
        os.setsid()
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
        os.closerange(3, 1 << 16)
        os.chdir(spec["cwd"])
        _apply_rlimits(spec["rlimits"])
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # as a fresh interpreter sets them
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(spec["env"])
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", write_through=True)
        sys.argv = list(spec["argv"])
        try:
            if namespace is not None:
                main = types.ModuleType("__main__")
                namespace["__name__"] = "__main__"
                main.__dict__.update(namespace)
                sys.modules["__main__"] = main
                namespace[spec["entry"]]()
            elif compiled_code is None:
                runpy.run_path(spec["argv"][0], run_name="__main__")
            else:
                main = types.ModuleType("__main__")
                main.__file__ = spec["argv"][0]
                main.__builtins__ = __builtins__
                sys.modules["__main__"] = main
                exec(compiled_code, main.__dict__)
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    finally:
        os._exit(code & 0xFF if isinstance(code, int) else 1)


_zygote = {"current": None}


def run_one(job):
    started = time.monotonic()
    root = job["workroot"]
    os.makedirs(root, exist_ok=True)
    if job.get("kill_all"):
        with contextlib.suppress(OSError):
            os.chmod(root, WORKROOT_MODE)
    work = os.path.join(root, "job-" + os.urandom(6).hex())
    os.mkdir(work, 0o700)
    result = {
        "exit_code": None,
        "signal": None,
        "timed_out": False,
        "stdout_truncated": False,
        "stderr_truncated": False,
        "output_limit_exceeded": False,
        "error": None,
        "program_started": False,
    }
    cap = int(job["output_bytes"])
    wall = float(job["wall_time"])
    kill_all = bool(job.get("kill_all"))
    try:
        _write_files(work, job.get("files", {}))
    except (OSError, ValueError) as exc:
        result["error"] = f"could not write job files: {exc}"
        return _finish(result, work, started, kill_all, None)

    env = {
        "PATH": job.get("path") or "/usr/local/bin:/usr/bin:/bin",
        "HOME": work,
        "TMPDIR": work,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }
    env.update(job.get("env") or {})
    limits = job.get("rlimits") or {}

    def preexec():
        _apply_rlimits(limits)

    # No helper thread: one poll loop feeds stdin, drains stdout/stderr and notices the exit (a fork
    # bomb that exhausts the pids limit cannot keep this runner from doing any of it)
    buffers = {"stdout": bytearray(), "stderr": bytearray()}
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe()
    proc = None
    command = list(job["command"])
    zygote = _zygote["current"]
    if (
        job.get("preloaded_python")
        and zygote is not None
        and command[:2] == ["python3", "-I"]
        and command[2:]
    ):
        spec = {"argv": command[2:], "cwd": work, "env": env, "rlimits": limits}
        if isinstance(job.get("script_entry"), str):
            spec["entry"] = job["script_entry"]
        proc = zygote.spawn(spec, (in_r, out_w, err_w))
        result["via_zygote"] = proc is not None
    try:
        proc = proc or subprocess.Popen(
            job["command"],
            cwd=work,
            env=env,
            stdin=in_r,
            stdout=out_w,
            stderr=err_w,
            start_new_session=True,
            preexec_fn=preexec,
            close_fds=True,
        )
    except OSError as exc:
        for fd in (in_r, out_w, err_w, in_w, out_r, err_r):
            os.close(fd)
        result["exit_code"] = 127
        result["stderr"] = "cannot execute {!r}: {}".format(job["command"][0], exc)
        return _finish(result, work, started, kill_all, None)
    _state["started"] = True
    result["program_started"] = True
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    streams = _Streams({out_r: "stdout", err_r: "stderr"}, buffers, cap, result)
    streams.pump(proc, in_w, base64.b64decode(job.get("stdin") or ""), time.monotonic() + wall)
    result["run_elapsed"] = time.monotonic() - started
    leftovers = _kill_everything(proc.pid, kill_all)
    if zygote is not None and not zygote.healthy():
        result["zygote_lost"] = True
    proc.wait()
    streams.drain(time.monotonic() + 1.0)
    code = proc.returncode
    if code is not None and code < 0:
        result["signal"] = -code
        result["exit_code"] = 128 - code
    else:
        result["exit_code"] = code
    if result["timed_out"] or result["output_limit_exceeded"]:
        result["exit_code"] = result["exit_code"] if result["exit_code"] is not None else 137
    if result.get("runner_starved"):  # output may be lost: never a pass, whatever it printed
        result["exit_code"], result["signal"] = 137, signal.SIGKILL.value
    result["stdout"] = bytes(buffers["stdout"]).decode("utf-8", "replace")
    result["stderr"] = bytes(buffers["stderr"]).decode("utf-8", "replace")
    result["leftover_processes"] = leftovers
    return _finish(result, work, started, kill_all, proc)


class _Streams:
    """The job's pipes, served from this thread: stdin fed as the program reads it, stdout and
    stderr kept up to ``cap`` bytes each (past it the job is stopped: a flood is never buffered
    whole), and the program's exit noticed (the zygote's status message, or a pidfd).

    ``select``, not ``poll``: a job (same uid) may lower this runner's open-files limit, and poll
    fails once it watches more fds than that limit; select needs no new fd and no limit."""

    def __init__(self, readers, buffers, cap, result):
        self.readers = dict(readers)
        self.buffers = buffers
        self.cap = cap
        self.result = result

    def _read(self, fd):
        """Take what ``fd`` has; at EOF (or an error) stop watching it and close it."""
        try:
            chunk = os.read(fd, CHUNK)
        except OSError:
            chunk = b""
        if not chunk:
            del self.readers[fd]
            os.close(fd)
            return
        name = self.readers[fd]
        buf = self.buffers[name]
        room = self.cap - len(buf)
        if len(chunk) > room:
            buf.extend(chunk[: max(room, 0)])
            self.result[name + "_truncated"] = True
            self.result["output_limit_exceeded"] = True
        else:
            buf.extend(chunk)

    def pump(self, proc, in_w, data, deadline):
        """Until the program exits, floods its output or runs out of time (``timed_out``)."""
        view = memoryview(data)
        if view:
            os.set_blocking(in_w, False)
        else:
            os.close(in_w)
            in_w = None
        exit_fd, owned = _exit_fd(proc)
        watch_exit = exit_fd is not None
        reap = _state.get("init", False)
        zygote = _zygote["current"]
        keep = {proc.pid} | ({zygote.pid} if zygote is not None else set())
        try:
            while proc.returncode is None and not self.result["output_limit_exceeded"]:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.result["timed_out"] = True
                    break
                if not watch_exit:  # nothing tells of this exit: look every few milliseconds
                    remaining = min(remaining, 0.005)
                if reap:
                    _reap_orphans(keep)
                    remaining = min(remaining, REAP_EVERY)
                readable = list(self.readers) + ([exit_fd] if watch_exit else [])
                writable = [in_w] if in_w is not None else []
                ready_r, ready_w, _ = select.select(readable, writable, [], remaining)
                if in_w is not None and ready_w:
                    try:
                        view = view[os.write(in_w, view[:CHUNK]) :]
                    except OSError:  # the program closed its stdin: the rest is not read
                        view = view[:0]
                    if not view:
                        os.close(in_w)
                        in_w = None
                for fd in ready_r:
                    if fd == exit_fd and watch_exit:
                        watch_exit = False
                        proc.wait()
                    elif fd in self.readers:
                        self._read(fd)
                if exit_fd is None:
                    proc.poll()
        except MemoryError:
            # only a job can starve the runner (it lowered the runner's address-space or data limit,
            # as the same uid may): its program is stopped now and the job is its failure
            self.result["runner_starved"] = True
        finally:
            if in_w is not None:
                os.close(in_w)
            if owned:
                os.close(exit_fd)

    def drain(self, deadline):
        """After the kill: read what is left (kept up to the cap) until EOF, for at most a moment."""
        while self.readers and not self.result.get("runner_starved"):
            remaining = deadline - time.monotonic()
            ready = select.select(list(self.readers), [], [], remaining)[0] if remaining > 0 else []
            if not ready:
                break
            for fd in ready:
                self._read(fd)
        for fd in list(self.readers):
            os.close(fd)
        self.readers.clear()


def _exit_fd(proc):
    """(an fd that becomes readable when ``proc`` exits, whether this runner opened it). The zygote
    reports the exit on its socket; a process the runner started gets a pidfd, or None where there
    is none: the loop then polls."""
    if isinstance(proc, _ZygoteProc):
        return proc.zygote.sock.fileno(), False
    try:
        return os.pidfd_open(proc.pid), True
    except (AttributeError, OSError):
        return None, False


def _wipe(path):
    """Remove ``path`` (a file or a tree of any depth), first making every directory in it writable.

    True when it is gone. A tree too deep for Python's recursion (or ``PATH_MAX``) goes to
    ``chmod -R`` + ``rm -rf``, which walk it by file descriptor.
    """
    if not os.path.lexists(path):
        return True
    if os.path.isdir(path) and not os.path.islink(path):
        with contextlib.suppress(OSError, RecursionError):
            shutil.rmtree(path)  # the usual case: nothing in it was made unwritable
        if not os.path.lexists(path):
            return True
        try:
            with contextlib.suppress(OSError):
                os.chmod(path, 0o700)
            for dirpath, dirnames, _ in os.walk(path):
                for name in dirnames:
                    with contextlib.suppress(OSError):
                        os.chmod(os.path.join(dirpath, name), 0o700)
            shutil.rmtree(path)
        except (RecursionError, OSError):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                quiet = {
                    "stdin": subprocess.DEVNULL,
                    "stdout": subprocess.DEVNULL,
                    "stderr": subprocess.DEVNULL,
                }
                subprocess.run(["chmod", "-R", "u+rwx", "--", path], timeout=60, **quiet)
                subprocess.run(["rm", "-rf", "--", path], timeout=60, **quiet)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return not os.path.lexists(path)


def _reset_dir(path):
    """Clear what a job could leave on a shared directory itself: its times and extended attributes."""
    try:
        names = os.listxattr(path)
    except OSError:
        names = []
    for name in names:
        with contextlib.suppress(OSError):
            os.removexattr(path, name)
    try:
        os.utime(path, (0, 0))
    except OSError:
        with contextlib.suppress(OSError):
            os.utime(path, None)


def _sysv_ids():
    """(kind, id) of every System V IPC object in this IPC namespace (from /proc/sysvipc)."""
    found = []
    for kind in ("shm", "sem", "msg"):
        try:
            with open("/proc/sysvipc/" + kind) as handle:
                rows = handle.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 1 and fields[1].lstrip("-").isdigit():
                found.append((kind, int(fields[1])))
    return found


def _libc():
    if "libc" not in _state:
        import ctypes

        _state["libc"] = ctypes.CDLL(None, use_errno=True)
    return _state["libc"]


def _clear_ipc():
    """Remove every SysV shm/sem/msg object and POSIX message queue; return how many remain."""
    try:
        libc = _libc()
        remove = {
            "shm": lambda ident: libc.shmctl(ident, IPC_RMID, None),
            "sem": lambda ident: libc.semctl(ident, 0, IPC_RMID),
            "msg": lambda ident: libc.msgctl(ident, IPC_RMID, None),
        }
    except Exception:
        remove = {}
    found = _sysv_ids()
    for kind, ident in found:
        if kind in remove:
            with contextlib.suppress(Exception):
                remove[kind](ident)
    left = len(_sysv_ids()) if found else 0  # looked at again only when there was something
    with contextlib.suppress(OSError):
        queues = os.listdir("/dev/mqueue")
        for entry in queues:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join("/dev/mqueue", entry))
        left += len(os.listdir("/dev/mqueue")) if queues else 0
    return left


def _workroot_ok(root):
    """Restore the work root's mode and check a job directory can be made in it."""
    with contextlib.suppress(OSError):
        os.chmod(root, WORKROOT_MODE)
    probe = os.path.join(root, ".probe-" + os.urandom(6).hex())
    try:
        os.mkdir(probe, 0o700)
        os.rmdir(probe)
    except OSError:
        return False
    return True


def _finish(result, work, started, kill_all, proc):
    try:
        _clean(result, work, kill_all, proc)
    except Exception as exc:  # whatever the program left, clean-up trouble is never the job's error
        result["cleanup_failed"] = f"{type(exc).__name__}: {exc}"[:300]
    result["runner_elapsed"] = time.monotonic() - started
    return result


def _clean(result, work, kill_all, proc):
    if proc is None and kill_all:
        _kill_everything(None, kill_all)
    root = os.path.dirname(work)
    if kill_all:
        with contextlib.suppress(OSError):
            os.chmod(root, WORKROOT_MODE)
    gone = _wipe(work)
    # sandboxed modes run one job at a time per sandbox: wipe all scratch space, not just the job dir
    for shared in (root, *SCRUB) if kill_all else ():
        try:
            entries = os.listdir(shared)
        except OSError:
            continue
        for entry in entries:
            gone = _wipe(os.path.join(shared, entry)) and gone
    if not gone:
        result["cleanup_failed"] = "job files could not be removed"
    if kill_all:
        # nothing of this job may reach the next one: IPC objects, an unusable work root
        result["ipc_leftovers"] = _clear_ipc()
        result["workroot_ok"] = _workroot_ok(root)
        for shared in (root, *SCRUB):
            _reset_dir(shared)
    try:
        stat = os.statvfs(root)
        result["work_free_fraction"] = stat.f_bavail / max(stat.f_blocks, 1)
    except OSError:
        result["work_free_fraction"] = None


def _reap_exited_children():
    """Collect every exited child, so none stays a zombie holding one of the sandbox's pids. The
    runner as PID 1 inherits the processes a job orphaned, the zygote those a job gave it; both call
    this only when no job process of theirs is left to wait for (as PID 1, a zygote that died is
    reaped too: it is then lost)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _reap_orphans(keep):
    """As PID 1, while a job runs: collect its orphans that have exited (a program's children it
    left behind, then killed), which would otherwise hold the sandbox's pids until the job ends and
    fail a correct program's next fork. Never a process in ``keep`` (the job's own, whose status
    ``Popen`` must read; the zygote, whose health is read after the job): the first such one that
    has exited ends the round, left waitable (then the job is over, or the zygote is lost). At most
    ``REAP_BATCH`` a round: a job that makes orphans as fast as they are reaped must not keep the
    runner from its deadline."""
    for _ in range(REAP_BATCH):
        try:
            exited = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if exited is None or exited.si_pid in keep:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(exited.si_pid, os.WNOHANG)


def _expire_after(seconds):
    """The sandbox's own end (PID 1's exit ends it), should its host never close the session."""
    time.sleep(seconds)
    os._exit(0)


def main(argv):
    """One job, or (``serve``) a session: jobs one after another until stdin closes.

    As the sandbox's PID 1 (the Docker pool's session mode; bwrap, ``--as-pid-1``) the runner cannot
    be signalled or traced
    from inside the sandbox, reaps orphans between jobs, and ends the sandbox when stdin closes or
    ``lifetime=SECONDS`` has passed."""
    _nondumpable()
    _ignore_signals()
    _protect_protocol()
    _state["limits"] = {
        getattr(resource, name): resource.getrlimit(getattr(resource, name))
        for name in ("RLIMIT_NOFILE", "RLIMIT_AS", "RLIMIT_DATA", "RLIMIT_STACK")
        if hasattr(resource, name)
    }
    serve = "serve" in argv
    init = _state["init"] = os.getpid() == 1
    try:
        _zygote["current"] = Zygote()  # now, before any job has been read
    except Exception:
        _zygote["current"] = None
    for arg in argv:
        if arg.startswith("lifetime="):  # after the zygote's fork: it must not inherit the thread
            threading.Thread(target=_expire_after, args=(float(arg[9:]),), daemon=True).start()
    baseline = {"runner": (os.getpid(), _process_state(os.getpid()))}
    if _zygote["current"] is not None:
        baseline["zygote"] = (_zygote["current"].pid, _process_state(_zygote["current"].pid))
    while True:
        try:
            job = _read_payload()
        except EOFError:
            return 0
        except Exception as exc:
            _emit({"error": f"runner: bad payload: {type(exc).__name__}: {exc}"}, "")
            return 0
        nonce = str(job.get("nonce", ""))
        _state["started"] = False
        zygote = _zygote["current"]
        # written now, while the runner can still allocate: the answer for a job whose program left
        # the runner unable to (a lowered hard limit: nothing can restore it), and this sandbox ends
        starved = _result_line(_starved_result(), nonce)
        try:
            result = run_one(job)
        except MemoryError:
            result = None
        except Exception as exc:  # an infrastructure failure of the runner itself
            result = {"error": f"runner: {type(exc).__name__}: {exc}", "program_started": _state["started"]}
        try:
            _restore_limits()
            if result is None:
                if not _state["started"]:
                    raise RuntimeError("out of memory before the program started")
                result = _starved_result()
            if init:
                _reap_exited_children()
            if serve and zygote is not None and not zygote.healthy():
                baseline.pop("zygote", None)  # gone: reported as zygote_lost, nothing left to compare
            # a job (same uid) may have changed the runner's or the zygote's limits, scheduling or
            # affinity; every later job would inherit them, so this sandbox must not take another
            changed = _tampered(baseline) if serve else []
            if changed:
                result["runner_tampered"] = changed[:20]
            result["kept"] = sorted(_state.get("kept", ()))
            _emit(result, nonce)
        except MemoryError:
            if _state["started"]:
                _write_all(starved)
            return 0
        except RuntimeError as exc:
            _emit({"error": f"runner: {exc}", "program_started": False}, nonce)
            return 0
        if not serve:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
