"""The example `json_schema` plugin: behaviour, the conformance kit, `grpo score` and a tiny `grpo train`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpo_reward_json_schema
import pytest
from grpo_reward_json_schema import JsonSchemaVerifier

from grpo_core import Sample, Status
from grpo_core.testing import Example, VerifierConformance

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
GOOD = '<think>a person</think><answer>{"name": "Ada", "age": 36}</answer>'
GRPO = Path(sys.executable).with_name("grpo")


def score(completion: str, schema=PERSON, **options):
    return JsonSchemaVerifier(options).score(Sample(prompt="p", completion=completion, schema=schema))


@pytest.mark.parametrize(
    ("completion", "value"),
    [
        (GOOD, 1.0),
        ('<answer>{"name": "Ada", "age": -1}</answer>', 0.0),
        ('<answer>{"name": "Ada"}</answer>', 0.0),
        ('<answer>{"name": "Ada", "age": 36, "x": 1}</answer>', 0.0),
        ('<answer>{"name": "Ada", "age": NaN}</answer>', 0.0),  # not JSON
        ('<answer>{"name": "Ada", "age": 36}</answer> <answer>{"age": 1}</answer>', 0.0),  # the last counts
        ('{"name": "Ada", "age": 36}', 0.0),  # no tag
        ("<answer>" + "[" * 100000 + "]" * 100000 + "</answer>", 0.0),  # too deep, too long
    ],
)
def test_values(completion: str, value: float) -> None:
    assert score(completion).value == value


def test_schema_as_json_string_and_untagged_option() -> None:
    assert score(GOOD, json.dumps(PERSON)).value == 1.0
    assert score('{"name": "Ada", "age": 1}', require_answer_tag=False).value == 1.0


@pytest.mark.parametrize("schema", ["{not json", {"type": "no-such-type"}, [1], 5])
def test_bad_schemas_are_invalid_input(schema) -> None:
    assert score(GOOD, schema).status is Status.INVALID_INPUT


class TestJsonSchemaConformance(VerifierConformance):
    verifier = JsonSchemaVerifier
    plugin = grpo_reward_json_schema
    examples = [
        Example({"prompt": "a person", "completion": GOOD, "schema": PERSON}, 1.0),
        Example({"prompt": "a person", "completion": GOOD, "schema": json.dumps(PERSON)}, 1.0),
        Example({"prompt": "a person", "completion": "<answer>{}</answer>", "schema": PERSON}, 0.0),
        Example(
            {"prompt": "a person", "completion": GOOD, "schema": {"type": "nope"}}, None, "invalid_input"
        ),
    ]


def test_grpo_score_end_to_end(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    lines = [
        {"prompt": "p", "completion": GOOD, "schema": PERSON},
        {"prompt": "p", "completion": "<answer>[]</answer>", "schema": json.dumps(PERSON)},
    ]
    rows.write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = tmp_path / "scored.jsonl"
    run = subprocess.run(
        [str(GRPO), "score", str(rows), "--reward", "json_schema", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rewards"]["json_schema"] for r in scored] == [1.0, 0.0]


def test_tiny_grpo_train_with_the_plugin(tmp_path: Path) -> None:
    """Two optimizer steps of the embedded tiny model with `json_schema` as a reward."""
    data = tmp_path / "train.jsonl"
    rows = [{"prompt": f"Give a person aged {i} as JSON.", "schema": json.dumps(PERSON)} for i in range(32)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "run.yaml"
    config.write_text(
        f"""
name: json-schema-tiny
seed: 0
output_dir: {tmp_path / "run"}
truncated_completions: score   # 8 tokens cut most completions; the plugin must still see each one
model:
  name_or_path: tiny
  tiny: {{hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2}}
data:
  source: jsonl
  path: {data}
  eval: {{size: 4}}
rewards:
  - verifier: json_schema
    options: {{require_answer_tag: false}}
trainer:
  max_steps: 2
  per_device_train_batch_size: 8
  num_generations: 4
  max_completion_length: 8
  logging_steps: 1
  save_strategy: "no"
vllm:
  mode: "off"
"""
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [str(GRPO), "train", str(config)], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [row for row in metrics if "rewards/json_schema/mean" in row]
    assert len(logged) == 2  # one per step: the plugin scored every generation
    assert all(row["verifiers/json_schema/ok_frac"] == 1.0 for row in logged)
