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
