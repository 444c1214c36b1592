"""Test probe, loaded by every Python process that has this folder on PYTHONPATH.

With ``GRPO_VLLM_PROBE=FILE`` set, the trainer's vLLM generation class (the reload-sync class of
``harness.vllm_sync``, which every CPU run uses) is wrapped so that, on rank 0:

- after each weight sync, the log-probabilities of a few fixed token sequences are computed by the
  training model (HF) and by vLLM (its engine in colocate mode, the server in server mode), and
  written as one ``{"event": "sync", "hf": ..., "vllm": ...}`` line;
- after each generation, vLLM's completions, decoded as TRL decodes them, are written as one
  ``{"event": "generate", "completions": [...]}`` line.

Processes without the variable (the launcher, the vLLM server) are left untouched.
"""

from __future__ import annotations

import json
import os

PROBE = os.environ.get("GRPO_VLLM_PROBE")
SEQUENCES = 4
LENGTH = 12


def _write(record: dict) -> None:
    with open(PROBE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def _sequences(vocab_size: int) -> list[list[int]]:
    import random

    rng = random.Random(1234)
    return [[rng.randrange(vocab_size) for _ in range(LENGTH)] for _ in range(SEQUENCES)]


def _hf_logprobs(model, sequences: list[list[int]]) -> list[list[float]]:
    import torch

    model = getattr(model, "module", model)
    with torch.no_grad():
        ids = torch.tensor(sequences, device=next(model.parameters()).device)
        logits = model(input_ids=ids).logits.float()
        logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
    return logps.cpu().tolist()


def _vllm_logprobs(generation, sequences: list[list[int]], vocab_size: int) -> list[list[float]]:
    if generation.mode == "server":
        result = generation.vllm_client.get_sequence_logprobs(
            sequences, [1] * len(sequences), top_logprobs=vocab_size
        )
        return [[position[0] for position in seq] for seq in result["actual_logprobs"]]
    from vllm import SamplingParams

    prompts = [{"prompt_token_ids": seq} for seq in sequences]
    outputs = generation.llm.generate(
        prompts, SamplingParams(max_tokens=1, prompt_logprobs=0), use_tqdm=False
    )
    return [
        [out.prompt_logprobs[i][seq[i]].logprob for i in range(1, len(seq))]
        for out, seq in zip(outputs, sequences)
    ]


def _install() -> None:
    import harness.vllm_sync as vllm_sync

    build = vllm_sync._reload_generation_class

    def probed_class() -> type:
        base = build()

        class Probed(base):
            def sync_weights(self):
                super().sync_weights()
                if not self.accelerator.is_main_process:
                    return
                vocab = self.model.config.vocab_size
                seqs = _sequences(vocab)
                _write(
                    {
                        "event": "sync",
                        "mode": self.mode,
                        "hf": _hf_logprobs(self.model, seqs),
                        "vllm": _vllm_logprobs(self, seqs, vocab),
                    }
                )

            def generate(self, *args, **kwargs):
                result = super().generate(*args, **kwargs)
                if self.accelerator.is_main_process:
                    completion_ids = result[1]
                    texts = self.processing_class.batch_decode(completion_ids, skip_special_tokens=True)
                    _write({"event": "generate", "completions": texts})
                return result

        return Probed

    vllm_sync._reload_generation_class = probed_class


if PROBE:
    _install()
