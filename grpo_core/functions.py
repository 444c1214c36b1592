"""Plain functions as verifiers: the quick path before writing a plugin.

A reward spec ``verifier: "path/to/rewards.py:fn"`` or ``verifier: "my_package.rewards:fn"`` wraps
``fn`` without packaging. The function's parameters say what it receives, by name:

- ``completion`` / ``prompt``: the text (chat messages flattened, assistant turns of a completion);
- ``sample``: the whole :class:`~grpo_core.sample.Sample`;
- any other name: that dataset column (required unless it has a default);
- ``**kwargs``: every other field of the row.

It returns a float/bool (status ok), ``None`` (not applicable) or a :class:`Score`. An ``async def``
function runs with ``async`` isolation; otherwise option ``isolation`` picks ``inline`` (default)
or ``process`` (CPU-heavy or possibly hanging code: worker processes with a hard kill).

How a spec is told from a plugin name, including ``distribution:name`` (one verifier of one
distribution): a spec is a function when the part before the last ``:`` ends in ``.py`` (a file), or
when it is not the name of an installed plugin or distribution and is an importable module.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.util
import inspect
import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from grpo_core.errors import ConfigError
from grpo_core.sample import Sample
from grpo_core.verifier import Isolation, Score, Verifier, VerifierOptions

#: Prefix of the generated classes' names; the rest encodes (target, isolation) so that a worker
#: process can rebuild the class from its pickled reference alone.
CLASS_PREFIX = "FunctionVerifier_"
SPECIAL = ("sample", "completion", "prompt")


class FunctionOptions(VerifierOptions):
    isolation: Literal["inline", "process"] = "inline"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def split_spec(spec: str) -> tuple[str, str] | None:
    """``(module or file, attribute)`` when ``spec`` has the shape of a function spec."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr.isidentifier():
        return None
    return target, attr


def is_function_spec(spec: str, known_names: set[str] | frozenset[str] = frozenset()) -> bool:
    """Is ``spec`` a plain-function reference rather than a (qualified) verifier name?

    ``known_names``: installed plugin and distribution names, which win over an importable module
    of the same spelling (``grpo-reward-math:math`` stays a qualified verifier name).
    """
    parts = split_spec(spec)
    if parts is None:
        return False
    target, _ = parts
    if target.endswith(".py"):
        return True
    if _normalise(target) in {_normalise(n) for n in known_names}:
        return False
    if not all(part.isidentifier() for part in target.split(".")):
        return False
    try:
        return importlib.util.find_spec(target) is not None
    except (ImportError, ValueError):
        return False


def _load_file(path: Path) -> Any:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    module_name = f"grpo_function_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"verifier {str(path)!r}: cannot load it as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[module_name]
        raise ConfigError(
            f"verifier file {str(path)!r} failed to import: {type(exc).__name__}: {exc}"
        ) from None
    return module


def load_function(target: str) -> Callable[..., Any]:
    """Import the function a spec names; every failure is a :class:`ConfigError` naming the spec."""
    parts = split_spec(target)
    if parts is None:
        raise ConfigError(f"verifier {target!r}: expected 'path/to/file.py:function' or 'module:function'")
    where, attr = parts
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise ConfigError(f"verifier {target!r}: no file {where!r} (paths are relative to {Path.cwd()})")
        module = _load_file(path.resolve())
    else:
        try:
            module = importlib.import_module(where)
        except BaseException as exc:
            raise ConfigError(
                f"verifier {target!r}: importing {where!r} failed: {type(exc).__name__}: {exc}"
            ) from None
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise ConfigError(f"verifier {target!r}: {where!r} has no function {attr!r}")
    return fn


def _signature(fn: Callable[..., Any], target: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(required columns, optional columns, takes **kwargs) from the function's parameters."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"verifier {target!r}: cannot read its parameters ({exc})") from None
    required, optional, var_kw = [], [], False
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind is p.VAR_POSITIONAL:
            continue
        elif p.kind is p.POSITIONAL_ONLY:
            raise ConfigError(
                f"verifier {target!r}: parameter {p.name!r} is positional-only; it is passed by name"
            )
        elif p.name not in SPECIAL:
            (required if p.default is p.empty else optional).append(p.name)
    return tuple(required), tuple(optional), var_kw


def _encode(target: str, isolation: str) -> str:
    raw = json.dumps([target, isolation]).encode()
    return CLASS_PREFIX + base64.b32encode(raw).decode().rstrip("=").lower()


def _decode(name: str) -> tuple[str, str]:
    data = name[len(CLASS_PREFIX) :].upper()
    target, isolation = json.loads(base64.b32decode(data + "=" * (-len(data) % 8)))
    return target, isolation


class FunctionVerifier(Verifier):
    """Base of the generated classes; one subclass per (function, isolation)."""

    name: ClassVar[str] = "function"
    Options: ClassVar[type[VerifierOptions]] = FunctionOptions
    target: ClassVar[str] = ""
    optional_columns: ClassVar[tuple[str, ...]] = ()
    takes_kwargs: ClassVar[bool] = False
    parameters: ClassVar[frozenset[str]] = frozenset()
    function: ClassVar[Callable[..., Any] | None] = None

    def _call_args(self, sample: Sample) -> dict[str, Any]:
        args: dict[str, Any] = {}
        for name in self.parameters & set(SPECIAL):
            args[name] = {
                "sample": sample,
                "completion": sample.completion_text,
                "prompt": sample.prompt_text,
            }[name]
        for column in (*self.columns, *self.optional_columns):
            if column in sample:
                args[column] = sample[column]
        if self.takes_kwargs:
            for key, value in sample.items():
                args.setdefault(key, value)
        return args

    def score(self, sample: Sample) -> Score | float | None:
        assert self.function is not None
        return self.function(**self._call_args(sample))

    async def ascore(self, sample: Sample) -> Score | float | None:
        assert self.function is not None
        result = self.function(**self._call_args(sample))
        return await result if inspect.isawaitable(result) else result


_classes: dict[str, type[FunctionVerifier]] = {}


def function_verifier_class(target: str, options: Mapping[str, Any] | None = None) -> type[FunctionVerifier]:
    """The verifier class wrapping ``target`` (imports it now, so errors show before any work)."""
    isolation = (options or {}).get("isolation", "inline")
    if isolation not in ("inline", "process"):
        raise ConfigError(f"{target}.isolation: expected 'inline' or 'process', got {isolation!r}")
    where, attr = split_spec(target) or (target, "")
    if where.endswith(".py"):
        target = f"{Path(where).resolve()}:{attr}"  # workers and later cwd changes see the same file
    return _class_named(_encode(target, isolation))


def _class_named(class_name: str) -> type[FunctionVerifier]:
    cls = _classes.get(class_name)
    if cls is not None:
        return cls
    target, isolation = _decode(class_name)
    fn = load_function(target)
    required, optional, var_kw = _signature(fn, target)
    kind = Isolation.ASYNC if inspect.iscoroutinefunction(fn) else Isolation(isolation)
    cls = type(
        class_name,
        (FunctionVerifier,),
        {
            "__module__": __name__,
            "__qualname__": class_name,
            "__doc__": (fn.__doc__ or f"the plain function {target}").strip().split("\n")[0],
            "name": re.sub(r"\W", "_", split_spec(target)[1] if split_spec(target) else "function"),
            "target": target,
            "columns": required,
            "optional_columns": optional,
            "takes_kwargs": var_kw,
            "parameters": frozenset(inspect.signature(fn).parameters),
            "function": staticmethod(fn),
            "isolation": kind,
        },
    )
    _classes[class_name] = cls
    return cls


def __getattr__(name: str) -> Any:
    """Rebuild a generated class from its name: how a pickled reference resolves in a worker."""
    if name.startswith(CLASS_PREFIX):
        try:
            return _class_named(name)
        except (ValueError, ConfigError) as exc:
            raise AttributeError(f"{name}: {exc}") from None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def known_plugin_names(registry: Any) -> set[str]:
    names: set[str] = set()
    for info in getattr(registry, "plugins", {}).values():
        names.add(info.name)
        if info.distribution:
            names.add(info.distribution)
    return names


def resolve_verifier(
    registry: Any, spec: str, options: Mapping[str, Any] | None = None
) -> tuple[type[Verifier], str]:
    """The engine's one hook: (verifier class, where it comes from). A function spec becomes a
    wrapper class; anything else is looked up in the registry (bare or ``distribution:name``)."""
    if is_function_spec(spec, known_plugin_names(registry)):
        return function_verifier_class(spec, options), f"function {spec}"
    claim = registry.verifier_claim(spec)
    return claim.obj, claim.source
