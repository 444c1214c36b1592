"""Warm sessions on both backends: one sandbox runs job after job, and nothing of a job reaches the next.

Each test uses a pool of ONE sandbox (a Docker container, or a bwrap sandbox in session mode), so
the second job runs exactly where the first one ran. What a first job leaves (processes, files in
every writable place, IPC objects, keys, times and extended attributes of the shared directories)
must be gone, or the sandbox must be replaced; a program's misbehaviour is its own outcome (never an
infrastructure error) and the next job runs normally.
"""

from __future__ import annotations

import dataclasses

import pytest

from sandboxes.base import Job, Limits

LIMITS = Limits(wall_time=5.0, memory_mb=256, pids=64)


class OneSandbox:
    """A pool of one warm sandbox of either backend: ``run(job)`` and its ``stats``."""

    def __init__(self, pool, backend: str) -> None:
        self.pool = pool
        self.backend = backend

    def run(self, code: str, **job) -> object:
        job.setdefault("limits", LIMITS)
        return self.pool.run(Job(["python3", "-I", "main.py"], files={"main.py": code}, **job))

    @property
    def stats(self) -> dict[str, int]:
        return self.pool.stats


@pytest.fixture(params=["bwrap", "docker"])
def one_sandbox(request):
    if request.param == "docker":
        pool = request.getfixturevalue("dedicated_pool")(size=1, pids=LIMITS.pids)
        yield OneSandbox(pool, "docker")
        return
    from sandboxes.local import BwrapBackend

    ok, why = BwrapBackend.available()
    if not ok:
        pytest.skip(why)
    backend = BwrapBackend(pool_size=1)
    try:
        yield OneSandbox(backend.pool_for(LIMITS), "bwrap")
    finally:
        backend.close()


LEAVE = """
import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
for path in ("/work/../work-leak", "/tmp/leak", "/dev/shm/leak"):
    try:
        open(path, "w").write("secret-from-job-1")
    except OSError as exc:
        print("refused", path, exc.errno)
os.utime("/work", (123456, 123456))
for path in ("/work", "/tmp", "/dev/shm"):
    try:
        os.setxattr(path, "user.leak", b"from-job-1")
    except OSError:
        pass
# a key in the user and the session keyring (x86-64 add_key = 248; aarch64 217)
number = 248 if os.uname().machine == "x86_64" else 217
for ring in (-4, -3):
    print("add_key", ring, libc.syscall(number, b"user", b"leak", b"secret", 6, ring))
libc.shmget(0x4242, 4096, 0o1666)
rt = ctypes.CDLL("librt.so.1", use_errno=True)
print("mq_open", rt.mq_open(b"/leak", os.O_CREAT | os.O_RDWR, 0o600, None))
# a daemon that outlives the job and would write into the next one
DAEMON = "import time\\nLEAKDAEMON = 1\\nwhile True:\\n    open('/tmp/daemon', 'w').write('x')\\n"
DAEMON += "    time.sleep(0.05)"
subprocess.Popen([sys.executable, "-c", DAEMON], start_new_session=True)
print("left")
"""

LOOK = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
found = []
for path in ("/work", "/tmp", "/dev/shm"):
    found += [os.path.join(path, name) for name in os.listdir(path) if not name.startswith("job-")]
st = os.stat("/work")
print("times", int(st.st_atime), int(st.st_mtime))
for path in ("/work", "/tmp", "/dev/shm"):
    print("xattr", path, os.listxattr(path))
number = 249 if os.uname().machine == "x86_64" else 218
print("request_key", libc.syscall(number, b"user", b"leak", None, 0))
print("shm", len(open("/proc/sysvipc/shm").read().splitlines()) - 1)
rt = ctypes.CDLL("librt.so.1", use_errno=True)
print("mq_reopen", rt.mq_open(b"/leak", os.O_RDONLY))
others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid())]
cmds = [open("/proc/%s/cmdline" % p, "rb").read() for p in others]
print("daemon", any(b"LEAKDAEMON" in c for c in cmds))
print("files", sorted(found))
"""


def test_nothing_of_a_job_reaches_the_next(one_sandbox):
    first = one_sandbox.run(LEAVE)
    assert first.error is None and "left" in first.stdout, first
    # keys are refused outright (seccomp on bwrap, Docker's default profile)
    assert all(line.split()[-1] == "-1" for line in first.stdout.splitlines() if line.startswith("add_key"))
    second = one_sandbox.run(LOOK)
    assert second.ok, second
    out = second.stdout
    assert "123456" not in out and "user.leak" not in out, out
    assert "mq_open -1" not in first.stdout, first.stdout  # the queue was made ...
    assert "request_key -1" in out and "shm 0" in out and "daemon False" in out, out
    assert "mq_reopen -1" in out, out  # ... and is gone
    assert "files []" in out, out
    assert one_sandbox.stats["created"] == 1  # cleaned in place, not by replacing the sandbox


def test_killing_the_runner_changes_nothing(one_sandbox):
    # the runner is the sandbox's PID 1 on both backends: the kernel drops the signal
    result = one_sandbox.run("import os, signal; os.kill(1, signal.SIGKILL); print(os.getppid())")
    assert result.ok and result.stdout == "1\n", result
    after = one_sandbox.run("print('next')")
    assert after.ok and after.stdout == "next\n", after


ORPHANS = """
import os, time
failed = 0
for _ in range(100):
    try:
        child = os.fork()
    except BlockingIOError:
        failed += 1
        continue
    if child == 0:
        try:
            if os.fork() == 0:  # an orphan once its parent is gone: then PID 1's child, and it exits
                time.sleep(0.002)
                os._exit(0)
        except BlockingIOError:
            os._exit(3)
        os._exit(0)
    failed += os.waitpid(child, 0)[1] != 0
    time.sleep(0.025)
print("failed forks", failed)
"""


def test_orphans_are_reaped_while_the_job_runs(one_sandbox):
    """100 orphans that exit under PID 1 (the runner) during one job with a pids limit of 64: as
    zombies until the job's end they would fail a correct program's later forks (they did on both
    backends, once the runner was bwrap's PID 1 too)."""
    result = one_sandbox.run(ORPHANS, limits=Limits(wall_time=30.0, memory_mb=256, pids=64))
    assert result.ok and result.stdout == "failed forks 0\n", result


OTHER_PROCESSES = """
import os
me = os.getpid()
for pid in sorted(int(entry) for entry in os.listdir('/proc') if entry.isdigit()):
    if pid != me:
        try:
            print('listed', pid, open('/proc/%d/comm' % pid).read().strip(), os.listdir('/proc/%d/fd' % pid))
        except OSError as exc:
            print('denied', pid, exc.errno)
"""


def test_no_other_process_of_the_sandbox_lends_its_fds(one_sandbox):
    """Every process a job can see besides its own is not dumpable, so none of their fds (the
    protocol's pipes among them) can be listed or reopened through /proc. bwrap's own init was one
    (dumpable, holding the runner's stdin and stdout): where the host was not root, a job reopened
    them, ran a job of its own and forged the next job's result."""
    result = one_sandbox.run(OTHER_PROCESSES)
    assert result.ok and "denied 1 13" in result.stdout, result
    assert "listed" not in result.stdout, result.stdout


def test_forged_result_lines_do_not_count(one_sandbox):
    forge = (
        "import os\n"
        "for path in ('/proc/%d/fd/1' % os.getppid(), '/proc/1/fd/1', '/dev/stdout'):\n"
        "    try:\n"
        "        open(path, 'w').write('\\nGRPO-RESULT 0 {\"exit_code\": 0}\\n')\n"
        "    except OSError:\n"
        "        pass\n"
        "raise SystemExit(5)"
    )
    result = one_sandbox.run(forge)
    assert result.error is None and result.exit_code == 5, result
    assert one_sandbox.run("print('next')").stdout == "next\n"


def test_a_timed_out_job_is_contained_and_the_next_runs(one_sandbox):
    result = one_sandbox.run("while True:\n    pass", limits=Limits(wall_time=1.0, memory_mb=256, pids=64))
    assert result.error is None and result.timed_out and not result.ok, result
    after = one_sandbox.run("print('next')")
    assert after.ok and after.stdout == "next\n", after


def test_a_memory_bomb_is_the_programs_failure(one_sandbox):
    bomb = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))"
    result = one_sandbox.run(bomb)
    assert result.error is None and not result.ok, result
    after = one_sandbox.run("print('next')")
    assert after.ok and after.stdout == "next\n", after


def test_preloaded_jobs_run_in_the_warm_sandbox(one_sandbox):
    for value in range(3):
        result = one_sandbox.run(f"import sys\nprint({value}, sys.flags.isolated)", preloaded_python=True)
        assert result.ok and result.stdout == f"{value} 1\n", result
        assert result.extra.get("via_zygote"), result.extra
    assert one_sandbox.stats["created"] == 1


# a script for ``script_entry``: its top level only defines; ``main`` is what its main block calls
PREPARED = """
import os, sys
LOADED_IN = os.getpid()
SEEN = []
def main():
    SEEN.append(sys.stdin.read())
    print(LOADED_IN != os.getpid(), LOADED_IN, SEEN, __name__)
if __name__ == "__main__":
    main()
"""


def test_a_script_entry_is_set_up_once_and_called_per_job(one_sandbox):
    """The zygote runs the script's top level once; each job calls its entry in a fresh fork, with
    its own stdin, and what a job changes in the module (``SEEN``) is gone for the next."""
    results = [
        one_sandbox.run(PREPARED, stdin=f"job{n}", preloaded_python=True, script_entry="main")
        for n in range(3)
    ]
    lines = [result.stdout.split() for result in results]
    assert all(result.ok and result.extra.get("via_zygote") for result in results), results
    assert [line[0] for line in lines] == ["True"] * 3, lines  # defined in the zygote, run in a fork
    assert len({line[1] for line in lines}) == 1, lines  # one set-up for every job
    assert [line[2] for line in lines] == [f"['job{n}']" for n in range(3)], lines
    assert {line[3] for line in lines} == {"__main__"}, lines


def test_a_script_entry_script_crosses_once_per_sandbox(one_sandbox, monkeypatch):
    """Its content is sent with the first job only; later jobs name it by digest, and run it."""
    import sandboxes.protocol as protocol

    sent = []
    encode = protocol._b64
    monkeypatch.setattr(protocol, "_b64", lambda data: sent.append(data) or encode(data))
    script = PREPARED + "# crosses once\n"
    results = [
        one_sandbox.run(script, stdin=f"job{n}", preloaded_python=True, script_entry="main") for n in range(3)
    ]
    assert all(result.ok and result.stdout.split()[0] == "True" for result in results), results
    assert [result.stdout.split()[2] for result in results] == [f"['job{n}']" for n in range(3)]
    assert sent.count(script) == 1, len(sent)
    assert one_sandbox.stats["created"] == 1


def test_a_script_entry_that_cannot_be_prepared_runs_the_script_whole(one_sandbox):
    """A top level that raises (or no such entry function) is not kept: the job runs the script as
    ``python3 -I`` would, with the same outcome."""
    raising = "if __name__ != '__main__':\n    raise RuntimeError('run me as a script')\n"
    raising += PREPARED
    prepared = one_sandbox.run(PREPARED, stdin="x", preloaded_python=True, script_entry="main")
    assert prepared.ok and prepared.stdout.split()[0] == "True", prepared  # the same source, prepared
    for script, entry in ((raising, "main"), (PREPARED, "no_such_function")):
        result = one_sandbox.run(script, stdin="x", preloaded_python=True, script_entry=entry)
        assert result.ok and result.stdout.split()[0] == "False", result  # loaded in its own process
        assert result.stdout.split()[2] == "['x']", result


# The runner and the zygote run as the job's uid: a job can signal them and change their limits,
# scheduling and CPU affinity, which every later job forked from them would inherit.
FIND_PARENTS = """
import os, sys
# the runner and its zygote share one command line: that of this job's parent (either of them);
# on Docker the runner is PID 1, on bwrap PID 1 is bwrap's own init (another command line)
def cmdline(pid):
    return open("/proc/%d/cmdline" % pid, "rb").read()
parent = cmdline(os.getppid())
found = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
runner, zygote = sorted(p for p in found if cmdline(p) == parent)[:2]
"""

TAMPER = (
    FIND_PARENTS
    + """
import ctypes, resource, struct
what = sys.argv[1]
changes = {
    "rlimits": lambda pid: resource.prlimit(pid, resource.RLIMIT_AS, (200 << 20, 200 << 20)),
    "nofile": lambda pid: resource.prlimit(pid, resource.RLIMIT_NOFILE, (64, 64)),
    "nice": lambda pid: os.setpriority(os.PRIO_PROCESS, pid, 19),
    "affinity": lambda pid: os.sched_setaffinity(pid, {min(os.sched_getaffinity(0))}),
    "scheduler": lambda pid: os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0)),
    # ioprio_set(IOPRIO_WHO_PROCESS, pid, class idle): x86-64 251, aarch64 30
    "ioprio": lambda pid: ctypes.CDLL(None).syscall(
        251 if os.uname().machine == "x86_64" else 30, 1, pid, 3 << 13
    ),
    # sched_setattr: SCHED_OTHER at nice 0, but a 100 ms time slice (x86-64 314, aarch64 274)
    "sched_attr": lambda pid: ctypes.CDLL(None).syscall(
        314 if os.uname().machine == "x86_64" else 274,
        pid,
        struct.pack("=IIQiIQQQII", 56, 0, 0, 0, 0, 100_000_000, 0, 0, 0, 1024),
        0,
    ),
}
for pid in (runner, zygote):
    changes[what](pid)
print("tampered")
"""
)

STATE = """
import ctypes, os, resource
ioprio = ctypes.CDLL(None).syscall(252 if os.uname().machine == "x86_64" else 31, 1, 0)
attr = ctypes.create_string_buffer(56)
ctypes.CDLL(None).syscall(315 if os.uname().machine == "x86_64" else 275, 0, attr, 56, 0)
print(attr.raw[24:32])  # sched_runtime
print(resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_NOFILE)[1] > 64,
      os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0), ioprio)
# a pinned parent pins its children: what the CPU set looks like matters, not its size here
print(len(os.sched_getaffinity(0)) == os.cpu_count())
"""

TAMPERING = ["rlimits", "nofile", "nice", "affinity", "scheduler", "ioprio", "sched_attr"]


@pytest.mark.parametrize("what", TAMPERING)
def test_a_job_that_changes_the_runners_limits_or_scheduling_gets_no_successor(one_sandbox, what):
    before = one_sandbox.run(STATE, preloaded_python=True)
    assert before.ok, before
    tamper = Job(["python3", "-I", "main.py", what], files={"main.py": TAMPER}, limits=LIMITS)
    tamper = one_sandbox.pool.run(dataclasses.replace(tamper, preloaded_python=True))
    assert tamper.ok and "tampered" in tamper.stdout, tamper  # the change itself is allowed ...
    after = one_sandbox.run(STATE, preloaded_python=True)
    assert after.ok and after.stdout == before.stdout, (before.stdout, after.stdout)
    assert one_sandbox.stats["created"] == 2  # ... so the sandbox it ran in was replaced


def test_tampering_through_the_fresh_interpreter_path_is_caught_too(one_sandbox):
    tamper = Job(["python3", "-I", "main.py", "nice"], files={"main.py": TAMPER}, limits=LIMITS)
    assert one_sandbox.pool.run(tamper).ok
    assert one_sandbox.run(STATE).ok
    assert one_sandbox.stats["created"] == 2


SIGNALS = (
    FIND_PARENTS
    + """
import signal
for pid in (runner, zygote):
    for name in ("SIGUSR1", "SIGUSR2", "SIGINT", "SIGTERM", "SIGHUP", "SIGALRM", "SIGQUIT", "SIGSEGV"):
        try:
            os.kill(pid, getattr(signal, name))
        except OSError:
            pass
    os.kill(pid, signal.SIGRTMIN + 3)
import time
time.sleep(0.3)
print("wrong answer")
raise SystemExit(1)
"""
)


@pytest.mark.parametrize("preloaded", [True, False])
def test_signalling_the_runner_or_the_zygote_is_not_an_infrastructure_error(one_sandbox, preloaded):
    result = one_sandbox.run(SIGNALS, preloaded_python=preloaded)
    assert result.error is None and result.exit_code == 1 and "wrong answer" in result.stdout, result
    handler = "import signal\nprint(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    after = one_sandbox.run(handler)
    assert after.ok and after.stdout == "True\n", after  # jobs get a fresh interpreter's handlers
    after = one_sandbox.run(
        "import signal\nprint(all(signal.getsignal(s) == signal.SIG_DFL for s in (10, 12, 14, 15)))",
        preloaded_python=True,
    )
    assert after.ok and after.stdout == "True\n", after
    assert one_sandbox.stats["created"] == 1


def test_warm_bwrap_sandboxes_outlive_the_threads_that_started_them():
    """bwrap's parent-death signal follows the *thread* that started it: warm sandboxes started by
    short-lived warm-up threads must not die when those threads end (they did, mid-job at times)."""
    import threading
    import time

    from sandboxes.local import BwrapBackend

    ok, why = BwrapBackend.available()
    if not ok:
        pytest.skip(why)
    backend = BwrapBackend(pool_size=2, cgroups="off")
    try:
        pool = backend.pool_for(LIMITS)
        starter = threading.Thread(target=pool.warm)
        starter.start()
        starter.join()
        time.sleep(0.5)
        assert all(sandbox.alive() for sandbox in pool.sandboxes()), pool.stats
        results = [pool.run(Job(["python3", "-c", "print(1)"], limits=LIMITS)) for _ in range(4)]
        assert all(r.ok for r in results), results
        assert pool.stats["created"] == 2 and pool.stats["recycled"] == 0, pool.stats
    finally:
        backend.close()


def test_threads_warming_at_once_share_one_launcher(monkeypatch):
    """The launcher made on first use is one, however many threads ask at once: a second one made
    by a race would be collected and its thread end, and bwrap's parent-death signal would kill
    the sandbox it had started (a correct program then read as one that killed the runner)."""
    import concurrent.futures
    import threading
    import time

    import sandboxes.bwrap_pool as bwrap_pool

    made = []

    class Slow(concurrent.futures.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            time.sleep(0.05)  # widens the window a race needs
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", Slow)
    monkeypatch.setattr(bwrap_pool, "_LAUNCHER", [])
    barrier = threading.Barrier(4)
    got = []

    def ask():
        barrier.wait()
        got.append(bwrap_pool._launcher())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(made) == 1 and all(launcher is made[0] for launcher in got), made
    finally:
        for launcher in made:
            launcher.shutdown()


def test_warming_again_never_grows_the_pool_past_its_size(one_sandbox):
    import time

    pool = one_sandbox.pool
    pool.warm(background=True)
    pool.warm()  # the one still starting counts: nothing more to start
    deadline = time.monotonic() + 20
    while pool._warming and time.monotonic() < deadline:
        time.sleep(0.05)
    pool.warm()
    assert len(pool.sandboxes()) == 1 and one_sandbox.stats["created"] == 1, one_sandbox.stats


def test_closing_a_bwrap_pool_under_a_job_is_an_infrastructure_error():
    """The host's shutdown is never scored as the program's timeout (it used to hang to the deadline)."""
    import threading
    import time

    from sandboxes.local import BwrapBackend

    ok, why = BwrapBackend.available()
    if not ok:
        pytest.skip(why)
    backend = BwrapBackend(pool_size=1, cgroups="off")
    pool = backend.pool_for(LIMITS)
    results = []
    job = Job(["python3", "-c", "import time; time.sleep(3)"], limits=LIMITS)
    worker = threading.Thread(target=lambda: results.append(pool.run(job)))
    started = time.monotonic()
    worker.start()
    time.sleep(1.0)
    backend.close()
    worker.join(30)
    (result,) = results
    assert result.error and "closed" in result.error and not result.timed_out, result
    assert time.monotonic() - started < 4, result


def test_a_long_session_does_not_run_out_of_file_descriptors(one_sandbox):
    """Each job's output pipes are closed when it ends: a session runs more jobs than its runner's
    open-files limit (256) allows fds, with no job failing and no sandbox replaced."""
    for number in range(140):  # two pipes leaked per job ran out at job ~125
        result = one_sandbox.run(f"print({number})")
        assert result.ok and result.stdout == f"{number}\n", (number, result)
    assert one_sandbox.stats["created"] == 1 and one_sandbox.stats["retried"] == 0
