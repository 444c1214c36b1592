"""``grpo score``: score a JSONL of completions with chosen verifiers and write the rows back."""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from grpo_core.checks import check_row_columns, finite
from grpo_core.engine import Engine, RewardSpec, format_validation_error
from grpo_core.errors import ConfigError, DataError, GrpoError
from grpo_core.jsonl import (
    atomic_writer,
    check_output_path,
    partial_path,
    read_jsonl,
    write_json_atomic,
    write_jsonl,
)
from grpo_core.report import build_summary
from grpo_core.values import parse_value
from harness.cli import app
from harness.cli.common import EXIT_RUNTIME, err_console, make_console, user_errors

PROGRESS_MIN_ROWS = 2048
#: share of error+timeout rows per verifier above which ``grpo score`` exits 1
DEFAULT_MAX_ERROR_FRAC = 0.1
EXIT_INTERRUPTED = 130


def parse_reward(text: str) -> tuple[str, float]:
    """``NAME`` or ``NAME=WEIGHT`` (NAME may be ``distribution:name``); the weight must be finite."""
    name, sep, weight = text.partition("=")
    name = name.strip()
    if not name:
        raise ConfigError(f"--reward {text!r}: expected NAME or NAME=WEIGHT")
    if not sep:
        return name, 1.0
    try:
        value = float(weight)
    except ValueError:
        raise ConfigError(f"--reward {text!r}: weight {weight!r} is not a number") from None
    return name, finite(value, f"--reward {text!r}: weight")


def parse_option(text: str) -> tuple[str, str, Any]:
    """``NAME.key=value``; the value is read by the same parser as ``--set`` (JSON, a number, a
    YAML list, else text); a list option also takes ``a,b``."""
    target, sep, raw = text.partition("=")
    name, dot, key = target.partition(".")
    if not sep or not dot or not name or not key:
        raise ConfigError(f"--option {text!r}: expected NAME.key=value (e.g. format.mode=soft)")
    return name.strip(), key.strip(), parse_value(raw, f"--option {text!r}")


def set_option(options: dict[str, Any], key: str, value: Any, text: str) -> None:
    """``key`` may be dotted: ``backend_options.docker.image`` sets one entry of a mapping option
    (merged with what other ``--option`` flags set there)."""
    *parents, last = key.split(".")
    if not all(parents) or not last:
        raise ConfigError(f"--option {text!r}: empty key in {key!r}")
    node = options
    for depth, part in enumerate(parents):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parents[: depth + 1])
            raise ConfigError(f"--option {text!r}: {where} is already set to a value that is not a mapping")
        node = child
    node[last] = value


def parse_fallback(text: str, flag: str) -> float | None:
    if text.lower() in {"none", "null", ""}:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected 'none' or a number") from None
    return finite(value, f"{flag} {text!r}")


def build_specs(
    rewards: list[str], options: list[str], timeout: float | None, on_timeout: str, on_error: str
) -> list[RewardSpec]:
    parsed = [parse_reward(r) for r in rewards]
    chosen = {name.rpartition(":")[2]: name for name, _ in parsed}
    per_reward: dict[str, dict[str, Any]] = {name: {} for name in chosen.values()}
    for text in options:
        name, key, value = parse_option(text)
        target = chosen.get(name) or (name if name in per_reward else None)
        if target is None:
            raise ConfigError(
                f"--option {text!r}: {name!r} is not among the chosen --reward {sorted(chosen)}"
            )
        set_option(per_reward[target], key, value, text)
    if timeout is not None:
        finite(timeout, "--timeout")
    fallback_timeout = parse_fallback(on_timeout, "--on-timeout")
    fallback_error = parse_fallback(on_error, "--on-error")
    try:
        return [
            RewardSpec(
                verifier=name,
                weight=weight,
                options=per_reward[name],
                timeout=timeout,
                on_timeout=fallback_timeout,
                on_error=fallback_error,
            )
            for name, weight in parsed
        ]
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "--reward")) from None


def check_rows(path: Path, rows: list[tuple[int, dict[str, Any]]], engine: Engine) -> None:
    if not rows:
        raise DataError(f"{path}: no rows to score")
    required = engine.required_columns()
    for number, row in rows:
        if "completion" not in row:
            raise DataError(f"{path}:{number}: row has no 'completion' field")
        check_row_columns(row, required, f"{path}:{number}", "add it to every row")


def check_output_paths(output: Path | None, summary_json: Path | None, input_path: Path) -> None:
    """Before any scoring: every output path must be writable as a regular file."""
    if output is not None and str(output) != "-":
        check_output_path(output, "--output")
    if summary_json is not None:
        check_output_path(summary_json, "--summary-json")
    named = [
        (p, flag)
        for p, flag in ((output, "--output"), (summary_json, "--summary-json"))
        if p and str(p) != "-"
    ]
    if len(named) == 2 and named[0][0].resolve() == named[1][0].resolve():
        raise ConfigError("--output and --summary-json name the same file; give them different paths")
    for path, flag in named:
        if input_path.exists() and path.resolve() == input_path.resolve():
            raise ConfigError(f"{flag} {str(path)!r} is the input file; write the results elsewhere")


def failing_verifiers(engine: Engine, max_error_frac: float) -> list[str]:
    """One line per verifier whose share of error+timeout rows is above ``max_error_frac``."""
    lines = []
    for name, metrics in engine.metrics.items():
        fraction = metrics.failure_fraction()
        if fraction > max_error_frac:
            summary = metrics.summary()["status"]
            lines.append(
                f"verifier {name!r} failed on {fraction:.0%} of rows ({summary['error']} error, "
                f"{summary['timeout']} timeout), above --max-error-frac {max_error_frac:g}"
            )
    return lines


class RateColumn(ProgressColumn):
    """Rows per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s", style="progress.data.speed")


def progress_bar(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=True,
    )


def group_labels(rows: list[dict[str, Any]]) -> list[Any] | None:
    """One hashable group label per row, or None when no row names a group.

    A row without ``group`` is a group of its own (never lumped with other ungrouped rows);
    list/object labels are compared by their JSON text.
    """
    if not any("group" in row for row in rows):
        return None
    labels: list[Any] = []
    for index, row in enumerate(rows):
        if "group" not in row:
            labels.append(("ungrouped row", index))
        elif isinstance(row["group"], (list, dict)):
            labels.append(json.dumps(row["group"], sort_keys=True))
        else:
            labels.append(row["group"])
    return labels


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_summary(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title=f"grpo score: {summary['rows']} rows in {summary['elapsed_s']:.2f}s")
    headers = ["reward", "weight", "mean", "std", "ok", "n/a", "timeout", "error", "invalid"]
    headers += ["p50 ms", "p95 ms", "cached"]
    has_groups = "groups" in summary
    if has_groups:
        headers.append("0-std groups")
    for header in headers:
        table.add_column(header, justify="left" if header == "reward" else "right", no_wrap=True)
    for name, v in summary["verifiers"].items():
        status = v["status"]
        row = [name, f"{v['weight']:g}", _fmt(v["mean"]), _fmt(v["std"])]
        row += [str(status[k]) for k in ("ok", "not_applicable", "timeout", "error", "invalid_input")]
        row += [_fmt(v["latency_p50_ms"], 2), _fmt(v["latency_p95_ms"], 2), f"{v['cache_hit_rate']:.0%}"]
        if has_groups:
            row.append(_fmt(v["zero_std_group_fraction"], 2))
        table.add_row(*row)
    console.print(table)
    reward = summary["reward"]
    line = f"weighted reward: mean {_fmt(reward['mean'])}, std {_fmt(reward['std'])}"
    if reward["missing"]:
        line += f", {reward['missing']} rows without any value"
    if has_groups:
        groups = summary["groups"]
        plural = "" if groups["count"] == 1 else "s"
        line += (
            f"; {groups['count']} group{plural}, {_fmt(groups['zero_std_fraction'], 2)} with zero reward std"
        )
    console.print(line, highlight=False)


@app.command("score")
def score_command(
    input_path: Path = typer.Argument(..., metavar="INPUT.jsonl", help="Rows {prompt, completion, ...}."),
    reward: list[str] = typer.Option(
        ..., "--reward", "-r", help="NAME or NAME=WEIGHT (NAME may be distribution:name); repeatable."
    ),
    option: list[str] = typer.Option(
        [],
        "--option",
        help="NAME.key=value verifier option (lists: a,b or JSON; a mapping's entry: NAME.key.entry=value); "
        "repeatable.",
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Scored rows (JSONL); '-' = stdout."),
    summary_json: Path | None = typer.Option(None, "--summary-json", help="Write the summary as JSON."),
    timeout: float | None = typer.Option(None, "--timeout", min=0.001, help="Seconds per sample."),
    on_timeout: str = typer.Option("none", "--on-timeout", help="Value of a timed-out sample, or none."),
    on_error: str = typer.Option("none", "--on-error", help="Value of a sample whose verifier failed."),
    max_error_frac: float = typer.Option(
        DEFAULT_MAX_ERROR_FRAC,
        "--max-error-frac",
        min=0.0,
        max=1.0,
        help="Exit 1 when a verifier's share of error+timeout rows is above this (rows are still written).",
    ),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Worker processes (default: CPUs)."),
    batch_size: int = typer.Option(1024, "--batch-size", min=1, help="Rows handed to the engine at once."),
) -> None:
    """Score completions with the chosen verifiers; print a summary and write the scored rows.

    Exit codes: 0 ok; 1 a verifier failed on more than --max-error-frac of the rows; 2 bad input
    (options, rows, output paths), found before scoring starts; 130 interrupted (Ctrl-C), with the
    rows finished so far in OUTPUT's ``.partial`` file, never at OUTPUT itself.
    """
    to_stdout = output is not None and str(output) == "-"
    console = make_console(stderr=to_stdout)
    with user_errors():
        specs = build_specs(reward, option, timeout, on_timeout, on_error)
        check_output_paths(output, summary_json, input_path)
        rows = read_jsonl(input_path)
        with Engine(specs, workers=workers) as engine:
            check_rows(input_path, rows, engine)
            for name, source in engine.sources.items():
                console.print(f"reward {name}: {source} (weight {engine.weights[name]:g})", highlight=False)
            engine.start()  # set-up errors (e.g. a sandbox image not built) exit 2 before any row runs
            engine.check_setup()
            # what is loaded now (modules, plugins, rows) lives as long as the command: collections
            # during scoring need not walk it again and again
            gc.freeze()
            started = time.perf_counter()
            scored: list[dict[str, Any]] = []
            values: dict[str, list[float | None]] = {name: [] for name in engine.names}
            err = Console(stderr=True)
            show_progress = err.is_terminal or len(rows) >= PROGRESS_MIN_ROWS
            step = min(batch_size, max(64, len(rows) // 50)) if show_progress else batch_size
            try:
                with progress_bar(err, show_progress) as progress:
                    task = progress.add_task("scoring", total=len(rows))
                    for start in range(0, len(rows), step):
                        chunk = [row for _, row in rows[start : start + step]]
                        result = engine.score(chunk)
                        for i, row in enumerate(chunk):
                            scored.append({**row, **result.row_fields(i)})
                        for name in engine.names:
                            values[name].extend(result.values(name))
                        progress.advance(task, len(chunk))
            except KeyboardInterrupt:
                interrupted(console, output, to_stdout, scored, len(rows))
            elapsed = time.perf_counter() - started
        if to_stdout:
            write_jsonl(sys.stdout, scored)
            sys.stdout.flush()
        elif output is not None:
            with atomic_writer(output) as handle:
                write_jsonl(handle, scored)
        summary = build_summary(
            engine.metrics,
            engine.weights,
            [row["reward"] for row in scored],
            values,
            group_labels(scored),
            elapsed_s=elapsed,
        )
        summary["input"] = str(input_path)
        failures = failing_verifiers(engine, max_error_frac)
        summary["failed"] = failures
        if summary_json is not None:
            write_json_atomic(summary_json, summary)
    render_summary(console, summary)
    if output is not None and not to_stdout:
        console.print(f"scored rows: {output}", highlight=False)
    if failures:
        for line in failures:
            err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_RUNTIME)


def interrupted(
    console: Console, output: Path | None, to_stdout: bool, scored: list[dict[str, Any]], total: int
) -> NoReturn:
    """Ctrl-C: keep the finished rows beside OUTPUT as ``.partial`` (never at OUTPUT), exit 130."""
    message = f"interrupted: {len(scored)} of {total} rows scored"
    if output is not None and not to_stdout and scored:
        partial = partial_path(output)
        try:
            with atomic_writer(partial) as handle:
                write_jsonl(handle, scored)
            message += f"; they are in {partial} ({output} was not written)"
        except (OSError, GrpoError) as exc:
            message += f"; could not keep them ({exc})"
    elif output is not None:
        message += "; nothing written"
    err_console.print(f"[bold yellow]{escape(message)}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_INTERRUPTED)
