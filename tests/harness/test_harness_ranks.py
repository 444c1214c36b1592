"""Several ranks on a CPU: ``launch.num_processes: 2`` runs ``accelerate launch`` (gloo) end to end.

Each rank scores its own completions through its own engine (the recorder verifier writes the
rank and pid of every sample it scores), rank 0 alone writes the run files, and the logged reward of
each step is the mean over both ranks' completions.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from harness.launch import visible_gpus

RECORDER = Path(__file__).parent / "fixtures" / "recorder"
STEPS, PER_RANK = 2, 4


@pytest.mark.skipif(bool(visible_gpus()), reason="CPU ranks (gloo); a GPU machine would train on its GPUs")
def test_two_cpu_ranks_score_their_own_completions_and_rank0_writes(tmp_path):
    records_path = tmp_path / "records.jsonl"
    config = {
        "name": "ranks",
        "output_dir": str(tmp_path / "run"),
        "truncated_completions": "score",  # 6 tokens cut most completions; the recorder must see all
        "model": {"name_or_path": "tiny", "tiny": {"hidden_size": 32, "intermediate_size": 64}},
        "data": {"source": "arithmetic", "size": 64, "eval": None},
        "rewards": [{"verifier": "recorder", "options": {"path": str(records_path)}}],
        "trainer": {
            "max_steps": STEPS,
            "per_device_train_batch_size": PER_RANK,
            "num_generations": 4,
            "max_completion_length": 6,
            "learning_rate": 1e-3,
            "logging_steps": 1,
        },
        "launch": {"num_processes": 2},
    }
    config_file = tmp_path / "ranks.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(RECORDER), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "train", str(config_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    records = [json.loads(line) for line in records_path.read_text().splitlines()]
    by_rank: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_rank[record["rank"]].append(record)
    assert sorted(by_rank) == ["0", "1"], f"ranks seen by the verifier: {sorted(by_rank)}"
    assert {len(v) for v in by_rank.values()} == {STEPS * PER_RANK}, "each rank scores its own batch"
    pids = {rank: {r["pid"] for r in rows} for rank, rows in by_rank.items()}
    assert not pids["0"] & pids["1"], "both ranks scored in the same process: no engine per rank"

    run = tmp_path / "run"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [m for m in metrics if "rewards/recorder/mean" in m]
    assert [m["step"] for m in logged] == list(range(1, STEPS + 1)), "one metrics line per step (rank 0)"
    for i, row in enumerate(logged):
        step_values = [
            r["value"] for rank in ("0", "1") for r in by_rank[rank][i * PER_RANK : (i + 1) * PER_RANK]
        ]
        expected = sum(step_values) / len(step_values)
        assert abs(row["rewards/recorder/mean"] - expected) < 1e-5, (
            i,
            row["rewards/recorder/mean"],
            step_values,
        )
    for name in ("config.yaml", "summary.json", "reward_curves.png", "final", "init", "logs/train.log"):
        assert (run / name).exists(), name
    # One process printed the table: each step's row appears once in the launcher's output.
    table_rows = [line for line in proc.stdout.splitlines() if re.match(r"\[train\]\s+1\s+-?\d", line)]
    assert len(table_rows) == 1, table_rows
