"""The hostile suite: each attack is contained, the host is unaffected and the next job runs fine.

Docker runs it on a dedicated one-container pool, so the follow-up job lands in the very container the
attack ran in (or in its recycled replacement); bwrap runs the same attacks where it applies.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sandboxes import Job, Limits

LIMITS = Limits(wall_time=3.0, memory_mb=256, pids=64, output_bytes=1 << 20)
SECRET = "GRPO_HOSTILE_SECRET"
CANARY = Path("/tmp/grpo-hostile-canary")

ATTACKS = {
    "fork_bomb_python": (
        ["python3", "main.py"],
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
    ),
    "fork_bomb_shell": (["sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 10"], ""),
    "memory_bomb": (
        ["python3", "main.py"],
        "blocks = []\nwhile True:\n    blocks.append(bytearray(64 << 20))",
    ),
    "infinite_loop": (["python3", "main.py"], "while True:\n    pass"),
    "stdout_flood_1gb": (
        ["python3", "main.py"],
        "import os\nblock = b'x' * (1 << 20)\nfor _ in range(1024):\n    os.write(1, block)",
    ),
    "network_attempt": (
        ["python3", "main.py"],
        "import socket\nfor host in [('1.1.1.1', 53), ('8.8.8.8', 443), ('example.com', 80)]:\n"
        "    try:\n        socket.create_connection(host, timeout=1)\n        print('CONNECTED', host)\n"
        "    except OSError as exc:\n        print('blocked', host, exc)",
    ),
    "writes_outside_work_dir": (
        ["python3", "main.py"],
        "import os\nfor path in ['/etc/pwned', '/usr/pwned', '/pwned', '../pwned', '/work/pwned', "
        f"'{CANARY}', '/tmp/leak-to-next-job', '/dev/shm/leak-to-next-job']:\n"
        "    try:\n        open(path, 'w').write('pwned')\n        print('WROTE', path)\n"
        "    except OSError as exc:\n        print('refused', path)",
    ),
    "read_host_files_and_env": (
        ["python3", "main.py"],
        "import os\n"
        f"print('SECRET' if '{SECRET}' in os.environ else 'no secret')\n"
        "for path in ['/etc/shadow', '/root/.bash_history', '/work/main/pyproject.toml', "
        f"'{CANARY}', '/proc/1/environ', '/var/run/docker.sock']:\n"
        "    try:\n        data = open(path, 'rb').read()\n"
        f"        print('READ', path, b'{SECRET}' in data or b'hostile-canary' in data)\n"
        "    except OSError:\n        print('denied', path)",
    ),
    "background_processes": (
        ["python3", "main.py"],
        "import os, subprocess\n"
        "subprocess.Popen(['python3', '-c', 'import time; time.sleep(3600)  # grpo-daemon'],\n"
        "                 start_new_session=True)\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        import time\n        time.sleep(3600)\n    os._exit(0)\nprint('spawned')",
    ),
    "sleep_past_limit": (["python3", "main.py"], "import time\ntime.sleep(120)"),
    "kill_pid_1": (
        ["python3", "main.py"],
        "import os, signal\nfor sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
        "    try:\n        os.kill(1, sig)\n        print('sent', sig)\n    except OSError as exc:\n"
        "        print('refused', sig, exc)",
    ),
}

# the runner's zygote (a fork of the runner: same command line) is infrastructure, not a leftover
FOLLOW_UP = (
    "import os\nleft = []\nrunner = open('/proc/%d/cmdline' % os.getppid(), 'rb').read()\n"
    "for pid in os.listdir('/proc'):\n"
    "    if pid.isdigit() and int(pid) not in (os.getpid(), os.getppid(), 1):\n"
    "        try:\n            cmd = open('/proc/%s/cmdline' % pid, 'rb').read()\n        except OSError:\n"
    "            continue\n        if cmd == runner:\n            continue\n"
    "        if b'sleep' in cmd or b'main.py' in cmd or b'bomb' in cmd:\n"
    "            left.append(cmd)\n"
    "leaks = [p for p in ('/tmp/leak-to-next-job', '/dev/shm/leak-to-next-job', '/work/pwned', '../pwned', "
    f"'{CANARY}') if os.path.exists(p)]\n"
    "print('clean' if not left and not leaks else 'DIRTY %r %r' % (left, leaks))\n"
)


def judge(name: str, result) -> None:
    """The attack's own result: contained (and reported as a program outcome, not a sandbox error)."""
    assert result.error is None, result
    out = result.stdout
    if name.startswith("fork_bomb") or name in ("infinite_loop", "sleep_past_limit"):
        assert result.timed_out or result.exit_code != 0
        assert result.elapsed < LIMITS.wall_time + 5
    elif name == "memory_bomb":
        assert result.exit_code != 0 and not result.timed_out or result.timed_out
    elif name == "stdout_flood_1gb":
        assert result.stdout_truncated and len(out) <= LIMITS.output_bytes
        assert result.elapsed < LIMITS.wall_time + 5
    elif name == "network_attempt":
        assert "CONNECTED" not in out and out.count("blocked") == 3
    elif name == "writes_outside_work_dir":
        wrote = [line for line in out.splitlines() if line.startswith("WROTE")]
        # only the sandbox's own scratch space is writable; it is wiped after the job
        scratch = ("/tmp/", "/dev/shm/", "/work/", "../pwned")
        assert all(any(p in line for p in scratch) for line in wrote), out
    elif name == "read_host_files_and_env":
        assert "no secret" in out and "True" not in out, out
    elif name == "background_processes":
        assert "spawned" in out
    elif name == "kill_pid_1":
        pass  # PID 1 ignores signals from inside; if it did die, the pool must recover (follow-up)


def run_suite(run, follow_up_ok=True) -> None:
    os.environ[SECRET] = "hostile-secret-value"
    CANARY.write_text("hostile-canary")
    try:
        for name, (command, program) in ATTACKS.items():
            files = {"main.py": program} if program else {}
            started = time.monotonic()
            result = run(Job(command, files=files, limits=LIMITS))
            judge(name, result)
            after = run(Job(["python3", "check.py"], files={"check.py": FOLLOW_UP}, limits=LIMITS))
            assert after.ok, (name, after)
            assert after.stdout.strip() == "clean", (name, after.stdout)
            assert time.monotonic() - started < 60
            # the host is unaffected: files intact, can still start processes
            assert CANARY.read_text() == "hostile-canary"
            assert not Path("/etc/pwned").exists() and not Path("/pwned").exists()
            assert os.system("true") == 0
    finally:
        CANARY.unlink(missing_ok=True)
        os.environ.pop(SECRET, None)


def test_hostile_suite_docker(dedicated_pool, our_containers):
    pool = dedicated_pool(size=1, pids=LIMITS.pids, memory_mb=LIMITS.memory_mb)
    seen: set[str] = set()

    def run(job):
        result = pool.run(job)
        seen.update(pool.container_ids())
        return result

    run_suite(run)
    assert pool.stats["jobs"] == 2 * len(ATTACKS)
    assert len(pool.container_ids()) <= 1
    pool.close()
    deadline = time.monotonic() + 15
    while our_containers(seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert our_containers(seen) == [], "containers left behind"


def test_hostile_suite_bwrap(bwrap_backend):
    run_suite(bwrap_backend.run)


@pytest.mark.parametrize(
    "name", ["fork_bomb_python", "memory_bomb", "stdout_flood_1gb", "background_processes"]
)
def test_hostile_concurrent_with_honest_jobs(docker_backend, name):
    """An attack running next to honest jobs does not disturb them."""
    import concurrent.futures

    command, program = ATTACKS[name]
    honest = Job(["python3", "-c", "print(sum(range(1000)))"], limits=LIMITS)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        attack = pool.submit(docker_backend.run, Job(command, files={"main.py": program}, limits=LIMITS))
        honest_results = list(pool.map(docker_backend.run, [honest] * 6))
        judge(name, attack.result())
    assert all(r.ok and r.stdout.strip() == "499500" for r in honest_results)


def test_killing_the_exec_runner_is_a_program_failure(dedicated_pool):
    """Exec mode: a program that kills its runner (same user) fails; it does not get an
    infrastructure error."""
    pool = dedicated_pool(size=1, pids=71)
    pool.mode = "exec"
    result = pool.run(Job(["python3", "-c", "import os; os.kill(os.getppid(), 9)"], limits=LIMITS))
    assert result.error is None and result.exit_code == 137 and not result.ok, result
    assert pool.run(Job(["python3", "-c", "print('ok')"], limits=LIMITS)).ok


SIGNAL_PID1 = """
import ctypes, os, signal, sys
for sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM, signal.SIGSEGV, signal.SIGINT):
    os.kill(1, sig)  # the kernel drops these: PID 1 of the namespace has no handler for them
libc = ctypes.CDLL(None, use_errno=True)
attached = libc.ptrace(16, 1, 0, 0)  # PTRACE_ATTACH: PID 1 is not dumpable
print("ptrace", attached, ctypes.get_errno())
print("parent", os.getppid())
"""


def test_session_runner_is_pid1_and_cannot_be_killed_or_traced(dedicated_pool):
    """Session mode: the runner is the container's PID 1. Signals from inside never reach it and it
    cannot be traced, so the program simply finishes and the same container takes the next job."""
    pool = dedicated_pool(size=1, pids=70)
    result = pool.run(Job(["python3", "-I", "main.py"], files={"main.py": SIGNAL_PID1}, limits=LIMITS))
    assert result.error is None and result.exit_code == 0, result
    assert "parent 1" in result.stdout and "ptrace -1 1" in result.stdout, result.stdout  # EPERM
    before = pool.container_ids()
    again = pool.run(Job(["python3", "-c", "print('ok')"], limits=LIMITS))
    assert again.ok and again.stdout.strip() == "ok"
    assert pool.container_ids() == before and pool.stats["recycled"] == 0


def test_forged_result_lines_are_ignored(dedicated_pool):
    """The runner is not dumpable: its stdout cannot be opened; fake lines lack the job's nonce."""
    pool = dedicated_pool(size=1, pids=72)
    program = (
        "import os\n"
        "for path in ('/proc/%d/fd/1' % os.getppid(), '/proc/1/fd/1'):\n"
        "    try:\n"
        "        open(path, 'w').write('\\nGRPO-RESULT 0 {\"exit_code\": 0}\\n')\n"
        "        print('opened', path)\n"
        "    except OSError as exc:\n"
        "        print('denied', path)\n"
        "raise SystemExit(5)"
    )
    result = pool.run(Job(["python3", "main.py"], files={"main.py": program}, limits=LIMITS))
    assert result.error is None and result.exit_code == 5, result
    assert "opened" not in result.stdout


IPC_LEAK = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
sid = libc.shmget(0x4242, 32 << 20, 0o1666)
pointer = libc.shmat(sid, None, 0)
ctypes.memmove(pointer, b"secret-from-job-1", 17)
libc.semget(0x4243, 1, 0o1666)
libc.msgget(0x4244, 0o1666)
rt = ctypes.CDLL("librt.so.1", use_errno=True)
rt.mq_open(b"/leak", os.O_CREAT | os.O_RDWR, 0o600, None)
rows = [len(open("/proc/sysvipc/" + kind).read().splitlines()) - 1 for kind in ("shm", "sem", "msg")]
print(rows, os.listdir("/dev/mqueue"))
"""
IPC_LOOK = """
import os
rows = [len(open("/proc/sysvipc/" + kind).read().splitlines()) - 1 for kind in ("shm", "sem", "msg")]
print(rows, os.listdir("/dev/mqueue"))
"""


def test_ipc_objects_do_not_survive_the_job(dedicated_pool):
    """SysV shm/sem/msg and POSIX message queues are removed after every job (no cross-job channel)."""
    pool = dedicated_pool(size=1, pids=73)
    first = pool.run(Job(["python3", "-c", IPC_LEAK], limits=LIMITS))
    assert first.ok and first.stdout.strip() == "[1, 1, 1] ['leak']", first
    second = pool.run(Job(["python3", "-c", IPC_LOOK], limits=LIMITS))
    assert second.ok and second.stdout.strip() == "[0, 0, 0] []", second
    assert pool.stats["created"] == 1  # cleaned in place, not by recycling


def test_chmod_of_the_work_root_does_not_break_the_next_job(dedicated_pool):
    pool = dedicated_pool(size=1, pids=74)
    assert pool.run(Job(["python3", "-c", "import os; os.chmod('/work', 0o500)"], limits=LIMITS)).ok
    for _ in range(2):
        result = pool.run(Job(["python3", "-c", "print('innocent')"], limits=LIMITS))
        assert result.error is None and result.stdout == "innocent\n", result
    assert pool.stats["created"] == 1 and pool.stats["retried"] == 0


def test_a_job_failing_before_the_program_starts_is_retried_on_a_fresh_container(dedicated_pool):
    pool = dedicated_pool(size=1, pids=75)
    assert pool.run(Job(["true"], limits=LIMITS)).ok
    (broken,) = pool.container_ids()
    # something outside the job fills the work tmpfs: the next job's files cannot be written
    fill = ["sh", "-c", "for i in 1 2 3; do head -c 64M /dev/zero > /work/fill$i; done"]
    pool.client.api.exec_start(pool.client.api.exec_create(broken, fill, user="1000:1000")["Id"])
    job = Job(["python3", "main.py"], files={"main.py": "print('innocent')"}, limits=LIMITS)
    result = pool.run(job)
    assert result.error is None and result.stdout == "innocent\n", result
    assert pool.stats["retried"] == 1 and broken not in pool.container_ids()


def test_ipc_objects_the_runner_cannot_remove_recycle_the_container(dedicated_pool):
    pool = dedicated_pool(size=1, pids=76)
    assert pool.run(Job(["true"], limits=LIMITS)).ok
    (container,) = pool.container_ids()
    root_shm = ["python3", "-c", "import ctypes; ctypes.CDLL(None).shmget(0x77, 4096, 0o1600)"]
    pool.client.api.exec_start(pool.client.api.exec_create(container, root_shm, user="0")["Id"])
    assert pool.run(Job(["true"], limits=LIMITS)).ok
    assert container not in pool.container_ids() and pool.stats["recycled"] >= 1


ORPHANS = """
import os, time
for _ in range(40):  # each grandchild outlives its parent: orphaned onto PID 1, where it exits
    if os.fork() == 0:
        if os.fork() == 0:
            os._exit(0)
        os._exit(0)
    os.wait()
time.sleep(0.2)
print("made 40")
"""

COUNT_ZOMBIES = """
import os, time
time.sleep(0.3)  # the zygote reaps while idle, within 50 ms
states = []
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        states.append(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0])
    except OSError:
        pass
print('zombies', states.count('Z'))
"""


def test_session_runner_reaps_orphans_between_jobs(dedicated_pool):
    """As PID 1 the runner inherits every orphan: it reaps them after each job, so three jobs of 40
    orphans each fit a 70-pid container, and the next job finds no zombie."""
    pool = dedicated_pool(size=1, pids=73)
    for _ in range(3):
        result = pool.run(Job(["python3", "-I", "main.py"], files={"main.py": ORPHANS}, limits=LIMITS))
        assert result.ok and result.stdout.strip() == "made 40", result
    census = pool.run(Job(["python3", "-I", "main.py"], files={"main.py": COUNT_ZOMBIES}, limits=LIMITS))
    assert census.ok and census.stdout.strip() == "zombies 0", census
    assert pool.stats["recycled"] == 0


# A process whose leader thread exits by raw SYS_exit reads as a zombie in /proc/PID/stat while its
# other threads run on; it must still be killed after the job (it was skipped as a zombie).
HIDDEN_THREAD = """
import ctypes, os, threading, time
def daemon():
    ctypes.CDLL(None).prctl(15, b"LEAKDAEMON", 0, 0, 0)  # PR_SET_NAME: this thread's comm
    while True:
        time.sleep(0.05)
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()  # out of the job's session: only the kill-everything sweep can find it
    threading.Thread(target=daemon).start()
    os.write(w, b"1")
    time.sleep(0.05)
    ctypes.CDLL(None).syscall(60 if os.uname().machine == "x86_64" else 93, 0)  # SYS_exit: leader only
os.read(r, 1)
time.sleep(0.2)
print("planted")
"""

FIND_DAEMON = """
import os
found = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            if open(f"/proc/{pid}/task/{tid}/comm", "rb").read().strip() == b"LEAKDAEMON":
                found.append(tid)
    except OSError:
        pass
print("daemon", bool(found))
"""


@pytest.mark.parametrize("backend", ["docker", "bwrap"])
def test_a_thread_behind_a_zombie_leader_is_killed(backend, dedicated_pool):
    pool = _one_pool(backend, dedicated_pool, pids=74)
    planted = pool.run(Job(["python3", "-I", "main.py"], files={"main.py": HIDDEN_THREAD}, limits=LIMITS))
    assert planted.error is None and "planted" in planted.stdout, planted
    look = pool.run(Job(["python3", "-I", "main.py"], files={"main.py": FIND_DAEMON}, limits=LIMITS))
    assert look.ok and look.stdout.strip() == "daemon False", look


def _one_pool(backend, dedicated_pool, pids):
    if backend == "docker":
        return dedicated_pool(size=1, pids=pids)
    from sandboxes.local import BwrapBackend

    ok, why = BwrapBackend.available()
    if not ok:
        pytest.skip(why)
    backend_ = BwrapBackend(pool_size=1)
    _BWRAP.append(backend_)
    return backend_.pool_for(LIMITS)


_BWRAP: list = []


@pytest.fixture(autouse=True)
def _close_bwrap_backends():
    yield
    while _BWRAP:
        _BWRAP.pop().close()


def _detached(name: str) -> str:
    """Program text that starts a detached process named ``name`` (a bytes literal) which outlives
    the job unless the runner's sweep kills it."""
    return f"""
import ctypes, os, time
if os.fork() == 0:
    os.setsid()
    ctypes.CDLL(None).prctl(15, {name}, 0, 0, 0)
    time.sleep(30)
    os._exit(0)
"""


# A process name that is not UTF-8 (its own, or one it writes to another's /proc/PID/comm) once
# made the runner's process scan raise: the program's job became an infrastructure error.
ODD_NAME = (
    _detached(r'b"\xff\xfe"')
    + """
time.sleep(0.2)
print("wrong answer")
raise SystemExit(1)
"""
)

# clone(CLONE_PARENT) makes the job's children children of its parent (the zygote): they must not
# stay zombies there, holding the container's pids for every later job.
ZYGOTE_ZOMBIES = """
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
number = 56 if os.uname().machine == "x86_64" else 220
made = 0
for _ in range(40):
    pid = libc.syscall(number, 0x8000 | 17, 0, 0, 0, 0)  # CLONE_PARENT | SIGCHLD
    if pid == 0:
        os._exit(0)
    made += pid > 0
print("made", made)
"""


@pytest.mark.parametrize("backend", ["docker", "bwrap"])
def test_a_process_name_that_is_not_utf8_is_the_programs_business(backend, dedicated_pool):
    pool = _one_pool(backend, dedicated_pool, pids=76)
    result = pool.run(Job(["python3", "-I", "main.py"], files={"main.py": ODD_NAME}, limits=LIMITS))
    assert result.error is None and result.exit_code == 1 and "wrong answer" in result.stdout, result
    assert pool.run(Job(["python3", "-c", "print('next')"], limits=LIMITS)).ok


@pytest.mark.parametrize("backend", ["docker", "bwrap"])
def test_children_given_to_the_zygote_are_reaped(backend, dedicated_pool):
    import dataclasses

    pool = _one_pool(backend, dedicated_pool, pids=77)
    zombies = Job(["python3", "-I", "main.py"], files={"main.py": ZYGOTE_ZOMBIES}, limits=LIMITS)
    zombies = dataclasses.replace(zombies, preloaded_python=True)
    for _ in range(3):  # 3 x 40 children would exhaust 64 pids if they stayed
        result = pool.run(zombies)
        assert result.ok and result.stdout.strip() == "made 40", result
    census = pool.run(Job(["python3", "-I", "main.py"], files={"main.py": COUNT_ZOMBIES}, limits=LIMITS))
    assert census.ok and census.stdout.strip() == "zombies 0", census


# The kernel may still kill the runner (PID 1) on a job's behalf: here by a CPU limit the job set on
# it (same uid). That ends the container; it is the program's failure, not the infrastructure's.
LIMIT_PID1 = """
import os, resource
resource.prlimit(1, resource.RLIMIT_CPU, (1, 1))
os.mkdir("d")
# the runner pays for their removal (~0.5 s of its CPU per 100,000 here) and for every write below
# (~0.25 s per 450,000): ~2.7 s in all, well past the 1 s (120,000 and 450,000 came to ~1.0 s once
# the runner's clean-up got faster, and the test passed or failed by the machine's speed)
for i in range(360000):
    open("d/%d" % i, "w").close()
for i in range(900000):
    os.write(1 + (i & 1), b"x")
print("wrong answer")
raise SystemExit(1)
"""


def test_a_runner_killed_by_a_limit_the_program_set_is_the_programs_failure(dedicated_pool):
    pool = dedicated_pool(size=1, pids=78)
    limits = Limits(wall_time=15.0, memory_mb=512, pids=64, output_bytes=1 << 20)
    result = pool.run(Job(["python3", "-I", "main.py"], files={"main.py": LIMIT_PID1}, limits=limits))
    assert result.error is None and result.exit_code == 137 and not result.ok, result
    assert pool.run(Job(["python3", "-c", "print('next')"], limits=LIMITS)).ok


# Memory a job leaves charged after it exits (a SysV shared-memory segment filled to the limit)
# got the runner (PID 1) OOM-killed during its clean-up: the program's failure, never an error.
SHM_TO_THE_LIMIT = """
import ctypes, os
for usage, limit in (("memory/memory.usage_in_bytes", "memory/memory.limit_in_bytes"),
                     ("memory.current", "memory.max")):
    if os.path.exists("/sys/fs/cgroup/" + usage):
        break
usage, limit = "/sys/fs/cgroup/" + usage, int(open("/sys/fs/cgroup/" + limit).read())
for _ in range(16):  # ~1 MiB on each stream: the runner holds it and later copies it
    os.write(1, b"y" * 65536)
    os.write(2, b"y" * 65536)
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
size = 600 << 20
addr = libc.shmat(libc.shmget(0, ctypes.c_size_t(size), 0o1600), None, 0)
pages = (ctypes.c_char * size).from_address(addr)
offset = 0
while offset < size and (offset % (1 << 20) or int(open(usage).read()) < limit - (1 << 20)):
    pages[offset] = b"x"
    offset += 4096
os._exit(1)
"""


def test_memory_a_job_leaves_charged_is_the_programs_failure(dedicated_pool):
    import dataclasses

    pool = dedicated_pool(size=1, pids=79)
    job = Job(["python3", "-I", "main.py"], files={"main.py": SHM_TO_THE_LIMIT}, limits=LIMITS)
    result = pool.run(dataclasses.replace(job, preloaded_python=True))
    assert result.error is None and not result.ok, result
    assert pool.run(Job(["python3", "-c", "print('next')"], limits=LIMITS)).ok


# A job lowered the runner's open-files limit (same uid) so that its /proc sweep could open nothing
# and reported all clear while a detached process lived on.
BLIND_THE_SWEEP = (
    _detached('b"LEAKDAEMON"')
    + """
import resource
soft, hard = resource.prlimit(1, resource.RLIMIT_NOFILE)
resource.prlimit(1, resource.RLIMIT_NOFILE, (0, hard))
print("blinded")
"""
)


def test_a_runner_with_its_open_files_limit_lowered_still_sweeps(dedicated_pool):
    pool = dedicated_pool(size=1, pids=80)
    job = Job(["python3", "-I", "main.py"], files={"main.py": BLIND_THE_SWEEP}, limits=LIMITS)
    result = pool.run(job)
    assert result.error is None and "blinded" in result.stdout, result
    look = pool.run(Job(["python3", "-I", "main.py"], files={"main.py": FIND_DAEMON}, limits=LIMITS))
    assert look.ok and look.stdout.strip() == "daemon False", look
    assert pool.stats["created"] == 1  # swept and restored in place, not only discarded


# A job lowered the runner's address-space limit (same uid): the runner's next allocation (buffering
# the job's output) failed and the job became an infrastructure error. With the hard limit lowered
# too nothing can restore it: the job must still end as the program's failure, never an error.
STARVE_THE_RUNNER = """
import os, resource, sys
runner = os.getppid()  # not preloaded: the runner started this process itself
soft, hard = resource.prlimit(runner, resource.RLIMIT_AS)
resource.prlimit(runner, resource.RLIMIT_AS, (0, hard if sys.argv[1] == "soft" else 0))
for _ in range(100):
    os.write(1, b"x" * 4096)
print("wrong answer")
"""


@pytest.mark.parametrize("which", ["soft", "hard"])
@pytest.mark.parametrize("backend", ["docker", "bwrap"])
def test_a_runner_starved_of_memory_is_the_programs_failure(backend, which, dedicated_pool):
    pool = _one_pool(backend, dedicated_pool, pids=82)
    job = Job(["python3", "-I", "main.py", which], files={"main.py": STARVE_THE_RUNNER}, limits=LIMITS)
    result = pool.run(job)
    assert result.error is None, result
    if which == "hard":  # the runner cannot take the output any more: the program failed
        assert not result.ok and result.exit_code == 137, result
    after = pool.run(Job(["python3", "-c", "print('next')"], limits=LIMITS))
    assert after.ok and after.stdout == "next\n", after
