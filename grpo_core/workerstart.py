"""Starting worker processes without re-running the user's main module.

``multiprocessing``'s ``spawn`` and ``forkserver`` methods import the parent's ``__main__`` again in
every child. In a script without an ``if __name__ == "__main__":`` guard (TRL's examples have none)
that re-runs the whole script in each worker, which then fails while bootstrapping; from stdin
(``python - < script``) the child looks for a file named ``<stdin>``. Verifier workers never need the
main module: verifier classes come from plugin modules, and a class defined in ``__main__`` (a
script or a notebook) travels by value. So the engine's worker processes start from a
:class:`ForkServerContext` / :class:`SpawnContext` whose children skip that step.
"""

from __future__ import annotations

import functools
import importlib.util
import multiprocessing
import threading
from multiprocessing import context as mp_context
from multiprocessing import popen_forkserver, popen_spawn_posix, spawn
from typing import Any

from grpo_core.errors import ConfigError

_MAIN_KEYS = ("init_main_from_name", "init_main_from_path")
_launching = threading.local()
_install_lock = threading.Lock()


def _install() -> None:
    """Wrap ``spawn.get_preparation_data`` once: unchanged unless one of our Popens is launching."""
    with _install_lock:
        original = spawn.get_preparation_data
        if getattr(original, "_grpo_skips_main", False):
            return

        @functools.wraps(original)
        def get_preparation_data(name: str) -> dict[str, Any]:
            data = original(name)
            if getattr(_launching, "active", False):
                for key in _MAIN_KEYS:
                    data.pop(key, None)
            return data

        get_preparation_data._grpo_skips_main = True  # type: ignore[attr-defined]
        spawn.get_preparation_data = get_preparation_data


def _without_main(popen_cls: type) -> type:
    class Popen(popen_cls):  # type: ignore[misc,valid-type]
        def _launch(self, process_obj: Any) -> None:
            _launching.active = True
            try:
                super()._launch(process_obj)
            finally:
                _launching.active = False

    Popen.__qualname__ = f"{popen_cls.__module__}.Popen (no __main__)"
    return Popen


_ForkServerPopen = _without_main(popen_forkserver.Popen)
_SpawnPopen = _without_main(popen_spawn_posix.Popen)


class _ForkServerProcess(mp_context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _ForkServerPopen(process_obj)


class _SpawnProcess(mp_context.SpawnProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _SpawnPopen(process_obj)


class ForkServerContext(mp_context.ForkServerContext):
    Process = _ForkServerProcess


class SpawnContext(mp_context.SpawnContext):
    Process = _SpawnProcess


def worker_context(start_method: str) -> Any:
    """The multiprocessing context worker pools use for ``start_method``."""
    _install()
    if start_method == "forkserver":
        return ForkServerContext()
    if start_method == "spawn":
        return SpawnContext()
    return multiprocessing.get_context(start_method)  # fork does not re-import __main__


def portable_class(cls: type) -> type | bytes:
    """What to send a worker for ``cls``: the class itself (pickled by reference), or for a class
    defined in ``__main__`` (a script, stdin, a notebook) its pickle by value, made with dill."""
    if cls.__module__ != "__main__":
        return cls
    return _by_value(cls)


@functools.lru_cache(maxsize=64)
def _by_value(cls: type) -> bytes:
    if importlib.util.find_spec("dill") is None:
        raise ConfigError(
            f"process verifier {cls.__qualname__!r} is defined in the main script, which worker processes "
            "do not run: move it into a module (or pip install dill to send it by value)"
        )
    import dill

    return dill.dumps(cls, recurse=True)


@functools.lru_cache(maxsize=64)
def load_class(data: bytes) -> type:
    """Inside a worker: the class that :func:`portable_class` sent by value."""
    import dill

    return dill.loads(data)
