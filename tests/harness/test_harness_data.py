"""Dataset sources: arithmetic, jsonl, parquet, a saved HF dataset, reasoning_gym; columns; eval split."""

from __future__ import annotations

import json

import pytest

from grpo_core.errors import ConfigError, DataError
from harness.config import DataConfig
from harness.data import TINY_SYSTEM_PROMPT, check_columns, load_rows, task_texts


def test_arithmetic_rows_are_deterministic_and_correct():
    cfg = DataConfig(source="arithmetic", size=50, seed=3, eval=None)
    train, evaluation = load_rows(cfg)
    assert evaluation == []
    assert train == load_rows(cfg)[0]
    for row in train:
        a, b = row["question"].split("+")
        assert int(row["answer"]) == int(a) + int(b)
        assert row["prompt"][0] == {"role": "system", "content": TINY_SYSTEM_PROMPT}
        assert row["prompt"][1] == {"role": "user", "content": row["question"]}


def test_the_default_task_has_no_winning_constant_answer():
    """The embedded demo's task: no single answer is right for more than 20% of the rows."""
    from collections import Counter

    from harness.config import load_config

    config = load_config(None, [])
    train, evaluation = load_rows(config.data)
    answers = Counter(row["answer"] for row in train + evaluation)
    assert len(answers) >= 5
    assert max(answers.values()) / sum(answers.values()) <= 0.22  # 0.2 by construction, sampling noise
    for row in train:
        a, b = row["question"].split("+")
        assert 0 <= int(a) <= 4 and int(b) in (0, 1) and int(row["answer"]) == int(a) + int(b)


def test_eval_split_is_held_out_and_limit_caps_training():
    cfg = DataConfig(source="arithmetic", size=100, eval={"size": 0.2}, limit=30)
    train, evaluation = load_rows(cfg)
    assert len(evaluation) == 20 and len(train) == 30
    assert not {r["id"] for r in train} & {r["id"] for r in evaluation}


def test_jsonl_source_with_column_mapping_and_text_prompts(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [{"problem": f"what is {i}+1?", "solution": str(i + 1)} for i in range(5)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = DataConfig(
        source="jsonl",
        path=str(path),
        columns={"question": "problem", "answer": "solution"},
        prompt_format="text",
        eval=None,
    )
    train, _ = load_rows(cfg)
    assert train[0]["answer"] == "1"
    assert train[0]["prompt"].startswith("A conversation between User and Assistant")
    assert train[0]["prompt"].endswith("User: what is 0+1?\nAssistant:")


def test_prompt_column_is_used_as_is(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"prompt": "raw prompt", "answer": "1"}) + "\n")
    train, _ = load_rows(DataConfig(source="jsonl", path=str(path), eval=None))
    assert train[0]["prompt"] == "raw prompt"


def test_missing_mapped_column_is_named(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"q": "1+1"}) + "\n")
    with pytest.raises(DataError, match="data.columns.question: row 0 has no column 'problem'"):
        load_rows(DataConfig(source="jsonl", path=str(path), columns={"question": "problem"}, eval=None))


def test_parquet_source(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"question": ["1+2", "2+2"], "answer": ["3", "4"]}), path)
    train, _ = load_rows(DataConfig(source="parquet", path=str(path), eval=None))
    assert [r["answer"] for r in train] == ["3", "4"]


def test_saved_hf_dataset_source_with_split(tmp_path):
    import datasets

    data = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([{"question": "1+1", "answer": "2"}]),
            "test": datasets.Dataset.from_list([{"question": "3+3", "answer": "6"}]),
        }
    )
    data.save_to_disk(str(tmp_path / "saved"))
    train, _ = load_rows(DataConfig(source="hf", path=str(tmp_path / "saved"), split="test", eval=None))
    assert train[0]["answer"] == "6"
    with pytest.raises(ConfigError, match="splits"):
        load_rows(DataConfig(source="hf", path=str(tmp_path / "saved"), split="dev", eval=None))


def test_reasoning_gym_source_is_offline_and_seeded():
    cfg = DataConfig(source="reasoning_gym", task="basic_arithmetic", size=8, seed=1, eval=None)
    train, _ = load_rows(cfg)
    assert len(train) == 8 and all(isinstance(r["answer"], str) for r in train)
    assert train == load_rows(cfg)[0]
    with pytest.raises(ConfigError, match="reasoning_gym could not build"):
        load_rows(DataConfig(source="reasoning_gym", task="no_such_task", size=2, eval=None))


def test_check_columns_names_verifier_and_column():
    rows = [{"prompt": "p", "answer": "1"}, {"prompt": "p"}]
    check_columns(rows[:1], {"math": ("answer",)})
    with pytest.raises(DataError, match="row 1 lacks column 'answer', which verifier 'math' needs"):
        check_columns(rows, {"math": ("answer",)})


def test_task_texts_cover_prompts_and_answers():
    train, _ = load_rows(DataConfig(size=5, eval=None))
    texts = task_texts(train)
    assert any("<think>" in t for t in texts)
    assert train[0]["answer"] in texts
