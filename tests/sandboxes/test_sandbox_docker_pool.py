"""The Docker pool: reuse, recycling, back-pressure, labels and reaping, DOCKER_HOST, hardening."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import threading
import time

import pytest

from sandboxes import Job, Limits
from sandboxes.docker_backend import (
    LABEL,
    LABEL_EXPIRES,
    LABEL_OWNER,
    LIFETIME_MARGIN,
    PID1_SOURCE,
    reap_stale,
)

PRINT = Job(["python3", "-c", "print('ok')"], limits=Limits(wall_time=5))


def test_containers_are_reused(dedicated_pool):
    pool = dedicated_pool(size=1, pids=90)
    for _ in range(5):
        assert pool.run(PRINT).stdout.strip() == "ok"
    assert pool.stats["created"] == 1 and pool.stats["jobs"] == 5


def test_timeout_recycles_the_container(dedicated_pool):
    pool = dedicated_pool(size=1, pids=91)
    assert pool.run(PRINT).ok
    first = pool.container_ids()
    result = pool.run(Job(["sleep", "30"], limits=Limits(wall_time=1)))
    assert result.timed_out and result.error is None
    assert pool.run(PRINT).ok
    assert pool.container_ids() != first and pool.stats["recycled"] >= 1


def test_max_jobs_recycles(dedicated_pool):
    pool = dedicated_pool(size=1, pids=92)
    pool.max_jobs = 2
    for _ in range(5):
        assert pool.run(PRINT).ok
    assert pool.stats["created"] >= 3


def test_back_pressure_caps_jobs_in_flight(dedicated_pool):
    pool = dedicated_pool(size=2, pids=93)
    in_flight = 0
    peak = 0
    lock = threading.Lock()
    real_exec = pool._exec

    def counting_exec(container, job, backend):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        try:
            return real_exec(container, job, backend)
        finally:
            with lock:
                in_flight -= 1

    pool._exec = counting_exec
    job = Job(["python3", "-c", "import time; time.sleep(0.2); print('ok')"], limits=Limits(wall_time=5))
    with concurrent.futures.ThreadPoolExecutor(8) as executor:
        results = list(executor.map(pool.run, [job] * 8))
    assert all(r.ok for r in results)
    assert peak <= 2 and len(pool.container_ids()) <= 2


def test_pid1_survives_signals_and_container_is_hardened(dedicated_pool):
    pool = dedicated_pool(size=1, pids=94)
    assert pool.run(Job(["sh", "-c", "kill -9 1; kill -15 1; kill -2 1; true"])).error is None
    assert pool.run(PRINT).ok
    (cid,) = pool.container_ids()
    info = pool.client.api.inspect_container(cid)
    host = info["HostConfig"]
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and any("no-new-privileges" in s for s in host["SecurityOpt"])
    assert host["PidsLimit"] == 94 and host["Memory"] == host["MemorySwap"] == 512 << 20
    assert host["NanoCpus"] == 1_000_000_000 and "/work" in host["Tmpfs"]
    assert info["Config"]["User"] == "1000:1000"
    assert info["Config"]["Labels"][LABEL] == "pool"


def test_reaping_stale_containers(dedicated_pool):
    pool = dedicated_pool(size=1, pids=95)
    api = pool.client.api
    # a container "left behind" by a crashed process: its owner pid does not exist any more
    dead_owner = f"{os.uname().nodename}:{2**22 + 12345}"
    stale = api.create_container(
        pool.hardening.image,
        command=["python3", "-c", PID1_SOURCE, "600"],
        labels={LABEL: "pool", LABEL_OWNER: dead_owner, LABEL_EXPIRES: str(time.time() + 600)},
        host_config=api.create_host_config(network_mode="none"),
    )["Id"]
    expired = api.create_container(
        pool.hardening.image,
        command=["true"],
        labels={LABEL: "pool", LABEL_OWNER: "elsewhere:1", LABEL_EXPIRES: str(time.time() - 1)},
        host_config=api.create_host_config(network_mode="none"),
    )["Id"]
    assert pool.run(PRINT).ok
    live = pool.container_ids()
    assert reap_stale(pool.client) >= 2
    ids = {c["Id"] for c in api.containers(all=True, filters={"label": LABEL})}
    assert stale not in ids and expired not in ids
    assert set(live) <= ids  # our own live containers are kept


def test_close_removes_every_container(dedicated_pool, our_containers):
    pool = dedicated_pool(size=3, pids=96)
    pool.warm()
    ids = pool.container_ids()
    assert len(ids) == 3 and set(our_containers(ids)) == set(ids)
    pool.close()
    deadline = time.monotonic() + 15
    while our_containers(ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert our_containers(ids) == []


def test_docker_host_is_honoured(monkeypatch, dedicated_pool):
    from sandboxes.docker_backend import docker_client

    dedicated_pool  # noqa: B018 - ensures an engine is present (or skips)
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert docker_client().ping()
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    from sandboxes import SandboxUnavailable

    try:
        docker_client(timeout=2)
    except SandboxUnavailable as exc:
        assert "tcp://127.0.0.1:1" in str(exc)
    else:
        raise AssertionError("an unreachable DOCKER_HOST must be a clear error")


def test_missing_image_is_a_clear_error(monkeypatch, dedicated_pool):
    import pytest

    from sandboxes import SandboxUnavailable
    from sandboxes.docker_backend import DockerBackend

    dedicated_pool  # noqa: B018
    with pytest.raises(SandboxUnavailable, match="grpo sandbox build"):
        DockerBackend(image="grpo-sandbox-does-not-exist:latest")


def _tcp_forwarder(unix_path: str):
    """A tiny TCP -> unix-socket forwarder: an engine reached over tcp:// like a remote one."""
    import socket as socketlib

    server = socketlib.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def pipe(src, dst):
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socketlib.SHUT_RDWR)

    def serve():
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socketlib.socket(socketlib.AF_UNIX)
            upstream.connect(unix_path)
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_remote_engine_over_tcp_docker_host(monkeypatch, dedicated_pool):
    """DOCKER_HOST=tcp://... works unchanged (both modes), here through a local forwarder."""
    from sandboxes.docker_backend import DockerPool, Hardening, docker_client

    dedicated_pool  # noqa: B018 - an engine is present (or skip)
    if not os.path.exists("/var/run/docker.sock"):
        import pytest

        pytest.skip("the engine is not on the default unix socket")
    server = _tcp_forwarder("/var/run/docker.sock")
    try:
        monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{server.getsockname()[1]}")
        for mode in ("session", "exec"):
            pool = DockerPool(docker_client(), Hardening(pids=97 if mode == "session" else 98), 1, mode=mode)
            try:
                job = Job(["python3", "-c", "import sys; print(sys.stdin.read()[::-1])"], stdin="olleh")
                for _ in range(3):
                    result = pool.run(job)
                    assert result.ok and result.stdout.strip() == "hello", result
                assert pool.run(Job(["sleep", "30"], limits=Limits(wall_time=1))).timed_out
            finally:
                pool.close()
    finally:
        server.close()


def test_containers_of_a_crashed_process_end_with_it(dedicated_pool):
    """SIGKILL leaves no chance for atexit: the containers' lifelines end them all the same."""
    import json
    import subprocess
    import sys

    dedicated_pool  # noqa: B018 - an engine is present (or skip)
    script = (
        "import json, os, signal\n"
        "from sandboxes.docker_backend import DockerPool, Hardening, docker_client\n"
        "pool = DockerPool(docker_client(), Hardening(pids=88), 2)\n"
        "pool.warm()\n"
        "print(json.dumps(pool.container_ids()), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    leaked = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert len(leaked) == 2
    client = dedicated_pool(size=1, pids=89).client
    deadline = time.monotonic() + 20
    alive = leaked
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = leaked & {c["Id"] for c in client.api.containers(all=True, filters={"label": LABEL})}
    assert not alive, "containers of a killed process outlived it"


def test_closing_a_pool_does_not_wait_for_docker(dedicated_pool, our_containers):
    """close() cuts the lifelines and returns; the containers then end by themselves."""
    pool = dedicated_pool(size=2, pids=87)
    pool.warm()
    ids = pool.container_ids()
    assert len(ids) == 2
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 0.1
    deadline = time.monotonic() + 15
    while our_containers(ids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert our_containers(ids) == []


def test_a_forked_child_does_not_keep_the_containers_alive(dedicated_pool, our_containers):
    """A child forked while the pool was up holds copies of its sockets; it closes them, so the
    parent's close() still ends the containers while the child lives on."""
    pool = dedicated_pool(size=1, pids=86)
    pool.warm()
    ids = pool.container_ids()
    with _sleeping_child():
        pool.close()
        assert _gone(our_containers, ids)


def test_a_child_forked_while_a_container_starts_does_not_keep_it_alive(dedicated_pool, our_containers):
    """The lifeline exists before its container joins the pool; a fork in that window must not
    leave the child holding it (the container would then outlive close() by up to max_age)."""
    pool = dedicated_pool(size=1, pids=85)
    real_start = pool.client.api.start
    in_start = threading.Event()

    def slow_start(cid, *args, **kwargs):  # widens the real window between attach and joining
        in_start.set()
        time.sleep(1.0)
        return real_start(cid, *args, **kwargs)

    pool.client.api.start = slow_start
    pool.warm(background=True)
    assert in_start.wait(30)
    with _sleeping_child():
        deadline = time.monotonic() + 30
        while pool._warming and time.monotonic() < deadline:
            time.sleep(0.05)
        ids = pool.container_ids()
        assert len(ids) == 1
        pool.close()
        assert _gone(our_containers, ids)


def _gone(our_containers, ids, seconds: float = 15) -> bool:
    """Whether the containers ``ids`` are all gone within ``seconds``."""
    deadline = time.monotonic() + seconds
    while our_containers(ids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return our_containers(ids) == []


@contextlib.contextmanager
def _sleeping_child():
    """A child forked now (holding copies of every open socket), sleeping until the block ends."""
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only sleeps
        time.sleep(30)
        os._exit(0)
    try:
        yield
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


def test_a_container_ends_by_itself_at_its_lifetime(dedicated_pool, our_containers):
    """Its PID 1 exits at max_age + LIFETIME_MARGIN even while its lifeline stays open: a container
    whose owner never closes it cannot run for ever."""
    for mode in ("session", "exec"):
        pool = dedicated_pool(size=1, pids=85 if mode == "session" else 84)
        pool.mode = mode
        pool.max_age = 2.0 - LIFETIME_MARGIN  # a lifetime of 2 s
        container = pool._new()
        assert container.lifeline is not None and our_containers([container.id])
        assert _gone(our_containers, [container.id]), mode


def test_a_forked_child_using_the_pool_leaves_the_parents_containers_alone(dedicated_pool):
    """A child that runs a job on a pool object it inherited gets containers of its own; it neither
    uses nor (on failure) removes the parent's, which keeps working."""
    pool = dedicated_pool(size=1, pids=83)
    assert pool.run(PRINT).ok
    ids = pool.container_ids()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            result = pool.run(PRINT)
            code = 0 if result.ok and pool.container_ids() != ids else 3
            pool.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert pool.run(PRINT).ok and pool.container_ids() == ids


def test_one_client_per_engine_and_process_checked_at_each_use(monkeypatch):
    """The backend check and the pool share one client (making one costs an API-version request);
    each use still pings the engine within the caller's timeout, and a failed ping drops it."""
    import docker

    from sandboxes import SandboxUnavailable
    from sandboxes import docker_backend as backend

    made, pings = [], []

    class Api:
        base_url = "http+docker://localhost"
        timeout = None
        down = False

        def get(self, url, timeout):
            pings.append((url, timeout))
            if Api.down:
                raise ConnectionError("engine gone")
            return type("Response", (), {"raise_for_status": lambda self: None})()

    class Client:
        def __init__(self, timeout, **_):
            self.api = Api()
            made.append(timeout)

    monkeypatch.setattr(docker, "from_env", Client)
    monkeypatch.setattr(backend, "_CLIENTS", {})
    monkeypatch.setenv("DOCKER_HOST", "unix:///nowhere.sock")
    first = backend.docker_client(timeout=5)
    assert backend.docker_client() is first and made == [5]
    assert first.api.timeout == backend.CLIENT_TIMEOUT  # API calls keep the long timeout
    assert pings == [("http+docker://localhost/_ping", 5), ("http+docker://localhost/_ping", 60)]
    Api.down = True
    with pytest.raises(SandboxUnavailable, match="engine gone"):
        backend.docker_client()
    Api.down = False
    assert backend.docker_client() is not first and len(made) == 2
