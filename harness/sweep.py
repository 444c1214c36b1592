"""``grpo sweep``: run a grid of config overrides, one run dir each, and compare the runs.

``--grid trainer.beta=0,0.04 --grid trainer.temperature=0.7,1.0`` gives the 4 combinations. Each run
is ``grpo train CONFIG --set ...`` in its own process, named after its values, under
``runs/<sweep name>/``; ``--parallel N`` runs up to N at once, each with its own devices
(:mod:`harness.sweep_devices`). Each run's whole output goes to ``train.log`` in its run dir. The
summary compares final reward, reward std (within groups and batch-wide), zero-std groups, entropy,
KL, grad norm and (with
``--eval``) held-out pass@1 across runs: a table, ``sweep_summary.json`` and ``sweep_rewards.png``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grpo_core.errors import ConfigError
from harness.config import load_config, parse_override
from harness.group_metrics import GROUP_STD_KEY

LOG_FILE = "train.log"
EVAL_FILE = "eval.jsonl"
STOP_GRACE_S = 10.0


@dataclass
class SweepRun:
    name: str
    overrides: list[str]
    run_dir: Path
    command: list[str]
    beta: float = 0.0
    eval_command: list[str] = field(default_factory=list)


@dataclass
class RunOutcome:
    """How one run ended: its exit code (None: never started) and, on failure, the last error line."""

    exit_code: int | None
    error: str | None = None
    seconds: float = 0.0
    eval_summary: dict[str, Any] | None = None
    eval_error: str | None = None


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


def _grpo(verb: str, config_path: Path | None, sets: Sequence[str]) -> list[str]:
    command = [sys.executable, "-m", "harness", verb]
    if config_path is not None:
        command.append(str(config_path))
    for text in sets:
        command += ["--set", text]
    return command


def plan(
    config_path: Path | None,
    grid: Sequence[str],
    overrides: Sequence[str] = (),
    sweep_name: str | None = None,
    *,
    overwrite: bool = False,
    eval_samples: int = 4,
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
        config = load_config(config_path, all_sets)  # fail early on a bad value
        command = _grpo("train", config_path, all_sets)
        if overwrite:
            command.append("--overwrite")
        eval_command = _grpo("eval", config_path, all_sets) + [
            "--model",
            str(run_dir),
            "--samples",
            str(eval_samples),
            "--k",
            "1",
            "--output",
            str(run_dir / EVAL_FILE),
        ]
        beta = float(config.trainer.get("beta", 0.0) or 0.0)
        runs.append(SweepRun(run_name, sets, run_dir, command, beta, eval_command))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ConfigError("--grid: two combinations give the same run name; use distinct values")
    existing = [str(r.run_dir) for r in runs if r.run_dir.exists()]
    if existing and not overwrite:
        raise ConfigError(
            f"run dir(s) already exist: {', '.join(existing)}; choose another --name, or pass "
            "--overwrite to replace them"
        )
    return name, root, runs


# -- running ---------------------------------------------------------------------------------------
def last_error_line(log: Path) -> str | None:
    """The line that says why a run failed: the last error-looking line near the end of its log."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return None
    tail = lines[-40:]
    for line in reversed(tail):
        if re.search(r"(error|exception|killed|failed|interrupted)", line, re.IGNORECASE):
            return line[:400]
    return tail[-1][:400]


class _Active:
    """One started run: its process and its open log."""

    def __init__(self, index: int, run: SweepRun, env: Mapping[str, str], log_path: Path):
        self.index = index
        self.run = run
        self.log_path = log_path
        self.started = time.perf_counter()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in finish()
        self.proc = subprocess.Popen(
            run.command,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            start_new_session=True,  # our Ctrl-C handler stops it; the terminal's does not reach it
        )

    def finish(self) -> RunOutcome:
        self.log.close()
        code = self.proc.returncode
        final_log = self.run.run_dir / LOG_FILE
        if self.run.run_dir.is_dir():  # the run's own dir keeps its whole log
            shutil.move(str(self.log_path), final_log)
        else:
            final_log = self.log_path
        error = None if code == 0 else (last_error_line(final_log) or f"exit code {code}")
        return RunOutcome(code, error, round(time.perf_counter() - self.started, 1))

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signum)


def _stop_all(active: Sequence[_Active]) -> None:
    """Ctrl-C: SIGINT to every run's process group, then SIGKILL to whatever is left after a grace."""
    for item in active:
        item.signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_S
    for item in active:
        try:
            item.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            item.signal(signal.SIGKILL)
            item.proc.wait()
        item.log.close()


def run_sweep(
    runs: Sequence[SweepRun],
    root: Path,
    *,
    slot_envs: Sequence[Mapping[str, str]] = ({},),
    emit: Callable[[str], Any] = print,
    poll_s: float = 0.2,
) -> list[RunOutcome]:
    """Run every run, at most ``len(slot_envs)`` at a time, each slot with its own environment.

    A KeyboardInterrupt (or SIGTERM) stops every active run before it propagates; runs never
    started are reported with exit code None.
    """
    outcomes: list[RunOutcome] = [RunOutcome(None, "not run") for _ in runs]
    pending = list(enumerate(runs))
    free_slots = list(range(len(slot_envs)))
    active: dict[int, _Active] = {}
    slot_of: dict[int, int] = {}
    previous_term = signal.getsignal(signal.SIGTERM)

    def _on_term(signum, frame):  # SIGTERM stops the sweep like Ctrl-C
        raise KeyboardInterrupt

    in_main_thread = _in_main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, _on_term)
    try:
        while pending or active:
            while pending and free_slots:
                index, run = pending.pop(0)
                slot = free_slots.pop(0)
                log_path = root / "logs" / f"{run.name}.log"
                emit(
                    f"[sweep {index + 1}/{len(runs)}] {run.name}: {' '.join(run.overrides)} "
                    f"(slot {slot}, log {log_path})"
                )
                active[index] = _Active(index, run, slot_envs[slot], log_path)
                slot_of[index] = slot
            time.sleep(poll_s)
            for index in [i for i, item in active.items() if item.proc.poll() is not None]:
                item = active.pop(index)
                free_slots.append(slot_of.pop(index))
                outcome = item.finish()
                outcomes[index] = outcome
                status = (
                    "ok" if outcome.exit_code == 0 else f"failed (exit {outcome.exit_code}): {outcome.error}"
                )
                emit(f"[sweep] {item.run.name} {status} in {outcome.seconds:.0f}s")
    except KeyboardInterrupt:
        emit(f"[sweep] interrupted: stopping {len(active)} active run(s)")
        _stop_all(list(active.values()))
        for index, item in active.items():
            outcomes[index] = RunOutcome(item.proc.returncode, "interrupted")
        raise
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_term)
    return outcomes


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run_evals(
    runs: Sequence[SweepRun],
    outcomes: Sequence[RunOutcome],
    *,
    slot_envs: Sequence[Mapping[str, str]] = ({},),
    emit: Callable[[str], Any] = print,
) -> None:
    """``grpo eval`` of each finished run on the held-out split; fills ``eval_summary``/``eval_error``."""
    env = {**os.environ, **slot_envs[0]}
    for run, outcome in zip(runs, outcomes):
        if outcome.exit_code != 0:
            continue
        emit(f"[sweep] eval {run.name}")
        log = run.run_dir / "eval.log"
        with open(log, "w", encoding="utf-8") as handle:
            proc = subprocess.run(run.eval_command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        summary_path = Path(str(run.run_dir / EVAL_FILE) + ".summary.json")
        if proc.returncode == 0 and summary_path.is_file():
            outcome.eval_summary = json.loads(summary_path.read_text(encoding="utf-8"))
        else:
            outcome.eval_error = last_error_line(log) or f"exit code {proc.returncode}"
            emit(f"[sweep] eval {run.name} failed: {outcome.eval_error}")


# -- comparing -------------------------------------------------------------------------------------
def _last(rows: list[dict[str, Any]], key: str, window: int = 3) -> float | None:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float))][-window:]
    return sum(values) / len(values) if values else None


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return sum(values) / len(values) if values else None


def run_entry(run: SweepRun, outcome: RunOutcome | None) -> dict[str, Any]:
    """One row of the comparison: end-of-run figures (mean of the last 3 logged steps) and means."""
    from harness.train import METRICS_FILE, read_metrics

    rows = [r for r in read_metrics(run.run_dir / METRICS_FILE) if "reward" in r]
    kl_applies = run.beta > 0
    entry: dict[str, Any] = {
        "name": run.name,
        "overrides": run.overrides,
        "run_dir": str(run.run_dir),
        "exit_code": None if outcome is None else outcome.exit_code,
        "error": None if outcome is None else outcome.error,
        "steps": rows[-1]["step"] if rows else 0,
        "first_reward": rows[0]["reward"] if rows else None,
        "final_reward": _last(rows, "reward"),
        "final_reward_std": _last(rows, "reward_std"),
        "final_group_reward_std": _last(rows, GROUP_STD_KEY),
        "final_entropy": _last(rows, "entropy"),
        "final_kl": _last(rows, "kl") if kl_applies else None,
        "kl": "measured" if kl_applies else "n/a (beta = 0: TRL computes no KL)",
        "final_grad_norm": _last(rows, "grad_norm"),
        "mean_reward_std": _mean(rows, "reward_std"),  # TRL's: the whole batch's rewards
        # each group's own spread, averaged (see harness.group_metrics): how diverse the groups are
        "mean_group_reward_std": _mean(rows, GROUP_STD_KEY),
        "mean_entropy": _mean(rows, "entropy"),
        "mean_kl": _mean(rows, "kl") if kl_applies else None,
        "mean_grad_norm": _mean(rows, "grad_norm"),
        # share of groups whose completions all earned the same reward (no GRPO signal)
        "mean_zero_std_frac": _mean(rows, "frac_reward_zero_std"),
        "eval_pass_at_1": None,
        "eval_reward_means": None,
    }
    if outcome is not None and outcome.eval_summary:
        entry["eval_pass_at_1"] = outcome.eval_summary.get("pass_at_k", {}).get("pass@1")
        entry["eval_reward_means"] = outcome.eval_summary.get("reward_means")
    if outcome is not None and outcome.eval_error:
        entry["eval_error"] = outcome.eval_error
    return entry


def summarize(
    root: Path, runs: Sequence[SweepRun], outcomes: Sequence[RunOutcome] | None = None
) -> dict[str, Any]:
    from harness.plots import plot_sweep
    from harness.train import METRICS_FILE, read_metrics

    entries = [run_entry(run, None if outcomes is None else outcomes[i]) for i, run in enumerate(runs)]
    series = {
        run.name: [r for r in read_metrics(run.run_dir / METRICS_FILE) if "reward" in r] for run in runs
    }
    root.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"runs": entries}
    plot = plot_sweep(
        series, root / "sweep_rewards.png", eval_pass_at_1={e["name"]: e["eval_pass_at_1"] for e in entries}
    )
    summary["plot"] = str(plot) if plot else None
    (root / "sweep_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def dry_run_lines(runs: Sequence[SweepRun]) -> list[str]:
    return [shlex.join(run.command) for run in runs]


def write_plan(root: Path, runs: Sequence[SweepRun], slot_envs: Sequence[Mapping[str, str]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    data = {
        "slots": [dict(env) for env in slot_envs],
        "runs": [{"name": r.name, "overrides": r.overrides, "run_dir": str(r.run_dir)} for r in runs],
    }
    (root / "sweep_plan.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
