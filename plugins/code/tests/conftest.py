"""Code plugin fixtures: Docker tests skip without an engine, except under CI (``CI`` set): fail."""

from __future__ import annotations

import os

import pytest


def require_docker() -> None:
    """Skip (or, in CI, fail) when no Docker engine or no sandbox image is available."""
    from sandboxes.docker_backend import docker_unavailable_reason

    why = docker_unavailable_reason()
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
