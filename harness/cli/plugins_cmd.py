"""``grpo plugins``: what is installed, from which distribution, and what failed to load."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from grpo_core.plugins import get_registry
from harness.cli import app
from harness.cli.common import make_console


@app.command("plugins")
def plugins_command(
    as_json: bool = typer.Option(False, "--json", help="Print name, distribution, version, verifiers."),
) -> None:
    """List installed plugins with their verifiers and sandbox backends."""
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
