"""Code plugin fixtures: Docker tests skip without an engine, except under CI (``CI`` set): fail."""

from __future__ import annotations

import os

import pytest


def require_docker() -> None:
    from sandboxes.docker_backend import docker_client
    from sandboxes.images import DEFAULT_IMAGE

    why = None
    try:
        client = docker_client(timeout=10)
        try:
            client.images.get(DEFAULT_IMAGE)
        except Exception:
            why = f"sandbox image {DEFAULT_IMAGE} is not built (grpo sandbox build --offline)"
    except Exception as exc:
        why = f"no Docker engine: {exc}"
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires Docker for the code verifier tests: {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def docker_available():
    require_docker()
    return True


def _bwrap_ok() -> bool:
    from sandboxes.local import BwrapBackend

    return BwrapBackend.available()[0]


@pytest.fixture(params=["subprocess", "bwrap", "docker"])
def backend_options(request):
    """Verifier options selecting each backend available here."""
    if request.param == "docker":
        require_docker()
        return {"backend": "docker"}
    if request.param == "bwrap":
        if not _bwrap_ok():
            pytest.skip("bwrap is not installed")
        return {"backend": "bwrap"}
    return {"backend": "subprocess", "allow_unsafe": True}
