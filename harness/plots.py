"""PNG plots of reward curves (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _read(path: Path) -> list[dict[str, Any]]:
    if not Path(path).is_file():
        return []
    with open(path, encoding="utf-8") as handle:
        return [row for row in (json.loads(line) for line in handle if line.strip()) if "reward" in row]


def plot_reward_curves(metrics_path: Path, out_path: Path, names: Sequence[str]) -> Path | None:
    """One line per verifier (``rewards/<name>/mean``) and the weighted total, against the step."""
    rows = _read(metrics_path)
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [row["step"] for row in rows]
    ax.plot(steps, [row.get("reward") for row in rows], label="reward (weighted)", linewidth=2, color="black")
    for name in names:
        ax.plot(steps, [row.get(f"rewards/{name}/mean") for row in rows], label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("mean reward")
    ax.set_title("reward per verifier")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)
    return Path(out_path)


SWEEP_PANELS = (
    ("reward", "mean reward"),
    ("kl", "KL to the reference"),
    ("reward_group_std", "reward std within groups"),
    ("reward_std", "reward std, whole batch (TRL)"),
    ("frac_reward_zero_std", "groups with zero reward std"),
    ("entropy", "entropy"),
    ("grad_norm", "grad norm (log scale)"),
)
#: panels whose values span orders of magnitude (a too-high learning rate's gradient spikes)
LOG_PANELS = {"grad_norm"}


def plot_sweep(
    series: Mapping[str, Sequence[Mapping[str, Any]]],
    out_path: Path,
    eval_pass_at_1: Mapping[str, float | None] | None = None,
) -> Path | None:
    """A sweep's runs side by side over steps, one line per run: reward, KL, reward std (within groups
    and batch-wide), zero-std groups, entropy and grad norm.

    ``series`` maps a run name to its logged metric rows; a run's held-out pass@1, when given, is
    added to its label. A run without KL (beta = 0) simply has no line on that panel.
    """
    if not any(series.values()):
        return None
    plt = _pyplot()
    columns = (len(SWEEP_PANELS) + 1) // 2
    fig, grid = plt.subplots(2, columns, figsize=(5 * columns, 8), dpi=100)
    axes = list(grid.flat)
    for ax in axes[len(SWEEP_PANELS) :]:
        ax.set_visible(False)
    for ax, (key, title) in zip(axes, SWEEP_PANELS):
        positive = key in LOG_PANELS
        for name, rows in series.items():
            points = [
                (row["step"], row[key])
                for row in rows
                if isinstance(row.get(key), (int, float)) and (row[key] > 0 or not positive)
            ]
            if not points:
                continue
            score = (eval_pass_at_1 or {}).get(name)
            label = name if score is None else f"{name} (pass@1 {score:.2f})"
            ax.plot([p[0] for p in points], [p[1] for p in points], label=label)
        if positive and ax.lines:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)
    return Path(out_path)
