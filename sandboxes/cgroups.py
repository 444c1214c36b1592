"""Per-job cgroups for the local (bwrap) backend: memory of all the job's processes together (swap
included), a pids cap and a CPU quota, on cgroup v1 (``memory``, ``pids``, ``cpu`` hierarchies) or v2
(one unified directory with those controllers).

Jobs are nested under the cgroup this process runs in, so they never escape its own limits. A job
joins its cgroups before bubblewrap starts (see :func:`join_script`), so no process of the job is
ever outside them. :func:`detect` says why cgroups cannot be used here when they cannot.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass

ROOT = "/sys/fs/cgroup"
#: processes the runner adds beside the program (bwrap's init, the runner, sh, setpriv)
PIDS_MARGIN = 8
CPU_PERIOD_US = 100_000


def _own_paths() -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    found: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as handle:
            for line in handle:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for name in controllers.split(",") if controllers else [""]:
                    found[name] = path
    except OSError:
        pass
    return found


@dataclass
class JobCgroup:
    """The cgroup directories of one job (one per v1 hierarchy, or one v2 directory)."""

    dirs: list[str]

    @property
    def procs_files(self) -> list[str]:
        return [os.path.join(d, "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.procs_files:
            with contextlib.suppress(OSError), open(path) as handle:
                found.update(int(x) for x in handle.read().split())
        return found

    def stats(self) -> dict[str, int]:
        """Peak memory and CPU throttling, where the kernel reports them."""
        out: dict[str, int] = {}
        for d in self.dirs:
            for name in ("memory.max_usage_in_bytes", "memory.memsw.max_usage_in_bytes", "memory.peak"):
                with contextlib.suppress(OSError, ValueError), open(os.path.join(d, name)) as handle:
                    out[name] = int(handle.read().strip())
            with contextlib.suppress(OSError, ValueError), open(os.path.join(d, "cpu.stat")) as handle:
                for line in handle:
                    key, _, value = line.partition(" ")
                    if key == "nr_throttled":
                        out["cpu.nr_throttled"] = int(value)
        return out

    def job_start(self) -> dict[str, int]:
        """Before a job in a reused cgroup (a warm sandbox): reset the peak-memory counters where
        the kernel allows it and return the counters :meth:`job_stats` subtracts."""
        for d in self.dirs:
            for name in ("memory.max_usage_in_bytes", "memory.memsw.max_usage_in_bytes", "memory.peak"):
                with contextlib.suppress(OSError), open(os.path.join(d, name), "w") as handle:
                    handle.write("0")
        return self.stats()

    def job_stats(self, before: dict[str, int]) -> dict[str, int]:
        """:meth:`stats` of one job in a reused cgroup: the throttling since ``before``."""
        out = self.stats()
        if "cpu.nr_throttled" in out:
            out["cpu.nr_throttled"] -= before.get("cpu.nr_throttled", 0)
        return out

    def destroy(self) -> None:
        """Kill every process left in the job's cgroups, then remove them."""
        for _ in range(200):
            left = self.pids()
            if not left:
                break
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)
        for d in self.dirs:
            for _ in range(100):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


class Cgroups:
    """Makes job cgroups on this machine (v1 or v2)."""

    def __init__(self, version: int, bases: dict[str, str]) -> None:
        self.version = version
        self.bases = bases  # controller (v1) or "" (v2) -> directory holding the job cgroups

    def create(self, memory_mb: int, pids: int, cpus: float) -> JobCgroup:
        name = "job-" + uuid.uuid4().hex[:12]
        memory = str(memory_mb << 20)
        quota = str(max(1000, int(cpus * CPU_PERIOD_US)))
        settings: dict[str, list[tuple[str, str]]]
        if self.version == 1:
            settings = {
                "memory": [
                    ("memory.limit_in_bytes", memory),
                    ("memory.memsw.limit_in_bytes", memory),
                    ("memory.swappiness", "0"),
                ],
                "pids": [("pids.max", str(pids + PIDS_MARGIN))],
                "cpu": [("cpu.cfs_period_us", str(CPU_PERIOD_US)), ("cpu.cfs_quota_us", quota)],
            }
        else:
            settings = {
                "": [
                    ("memory.max", memory),
                    ("memory.swap.max", "0"),
                    ("pids.max", str(pids + PIDS_MARGIN)),
                    ("cpu.max", f"{quota} {CPU_PERIOD_US}"),
                ]
            }
        job = JobCgroup([])
        try:
            for controller, values in settings.items():
                path = os.path.join(self.bases[controller], name)
                os.mkdir(path, 0o755)
                job.dirs.append(path)
                for key, value in values:
                    optional = key in ("memory.memsw.limit_in_bytes", "memory.swappiness", "memory.swap.max")
                    try:
                        with open(os.path.join(path, key), "w") as handle:
                            handle.write(value)
                    except OSError:
                        if not optional:
                            raise
        except BaseException:
            job.destroy()
            raise
        return job


def join_script() -> str:
    """``sh -c`` text: write the shell's pid into every ``$GRPO_CG*`` file, then ``exec "$@"``."""
    return 'set -e; for f in $GRPO_CGROUP_PROCS; do echo $$ > "$f"; done; exec "$@"'


_DETECTED: tuple[Cgroups | None, str] | None = None


def detect() -> tuple[Cgroups | None, str]:
    """(Cgroups, "") when per-job cgroups work here, else (None, why not). Cached."""
    global _DETECTED
    if _DETECTED is None:
        _DETECTED = _detect()
    return _DETECTED


def _detect() -> tuple[Cgroups | None, str]:
    own = _own_paths()
    base_name = f"grpo-sandbox-{os.getpid()}"
    if os.path.exists(os.path.join(ROOT, "cgroup.controllers")):
        path = os.path.join(ROOT, own.get("", "/").lstrip("/"))
        try:
            with open(os.path.join(path, "cgroup.controllers")) as handle:
                available = set(handle.read().split())
        except OSError as exc:
            return None, f"cgroup v2: cannot read this process's cgroup ({exc})"
        missing = {"memory", "pids", "cpu"} - available
        if missing:
            return None, f"cgroup v2: controllers {sorted(missing)} are not delegated to {path}"
        base = os.path.join(path, base_name)
        try:
            os.makedirs(base, exist_ok=True)
            with open(os.path.join(base, "cgroup.subtree_control"), "w") as handle:
                handle.write("+memory +pids +cpu")
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.rmdir(base)
            return None, f"cgroup v2: cannot create job cgroups under {path} ({exc})"
        cgroups = Cgroups(2, {"": base})
    else:
        bases: dict[str, str] = {}
        for controller in ("memory", "pids", "cpu"):
            mount = os.path.join(ROOT, controller)
            if not os.path.isdir(mount):
                return None, f"cgroup v1: no {controller} hierarchy at {mount}"
            parent = os.path.join(mount, own.get(controller, "/").lstrip("/"))
            if not os.path.isdir(parent):
                parent = mount  # a container that sees the hierarchy from its own root
            base = os.path.join(parent, base_name)
            try:
                os.makedirs(base, exist_ok=True)
            except OSError as exc:
                return None, f"cgroup v1: cannot create job cgroups under {parent} ({exc})"
            bases[controller] = base
        cgroups = Cgroups(1, bases)
    try:  # prove it: one job cgroup, made and removed
        cgroups.create(64, 8, 1.0).destroy()
    except OSError as exc:
        return None, f"cgroup v{cgroups.version}: cannot set job limits ({exc})"
    import atexit

    atexit.register(_remove_bases, list(cgroups.bases.values()))
    return cgroups, ""


def _remove_bases(bases: list[str]) -> None:
    for base in bases:
        with contextlib.suppress(OSError):
            os.rmdir(base)
