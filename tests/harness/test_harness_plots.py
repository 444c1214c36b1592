"""The sweep plot: one panel per compared metric, grad norm on a log scale."""

from __future__ import annotations

from harness import plots


def test_sweep_plot_has_every_panel_and_a_log_grad_norm(tmp_path, monkeypatch):
    figures = []
    plt = plots._pyplot()
    real_subplots = plt.subplots

    def spy(*args, **kwargs):
        fig, axes = real_subplots(*args, **kwargs)
        figures.append(fig)
        return fig, axes

    monkeypatch.setattr(plt, "subplots", spy)
    rows = [
        {
            "step": step,
            "reward": 1.0,
            "kl": 0.1,
            "reward_group_std": 0.5,
            "reward_std": 0.6,
            "frac_reward_zero_std": 0.2,
            "entropy": 0.7,
            "grad_norm": norm,
        }
        for step, norm in ((2, 0.0), (4, 0.5), (6, 30.0))
    ]
    out = plots.plot_sweep({"a": rows, "b": rows[:2]}, tmp_path / "sweep.png", {"a": 0.5, "b": None})
    assert out is not None and out.read_bytes()[:4] == b"\x89PNG"
    (fig,) = figures
    shown = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert sorted(shown) == sorted(title for _, title in plots.SWEEP_PANELS)
    grad = shown["grad norm (log scale)"]
    assert grad.get_yscale() == "log"
    # a logged norm of 0 (no GRPO signal at all) has no place on a log axis: it is left out
    assert [list(line.get_ydata()) for line in grad.lines] == [[0.5, 30.0], [0.5]]
    assert shown["mean reward"].get_legend() is not None
