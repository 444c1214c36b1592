"""``grpo eval``: generate on the held-out split, score with the config's verifiers, report pass@k."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harness.cli import app
from harness.cli.common import user_errors


@app.command("eval")
def eval_command(
    config_path: Path | None = typer.Argument(
        None, metavar="[CONFIG]", help="Run config; none: the tiny demo."
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model directory, or a run dir (uses its final/); default: the config's run dir.",
    ),
    samples: int = typer.Option(4, "--samples", "-n", min=1, help="Completions per problem."),
    k: list[int] = typer.Option([], "--k", "-k", help="pass@k to report (repeatable); default 1 and n."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N held-out rows."),
    temperature: float | None = typer.Option(
        None, "--temperature", min=0.0, help="Default: trainer.temperature."
    ),
    max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", min=1),
    metric: str | None = typer.Option(
        None, "--metric", help="Reward deciding correctness (default: the first)."
    ),
    threshold: float = typer.Option(1.0, "--threshold", help="Correct when the metric's value >= this."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Scored rows (JSONL)."),
    backend: str = typer.Option("auto", "--backend", help="auto | transformers | vllm"),
    set_: list[str] = typer.Option([], "--set", "-s", help="key.path=value config override; repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Evaluate a trained model on the held-out split: pass@1 and pass@k (unbiased estimator)."""
    from harness.config import load_config
    from harness.evaluate import evaluate

    console = Console()
    with user_errors():
        if backend not in ("auto", "transformers", "vllm"):
            from grpo_core.errors import ConfigError

            raise ConfigError(f"--backend {backend!r}: choose auto, transformers or vllm")
        config = load_config(config_path, list(set_))
        ks = sorted(set(k or [1, samples]))
        summary = evaluate(
            config,
            model if model is not None else config.run_dir,
            samples=samples,
            ks=ks,
            limit=limit,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            metric=metric,
            threshold=threshold,
            output=output,
            backend=backend,
        )
    if as_json:
        console.print_json(json.dumps(summary))
        return
    table = Table(title=f"grpo eval: {summary['rows']} problems x {samples} samples ({summary['backend']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary["pass_at_k"].items():
        table.add_row(f"{key} ({summary['metric']} >= {threshold:g})", f"{value:.3f}")
    for name, value in summary["reward_means"].items():
        table.add_row(f"mean {name}", f"{value:.3f}")
    console.print(table)
    if output is not None:
        console.print(f"scored rows: {output}", highlight=False)
