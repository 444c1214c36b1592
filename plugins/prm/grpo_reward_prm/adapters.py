"""One adapter per PRM family: how the steps become model input, and how scores come out.

- ``qwen_prm`` (Qwen2.5-Math-PRM): the steps are joined by a separator token (``<extra_0>``) in a
  chat; a token-classification head gives P(positive) at each separator.
- ``math_shepherd`` (Math-Shepherd): a causal LM; each step ends with a tag token (``ки``) and the
  softmax over the good/bad tokens' logits at the tag is P(good).
- ``token_classification`` (TRL's ``PRMTrainer``): prompt, then each step plus a separator; the
  label sits on the last token of each step with its separator.

Adapters need a tokenizer but never torch at import: ``step_probabilities`` gets torch tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grpo_reward_prm.steps import remove_markers

QWEN_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."


class MarkerMismatch(ValueError):
    """The tokenised input does not have exactly one score position per step."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """Model input for one sample: token ids and the index of the token that scores each step."""

    input_ids: list[int]
    positions: list[int]


class Adapter:
    """Base of the three families. ``markers``: strings removed from model-written text."""

    name = ""
    #: which AutoModel class loads it: ``token_classification`` or ``causal_lm``.
    model_kind = "token_classification"

    def __init__(self, options: Any) -> None:
        self.options = options

    @property
    def markers(self) -> tuple[str, ...]:
        return ()

    def prepare(self, tokenizer: Any) -> None:
        """Resolve token ids once the tokenizer is loaded."""

    def encode(self, tokenizer: Any, question: str, steps: Sequence[str]) -> Encoded:
        raise NotImplementedError

    @property
    def vocab_ids(self) -> list[int] | None:
        """Token ids whose LM logits are read (causal-LM PRMs); ``None``: a classification head."""
        return None

    def step_probabilities(self, rows: Any) -> list[float]:
        """P(good) per step from the model's output rows at the score positions (a torch tensor):
        label logits, or for a causal LM the logits of ``vocab_ids`` in that order."""
        import torch

        probs = torch.softmax(rows.float(), dim=-1)[:, self.options.positive_label]
        return [float(p) for p in probs]

    @property
    def served_good_index(self) -> int:
        """The column of P(good) in the rows a pooling server returns."""
        return self.options.positive_label

    def clean(self, text: str) -> str:
        return remove_markers(text, self.markers)

    @staticmethod
    def _marker_positions(ids: Sequence[int], marker_id: int, steps: int) -> list[int]:
        positions = [i for i, token in enumerate(ids) if token == marker_id]
        if len(positions) != steps:
            raise MarkerMismatch(f"{len(positions)} step markers in the tokenised input for {steps} steps")
        return positions


class QwenPRMAdapter(Adapter):
    name = "qwen_prm"

    @property
    def separator(self) -> str:
        return self.options.step_token or "<extra_0>"

    @property
    def markers(self) -> tuple[str, ...]:
        return (self.separator,)

    def prepare(self, tokenizer: Any) -> None:
        self.separator_id = single_token_id(tokenizer, self.separator, "step_token")

    def encode(self, tokenizer: Any, question: str, steps: Sequence[str]) -> Encoded:
        answer = "".join(step + self.separator for step in steps)
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        if self.options.system_prompt:
            messages.insert(0, {"role": "system", "content": self.options.system_prompt})
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        else:
            text = "\n".join(m["content"] for m in messages)
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        return Encoded(ids, self._marker_positions(ids, self.separator_id, len(steps)))


class MathShepherdAdapter(Adapter):
    name = "math_shepherd"
    model_kind = "causal_lm"

    @property
    def tag(self) -> str:
        return self.options.step_token or "ки"

    @property
    def markers(self) -> tuple[str, ...]:
        return (self.tag,)

    def prepare(self, tokenizer: Any) -> None:
        self.tag_id = single_token_id(tokenizer, self.tag, "step_token")
        self.good_id = single_token_id(tokenizer, self.options.good_token, "good_token")
        self.bad_id = single_token_id(tokenizer, self.options.bad_token, "bad_token")

    def encode(self, tokenizer: Any, question: str, steps: Sequence[str]) -> Encoded:
        text = f"{question} " + "\n".join(f"{step} {self.tag}" for step in steps)
        ids = list(tokenizer(text)["input_ids"])  # the model was trained with its BOS
        return Encoded(ids, self._marker_positions(ids, self.tag_id, len(steps)))

    @property
    def vocab_ids(self) -> list[int]:
        return [self.good_id, self.bad_id]

    def step_probabilities(self, rows: Any) -> list[float]:
        import torch

        return [float(p) for p in torch.softmax(rows.float(), dim=-1)[:, 0]]

    @property
    def served_good_index(self) -> int:
        # vLLM: --convert classify with classifier_from_token [good, bad] (plugins/prm/README.md)
        return 0


class TokenClassificationAdapter(Adapter):
    """TRL ``PRMTrainer`` layout: [BOS] prompt, then per step its tokens and the separator's; the
    score is read where the trainer put the label, on the last of those tokens."""

    name = "token_classification"

    def prepare(self, tokenizer: Any) -> None:
        self.separator_ids = list(
            tokenizer(self.options.step_separator, add_special_tokens=False)["input_ids"]
        )

    def encode(self, tokenizer: Any, question: str, steps: Sequence[str]) -> Encoded:
        ids = list(tokenizer(question, add_special_tokens=False)["input_ids"])
        if tokenizer.bos_token_id is not None:
            ids.insert(0, tokenizer.bos_token_id)
        positions = []
        for step in steps:
            step_ids = tokenizer(step, add_special_tokens=False)["input_ids"]
            if not step_ids:
                raise MarkerMismatch(f"step {step[:40]!r} tokenises to nothing")
            ids.extend(step_ids)
            ids.extend(self.separator_ids)
            positions.append(len(ids) - 1)  # PRMTrainer labels the last token of step + separator
        return Encoded(ids, positions)


ADAPTERS: dict[str, type[Adapter]] = {
    cls.name: cls for cls in (QwenPRMAdapter, MathShepherdAdapter, TokenClassificationAdapter)
}


def single_token_id(tokenizer: Any, text: str, option: str) -> int:
    """The one token id ``text`` encodes to; a text that is several tokens cannot mark a step."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
        raise ValueError(f"{option} {text!r} is not a single known token of this tokenizer (got ids {ids})")
    return int(ids[0])
