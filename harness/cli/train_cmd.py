"""``grpo train``: train with a run config (or the embedded CPU demo when none is given)."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from harness.cli import app
from harness.cli.common import EXIT_RUNTIME, err_console, print_reward_sources, user_errors

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
    check: bool = typer.Option(
        False, "--check", help="Run every pre-flight check and exit: no process, model or run dir is touched."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an earlier run's outputs in the run dir (default: refuse)."
    ),
) -> None:
    """Train with TRL's GRPOTrainer and the chosen verifier plugins as rewards.

    One path: load the config, pre-flight (run dir, model, packages, verifiers, data, trainer
    values through GRPOConfig), stop there on --check, else launch (accelerate / vLLM server) or
    train in this process.
    """
    from harness.config import load_config

    console = Console()
    child = bool(os.environ.get(CHILD_ENV))
    with user_errors():
        overrides = list(set_)
        if output_dir is not None:
            overrides.append(f"output_dir={output_dir}")
        config = load_config(config_path, overrides)
        if show_config:
            import yaml  # here: every other `grpo` command would pay its import (~10 ms)

            console.print(yaml.safe_dump(config.dump(), sort_keys=False), highlight=False, end="")
            return
        from harness.launch import needs_launcher
        from harness.train import preflight

        # A launched child's run dir was checked (and cleared on --overwrite) by its parent.
        prepared = preflight(config, resume=resume, overwrite=overwrite, check_dir=not child)
        launcher = needs_launcher(config) and not child
        if check or launcher:
            prepared.close()
        if check:
            how = "launcher (accelerate/vLLM)" if launcher else "in this process"
            console.print(
                f"pre-flight ok: rewards {prepared.engine.names}, {len(prepared.train_rows)} train rows, "
                f"{len(prepared.eval_rows)} eval rows, run dir {config.run_dir}, runs {how}",
                highlight=False,
            )
            print_reward_sources(console, prepared.engine)
            return
        if launcher:
            from harness.launch import launch
            from harness.train import clear_run_outputs

            if overwrite:
                clear_run_outputs(config.run_dir)
            raise typer.Exit(launch(config, resume=resume, console=console))
        if config.cold_start.steps and not config.model.is_tiny:
            console.print(
                "note: cold_start runs for model: tiny only; skipped for this model", highlight=False
            )
        console.print(
            f"grpo train: {config.name} | model {config.model.name_or_path} | data {config.data.source} "
            f"({len(prepared.train_rows)} rows) | rewards "
            + ", ".join(f"{n}x{w:g}" for n, w in prepared.engine.weights.items()),
            highlight=False,
            soft_wrap=True,
        )
        print_reward_sources(console, prepared.engine)
    from harness.train import RunFailed, run_training

    try:
        with user_errors():
            run_training(prepared, console=console)
    except RunFailed as exc:
        err_console.print(f"[bold red]run failed:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_RUNTIME) from None
