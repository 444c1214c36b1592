"""``grpo doctor``: versions against the tested constraint sets, GPUs, Docker, plugins."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from harness.cli import app

STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red", "info": "cyan"}


@app.command("doctor")
def doctor_command(as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON.")) -> None:
    """Check python/torch/CUDA/trl/transformers/vllm/accelerate/deepspeed, GPUs, Docker and plugins."""
    from harness.doctor import as_dicts, run_checks

    console = Console()
    checks = run_checks()
    failed = [c for c in checks if c.verdict == "fail"]
    if as_json:
        console.print_json(json.dumps({"checks": as_dicts(checks), "ok": not failed}))
    else:
        table = Table(title="grpo doctor")
        for column in ("check", "verdict", "detail"):
            table.add_column(column)
        for check in checks:
            style = STYLES.get(check.verdict, "")
            table.add_row(check.name, f"[{style}]{check.verdict}[/]", check.detail)
        console.print(table)
        warned = sum(c.verdict == "warn" for c in checks)
        verdict = "[bold red]problems found[/]" if failed else "[green]ready[/]"
        console.print(f"{verdict}: {len(failed)} failing, {warned} warning(s)")
    if failed:
        raise typer.Exit(1)
