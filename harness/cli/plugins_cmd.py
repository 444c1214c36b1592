"""``grpo plugins``: what is installed, from which distribution, and what failed to load."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from grpo_core.plugins import get_registry
from harness.cli import app
from harness.cli.common import make_console, user_errors
from harness.scaffold import create_plugin

plugins_app = typer.Typer(
    help="List installed plugins (default) or create a new one (`grpo plugins new NAME`).",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(plugins_app, name="plugins")


@plugins_app.command("new")
def new_plugin(
    name: str = typer.Argument(..., help="Verifier name, e.g. `exact_match`."),
    directory: Path = typer.Option(Path("."), "--dir", help="Where to create grpo-reward-NAME/."),
) -> None:
    """Create a working plugin package (entry point, verifier, tests) to start from."""
    with user_errors():
        root = create_plugin(name, directory)
    make_console().print(
        f"created {root}\nnext: pip install -e {root} && grpo plugins && pytest {root}", highlight=False
    )


@plugins_app.callback()
def plugins_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print name, distribution, version, verifiers."),
) -> None:
    """List installed plugins with their verifiers and sandbox backends."""
    if ctx.invoked_subcommand is not None:
        return
    registry = get_registry()
    plugins = registry.describe()
    if as_json:
        typer.echo(json.dumps(plugins, indent=2))
        return
    console = make_console()
    table = Table(title="grpo plugins")
    for column in ("plugin", "distribution", "version", "verifiers", "sandbox backends"):
        table.add_column(column)
    for plugin in plugins:
        table.add_row(
            plugin["name"],
            plugin["distribution"] or "-",
            plugin["version"] or "-",
            ", ".join(plugin["verifiers"]) or "-",
            ", ".join(plugin["sandbox_backends"]) or "-",
        )
    console.print(table)
    for plugin in plugins:
        for error in plugin["errors"]:
            console.print(f"[bold red]plugin {plugin['name']!r} failed:[/] {error}", highlight=False)
    if not plugins:
        console.print("No plugins installed. Try: pip install grpo-reward-format")
