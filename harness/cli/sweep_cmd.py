"""``grpo sweep``: run a grid of overrides (or print the launch commands) and compare the runs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harness.cli import app
from harness.cli.common import user_errors


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@app.command("sweep")
def sweep_command(
    config_path: Path | None = typer.Argument(
        None, metavar="[CONFIG]", help="Run config; none: the tiny demo."
    ),
    grid: list[str] = typer.Option(
        ..., "--grid", "-g", help="key.path=v1,v2,...; repeatable (cartesian product)."
    ),
    set_: list[str] = typer.Option([], "--set", "-s", help="key.path=value applied to every run."),
    name: str | None = typer.Option(None, "--name", help="Sweep name (default: <config name>-sweep)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the launch commands; run nothing."),
) -> None:
    """Run every combination of the grid sequentially, one run dir each, then compare them."""
    from harness import sweep

    console = Console()
    with user_errors():
        sweep_name, root, runs = sweep.plan(config_path, grid, set_, name)
    if dry_run:
        for line in sweep.dry_run_lines(runs):
            console.print(line, highlight=False, soft_wrap=True, markup=False)
        return
    sweep.write_plan(root, runs)
    codes = sweep.run_sweep(runs, emit=lambda text: console.print(text, highlight=False, markup=False))
    summary = sweep.summarize(root, runs, codes)
    table = Table(title=f"grpo sweep {sweep_name}: {len(runs)} runs")
    for column in ("run", "exit", "steps", "first reward", "final reward", "reward std", "kl"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for entry in summary["runs"]:
        table.add_row(
            entry["name"],
            str(entry["exit_code"]),
            str(entry["steps"]),
            _fmt(entry["first_reward"]),
            _fmt(entry["final_reward"]),
            _fmt(entry["final_reward_std"]),
            _fmt(entry["final_kl"]),
        )
    console.print(table)
    console.print(f"summary: {root / 'sweep_summary.json'}  plot: {summary['plot']}", highlight=False)
    if any(codes):
        raise typer.Exit(1)
