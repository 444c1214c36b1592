"""``grpo eval``: generate on the held-out split, score with the run's verifiers, report pass@k.

pass@k uses the unbiased estimator of Chen et al. (2021): with ``n`` samples per problem of which
``c`` are correct, pass@k = 1 - C(n - c, k) / C(n, k), averaged over problems. A sample is correct
when the chosen reward (default: the first in the config) is at least ``threshold``.
Generation uses transformers' ``generate`` (or vLLM when installed, on a GPU, with ``backend: vllm``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grpo_core.engine import Engine
from grpo_core.errors import ConfigError
from grpo_core.jsonl import atomic_writer, write_jsonl
from harness.config import RunConfig
from harness.data import check_columns, load_rows


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem: n samples, c correct (numerically stable product form)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if c < 0 or c > n:
        raise ValueError(f"correct count {c} outside [0, {n}]")
    if n - c < k:
        return 1.0
    result = 1.0
    for i in range(n - c + 1, n + 1):
        result *= 1.0 - k / i
    return 1.0 - result


def resolve_model_path(path: Path) -> Path:
    """A run directory means its ``final/`` checkpoint."""
    if (path / "final" / "config.json").is_file():
        return path / "final"
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"--model {str(path)!r}: no model here (expected config.json, or a run dir with final/)"
        )
    return path


def _prompt_text(tokenizer: Any, prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)


def generate_transformers(
    model_path: Path,
    prompts: Sequence[Any],
    n: int,
    max_new_tokens: int,
    temperature: float,
    batch_size: int,
    seed: int = 0,
) -> list[list[str]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)  # sampled evaluations repeat: `grpo eval` reproduces the run's table

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    texts = [_prompt_text(tokenizer, p) for p in prompts]
    outputs: list[list[str]] = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        encoded = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        with torch.no_grad():
            generated = model.generate(
                **encoded,
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                top_k=0 if temperature > 0 else None,
                max_new_tokens=max_new_tokens,
                num_return_sequences=n,
                pad_token_id=tokenizer.pad_token_id,
            )
        completions = tokenizer.batch_decode(
            generated[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True
        )
        for i in range(len(chunk)):
            outputs.append(completions[i * n : (i + 1) * n])
    return outputs


def generate_vllm(
    model_path: Path, prompts: Sequence[Any], n: int, max_new_tokens: int, temperature: float
) -> list[list[str]]:  # pragma: no cover - needs a GPU and vllm
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    llm = LLM(model=str(model_path))
    params = SamplingParams(n=n, temperature=temperature, max_tokens=max_new_tokens)
    results = llm.generate([_prompt_text(tokenizer, p) for p in prompts], params)
    return [[out.text for out in result.outputs] for result in results]


def vllm_usable() -> bool:
    try:
        import torch
        import vllm  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


def evaluate(
    config: RunConfig,
    model_path: Path,
    *,
    samples: int = 4,
    ks: Sequence[int] = (1,),
    limit: int | None = None,
    temperature: float | None = None,
    max_new_tokens: int | None = None,
    metric: str | None = None,
    threshold: float = 1.0,
    output: Path | None = None,
    backend: str = "auto",
    batch_size: int = 16,
) -> dict[str, Any]:
    if samples < 1:
        raise ConfigError("--samples must be >= 1")
    bad = [k for k in ks if k < 1 or k > samples]
    if bad:
        raise ConfigError(f"--k {bad}: each k must be between 1 and --samples ({samples})")
    model_path = resolve_model_path(Path(model_path))
    _, rows = load_rows(config.data)
    if not rows:
        raise ConfigError("no held-out rows: set data.eval (size or path) in the config")
    if limit is not None:
        rows = rows[:limit]
    temperature = float(config.trainer.get("temperature", 1.0) if temperature is None else temperature)
    max_new_tokens = int(max_new_tokens or config.trainer.get("max_completion_length", 256))
    started = time.perf_counter()
    with Engine(config.rewards) as engine:
        metric = metric or engine.names[0]
        if metric not in engine.names:
            raise ConfigError(f"--metric {metric!r}: not among the config's rewards {engine.names}")
        check_columns(rows, engine.required_columns(), where="data.eval")
        prompts = [row["prompt"] for row in rows]
        use_vllm = backend == "vllm" or (backend == "auto" and vllm_usable())
        if use_vllm:
            generated = generate_vllm(model_path, prompts, samples, max_new_tokens, temperature)
        else:
            generated = generate_transformers(
                model_path, prompts, samples, max_new_tokens, temperature, batch_size, config.seed
            )
        scoring_rows = []
        for index, (row, completions) in enumerate(zip(rows, generated)):
            for j, text in enumerate(completions):
                completion = (
                    text if isinstance(row["prompt"], str) else [{"role": "assistant", "content": text}]
                )
                scoring_rows.append({**row, "completion": completion, "row_index": index, "sample_index": j})
        result = engine.score(scoring_rows)
        scored = [{**r, **result.row_fields(i)} for i, r in enumerate(scoring_rows)]
        correct_per_row = [0] * len(rows)
        for entry in scored:
            value = entry["rewards"][metric]
            entry["correct"] = value is not None and value >= threshold
            correct_per_row[entry["row_index"]] += entry["correct"]
        means = {
            name: (sum(v for v in vals if v is not None) / max(1, sum(v is not None for v in vals)))
            for name in engine.names
            for vals in [result.values(name)]
        }
    summary = {
        "model": str(model_path),
        "rows": len(rows),
        "samples_per_row": samples,
        "metric": metric,
        "threshold": threshold,
        "backend": "vllm" if use_vllm else "transformers",
        "pass_at_k": {
            f"pass@{k}": sum(pass_at_k(samples, c, k) for c in correct_per_row) / len(rows)
            for k in sorted(set(ks))
        },
        "reward_means": means,
        "elapsed_s": round(time.perf_counter() - started, 2),
    }
    if output is not None:
        with atomic_writer(output) as handle:
            write_jsonl(handle, scored)
        summary["output"] = str(output)
        Path(str(output) + ".summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
