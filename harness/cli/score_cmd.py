"""``grpo score``: score a JSONL of completions with chosen verifiers and write the rows back."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from grpo_core.engine import Engine, RewardSpec
from grpo_core.errors import ConfigError, DataError
from grpo_core.jsonl import atomic_writer, read_jsonl, write_json_atomic, write_jsonl
from grpo_core.report import build_summary
from harness.cli import app
from harness.cli.common import make_console, user_errors

PROGRESS_MIN_ROWS = 2048


def parse_reward(text: str) -> tuple[str, float]:
    """``NAME`` or ``NAME=WEIGHT``."""
    name, sep, weight = text.partition("=")
    name = name.strip()
    if not name:
        raise ConfigError(f"--reward {text!r}: expected NAME or NAME=WEIGHT")
    if not sep:
        return name, 1.0
    try:
        return name, float(weight)
    except ValueError:
        raise ConfigError(f"--reward {text!r}: weight {weight!r} is not a number") from None


def parse_option(text: str) -> tuple[str, str, Any]:
    """``NAME.key=value``; the value is read as JSON when it parses (numbers, true, lists), else text."""
    target, sep, raw = text.partition("=")
    name, dot, key = target.partition(".")
    if not sep or not dot or not name or not key:
        raise ConfigError(f"--option {text!r}: expected NAME.key=value (e.g. format.mode=soft)")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.strip(), key.strip(), value


def parse_fallback(text: str, flag: str) -> float | None:
    if text.lower() in {"none", "null", ""}:
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected 'none' or a number") from None


def build_specs(
    rewards: list[str], options: list[str], timeout: float | None, on_timeout: str, on_error: str
) -> list[RewardSpec]:
    parsed = [parse_reward(r) for r in rewards]
    chosen = {name for name, _ in parsed}
    per_reward: dict[str, dict[str, Any]] = {name: {} for name in chosen}
    for text in options:
        name, key, value = parse_option(text)
        if name not in chosen:
            raise ConfigError(
                f"--option {text!r}: {name!r} is not among the chosen --reward {sorted(chosen)}"
            )
        per_reward[name][key] = value
    fallback_timeout = parse_fallback(on_timeout, "--on-timeout")
    fallback_error = parse_fallback(on_error, "--on-error")
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


def check_rows(path: Path, rows: list[tuple[int, dict[str, Any]]], engine: Engine) -> None:
    if not rows:
        raise DataError(f"{path}: no rows to score")
    for number, row in rows:
        if "completion" not in row:
            raise DataError(f"{path}:{number}: row has no 'completion' field")
        missing = engine.missing_columns(row)
        if missing:
            name, column = missing[0]
            raise DataError(
                f"{path}:{number}: row lacks column {column!r}, which verifier {name!r} needs; "
                "add it to every row"
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
        line += f"; {groups['count']} groups, {_fmt(groups['zero_std_fraction'], 2)} with zero reward std"
    console.print(line, highlight=False)


@app.command("score")
def score_command(
    input_path: Path = typer.Argument(..., metavar="INPUT.jsonl", help="Rows {prompt, completion, ...}."),
    reward: list[str] = typer.Option(..., "--reward", "-r", help="NAME or NAME=WEIGHT; repeatable."),
    option: list[str] = typer.Option([], "--option", help="NAME.key=value verifier option; repeatable."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Scored rows (JSONL); '-' = stdout."),
    summary_json: Path | None = typer.Option(None, "--summary-json", help="Write the summary as JSON."),
    timeout: float | None = typer.Option(None, "--timeout", min=0.001, help="Seconds per sample."),
    on_timeout: str = typer.Option("none", "--on-timeout", help="Value of a timed-out sample, or none."),
    on_error: str = typer.Option("none", "--on-error", help="Value of a sample whose verifier failed."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Worker processes (default: CPUs)."),
    batch_size: int = typer.Option(1024, "--batch-size", min=1, help="Rows handed to the engine at once."),
) -> None:
    """Score completions with the chosen verifiers; print a summary and write the scored rows."""
    to_stdout = output is not None and str(output) == "-"
    console = make_console(stderr=to_stdout)
    with user_errors():
        specs = build_specs(reward, option, timeout, on_timeout, on_error)
        rows = read_jsonl(input_path)
        with Engine(specs, workers=workers) as engine:
            check_rows(input_path, rows, engine)
            engine.start()  # set-up errors (e.g. a sandbox image not built) exit 2 before any row runs
            started = time.perf_counter()
            scored: list[dict[str, Any]] = []
            values: dict[str, list[float | None]] = {name: [] for name in engine.names}
            show_progress = len(rows) >= PROGRESS_MIN_ROWS
            with Progress(
                TextColumn("scoring"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                disable=not show_progress,
                transient=True,
            ) as progress:
                task = progress.add_task("scoring", total=len(rows))
                for start in range(0, len(rows), batch_size):
                    chunk = [row for _, row in rows[start : start + batch_size]]
                    result = engine.score(chunk)
                    for i, row in enumerate(chunk):
                        scored.append({**row, **result.row_fields(i)})
                    for name in engine.names:
                        values[name].extend(result.values(name))
                    progress.advance(task, len(chunk))
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
        if summary_json is not None:
            write_json_atomic(summary_json, summary)
    render_summary(console, summary)
    if output is not None and not to_stdout:
        console.print(f"scored rows: {output}", highlight=False)
