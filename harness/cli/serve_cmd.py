"""``grpo serve``: the chosen verifiers as an HTTP reward server (see :mod:`harness.serve`)."""

from __future__ import annotations

import typer

from grpo_core.engine import Engine
from harness.cli import app
from harness.cli.common import make_console, user_errors
from harness.cli.score_cmd import build_specs


@app.command("serve")
def serve_command(
    reward: list[str] = typer.Option(..., "--reward", "-r", help="NAME or NAME=WEIGHT; repeatable."),
    option: list[str] = typer.Option([], "--option", help="NAME.key=value verifier option; repeatable."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0: every one)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
    timeout: float | None = typer.Option(None, "--timeout", min=0.001, help="Seconds per sample."),
    on_timeout: str = typer.Option("none", "--on-timeout", help="Value of a timed-out sample, or none."),
    on_error: str = typer.Option("none", "--on-error", help="Value of a sample whose verifier failed."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Worker processes (default: CPUs)."),
    max_concurrency: int = typer.Option(8, "--max-concurrency", min=1, help="Batches scored at once."),
    max_queue: int = typer.Option(256, "--max-queue", min=0, help="Requests waiting; beyond: 503."),
    max_body_mb: float = typer.Option(64.0, "--max-body-mb", min=0.001, help="Largest request body."),
    max_rows: int = typer.Option(65536, "--max-rows", min=1, help="Most rows in one request."),
    label_column: str = typer.Option("answer", "--label-column", help="Column /get_reward labels fill."),
    graceful_s: float = typer.Option(30.0, "--graceful-timeout", min=0, help="Seconds to finish work."),
) -> None:
    """Serve rewards over HTTP: OpenRLHF's /get_reward, /score (scoring rows), /health, /metrics."""
    from harness.serve import ServeLimits, serve

    console = make_console(stderr=True)
    with user_errors():
        specs = build_specs(reward, option, timeout, on_timeout, on_error)
        engine = Engine(specs, workers=workers)
    limits = ServeLimits(max_concurrency, max_queue, int(max_body_mb * 1024 * 1024), max_rows, label_column)
    try:
        with user_errors():  # a verifier that cannot set up: exit 2 before serving anything
            engine.start().check_setup()
    except BaseException:
        engine.close()
        raise
    console.print(f"grpo serve: {', '.join(engine.names)} on http://{host}:{port}", highlight=False)
    serve(engine, host=host, port=port, limits=limits, graceful_s=graceful_s)
