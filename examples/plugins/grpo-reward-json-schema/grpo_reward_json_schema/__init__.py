"""The `json_schema` verifier: is the completion's <answer> JSON valid against the row's schema?"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable
from typing import Any, ClassVar

from pydantic import Field

from grpo_core import Isolation, Sample, Score, Verifier, VerifierOptions, hookimpl

ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


class JsonSchemaOptions(VerifierOptions):
    require_answer_tag: bool = Field(True, description="false: the whole completion is the JSON")
    max_answer_chars: int = Field(100_000, ge=2, description="longer answers score 0 unparsed")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class JsonSchemaVerifier(Verifier):
    """1.0 when the last <answer>...</answer> is JSON valid against the row's `schema`."""

    name: ClassVar[str] = "json_schema"
    columns: ClassVar[tuple[str, ...]] = ("schema",)
    isolation: ClassVar[Isolation] = Isolation.PROCESS  # schema regexes and deep nesting can be slow
    default_timeout: ClassVar[float] = 5.0
    Options: ClassVar[type[VerifierOptions]] = JsonSchemaOptions

    def answer(self, sample: Sample) -> str | None:
        text = sample.completion_text
        found = ANSWER.findall(text)
        if found:
            return found[-1].strip()
        return None if self.options.require_answer_tag else text.strip()

    def score(self, sample: Sample) -> Score:
        import jsonschema

        schema = sample["schema"]
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except (ValueError, RecursionError) as exc:
                return Score.invalid_input(f"schema is not valid JSON: {exc}"[:300])
        if not isinstance(schema, dict | bool):
            return Score.invalid_input(f"schema must be a JSON object, got {type(schema).__name__}")
        try:
            validator_cls = jsonschema.validators.validator_for(schema)
            validator_cls.check_schema(schema)
        except (jsonschema.SchemaError, RecursionError) as exc:
            return Score.invalid_input(f"schema is not a valid JSON Schema: {exc}"[:300])
        answer = self.answer(sample)
        if answer is None:
            return Score.ok(0.0, reason="no <answer> tag")
        if len(answer) > self.options.max_answer_chars:
            return Score.ok(0.0, reason=f"answer longer than {self.options.max_answer_chars} characters")
        try:
            value = json.loads(answer, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            return Score.ok(0.0, reason=f"answer is not JSON: {exc}"[:200])
        try:
            error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(value))
        except RecursionError:
            return Score.ok(0.0, reason="answer nests too deeply to validate")
        if error is not None:
            return Score.ok(0.0, reason=f"invalid: {error.message}"[:200])
        return Score.ok(1.0)

    def cache_key(self, sample: Sample) -> Hashable | None:
        schema = sample["schema"]
        if not isinstance(schema, str):
            try:
                schema = json.dumps(schema, sort_keys=True)
            except (TypeError, ValueError):
                return None
        return (self.answer(sample), schema)


@hookimpl
def register_verifiers(register: Any) -> None:
    register(JsonSchemaVerifier)
