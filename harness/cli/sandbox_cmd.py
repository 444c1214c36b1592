"""``grpo sandbox build|check``: build the code sandbox image; prove its hardening from inside."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harness.cli import app
from harness.cli.common import user_errors
from sandboxes.images import DEFAULT_SUITE

sandbox_app = typer.Typer(
    help="Code-execution sandboxes: build the image, check the hardening.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")

console = Console()
err = Console(stderr=True)


@sandbox_app.command("build")
def build(
    offline: bool = typer.Option(
        False, "--offline", help="No registry: Debian root fs via mmdebstrap, docker import, layers on top."
    ),
    tag: str = typer.Option("grpo-sandbox-python:latest", "--tag", help="Image tag to build."),
    base: str | None = typer.Option(
        None, "--base", help="Base image (online) or imported base tag (offline)."
    ),
    suite: str = typer.Option(DEFAULT_SUITE, "--suite", help="Debian suite for --offline."),
    mirror: str | None = typer.Option(None, "--mirror", help="Debian mirror for --offline (default: apt's)."),
    rootfs: Path | None = typer.Option(
        None, "--rootfs", help="Use this root fs tarball instead of mmdebstrap."
    ),
    with_cpp: bool = typer.Option(False, "--with-cpp", help="Also install g++ (offline build)."),
) -> None:
    """Build the sandbox image (Dockerfile in sandboxes/images/python)."""
    from sandboxes import SandboxError
    from sandboxes.images import build_image

    with user_errors():
        try:
            built = build_image(
                tag=tag,
                offline=offline,
                base=base,
                suite=suite,
                mirror=mirror,
                with_cpp=with_cpp,
                rootfs=rootfs,
                log=lambda line: console.print(line, highlight=False, markup=False),
            )
        except SandboxError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
    console.print(f"[green]built[/] {built}")


@sandbox_app.command("check")
def check(
    backend: str = typer.Option(
        "docker", "--backend", help="A registered backend: docker, bwrap, subprocess (unsafe) or a plugin's."
    ),
    image: str = typer.Option("grpo-sandbox-python:latest", "--image", help="Image (docker backend)."),
    docker_mode: str = typer.Option(
        "session", "--docker-mode", help="docker: session (long-lived runner) or exec (docker exec per job)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Run probes inside the sandbox and print a pass/fail table; exit 1 when any fails."""
    from sandboxes import SandboxError, SandboxUnavailable, get_backend
    from sandboxes.check import run_probes
    from sandboxes.choose import backend_classes

    with user_errors():
        try:
            # the docker settings apply whenever docker is registered: `auto` or `grpo-core:docker`
            # may choose it too
            options = {"docker": {"image": image, "mode": docker_mode, "warm": False}}
            if "docker" not in backend_classes():
                options = {}
            # checking an unsafe backend is allowed: its probes then show what it does not contain
            sandbox = get_backend(backend, options or None, allow_unsafe=True)
        except (SandboxUnavailable, SandboxError) as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
        results = run_probes(sandbox)
    failed = [r for r in results if not r.passed]
    if json_out:
        print(json.dumps([r.__dict__ for r in results], indent=2))
    else:
        table = Table(title=f"sandbox check: {backend}")
        for column in ("check", "expectation", "result", "detail", "s"):
            table.add_column(column, overflow="fold")
        for r in results:
            verdict = "[green]PASS[/]" if r.passed else "[bold red]FAIL[/]"
            table.add_row(r.name, r.expectation, verdict, r.detail, f"{r.seconds:.2f}")
        console.print(table)
        console.print(f"{len(results) - len(failed)}/{len(results)} passed")
    if failed:
        raise typer.Exit(1)
