"""Sandbox test fixtures. Docker tests skip without an engine, except under CI (``CI`` set): fail."""

from __future__ import annotations

import os

import pytest


def require_docker() -> None:
    """Skip (or, in CI, fail) when no Docker engine or no sandbox image is available."""
    from sandboxes.docker_backend import docker_unavailable_reason

    why = docker_unavailable_reason()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires Docker for the sandbox tests: {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def docker_backend():
    require_docker()
    from sandboxes.docker_backend import DockerBackend

    return DockerBackend()


@pytest.fixture(scope="session")
def bwrap_backend():
    from sandboxes.local import BwrapBackend

    ok, why = BwrapBackend.available()
    if not ok:
        pytest.skip(why)
    return BwrapBackend()


@pytest.fixture(scope="session")
def unsafe_backend():
    from sandboxes.local import SubprocessBackend

    backend = SubprocessBackend(allow_unsafe=True)
    yield backend
    backend.close()


@pytest.fixture(params=["subprocess", "bwrap", "docker"])
def any_backend(request):
    return request.getfixturevalue(
        {"subprocess": "unsafe_backend"}.get(request.param, request.param + "_backend")
    )


@pytest.fixture
def dedicated_pool():
    """Factory of private Docker pools (not shared), closed at the end of the test."""
    require_docker()
    from sandboxes.docker_backend import DockerPool, Hardening, docker_client

    pools = []

    def make(size: int = 1, **hardening) -> DockerPool:
        pool = DockerPool(docker_client(), Hardening(**hardening), size)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


@pytest.fixture
def our_containers():
    """A callable listing sandbox containers owned by this process (should end up empty)."""
    require_docker()
    from sandboxes.docker_backend import LABEL, LABEL_OWNER, _owner, docker_client

    client = docker_client()

    def listing(pool_ids=None) -> list[str]:
        found = client.api.containers(all=True, filters={"label": [LABEL, f"{LABEL_OWNER}={_owner()}"]})
        ids = [c["Id"] for c in found]
        return [i for i in ids if pool_ids is None or i in pool_ids]

    return listing
