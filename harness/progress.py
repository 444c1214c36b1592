"""Per-step reporting during training: the metrics JSONL and the printed reward table."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover - harness installed without the train extra
    TrainerCallback = object  # type: ignore[assignment,misc]

LIVE_ROWS = 20


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, float)):
        return f"{value:.{digits}f}"
    return str(value)


FAILURE_STATUSES = ("error", "timeout", "invalid_input", "not_applicable")


def verifier_cell(row: dict[str, Any], name: str) -> str:
    """The verifier's mean reward, or why there is none; failures are flagged next to the mean."""
    mean = row.get(f"rewards/{name}/mean")
    fracs = {status: row.get(f"verifiers/{name}/{status}_frac") or 0.0 for status in FAILURE_STATUSES}
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        worst = max(fracs, key=lambda status: fracs[status])
        return f"{worst} {fracs[worst]:.0%}" if fracs[worst] else "no reward"
    failed = fracs["error"] + fracs["timeout"]
    return f"{mean:.3f} !{failed:.0%} failed" if failed else f"{mean:.3f}"


class RewardTable:
    """One row per logging step: total reward, each verifier's mean, std, KL, entropy, length, time.

    On a terminal it is a rich live table (the latest rows); elsewhere (CI logs, pipes) each row is
    printed as a line as it arrives.
    """

    def __init__(self, names: list[str], console: Console | None = None, total_steps: int | None = None):
        self.names = names
        self.console = console or Console()
        self.rows: list[dict[str, Any]] = []
        self.total_steps = total_steps
        self._live: Live | None = None
        self.columns = ["step", "reward", *names, "reward std", "kl", "entropy", "length", "s/step"]

    def _values(self, row: dict[str, Any]) -> list[str]:
        values = [str(row.get("step", "")), _fmt(row.get("reward"))]
        values += [verifier_cell(row, name) for name in self.names]
        values += [_fmt(row.get("reward_std")), _fmt(row.get("kl"), 4), _fmt(row.get("entropy"))]
        values += [_fmt(row.get("completions/mean_length"), 1), _fmt(row.get("step_time"), 2)]
        return values

    def _render(self) -> Table:
        total = f"/{self.total_steps}" if self.total_steps else ""
        last = self.rows[-1]["step"] if self.rows else 0
        table = Table(title=f"grpo train: step {last}{total}", title_justify="left")
        for column in self.columns:
            table.add_column(column, justify="right")
        for row in self.rows[-LIVE_ROWS:]:
            table.add_row(*self._values(row))
        return table

    def __enter__(self) -> RewardTable:
        if self.console.is_terminal:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        else:
            widths = [max(7, len(c)) for c in self.columns]
            self._widths = widths
            header = "  ".join(c.rjust(w) for c, w in zip(self.columns, widths))
            self.console.print(header, highlight=False, soft_wrap=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)
            self._live = None

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if self._live is not None:
            self._live.update(self._render())
        else:
            widths = getattr(self, "_widths", [7] * len(self.columns))
            line = "  ".join(v.rjust(w) for v, w in zip(self._values(row), widths))
            self.console.print(line, highlight=False, soft_wrap=True)

    def print_summary(self, summary: dict[str, Any]) -> None:
        table = Table(title=f"reward, first vs last steps ({summary['wall_s']:.0f}s)", title_justify="left")
        for column in ("", "first", "last", "change"):
            table.add_column(column, justify="right" if column else "left")
        for label in ["reward", *self.names]:
            first, last = summary["first"].get(label), summary["last"].get(label)
            change = None if first is None or last is None else last - first
            sign = "" if change is None or change < 0 else "+"
            table.add_row(label, _fmt(first), _fmt(last), sign + _fmt(change))
        self.console.print(table)
        evaluation = summary.get("eval")
        if evaluation:
            self.print_eval(evaluation)
        self.console.print(f"run dir: {summary['run_dir']}", highlight=False)

    def print_eval(self, evaluation: dict[str, Any]) -> None:
        """The held-out evaluation of ``init/`` (before RL) and ``final/`` (after), side by side."""
        before, after = evaluation["before"], evaluation["after"]
        title = (
            f"held-out eval: {after['rows']} problems x {after['samples_per_row']} samples, "
            f"correct = {after['metric']} >= {after['threshold']:g}"
        )
        table = Table(title=title, title_justify="left")
        for column in ("", "before RL (init/)", "after RL (final/)"):
            table.add_column(column, justify="right" if column else "left")
        table.add_row("pass@1", _fmt(before["pass_at_k"]["pass@1"]), _fmt(after["pass_at_k"]["pass@1"]))
        for name in after["reward_means"]:
            table.add_row(
                f"mean {name}", _fmt(before["reward_means"].get(name)), _fmt(after["reward_means"][name])
            )
        self.console.print(table)


class MetricsCallback(TrainerCallback):
    """Appends each log to ``metrics.jsonl`` and feeds the reward table (main process only)."""

    def __init__(self, path: Path, table: RewardTable | None = None) -> None:
        self.path = Path(path)
        self.table = table
        self.started = time.time()

    def on_train_begin(self, args, state, control, **kwargs):
        if self.table is not None:
            self.table.total_steps = state.max_steps

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, "time_s": round(time.time() - self.started, 3)}
        for key, value in logs.items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                record[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.table is not None and "reward" in record:
            self.table.add(record)


class ErrorsCallback(TrainerCallback):
    """Per logging step: each failing verifier's first error/timeout message, printed and appended to
    ``errors.jsonl``; after every step: stop the run when a verifier fails more than allowed."""

    def __init__(self, health: Any, path: Path, console: Console | None = None) -> None:
        self.health = health
        self.path = Path(path)
        self.console = console or Console()

    def _flush(self, state) -> None:
        entries = self.health.report(state.global_step)
        if not entries or not state.is_world_process_zero:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            for entry in entries:
                handle.write(json.dumps(entry) + "\n")
        for entry in entries:  # one line per verifier per logging step: rate-limited by design
            first = entry["first_error"] or entry["first_timeout"]
            self.console.print(
                f"[step {entry['step']}] verifier {entry['verifier']}: {entry['errors']} error(s), "
                f"{entry['timeouts']} timeout(s) in {entry['samples']} samples; first: {first}",
                highlight=False,
                soft_wrap=True,
                markup=False,
            )

    def on_log(self, args, state, control, logs=None, **kwargs):
        self._flush(state)

    def on_step_end(self, args, state, control, **kwargs):
        failure = self.health.check()
        if failure:
            self._flush(state)
            control.should_training_stop = True
        return control
