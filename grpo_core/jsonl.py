"""Reading scoring rows and writing results so a crash never leaves half a file."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from grpo_core.errors import ConfigError, DataError

#: deepest nesting of lists/objects a row may have: deeper rows are refused before anything
#: recursive (copying, pickling to workers, writing back) can meet them
MAX_NESTING = 64


def nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (0 for a scalar); iterative, never recurses."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            return depth
        stack.extend((child, depth) for child in children)
    return deepest


def read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """All rows of a JSONL file as (line number, object); blank lines are skipped.

    Raises DataError naming ``file:line`` for invalid JSON or a line that is not an object.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    rows = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}:{number}: not UTF-8 text (byte {exc.start + 1}); re-encode the file"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            except RecursionError:
                row = None  # nested past the interpreter's limit: reported as too deep below
            if row is None or nesting_depth(row) > MAX_NESTING:
                raise DataError(
                    f"{path}:{number}: JSON nested more than {MAX_NESTING} levels deep; no scoring row "
                    "needs that (flatten the row)"
                )
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: each line must be a JSON object, got {type(row).__name__}")
            rows.append((number, row))
    return rows


def check_output_path(path: str | Path, flag: str) -> None:
    """Refuse, before any work, an output path that cannot take a regular file.

    ``atomic_writer`` replaces its target by renaming a new file over it, so a device
    (``/dev/null``, ``/dev/full``), a FIFO, a symlink or a directory there would be replaced, or
    the write would fail only after all the work was done.
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ConfigError(f"{flag} {str(path)!r}: cannot be used ({exc.strerror})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = _file_kind(st.st_mode)
        raise ConfigError(
            f"{flag} {str(path)!r} is {kind}, not a regular file; refusing to replace it (name a file path)"
        )
    parent = path.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{flag} {str(path)!r}: {str(existing)!r} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {str(path)!r}: directory {str(existing)!r} is not writable")


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def partial_path(path: str | Path) -> Path:
    """Where an interrupted run keeps its finished rows: ``scored.jsonl`` -> ``scored.partial.jsonl``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}" if path.suffix else f"{path.name}.partial")


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path`` and move it into place only on success.

    The target must be a regular file or absent (see :func:`check_output_path`); checked again
    just before the rename, so a device or FIFO put there meanwhile is not replaced either.
    """
    path = Path(path)
    check_output_path(path, "output")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        check_output_path(path, "output")
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def json_line(row: Mapping[str, Any]) -> str:
    """One JSON line; rows holding text UTF-8 cannot encode (a lone surrogate from a completion cut
    mid-emoji) are written with ASCII escapes instead of failing the whole file."""
    line = json.dumps(row, ensure_ascii=False, default=str)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(row, ensure_ascii=True, default=str)
    return line


def write_jsonl(handle: IO[str], rows: Iterable[Mapping[str, Any]]) -> None:
    for row in rows:
        handle.write(json_line(row))
        handle.write("\n")


def write_json_atomic(path: str | Path, data: Any) -> None:
    with atomic_writer(path) as handle:
        json.dump(data, handle, indent=2, default=str)
        handle.write("\n")
