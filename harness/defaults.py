"""The embedded default run (``grpo train`` with no config): a CPU demo that learns in minutes.

A randomly initialised Qwen2-architecture model (~100k parameters) with a byte-level BPE Qwen2
tokenizer trained on the task text, the built-in arithmetic task (a+b, a in 0..4, b in 0..1: answers
0..5, no constant answer right more than 20% of the time) in the R1 template (the chat template
opens ``<think>`` for the model, R1-Zero style), rewarded by the ``math`` and ``format`` verifiers.
A short cold-start SFT stage teaches the template with *random* answers; RL has to earn the sums,
with a KL term (beta 0.3) to that cold-start model that keeps wrong answers from locking in.
The same text ships as ``examples/tiny_cpu.yaml``.
"""

TINY_CONFIG = """\
# The embedded default: `grpo train` with no config runs this.
name: tiny
seed: 0
model:
  name_or_path: tiny          # build the embedded tiny Qwen2 model (random init, local tokenizer)
  think_prefilled: true       # the generation prompt opens <think>, as R1-Zero's template does
  tiny: {hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4}
data:
  source: arithmetic          # built-in generator: "a+b" with the gold `answer`
  size: 2000
  # a+b, a in 0..4, b in 0..1: 10 problems, answers 0..5; one constant answer earns at most 0.2
  arithmetic: {min_operand: 0, max_operand: 4, second_operands: [0, 1], operations: ["+"]}
  template: r1
  eval: {size: 64}
rewards:
  - verifier: math
    weight: 2.0
    options: {extraction_priority: [answer_tag]}   # the R1 template's <answer>...</answer>
    timeout: 30                # generous: the first samples also pay for the workers' sympy import
  - verifier: format
    weight: 1.0
    options: {mode: soft, think_prefilled: true}
cold_start:                   # R1-style SFT on the template, with *random* answers (see README)
  steps: 60
  batch_size: 64
  learning_rate: 3.0e-3
trainer:
  max_steps: 400
  learning_rate: 1.0e-3
  lr_scheduler_type: constant
  per_device_train_batch_size: 128   # 16 prompts x 8 completions per step
  num_generations: 8
  max_completion_length: 12
  temperature: 1.0
  # KL to the cold-start model (init/). A group whose 8 answers agree gives GRPO no signal, so
  # without it a problem can lock onto a wrong answer for good; the KL term pulls such a problem
  # back toward the cold start's spread until a right answer is sampled (benchmarks/RESULTS.md)
  beta: 0.3
  logging_steps: 10
  save_strategy: "no"
vllm:
  mode: "off"
"""
