"""Your own TRL script, with grpo-core verifiers as rewards: ``harness.rewards.trl_rewards``.

Everything TRL-side is yours (model, dataset, GRPOConfig, GRPOTrainer); grpo-core only supplies
the reward functions and their weights. This example builds the embedded tiny model so it runs
offline on a CPU in seconds; swap in ``AutoModelForCausalLM.from_pretrained(...)`` and your data.

    python examples/trl_own_script.py --output-dir runs/trl-own --max-steps 5
"""

from __future__ import annotations

import argparse

from harness.rewards import trl_rewards

REWARDS = [
    # Every weight is explicit: trl_rewards refuses a spec without one.
    {"verifier": "math", "weight": 2.0, "options": {"extraction_priority": ["answer_tag"]}, "timeout": 30},
    {"verifier": "format", "weight": 1.0, "options": {"mode": "soft", "think_prefilled": True}},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--max-steps", type=int, default=5)
    cli = parser.parse_args()

    import datasets
    from trl import GRPOConfig, GRPOTrainer

    from harness.config import DataConfig
    from harness.data import load_rows, task_texts
    from harness.tiny import build_model, train_tokenizer

    # Checked first (unknown verifier, bad option, missing weight): before any model is built.
    with trl_rewards(REWARDS) as rewards:
        reward_funcs, reward_weights = rewards
        rows, _ = load_rows(DataConfig(size=256, eval=None))  # {prompt, question, answer}
        tokenizer = train_tokenizer(task_texts(rows), think_prefilled=True)
        model = build_model(tokenizer)
        args = GRPOConfig(
            output_dir=cli.output_dir,
            reward_weights=reward_weights,  # leave this out and TRL weighs every reward 1.0
            max_steps=cli.max_steps,
            per_device_train_batch_size=16,
            num_generations=4,
            max_completion_length=12,
            learning_rate=1e-3,
            logging_steps=1,
            report_to="none",
            save_strategy="no",
            use_cpu=True,
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=datasets.Dataset.from_list(rows),
            processing_class=tokenizer,
        )
        rewards.engine.start()  # verifier workers up before the first step
        trainer.train()
        used = [float(w) for w in trainer.reward_weights]
        print(f"reward functions: {[f.__name__ for f in reward_funcs]}; weights used by TRL: {used}")


if __name__ == "__main__":
    main()
