"""``grpo train``: build everything from a run config and run TRL's GRPOTrainer in this process.

Order matters: the config, the verifiers (existence, options), the dataset and its columns and the
``trainer`` values are all checked (:func:`preflight`) before any model is loaded, so a typo costs a
second, not a model download. The run directory receives ``config.yaml`` (the config actually used),
``grpo_config.json`` (the resolved TRL arguments), ``metrics.jsonl`` (one line per logging step),
``reward_curves.png`` and the final checkpoint in ``final/``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grpo_core.engine import Engine
from grpo_core.errors import ConfigError
from grpo_core.plugins import PluginRegistry
from harness.config import RunConfig
from harness.data import check_columns, load_rows, task_texts

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "reward_curves.png"
FINAL_DIR = "final"
INIT_DIR = "init"


@dataclass
class Prepared:
    """Everything checked and built before a model is touched."""

    config: RunConfig
    engine: Engine
    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir

    def close(self) -> None:
        self.engine.close()


def is_main_rank() -> bool:
    """Rank 0 of an ``accelerate launch`` (or a single process): the one that writes run files."""
    return int(os.environ.get("RANK", "0")) == 0


def cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # pragma: no cover - broken torch install
        return False


def trainer_arguments(config: RunConfig, engine: Engine) -> dict[str, Any]:
    """The keyword arguments of TRL's GRPOConfig: harness defaults, the ``trainer`` section, managed keys."""
    kwargs: dict[str, Any] = {
        "report_to": "none",
        "logging_steps": 1,
        "disable_tqdm": True,
        "save_strategy": "no",
        "seed": config.seed,
    }
    if not cuda_available():
        kwargs.update(use_cpu=True, bf16=False)
    kwargs.update(config.trainer)
    kwargs["output_dir"] = str(config.run_dir)
    kwargs["reward_weights"] = [engine.weights[name] for name in engine.names]
    vllm = config.vllm
    if vllm.mode != "off":
        kwargs.update(use_vllm=True, vllm_mode=vllm.mode)
        kwargs["vllm_gpu_memory_utilization"] = vllm.gpu_memory_utilization
        kwargs["vllm_tensor_parallel_size"] = vllm.tensor_parallel_size
        if vllm.max_model_len:
            kwargs["vllm_max_model_length"] = vllm.max_model_len
        if vllm.mode == "server":
            kwargs.update(vllm_server_host=vllm.host, vllm_server_port=vllm.port)
            kwargs.pop("vllm_tensor_parallel_size")
            kwargs.pop("vllm_gpu_memory_utilization")
    if not config.model.is_tiny:
        init = dict(kwargs.get("model_init_kwargs") or {})
        if config.model.dtype != "auto":
            init.setdefault("dtype", config.model.dtype)
        if config.model.attn_implementation:
            init.setdefault("attn_implementation", config.model.attn_implementation)
        if config.model.trust_remote_code:
            init.setdefault("trust_remote_code", True)
        if init:
            kwargs["model_init_kwargs"] = init
    return kwargs


def build_grpo_config(kwargs: dict[str, Any]):
    """TRL's GRPOConfig; its own checks (batch divisibility, ...) become ConfigErrors."""
    from trl import GRPOConfig

    try:
        return GRPOConfig(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"trainer: TRL's GRPOConfig rejects these settings: {exc}") from None


def check_vllm_installed(mode: str) -> None:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            f"vllm.mode: {mode!r} needs vLLM in this environment (pip install -c constraints/gpu.txt "
            "'grpo-core[vllm]'); use vllm.mode: off to generate with transformers"
        )


def preflight(config: RunConfig, registry: PluginRegistry | None = None) -> Prepared:
    """Check verifiers, options, dataset columns and trainer settings; load no model."""
    engine = Engine(config.rewards, registry=registry)
    try:
        train_rows, eval_rows = load_rows(config.data)
        required = engine.required_columns()
        check_columns(train_rows, required, where=f"data ({config.data.source})")
        if eval_rows:
            check_columns(eval_rows, required, where="data.eval")
        kwargs = trainer_arguments(config, engine)
        if config.vllm.mode != "off":
            check_vllm_installed(config.vllm.mode)
        args = build_grpo_config(kwargs)
        prompts_per_batch = args.generation_batch_size // args.num_generations
        if len(train_rows) < prompts_per_batch:
            raise ConfigError(
                f"data: {len(train_rows)} training row(s), but one generation batch needs "
                f"{prompts_per_batch} prompts (generation_batch_size / num_generations); "
                "raise data.size/limit or lower trainer.per_device_train_batch_size"
            )
    except BaseException:
        engine.close()
        raise
    return Prepared(config, engine, train_rows, eval_rows, kwargs)


# -- model and tokenizer -------------------------------------------------------------------------
def _chat_template(value: str) -> str:
    path = Path(value)
    if len(value) < 4096 and path.is_file():
        return path.read_text(encoding="utf-8")
    return value


def build_model_and_tokenizer(prepared: Prepared, resume: bool = False) -> tuple[Any, Any]:
    """(model or model name, tokenizer). ``model: tiny`` trains a tokenizer and builds the model here."""
    config = prepared.config
    init_dir = prepared.run_dir / INIT_DIR
    if config.model.is_tiny:
        from harness.tiny import build_model, train_tokenizer

        tiny = config.model.tiny
        if resume and (init_dir / "tokenizer.json").is_file():
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(init_dir)
            model = AutoModelForCausalLM.from_pretrained(init_dir)
            return model, tokenizer
        texts = task_texts(prepared.train_rows + prepared.eval_rows)
        tokenizer = train_tokenizer(texts, think_prefilled=config.model.think_prefilled)
        overrides = tiny.model_dump(exclude={"seed"})
        model = build_model(tokenizer, overrides, seed=tiny.seed)
        if is_main_rank():
            init_dir.mkdir(parents=True, exist_ok=True)
            model.save_pretrained(init_dir)
            tokenizer.save_pretrained(init_dir)
        # TRL builds the KL reference (beta > 0) from the policy's name_or_path: the saved initial model.
        model.config._name_or_path = str(init_dir.resolve())
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # the other ranks read init/ once rank 0 wrote it
            from accelerate import PartialState

            PartialState().wait_for_everyone()
        return model, tokenizer
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        config.model.name_or_path, trust_remote_code=config.model.trust_remote_code
    )
    if config.model.chat_template:
        tokenizer.chat_template = _chat_template(config.model.chat_template)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return config.model.name_or_path, tokenizer


def peft_config(config: RunConfig):
    if config.model.lora is None:
        return None
    from peft import LoraConfig

    lora = config.model.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )


def quiet_libraries() -> None:
    """No per-shard progress bars or info chatter from transformers/datasets: the table is the output."""
    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()


# -- the run ---------------------------------------------------------------------------------------
def prepare_run_dir(run_dir: Path, resume: bool) -> None:
    """A fresh run replaces the outputs of an earlier run of the same name (not other files)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        return
    for child in run_dir.iterdir():
        if child.name.startswith("checkpoint-") or child.name in (FINAL_DIR, INIT_DIR):
            shutil.rmtree(child, ignore_errors=True)
        elif child.name in (METRICS_FILE, CURVES_FILE, "summary.json"):
            child.unlink()


def last_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = [p for p in run_dir.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return max(checkpoints, key=lambda p: int(p.name.split("-")[-1])) if checkpoints else None


def write_config(prepared: Prepared, args: Any) -> None:
    run_dir = prepared.run_dir
    with open(run_dir / "config.yaml", "w", encoding="utf-8") as handle:
        yaml.safe_dump(prepared.config.dump(), handle, sort_keys=False)
    resolved = {k: v for k, v in args.to_dict().items() if not k.startswith("_")}
    (run_dir / "grpo_config.json").write_text(json.dumps(resolved, indent=2, default=str), encoding="utf-8")


def run_training(
    prepared: Prepared,
    *,
    resume: bool = False,
    console: Any = None,
    extra_callbacks: list[Any] = (),
) -> dict[str, Any]:
    """Train; returns the summary written to ``summary.json``. The engine is closed at the end."""
    from rich.console import Console
    from transformers import PrinterCallback, ProgressCallback
    from trl import GRPOTrainer

    from harness.progress import MetricsCallback, RewardTable
    from harness.rewards import make_reward_functions

    config = prepared.config
    run_dir = prepared.run_dir
    checkpoint = None
    if resume:
        checkpoint = last_checkpoint(run_dir)
        if checkpoint is None:
            raise ConfigError(
                f"--resume: no checkpoint-* directory in {run_dir}; set trainer.save_strategy: steps "
                "and trainer.save_steps to write checkpoints"
            )
    if is_main_rank():
        prepare_run_dir(run_dir, resume)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    quiet_libraries()
    started = time.perf_counter()
    try:
        import datasets

        args = build_grpo_config(prepared.trainer_kwargs)
        model, tokenizer = build_model_and_tokenizer(prepared, resume=resume)
        if is_main_rank():
            write_config(prepared, args)
        else:  # one table per run, not one per process
            console = Console(file=open(os.devnull, "w"))  # noqa: SIM115
        table = RewardTable(prepared.engine.names, console=console)
        callbacks = [MetricsCallback(run_dir / METRICS_FILE, table), *extra_callbacks]
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=make_reward_functions(prepared.engine),
            args=args,
            train_dataset=datasets.Dataset.from_list(prepared.train_rows),
            processing_class=tokenizer,
            callbacks=callbacks,
            peft_config=peft_config(config),
        )
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        start = getattr(prepared.engine, "start", None)
        if start is not None:  # workers up and verifiers set up before step 1, not during it
            start()
        with table:
            result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        final_dir = run_dir / FINAL_DIR
        trainer.save_model(str(final_dir))
        if trainer.accelerator.is_main_process:
            tokenizer.save_pretrained(final_dir)
    finally:
        prepared.close()
    summary = summarize(run_dir, prepared.engine.names, time.perf_counter() - started, result.global_step)
    if trainer.accelerator.is_main_process:
        from harness.plots import plot_reward_curves

        plot_reward_curves(run_dir / METRICS_FILE, run_dir / CURVES_FILE, prepared.engine.names)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        table.print_summary(summary)
    return summary


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(values) / len(values) if values else None


def summarize(run_dir: Path, names: list[str], wall_s: float, steps: int) -> dict[str, Any]:
    """First vs last logged steps (mean of up to 5 each) of the reward and each verifier."""
    rows = [r for r in read_metrics(run_dir / METRICS_FILE) if "reward" in r]
    window = max(1, min(5, len(rows) // 4 or 1))
    first, last = rows[:window], rows[-window:]
    keys = {"reward": "reward", "reward_std": "reward_std", "kl": "kl", "entropy": "entropy"}
    keys.update({name: f"rewards/{name}/mean" for name in names})
    summary: dict[str, Any] = {"run_dir": str(run_dir), "steps": steps, "wall_s": round(wall_s, 2)}
    summary["first"] = {label: _mean([r.get(key) for r in first]) for label, key in keys.items()}
    summary["last"] = {label: _mean([r.get(key) for r in last]) for label, key in keys.items()}
    summary["logged_steps"] = len(rows)
    return summary


def train(config: RunConfig, *, resume: bool = False, console: Any = None) -> dict[str, Any]:
    prepared = preflight(config)
    return run_training(prepared, resume=resume, console=console)
