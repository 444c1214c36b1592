"""``grpo sweep``: run a grid of config overrides, one run dir each, and compare the runs.

``--grid trainer.beta=0,0.04 --grid trainer.temperature=0.7,1.0`` gives the 4 combinations. Each run
is ``grpo train CONFIG --set ...`` in its own process (sequentially), named after its values, under
``runs/<sweep name>/``. The summary compares final reward, reward std and KL across runs (a table,
``sweep_summary.json`` and ``sweep_rewards.png``).
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grpo_core.errors import ConfigError
from harness.config import load_config, parse_override


@dataclass
class SweepRun:
    name: str
    overrides: list[str]
    run_dir: Path
    command: list[str]


def parse_grid(items: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """``key.path=v1,v2`` -> (key.path, [v1, v2]); values are YAML scalars."""
    axes = []
    seen = set()
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise ConfigError(f"--grid {item!r}: expected key.path=value1,value2,...")
        if key in seen:
            raise ConfigError(f"--grid {key}: given twice")
        seen.add(key)
        values = [parse_override(f"{key}={part.strip()}")[1] for part in raw.split(",")]
        axes.append((key, values))
    if not axes:
        raise ConfigError("give at least one --grid key.path=v1,v2")
    return axes


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", str(value)).strip("_") or "x"


def plan(
    config_path: Path | None,
    grid: Sequence[str],
    overrides: Sequence[str] = (),
    sweep_name: str | None = None,
) -> tuple[str, Path, list[SweepRun]]:
    """The runs of a sweep; every combination is validated before anything runs."""
    axes = parse_grid(grid)
    base = load_config(config_path, list(overrides))
    name = sweep_name or f"{base.name}-sweep"
    root = Path(base.output_dir).parent / name if base.output_dir else Path("runs") / name
    runs = []
    for combo in itertools.product(*(values for _, values in axes)):
        sets = [
            f"{key}={json.dumps(value) if not isinstance(value, str) else value}"
            for (key, _), value in zip(axes, combo)
        ]
        run_name = "-".join(f"{key.split('.')[-1]}{_slug(value)}" for (key, _), value in zip(axes, combo))
        run_dir = root / run_name
        all_sets = [*overrides, *sets, f"name={run_name}", f"output_dir={run_dir}"]
        load_config(config_path, all_sets)  # fail early on a bad value
        command = [sys.executable, "-m", "harness", "train"]
        if config_path is not None:
            command.append(str(config_path))
        for text in all_sets:
            command += ["--set", text]
        runs.append(SweepRun(run_name, sets, run_dir, command))
    return name, root, runs


def run_sweep(runs: Sequence[SweepRun], emit: Any = print) -> list[int]:
    codes = []
    for i, run in enumerate(runs, 1):
        emit(f"[sweep {i}/{len(runs)}] {run.name}: {' '.join(run.overrides)}")
        proc = subprocess.run(run.command)
        codes.append(proc.returncode)
        if proc.returncode != 0:
            emit(f"[sweep] run {run.name} failed with exit code {proc.returncode}")
    return codes


def _last(rows: list[dict[str, Any]], key: str, window: int = 3) -> float | None:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float))][-window:]
    return sum(values) / len(values) if values else None


def summarize(root: Path, runs: Sequence[SweepRun], codes: Sequence[int] | None = None) -> dict[str, Any]:
    from harness.plots import plot_runs
    from harness.train import METRICS_FILE, read_metrics

    entries = []
    curves = {}
    for i, run in enumerate(runs):
        rows = [r for r in read_metrics(run.run_dir / METRICS_FILE) if "reward" in r]
        curves[run.name] = [(r["step"], r["reward"]) for r in rows]
        entries.append(
            {
                "name": run.name,
                "overrides": run.overrides,
                "run_dir": str(run.run_dir),
                "exit_code": None if codes is None else codes[i],
                "steps": rows[-1]["step"] if rows else 0,
                "final_reward": _last(rows, "reward"),
                "final_reward_std": _last(rows, "reward_std"),
                "final_kl": _last(rows, "kl"),
                "first_reward": rows[0]["reward"] if rows else None,
            }
        )
    root.mkdir(parents=True, exist_ok=True)
    summary = {"runs": entries}
    (root / "sweep_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    plot = plot_runs(curves, root / "sweep_rewards.png", title="reward per run")
    summary["plot"] = str(plot) if plot else None
    return summary


def dry_run_lines(runs: Sequence[SweepRun]) -> list[str]:
    return [shlex.join(run.command) for run in runs]


def write_plan(root: Path, runs: Sequence[SweepRun]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    data = [{"name": r.name, "overrides": r.overrides, "run_dir": str(r.run_dir)} for r in runs]
    (root / "sweep_plan.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
