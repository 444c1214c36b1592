"""A short cold-start SFT stage before RL (as DeepSeek-R1 does): it teaches the template only.

Why: a randomly initialised model almost never samples ``…</think><answer>…</answer>`` by chance,
so pure RL from scratch spends its budget (and, in this project's experience, its luck) finding the
template. The demonstrations here are ``<question restated></think><answer>X</answer><eos>`` where
``X`` is the gold answer of a *different, randomly drawn* row: the template is learnt, the answer
is not. After this stage the model writes well-formed completions whose answers are uncorrelated
with the question (pass@1 about what guessing from the answer distribution earns), so the math
reward still has to be earned by RL. ``grpo train`` evaluates the model before and after RL to
show exactly that.
"""

from __future__ import annotations

import random
from typing import Any

from grpo_core.errors import ConfigError
from grpo_core.sample import to_text


def demonstrations(
    rows: list[dict[str, Any]], count: int, seed: int, think_prefilled: bool
) -> list[tuple[Any, str]]:
    """``count`` (prompt, completion) pairs; each answer comes from another, random row."""
    usable = [row for row in rows if isinstance(row.get("question"), str) and "answer" in row]
    if len(usable) < 2:
        raise ConfigError(
            "cold_start: needs rows with a text 'question' and an 'answer' column (at least 2); "
            "set cold_start.steps: 0 to skip the stage"
        )
    rng = random.Random(seed)
    opener = "" if think_prefilled else "<think>"
    pairs = []
    for _ in range(count):
        row = rng.choice(usable)
        decoy = rng.choice(usable)["answer"]  # independent of the question: math is not taught
        pairs.append((row["prompt"], f"{opener}{row['question']}</think><answer>{decoy}</answer>"))
    return pairs


def _encode(tokenizer: Any, prompt: Any, completion: str) -> tuple[list[int], list[int]]:
    if isinstance(prompt, str):
        prompt_text = prompt
    else:
        prompt_text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(to_text(prompt_text), add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return prompt_ids, completion_ids


def run_cold_start(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    think_prefilled: bool,
) -> dict[str, float]:
    """Supervised steps on the completion tokens only (prompt tokens masked); returns the losses."""
    import torch

    pairs = demonstrations(rows, steps * batch_size, seed, think_prefilled)
    pad = tokenizer.pad_token_id
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    losses = []
    for step in range(steps):
        batch = [_encode(tokenizer, p, c) for p, c in pairs[step * batch_size : (step + 1) * batch_size]]
        width = max(len(p) + len(c) for p, c in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (p, c) in enumerate(batch):
            seq = p + c
            ids[i, : len(seq)] = torch.tensor(seq)
            labels[i, len(p) : len(seq)] = torch.tensor(c)
            mask[i, : len(seq)] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    nan = float("nan")
    return {"first_loss": losses[0] if losses else nan, "last_loss": losses[-1] if losses else nan}
