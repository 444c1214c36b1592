"""beta > 0: TRL's KL reference is the initial policy, for the embedded model, a local dir and a hub id.

TRL builds the reference from the policy's ``name_or_path``. Each test trains 2 steps with beta > 0
and checks that KL is logged and is 0 at the first step: the reference is the very model training
starts from (a wrong reference, e.g. another random init, would give a KL far from 0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.config import DataConfig
from harness.data import load_rows, task_texts

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SETS = [
    "trainer.max_steps=2",
    "trainer.logging_steps=1",
    "data.size=64",
    "data.eval.size=8",
    "trainer.beta=0.1",
]


def _train(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> list[dict]:
    out = tmp_path / "run"
    args = [arg for s in [*SETS, *extra, f"output_dir={out}"] for arg in ("--set", s)]
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "train", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if "reward" in r]


def _assert_reference_is_initial_model(rows: list[dict]) -> None:
    assert rows and all(isinstance(r.get("kl"), float) for r in rows), rows
    assert abs(rows[0]["kl"]) < 1e-6, rows[0]


def _save_tiny_model(path: Path) -> None:
    from harness.tiny import save_tiny

    train_rows, eval_rows = load_rows(DataConfig(size=64))
    save_tiny(path, task_texts(train_rows + eval_rows))


def test_beta_on_the_embedded_model_uses_the_saved_initial_model(tmp_path):
    _assert_reference_is_initial_model(_train(tmp_path))


def test_beta_on_a_local_model_directory(tmp_path):
    model_dir = tmp_path / "local-model"
    _save_tiny_model(model_dir)
    _assert_reference_is_initial_model(_train(tmp_path, f"model.name_or_path={model_dir}"))


def test_beta_on_a_hub_id_from_the_offline_cache(tmp_path):
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--grpo-test--tiny-qwen2"
    _save_tiny_model(repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    _assert_reference_is_initial_model(_train(tmp_path, "model.name_or_path=grpo-test/tiny-qwen2", env=env))
