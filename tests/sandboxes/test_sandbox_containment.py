"""Containment findings of the second hostile suite, each a regression test (Docker and bwrap).

bwrap: memory is the job's total (children included), the writable file systems are size-capped,
PID 1 cannot be traced, a CPU quota holds, a pids cap holds. Docker: nothing a job leaves on ``/work``
itself (times, extended attributes) reaches the next job. Both: a directory tree too deep for a
recursive clean-up is a program outcome, never a sandbox error, and the next job runs normally.
"""

from __future__ import annotations

import pytest

from sandboxes import Job, Limits

LIMITS = Limits(wall_time=8.0, memory_mb=256, pids=64, output_bytes=1 << 20)

CHILDREN_MEMORY = """
import os, time
kids = []
for _ in range(5):
    pid = os.fork()
    if pid == 0:
        block = bytearray(100 << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(1)
        os._exit(0)
    kids.append(pid)
print("survived", sum(os.waitpid(k, 0)[1] == 0 for k in kids))
"""

FILL_FILESYSTEMS = """
import os
for path in ("/work/fill", "/tmp/fill", "/dev/shm/fill", "/dev/fill"):
    written = 0
    for n in range(40):
        try:
            with open(f"{path}{n}", "wb") as handle:
                handle.write(b"x" * (16 << 20))
            written += 16
        except OSError:
            break
    print(path, written)
"""

PTRACE_PID1 = """
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
for pid in (1, os.getppid()):
    for request in (16, 0x4206):  # PTRACE_ATTACH, PTRACE_SEIZE
        print("ptrace", pid, request, libc.ptrace(request, pid, 0, 0), ctypes.get_errno())
for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):
    try:
        os.kill(1, sig)
    except OSError:
        pass
print("still here")
"""

DEEP_TREE = """
import os
for _ in range(1500):
    os.mkdir("d")
    os.chdir("d")
os.chmod(".", 0)
print("deep")
"""

MANY_PROCESSES = """
import os, time
count = 0
for _ in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(3)
        os._exit(0)
    count += 1
print("forked", count)
"""


def _bwrap(cgroups: bool = True):
    from sandboxes.local import BwrapBackend

    ok, why = BwrapBackend.available()
    if not ok:
        pytest.skip(why)
    backend = BwrapBackend()
    if cgroups and backend.cgroups is None:
        pytest.skip(f"no per-job cgroups here: {backend.cgroup_problem}")
    return backend


def test_bwrap_memory_counts_every_process_of_the_job():
    result = _bwrap().run(Job(["python3", "-c", CHILDREN_MEMORY], limits=LIMITS))
    assert result.error is None, result
    survived = int(result.stdout.split()[-1])
    assert survived <= 2, result.stdout  # 5 x 100 MB never fit in 256 MB together


def test_bwrap_writable_filesystems_are_size_capped():
    result = _bwrap(cgroups=False).run(
        Job(["python3", "-c", FILL_FILESYSTEMS], limits=Limits(wall_time=20.0, memory_mb=2048))
    )
    assert result.error is None, result
    written = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())
    assert int(written["/work/fill"]) <= 128 and int(written["/tmp/fill"]) <= 64, written
    assert int(written["/dev/shm/fill"]) <= 64 and int(written["/dev/fill"]) == 0, written


def test_bwrap_pid1_cannot_be_traced():
    backend = _bwrap(cgroups=False)
    result = backend.run(Job(["python3", "-c", PTRACE_PID1], limits=LIMITS))
    assert result.error is None and "still here" in result.stdout, result
    assert all(line.split()[3] == "-1" for line in result.stdout.splitlines() if line.startswith("ptrace"))
    assert backend.run(Job(["python3", "-c", "print('next')"], limits=LIMITS)).stdout == "next\n"


def test_bwrap_cpu_quota_throttles():
    busy = "import time\nend = time.monotonic() + 1.5\nwhile time.monotonic() < end:\n    pass"
    result = _bwrap().run(Job(["python3", "-c", busy], limits=Limits(wall_time=10.0, cpus=0.2)))
    assert result.ok, result
    assert result.extra["cgroup"].get("cpu.nr_throttled", 0) > 0, result.extra


def test_bwrap_pids_cap_holds_as_root_and_not():
    result = _bwrap().run(Job(["python3", "-c", MANY_PROCESSES], limits=Limits(wall_time=10.0, pids=32)))
    assert result.error is None, result
    assert int(result.stdout.split()[-1]) < 40, result.stdout


def test_bwrap_limitations_are_stated_without_cgroups():
    from sandboxes.local import BwrapBackend

    if not BwrapBackend.available()[0]:
        pytest.skip("bwrap is not installed")
    backend = BwrapBackend(cgroups="off")
    text = " ".join(backend.limitations())
    assert "memory_mb" in text and "cpus" in text and "pids" in text


def test_deep_trees_are_a_program_outcome_bwrap():
    backend = _bwrap(cgroups=False)
    result = backend.run(Job(["python3", "-c", DEEP_TREE], limits=LIMITS))
    assert result.error is None and result.stdout == "deep\n", result
    assert backend.run(Job(["python3", "-c", "print('next')"], limits=LIMITS)).stdout == "next\n"


def test_deep_trees_are_a_program_outcome_docker(dedicated_pool):
    pool = dedicated_pool(size=1, pids=77)
    result = pool.run(Job(["python3", "-c", DEEP_TREE], limits=LIMITS))
    assert result.error is None and result.stdout == "deep\n", result
    after = pool.run(Job(["python3", "-c", "import os; print(os.listdir('/work'))"], limits=LIMITS))
    assert after.error is None and after.stdout.count("job-") == 1, after


LEAVE_MARKS = """
import os
os.utime("/work", (123456, 123456))
for path in ("/work", "/tmp", "/dev/shm"):
    try:
        os.setxattr(path, "user.leak", b"from-job-1")
        print("set", path)
    except OSError as exc:
        print("refused", path, exc.errno)
"""
READ_MARKS = """
import os
st = os.stat("/work")
print(int(st.st_atime), int(st.st_mtime))
for path in ("/work", "/tmp", "/dev/shm"):
    try:
        print(path, os.listxattr(path))
    except OSError as exc:
        print(path, "error", exc.errno)
"""


def test_docker_work_root_times_and_xattrs_do_not_reach_the_next_job(dedicated_pool):
    pool = dedicated_pool(size=1, pids=78)
    first = pool.run(Job(["python3", "-c", LEAVE_MARKS], limits=LIMITS))
    assert first.ok, first
    second = pool.run(Job(["python3", "-c", READ_MARKS], limits=LIMITS))
    assert second.ok, second
    assert "123456" not in second.stdout and "user.leak" not in second.stdout, second.stdout
    assert pool.stats["created"] == 1  # cleaned in place


ATTACK_ZYGOTE = """
import os, signal, sys
runner = open('/proc/%d/cmdline' % os.getppid(), 'rb').read()
parents = {os.getppid()}
for pid in os.listdir('/proc'):
    if pid.isdigit() and int(pid) not in (os.getpid(), 1):
        try:
            if open('/proc/%s/cmdline' % pid, 'rb').read() == runner:
                os.kill(int(pid), getattr(signal, sys.argv[1]))
                print('hit', pid)
        except OSError:
            pass
print('done')
"""


@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP"])
@pytest.mark.parametrize("preloaded", [False, True])
def test_attacking_the_zygote_is_contained_docker(dedicated_pool, how, preloaded):
    """A program that kills or stops the runner's zygote: its own job ends normally (or as killed),
    the container is recycled, the next preloaded job runs."""
    pool = dedicated_pool(size=1, pids=79)
    job = Job(
        ["python3", "-I", "main.py", how],
        files={"main.py": ATTACK_ZYGOTE},
        limits=LIMITS,
        preloaded_python=preloaded,
    )
    result = pool.run(job)
    assert result.error is None, result
    after = pool.run(
        Job(["python3", "-I", "x.py"], files={"x.py": "print('next')"}, limits=LIMITS, preloaded_python=True)
    )
    assert after.error is None and after.stdout == "next\n", after


@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP"])
def test_attacking_the_zygote_is_contained_bwrap(how):
    backend = _bwrap(cgroups=False)
    job = Job(
        ["python3", "-I", "main.py", how],
        files={"main.py": ATTACK_ZYGOTE},
        limits=LIMITS,
        preloaded_python=True,
    )
    result = backend.run(job)
    assert result.error is None, result
    after = backend.run(
        Job(["python3", "-I", "x.py"], files={"x.py": "print('next')"}, limits=LIMITS, preloaded_python=True)
    )
    assert after.error is None and after.stdout == "next\n", after
