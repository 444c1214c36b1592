"""The entry-point plugin registering the built-in sandbox backends (``grpo = sandboxes.plugin``)."""

from grpo_core import hookimpl
from sandboxes.docker_backend import DockerBackend
from sandboxes.local import BwrapBackend, SubprocessBackend


@hookimpl
def register_sandbox_backends(register):
    register(DockerBackend)
    register(BwrapBackend)
    register(SubprocessBackend)
