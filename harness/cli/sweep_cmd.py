"""``grpo sweep``: run a grid of overrides (or print the launch commands) and compare the runs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from harness.cli import app
from harness.cli.common import EXIT_RUNTIME, make_console, user_errors

COLUMNS = (
    ("run", "name"),
    ("exit", "exit_code"),
    ("steps", "steps"),
    ("final reward", "final_reward"),
    ("group reward std", "final_group_reward_std"),
    ("batch reward std", "final_reward_std"),
    ("zero-std groups", "mean_zero_std_frac"),
    ("entropy", "final_entropy"),
    ("kl", "final_kl"),
    ("mean grad norm", "mean_grad_norm"),
    ("eval pass@1", "eval_pass_at_1"),
)


def _fmt(value: object, missing: str = "-") -> str:
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-2 and value != 0 else f"{value:.3f}"
    return str(value)


def _row(entry: dict) -> list[str]:
    cells = []
    for _, key in COLUMNS:
        missing = "n/a" if key == "final_kl" and entry["kl"].startswith("n/a") else "-"
        cells.append(_fmt(entry.get(key), missing))
    return cells


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
    parallel: int = typer.Option(1, "--parallel", "-p", help="Runs at once, each with its own devices."),
    gpus_per_run: int | None = typer.Option(
        None,
        "--gpus-per-run",
        help="GPUs per run (disjoint CUDA_VISIBLE_DEVICES); default: visible GPUs / --parallel; 0: CPU.",
    ),
    evaluate: bool = typer.Option(False, "--eval", help="Evaluate each finished run on the held-out split."),
    eval_samples: int = typer.Option(4, "--eval-samples", min=1, help="Completions per held-out problem."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace run dirs of an earlier sweep."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the launch commands; run nothing."),
) -> None:
    """Run every combination of the grid (up to --parallel at once), then compare them."""
    from harness import sweep
    from harness.sweep_devices import slot_environments

    console = make_console()
    emit = lambda text: console.print(text, highlight=False, markup=False, soft_wrap=True)  # noqa: E731
    with user_errors():
        slot_envs = slot_environments(parallel, gpus_per_run)
        sweep_name, root, runs = sweep.plan(
            config_path, grid, set_, name, overwrite=overwrite or dry_run, eval_samples=eval_samples
        )
    if dry_run:
        for slot, env in enumerate(slot_envs):
            if env:
                emit(f"# slot {slot}: " + " ".join(f"{k}={v!r}" for k, v in env.items()))
        for line in sweep.dry_run_lines(runs):
            emit(line)
        return
    sweep.write_plan(root, runs, slot_envs)
    try:
        outcomes = sweep.run_sweep(runs, root, slot_envs=slot_envs, emit=emit)
    except KeyboardInterrupt:
        emit("[sweep] stopped; finished runs keep their run dirs")
        raise typer.Exit(130) from None
    if evaluate:
        sweep.run_evals(runs, outcomes, slot_envs=slot_envs, emit=emit)
    summary = sweep.summarize(root, runs, outcomes)
    table = Table(title=f"grpo sweep {sweep_name}: {len(runs)} runs")
    for column, _ in COLUMNS:
        table.add_column(column, justify="left" if column == "run" else "right")
    for entry in summary["runs"]:
        table.add_row(*_row(entry))
    console.print(table)
    for entry in summary["runs"]:
        if entry["error"]:
            emit(f"{entry['name']}: {entry['error']}")
        if entry.get("eval_error"):
            emit(f"{entry['name']} eval: {entry['eval_error']}")
    emit(f"summary: {root / 'sweep_summary.json'}  plot: {summary['plot']}  logs: <run dir>/train.log")
    if any(o.exit_code != 0 for o in outcomes) or any(o.eval_error for o in outcomes):
        raise typer.Exit(EXIT_RUNTIME)
