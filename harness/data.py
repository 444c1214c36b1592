"""Dataset sources for training and evaluation: rows ``{prompt, <verifier columns>...}``.

Sources: ``arithmetic`` (built-in generator), ``jsonl``, ``parquet``, ``hf`` (a dataset saved with
``save_to_disk`` or a hub name), ``reasoning_gym`` (offline procedural problems). ``data.columns``
renames source columns (``{question: problem}``); a row with a ``question`` but no ``prompt`` gets a
prompt built from the template (R1 system prompt + user turn), as chat messages or plain text; a
``prompt`` column is used as it is.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from grpo_core.errors import ConfigError, DataError
from harness.config import R1_SYSTEM_PROMPT, DataConfig

# The embedded default's system prompt: the R1 template in few words, so the tokenizer trained on
# the task text stays tiny (each tag is one token).
TINY_SYSTEM_PROMPT = "Answer as <think> … </think> <answer> … </answer>"


def arithmetic_rows(cfg: DataConfig) -> list[dict[str, Any]]:
    settings = cfg.arithmetic
    if settings.max_operand < settings.min_operand:
        raise ConfigError("data.arithmetic.max_operand must be >= min_operand")
    rng = random.Random(cfg.seed)
    rows = []
    for index in range(cfg.size):
        a = rng.randint(settings.min_operand, settings.max_operand)
        if settings.second_operands:
            b = rng.choice(settings.second_operands)
        else:
            b = rng.randint(settings.min_operand, settings.max_operand)
        op = rng.choice(settings.operations)
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        rows.append({"question": f"{a}{op}{b}", "answer": str(value), "id": f"arith-{index}"})
    return rows


def reasoning_gym_rows(cfg: DataConfig) -> list[dict[str, Any]]:
    try:
        import reasoning_gym
    except ImportError:
        raise ConfigError(
            "data.source 'reasoning_gym' needs the package: pip install reasoning-gym"
        ) from None
    try:
        dataset = reasoning_gym.create_dataset(cfg.task, size=cfg.size, seed=cfg.seed)
    except Exception as exc:
        raise ConfigError(f"data.task {cfg.task!r}: reasoning_gym could not build it: {exc}") from None
    rows = []
    for entry in dataset:
        rows.append(
            {
                "question": entry["question"],
                "answer": str(entry["answer"]),
                "metadata": json.dumps(entry.get("metadata", {}), default=str),
            }
        )
    return rows


def jsonl_rows(path: str) -> list[dict[str, Any]]:
    from grpo_core.jsonl import read_jsonl

    if not Path(path).is_file():
        raise ConfigError(f"data.path {path!r}: no such file")
    return [row for _, row in read_jsonl(Path(path))]


def parquet_rows(path: str) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    if not Path(path).exists():
        raise ConfigError(f"data.path {path!r}: no such file")
    return pq.read_table(path).to_pylist()


def hf_rows(path: str, split: str) -> list[dict[str, Any]]:
    import datasets

    if Path(path).exists():
        loaded = datasets.load_from_disk(path)
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise ConfigError(f"data.split {split!r}: the saved dataset has splits {sorted(loaded)}")
            loaded = loaded[split]
    else:
        try:
            loaded = datasets.load_dataset(path, split=split)
        except Exception as exc:
            raise ConfigError(f"data.path {path!r}: not a local dataset and not loadable: {exc}") from None
    return [dict(row) for row in loaded]


def source_rows(cfg: DataConfig) -> list[dict[str, Any]]:
    if cfg.source == "arithmetic":
        return arithmetic_rows(cfg)
    if cfg.source == "reasoning_gym":
        return reasoning_gym_rows(cfg)
    if cfg.source == "jsonl":
        return jsonl_rows(cfg.path or "")
    if cfg.source == "parquet":
        return parquet_rows(cfg.path or "")
    return hf_rows(cfg.path or "", cfg.split)


def system_prompt(cfg: DataConfig) -> str | None:
    if cfg.system_prompt is not None:
        return cfg.system_prompt or None
    if cfg.template == "r1":
        return TINY_SYSTEM_PROMPT if cfg.source == "arithmetic" else R1_SYSTEM_PROMPT
    return None


def build_prompt(question: Any, cfg: DataConfig) -> Any:
    """Chat messages (or text) for one question, with the template's system prompt."""
    system = system_prompt(cfg)
    if not isinstance(question, str):  # already messages
        messages = list(question)
        if system and not any(isinstance(m, Mapping) and m.get("role") == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": system})
        return messages
    if cfg.prompt_format == "text":
        head = f"{system}\n" if system else ""
        return f"{head}User: {question}\nAssistant:"
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": question}]


def prepare_rows(rows: Iterable[Mapping[str, Any]], cfg: DataConfig) -> list[dict[str, Any]]:
    renames = cfg.columns
    prepared = []
    for index, raw in enumerate(rows):
        row = dict(raw)
        for target, source in renames.items():
            if source not in row:
                raise DataError(
                    f"data.columns.{target}: row {index} has no column {source!r} (it has {sorted(row)})"
                )
            row[target] = row.pop(source)
        if "prompt" in row:
            pass  # used as it is (already formatted text or messages)
        elif "question" in row:
            row["prompt"] = build_prompt(row["question"], cfg)
        else:
            raise DataError(
                f"row {index} has neither 'prompt' nor 'question' (it has {sorted(row)}); "
                "map one with data.columns: {prompt: <column>}"
            )
        prepared.append(row)
    return prepared


def split_eval(
    rows: list[dict[str, Any]], cfg: DataConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, eval): the eval split is held out by a seeded shuffle, or read from ``eval.path``."""
    if cfg.eval is None:
        return rows, []
    if cfg.eval.path:
        eval_cfg = cfg.model_copy(update={"path": cfg.eval.path, "limit": None})
        suffix = Path(cfg.eval.path).suffix
        source = "jsonl" if suffix == ".jsonl" else "parquet" if suffix == ".parquet" else "hf"
        eval_cfg = eval_cfg.model_copy(update={"source": source})
        return rows, prepare_rows(source_rows(eval_cfg), cfg)
    size = cfg.eval.size
    count = int(round(size * len(rows))) if size < 1 else int(size)
    count = min(count, max(0, len(rows) - 1))
    if count <= 0:
        return rows, []
    order = list(range(len(rows)))
    random.Random(cfg.eval.seed).shuffle(order)
    held = set(order[:count])
    train = [row for i, row in enumerate(rows) if i not in held]
    evaluation = [row for i, row in enumerate(rows) if i in held]
    return train, evaluation


def load_rows(cfg: DataConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The prepared (train, eval) rows; ``limit`` caps the training rows."""
    rows = prepare_rows(source_rows(cfg), cfg)
    if not rows:
        raise DataError(f"data source {cfg.source!r} gave no rows")
    train, evaluation = split_eval(rows, cfg)
    if cfg.limit is not None:
        train = train[: cfg.limit]
    return train, evaluation


def check_columns(
    rows: list[dict[str, Any]], required: Mapping[str, Iterable[str]], where: str = "data"
) -> None:
    """Every verifier's columns must be in every row; names the verifier, column and row."""
    from grpo_core.checks import missing_columns

    for index, row in enumerate(rows):
        for name, column in missing_columns(row, required)[:1]:
            have = sorted(k for k in row if k != "prompt")
            raise DataError(
                f"{where}: row {index} lacks column {column!r}, which verifier {name!r} needs "
                f"(rows have {have}); map it with data.columns: {{{column}: <source column>}}"
            )


def task_texts(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The text a local tokenizer is trained on: prompts, answers, and the R1 tags."""
    from grpo_core.sample import to_text

    texts = ["<think> </think> <answer> </answer> user assistant system 0 1 2 3 4 5 6 7 8 9 + - * ="]
    for row in rows:
        texts.append(to_text(row.get("prompt")))
        if "answer" in row:
            texts.append(str(row["answer"]))
    return texts


def to_dataset(rows: list[dict[str, Any]]):
    import datasets

    return datasets.Dataset.from_list(rows)
