"""``grpo plugins``: what is installed, from which distribution, and what failed to load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from grpo_core.plugins import PluginRegistry, get_registry
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


def _verifier_details(registry: PluginRegistry, plugin: dict[str, Any]) -> dict[str, Any]:
    """Each verifier the plugin registered, described (options with type, default and help)."""
    details = {}
    for name in plugin["verifiers"]:
        claim = registry.verifier_claim(f"{plugin['distribution'] or plugin['name']}:{name}")
        details[name] = claim.obj.describe()
    return details


def plugins_json(registry: PluginRegistry) -> list[dict[str, Any]]:
    clashed = {c["name"]: c for c in registry.clashes()}
    plugins = registry.describe()
    for plugin in plugins:
        plugin["verifier_details"] = _verifier_details(registry, plugin)
        plugin["clashes"] = [
            clashed[n]["message"] for n in (*plugin["verifiers"], *plugin["sandbox_backends"]) if n in clashed
        ]
    return plugins


@plugins_app.callback()
def plugins_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(
        False, "--json", help="Print each plugin, its verifiers (with options) and any name clash."
    ),
) -> None:
    """List installed plugins with their verifiers and sandbox backends."""
    if ctx.invoked_subcommand is not None:
        return
    registry = get_registry()
    if as_json:
        typer.echo(json.dumps(plugins_json(registry), indent=2))
        return
    plugins = registry.describe()
    console = make_console()
    table = Table(title="grpo plugins")
    for column in ("plugin", "distribution", "version", "status", "verifiers", "sandbox backends"):
        table.add_column(column)
    for plugin in plugins:
        table.add_row(
            plugin["name"],
            plugin["distribution"] or "-",
            plugin["version"] or "-",
            plugin["status"],
            ", ".join(plugin["verifiers"]) or "-",
            ", ".join(plugin["sandbox_backends"]) or "-",
        )
    console.print(table)
    for plugin in plugins:
        loaded = ", ".join(plugin["verifiers"] + plugin["sandbox_backends"])
        for error in plugin["errors"]:
            if plugin["status"] == "partial":
                head = f"[bold red]plugin {plugin['name']!r} partly loaded[/] (usable: {loaded}); failed:"
            else:
                head = f"[bold red]plugin {plugin['name']!r} failed:[/]"
            console.print(f"{head} {escape(error)}", highlight=False)
    for clash in registry.clashes():
        console.print(f"[bold red]name clash:[/] {escape(clash['message'])}", highlight=False)
    if not plugins:
        console.print("No plugins installed. Try: pip install grpo-reward-format")


@plugins_app.command("show")
def show_verifier(
    name: str = typer.Argument(..., help="A verifier name, or distribution:name."),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
) -> None:
    """Describe one verifier: where it comes from, columns, isolation, timeout and every option."""
    registry = get_registry()
    with user_errors():
        claim = registry.verifier_claim(name)
    info = {
        **claim.obj.describe(),
        "plugin": claim.plugin,
        "distribution": claim.distribution,
        "version": claim.version,
    }
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    console = make_console()
    console.print(
        f"[bold]{info['name']}[/] from {escape(claim.source)} (plugin {claim.plugin!r})", highlight=False
    )
    if info["description"]:
        console.print(escape(info["description"]), highlight=False)
    console.print(
        f"columns: {', '.join(info['columns']) or '-'}; isolation: {info['isolation']}; "
        f"default timeout: {info['default_timeout']:g}s",
        highlight=False,
    )
    table = Table(title=f"options of {info['name']} (--option {info['name']}.KEY=VALUE)")
    for column in ("option", "type", "default", "help"):
        table.add_column(column, overflow="fold")
    for option in info["options"]:
        default = "(required)" if option["required"] else json.dumps(option["default"])
        table.add_row(option["name"], escape(option["type"]), escape(default), escape(option["help"]))
    if info["options"]:
        console.print(table)
    else:
        console.print("no options")
