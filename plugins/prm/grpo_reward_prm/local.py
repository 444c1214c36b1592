"""Run a PRM in this process: loaded once per process, batched by token budget, no gradients.

torch and transformers are imported here only, when the first sample needs the model.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grpo_reward_prm.adapters import Adapter, Encoded

GENERIC_TOKENIZERS = ("TokenizersBackend", "PreTrainedTokenizerFast")
_LOCK = threading.Lock()
_MODELS: dict[tuple, LoadedPRM] = {}


def resolve_device(device: str) -> str:
    """``auto``: this process's GPU (``LOCAL_RANK`` under accelerate/torchrun, so each training
    process scores on its own card), else the CPU."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: {device}, but torch sees no CUDA device (use device: auto or cpu)")
    if device != "auto":
        return device
    if not torch.cuda.is_available():
        return "cpu"
    local_rank = os.environ.get("LOCAL_RANK", "")
    index = (
        int(local_rank) % torch.cuda.device_count() if local_rank.isdigit() else torch.cuda.current_device()
    )
    return f"cuda:{index}"


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto``: bf16 on a GPU (half the memory, tensor cores), float32 on a CPU (bf16 is slow there)."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def default_token_budget(device: str) -> int:
    """A GPU wants big batches; on a CPU, past a few thousand padded tokens the attention matrices
    fall out of cache and a batch costs more than its sequences one by one (measured: see
    benchmarks/RESULTS.md)."""
    return 2048 if device == "cpu" else 16384


def token_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Indices grouped so each batch's padded size (longest x count) stays within ``budget``.

    Sorting by length first keeps padding small; a sequence longer than the budget runs alone.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        if current and lengths[index] * (len(current) + 1) > budget:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


class LoadedPRM:
    """A tokenizer and model on one device; ``run`` is thread-safe (one forward pass at a time)."""

    def __init__(self, model_path: str, model_kind: str, device: str, dtype: str, trust_remote_code: bool):
        import torch
        from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForTokenClassification

        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.tokenizer = load_tokenizer(model_path, trust_remote_code)
        config = AutoConfig.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        architectures = getattr(config, "architectures", None) or []
        if model_kind == "causal_lm":
            loader = AutoModelForCausalLM
        elif any("ProcessRewardModel" in arch for arch in architectures):
            loader = AutoModel  # Qwen2.5-Math-PRM ships its own class (trust_remote_code)
        else:
            loader = AutoModelForTokenClassification
        model = loader.from_pretrained(model_path, dtype=self.dtype, trust_remote_code=trust_remote_code)
        self.model = model.to(self.device).eval()
        self.context = context_length(config, self.tokenizer)
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        self._torch = torch
        self._run_lock = threading.Lock()

    def run(
        self, encoded: Sequence[Encoded], adapter: Adapter, token_budget: int | None
    ) -> list[list[float]]:
        """Step probabilities per input, in input order; the same numbers however they are batched."""
        torch = self._torch
        token_budget = token_budget or default_token_budget(self.device)
        results: list[list[float] | None] = [None] * len(encoded)
        batches = token_batches([len(e.input_ids) for e in encoded], token_budget)
        with self._run_lock, torch.inference_mode():
            pending = list(reversed(batches))
            while pending:
                batch = pending.pop()
                try:
                    outputs = self._forward(batch, encoded, adapter)
                except torch.cuda.OutOfMemoryError:
                    if len(batch) == 1:
                        raise  # one sequence that does not fit: the engine reports an error
                    # Memory is shared with the trainer: halve the batch instead of failing it.
                    torch.cuda.empty_cache()
                    half = len(batch) // 2
                    pending.extend([batch[half:], batch[:half]])
                    continue
                for i, probabilities in zip(batch, outputs):
                    results[i] = probabilities
        return [r if r is not None else [] for r in results]

    def _forward(self, batch: list[int], encoded: Sequence[Encoded], adapter: Adapter) -> list[list[float]]:
        torch = self._torch
        width = max(len(encoded[i].input_ids) for i in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            n = len(encoded[i].input_ids)
            ids[row, :n] = torch.tensor(encoded[i].input_ids, dtype=torch.long)
            mask[row, :n] = 1  # right padding: positions of real tokens do not move
        rows = self._score_rows(ids.to(self.device), mask.to(self.device), adapter.vocab_ids)
        outputs = []
        for row, i in enumerate(batch):
            positions = torch.tensor(encoded[i].positions, dtype=torch.long, device=rows.device)
            outputs.append(adapter.step_probabilities(rows[row].index_select(0, positions)))
        return outputs

    def _score_rows(self, ids: Any, mask: Any, vocab_ids: list[int] | None) -> Any:
        """Per-token outputs: the head's label logits, or for a causal LM the logits of ``vocab_ids``.

        A causal LM's full logits are (tokens x vocabulary): gigabytes for a 150k vocabulary at a
        16k-token budget. When the LM head is a plain linear layer, only its rows for the tokens
        we read are applied to the final hidden states: the same numbers, a sliver of the memory.
        """
        if vocab_ids is not None and self._plain_lm_head():
            hidden = self.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
            head = self.model.get_output_embeddings()
            index = self._torch.tensor(vocab_ids, device=head.weight.device)
            bias = None if head.bias is None else head.bias.index_select(0, index)
            return self._torch.nn.functional.linear(hidden, head.weight.index_select(0, index), bias)
        output = self.model(input_ids=ids, attention_mask=mask)
        logits = output.logits if hasattr(output, "logits") else output[0]
        return logits if vocab_ids is None else logits[..., vocab_ids]

    def _plain_lm_head(self) -> bool:
        head = self.model.get_output_embeddings()
        config = self.model.config
        scaled = any(
            getattr(config, name, None) not in (None, 1.0)
            for name in (
                "final_logit_softcapping",
                "logit_scale",
                "logits_scaling",
                "output_multiplier_scale",
            )
        )
        return (
            isinstance(head, self._torch.nn.Linear) and self.model.base_model is not self.model and not scaled
        )


def load_tokenizer(model_path: str, trust_remote_code: bool = False) -> Any:
    """The directory's tokenizer, of the class it declares.

    A directory whose ``tokenizer_config.json`` names the generic fast backend (a tokenizer
    trained with the ``tokenizers`` library) is loaded as exactly that: ``AutoTokenizer`` would
    pick the class of the model's architecture instead and replace its pre-tokenizer.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config_file = Path(model_path).expanduser() / "tokenizer_config.json"
    if config_file.is_file():
        try:
            declared = json.loads(config_file.read_text(encoding="utf-8")).get("tokenizer_class")
        except (ValueError, AttributeError):
            declared = None
        if declared in GENERIC_TOKENIZERS:
            return PreTrainedTokenizerFast.from_pretrained(model_path)
    return AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)


def context_length(config: Any, tokenizer: Any) -> int | None:
    """The longest input the model takes: its position table, else the tokenizer's stated limit."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10**8 else None


def get_model(
    model_path: str, model_kind: str, device: str, dtype: str, trust_remote_code: bool
) -> LoadedPRM:
    """The process-wide instance for these settings: verifiers sharing a model load it once."""
    key = (model_path, model_kind, device, dtype, trust_remote_code)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = LoadedPRM(model_path, model_kind, device, dtype, trust_remote_code)
        return _MODELS[key]
