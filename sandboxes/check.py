"""Probes that prove a backend's hardening from inside the sandbox (``grpo sandbox check``).

Each probe runs one small program in the sandbox and judges the result; together they show: non-root,
no capabilities, no-new-privileges, no network, read-only root, a writable but size-capped work dir,
no host environment, memory / process / wall-time / output limits enforced, and nothing left running
between jobs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from sandboxes.base import Job, Limits, Result, SandboxBackend

SECRET_ENV = "GRPO_SANDBOX_CHECK_SECRET"


@dataclass
class Probe:
    name: str
    expectation: str
    program: str
    judge: Callable[[Result], tuple[bool, str]]
    limits: Limits = Limits(wall_time=10.0)


@dataclass
class ProbeResult:
    name: str
    expectation: str
    passed: bool
    detail: str
    seconds: float


def _py(program: str, limits: Limits | None = None) -> Job:
    return Job(["python3", "probe.py"], files={"probe.py": program}, limits=limits or Limits(wall_time=10.0))


def _said(marker: str) -> Callable[[Result], tuple[bool, str]]:
    def judge(result: Result) -> tuple[bool, str]:
        text = (result.stdout.strip().splitlines() or [""])[-1]
        return result.exit_code == 0 and text == marker, text or result.stderr.strip()[-200:]

    return judge


PROBES: list[Probe] = [
    Probe(
        "non-root user",
        "uid != 0",
        "import os\nprint('ok' if os.getuid() != 0 and os.geteuid() != 0 else 'root uid=%d' % os.getuid())",
        _said("ok"),
    ),
    Probe(
        "no capabilities",
        "CapEff = 0",
        "for line in open('/proc/self/status'):\n"
        "    if line.startswith('CapEff:'):\n"
        "        print('ok' if int(line.split()[1], 16) == 0 else line.strip())",
        _said("ok"),
    ),
    Probe(
        "no new privileges",
        "NoNewPrivs = 1 (or no setuid binaries)",
        "import os\nflag = None\n"
        "for line in open('/proc/self/status'):\n"
        "    if line.startswith('NoNewPrivs:'):\n"
        "        flag = line.split()[1]\n"
        "print('ok' if flag in ('1', None) else 'NoNewPrivs=%s' % flag)",
        _said("ok"),
    ),
    Probe(
        "no network",
        "connect() to the internet fails; only loopback",
        "import socket\n"
        "ifaces = [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]]\n"
        "bad = [i for i in ifaces if i != 'lo']\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
        "    print('connected!')\n"
        "except OSError:\n"
        "    print('ok' if not bad else 'interfaces: %s' % bad)",
        _said("ok"),
    ),
    Probe(
        "read-only root",
        "writes to /etc, /usr, / fail",
        "bad = []\n"
        "for path in ('/etc/grpo-probe', '/usr/grpo-probe', '/grpo-probe'):\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        bad.append(path)\n"
        "    except OSError:\n"
        "        pass\n"
        "print('ok' if not bad else 'writable: %s' % bad)",
        _said("ok"),
    ),
    Probe(
        "work dir writable, size-capped",
        "1 MB write works; 1 GB write fails",
        "import os\nopen('small', 'wb').write(b'x' * 2**20)\n"
        "try:\n"
        "    with open('big', 'wb') as f:\n"
        "        for _ in range(1024):\n"
        "            f.write(b'x' * 2**20)\n"
        "    print('wrote 1 GB')\n"
        "except OSError:\n"
        "    print('ok')",
        lambda r: (
            (r.exit_code == 0 and r.stdout.strip().endswith("ok")) or r.signal == 25,
            r.stdout.strip()[-100:] or f"exit {r.exit_code} signal {r.signal}",
        ),
    ),
    Probe(
        "host environment hidden",
        f"${SECRET_ENV} not visible",
        f"import os\nprint('ok' if '{SECRET_ENV}' not in os.environ else 'leaked')",
        _said("ok"),
    ),
    Probe(
        "memory limit",
        "allocating 4x the limit is killed or refused",
        "chunks = []\nfor _ in range(2048):\n    chunks.append(bytearray(2**20))\nprint('allocated 2 GiB')",
        lambda r: (
            r.exit_code != 0 and "allocated" not in r.stdout,
            f"exit {r.exit_code} signal {r.signal}" + (" MemoryError" if "MemoryError" in r.stderr else ""),
        ),
        Limits(wall_time=20.0, memory_mb=512),
    ),
    Probe(
        "process limit",
        "cannot start more processes than the pids limit",
        "import os, time\nn = 0\n"
        "try:\n"
        "    for _ in range(1000):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "    print('forked %d' % n)\n"
        "except OSError:\n"
        "    print('ok')",
        _said("ok"),
        Limits(wall_time=10.0, pids=64),
    ),
    Probe(
        "wall-time limit",
        "sleep 60 under a 2 s limit is killed",
        "import time\ntime.sleep(60)\nprint('slept')",
        lambda r: (r.timed_out and r.elapsed < 30, f"timed_out={r.timed_out} after {r.elapsed:.1f}s"),
        Limits(wall_time=2.0),
    ),
    Probe(
        "output cap",
        "a 1 GB stdout flood is cut at the cap",
        "import sys\nblock = 'x' * 2**20\nfor _ in range(1024):\n    sys.stdout.write(block)",
        lambda r: (
            r.stdout_truncated and len(r.stdout) <= 2**20,
            f"kept {len(r.stdout)} bytes, truncated={r.stdout_truncated}",
        ),
        Limits(wall_time=20.0, output_bytes=2**20),
    ),
]

LEFTOVER_START = (
    "import os, subprocess\n"
    "subprocess.Popen(['python3', '-c', 'import time; time.sleep(600)'], start_new_session=True)\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    import time; time.sleep(600)\n"
    "print('started')"
)
LEFTOVER_LOOK = (
    "import os\nothers = []\n"
    "for pid in os.listdir('/proc'):\n"
    "    if pid.isdigit():\n"
    "        try:\n"
    "            cmd = open('/proc/%s/cmdline' % pid, 'rb').read()\n"
    "        except OSError:\n"
    "            continue\n"
    "        if b'sleep(600)' in cmd or b'time.sleep(600)' in cmd:\n"
    "            others.append(pid)\n"
    "print('ok' if not others else 'still running: %s' % others)"
)


def run_probes(backend: SandboxBackend, *, log: Callable[[str], None] | None = None) -> list[ProbeResult]:
    os.environ.setdefault(SECRET_ENV, "host-secret")
    out: list[ProbeResult] = []
    for probe in PROBES:
        started = time.monotonic()
        result = backend.run(_py(probe.program, probe.limits))
        if result.error:
            passed, detail = False, f"sandbox error: {result.error}"
        else:
            passed, detail = probe.judge(result)
        out.append(ProbeResult(probe.name, probe.expectation, passed, detail, time.monotonic() - started))
        if log:
            log(f"{probe.name}: {'PASS' if passed else 'FAIL'} ({detail})")
    # background processes never survive their job
    started = time.monotonic()
    first = backend.run(_py(LEFTOVER_START))
    second = backend.run(_py(LEFTOVER_LOOK))
    if first.error or second.error:
        passed, detail = False, f"sandbox error: {first.error or second.error}"
    else:
        passed, detail = _said("ok")(second)
    out.append(
        ProbeResult(
            "no processes left behind",
            "a job's daemons are gone before the next job",
            passed,
            detail,
            time.monotonic() - started,
        )
    )
    return out
