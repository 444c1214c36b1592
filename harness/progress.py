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
        values += [_fmt(row.get(f"rewards/{name}/mean")) for name in self.names]
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
        self.console.print(f"run dir: {summary['run_dir']}", highlight=False)


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
