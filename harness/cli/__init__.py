"""The ``grpo`` command: one typer app; each verb lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="grpo",
    help="Rewards and verifiers for GRPO training: list plugins, score completions, train.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib import metadata

        try:
            version = metadata.version("grpo-core")
        except metadata.PackageNotFoundError:  # run from a source tree that is not installed
            from grpo_core import __version__ as version
        typer.echo(f"grpo-core {version}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Rewards and verifiers for GRPO training: list plugins, score completions, train."""


# Importing the command modules registers their commands on `app` (one line per module).
from harness.cli import plugins_cmd  # noqa: E402,F401
from harness.cli import score_cmd  # noqa: E402,F401
from harness.cli import train_cmd  # noqa: E402,F401
from harness.cli import eval_cmd  # noqa: E402,F401
from harness.cli import sweep_cmd  # noqa: E402,F401
from harness.cli import doctor_cmd  # noqa: E402,F401
from harness.cli import sandbox_cmd  # noqa: E402,F401
from harness.cli import serve_cmd  # noqa: E402,F401


def main() -> None:
    app()
