"""Shared CLI plumbing: user errors become a clear message and exit code 2."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from grpo_core.errors import GrpoError

err_console = Console(stderr=True)

EXIT_RUNTIME = 1
EXIT_USAGE = 2


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a GrpoError (bad config, bad row, unknown verifier) into ``error: ...`` and exit 2."""
    try:
        yield
    except GrpoError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None


def make_console(*, stderr: bool = False) -> Console:
    """A console that does not squeeze tables to 80 columns when output is piped or captured."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=160, soft_wrap=True)
    return console


def print_reward_sources(console: Console, engine: object) -> None:
    """One line per reward naming the verifier and the distribution serving it (run headers):
    which plugin scores a run is printed, never guessed."""
    for name, source in getattr(engine, "sources", {}).items():
        console.print(f"  reward {name}: {source}", highlight=False, soft_wrap=True)
