"""``grpo train``: train with a run config (or the embedded CPU demo when none is given)."""

from __future__ import annotations

import os
from pathlib import Path

import typer
import yaml
from rich.console import Console

from harness.cli import app
from harness.cli.common import print_reward_sources, user_errors

CHILD_ENV = "GRPO_HARNESS_CHILD"


@app.command("train")
def train_command(
    config_path: Path | None = typer.Argument(
        None, metavar="[CONFIG]", help="Run config (YAML/TOML); none: the embedded tiny CPU demo."
    ),
    set_: list[str] = typer.Option([], "--set", "-s", help="key.path=value override; repeatable."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run dir's last checkpoint."),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="Run directory (default runs/NAME)."
    ),
    show_config: bool = typer.Option(False, "--show-config", help="Print the resolved config and exit."),
    check: bool = typer.Option(False, "--check", help="Run the pre-flight checks only (no model is loaded)."),
) -> None:
    """Train with TRL's GRPOTrainer and the chosen verifier plugins as rewards."""
    from harness.config import load_config

    console = Console()
    with user_errors():
        overrides = list(set_)
        if output_dir is not None:
            overrides.append(f"output_dir={output_dir}")
        config = load_config(config_path, overrides)
        if show_config:
            console.print(yaml.safe_dump(config.dump(), sort_keys=False), highlight=False, end="")
            return
        from harness.launch import needs_launcher

        if needs_launcher(config) and not os.environ.get(CHILD_ENV):
            from harness.launch import launch

            raise typer.Exit(launch(config, resume=resume, console=console))
        from harness.train import preflight, run_training

        prepared = preflight(config)
        if check:
            prepared.close()
            console.print(
                f"pre-flight ok: rewards {prepared.engine.names}, {len(prepared.train_rows)} train rows, "
                f"{len(prepared.eval_rows)} eval rows, run dir {config.run_dir}",
                highlight=False,
            )
            print_reward_sources(console, prepared.engine)
            return
        console.print(
            f"grpo train: {config.name} | model {config.model.name_or_path} | data {config.data.source} "
            f"({len(prepared.train_rows)} rows) | rewards "
            + ", ".join(f"{n}x{w:g}" for n, w in prepared.engine.weights.items()),
            highlight=False,
            soft_wrap=True,
        )
        print_reward_sources(console, prepared.engine)
        run_training(prepared, resume=resume, console=console)
