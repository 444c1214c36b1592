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
import re
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
from harness.health import VerifierHealth

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "reward_curves.png"
FINAL_DIR = "final"
INIT_DIR = "init"
ERRORS_FILE = "errors.jsonl"


@dataclass
class Prepared:
    """Everything checked and built before a model is touched."""

    config: RunConfig
    engine: Engine
    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)
    cold_start: dict[str, float] | None = None
    resume: bool = False
    overwrite: bool = False
    health: VerifierHealth | None = None

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
    if not _module_present("vllm"):
        raise ConfigError(
            f"vllm.mode: {mode!r} needs vLLM in this environment (GPU: pip install -c constraints/gpu.txt "
            "'grpo-core[vllm]'; CPU: make install-vllm, then .venv-vllm/bin/grpo); use vllm.mode: off "
            "to generate with transformers"
        )


# -- pre-flight checks that need no model --------------------------------------------------------
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
# report_to value -> the module it needs
REPORTERS = {
    "tensorboard": ("tensorboard", "tensorboardX"),
    "wandb": ("wandb",),
    "mlflow": ("mlflow",),
    "trackio": ("trackio",),
    "comet_ml": ("comet_ml",),
    "clearml": ("clearml",),
    "dvclive": ("dvclive",),
    "swanlab": ("swanlab",),
}
# trainer keys whose value TRL/transformers accept but silently misread (or fail on much later)
RANGES: dict[str, tuple[float, str]] = {
    "per_device_train_batch_size": (1, "at least 1"),
    "per_device_eval_batch_size": (1, "at least 1"),
    "gradient_accumulation_steps": (1, "at least 1"),
    "num_generations": (2, "at least 2 (GRPO compares completions of one prompt)"),
    "max_completion_length": (1, "at least 1"),
    "logging_steps": (1e-12, "positive"),
    "save_steps": (1e-12, "positive"),
    "num_train_epochs": (1e-12, "positive"),
    "learning_rate": (0, "zero or more"),
    "beta": (0, "zero or more"),
    "temperature": (1e-12, "positive"),
    "num_iterations": (1, "at least 1"),
}


def _module_present(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def check_model(config: RunConfig) -> None:
    """``model.name_or_path``: a local model directory (with config.json) or a hub id ``org/name``."""
    model = config.model
    if model.is_tiny:
        return
    value = model.name_or_path
    path = Path(value).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"model.name_or_path {value!r}: this directory has no config.json (not a model directory)"
            )
        return
    looks_local = value.startswith((".", "/", "~")) or value.count("/") > 1 or "\\" in value
    if looks_local or not HUB_ID.match(value):
        raise ConfigError(
            f"model.name_or_path {value!r}: no such directory, and not a hub id (org/name); "
            "fix the path, or use model: tiny for the embedded demo"
        )


def check_packages(config: RunConfig) -> None:
    """Packages the config needs beyond the base install, named before any model loads."""
    report_to = config.trainer.get("report_to", "none")
    targets = [report_to] if isinstance(report_to, str) else list(report_to or [])
    for target in targets:
        if target in ("none", "all"):
            continue
        modules = REPORTERS.get(target)
        if modules is not None and not any(_module_present(m) for m in modules):
            raise ConfigError(
                f"trainer.report_to {target!r} needs the {modules[0]!r} package (pip install {modules[0]}); "
                "or set trainer.report_to: none"
            )
    # The harness's own trainer talks to vLLM (colocate engine, server client); a replaced
    # trainer command (launch.train_command) brings its own environment.
    if config.vllm.mode == "colocate" or (config.vllm.mode == "server" and not config.launch.train_command):
        check_vllm_installed(config.vllm.mode)
    if config.model.lora is not None and not _module_present("peft"):
        raise ConfigError("model.lora needs the 'peft' package (pip install peft); or remove model.lora")


def check_trainer_values(trainer: dict[str, Any]) -> None:
    """Types (through GRPOConfig's own annotations) and ranges of the ``trainer`` values."""
    import typing

    from pydantic import TypeAdapter, ValidationError
    from trl import GRPOConfig

    hints = typing.get_type_hints(GRPOConfig)
    problems = []
    for key, value in trainer.items():
        hint = hints.get(key)
        if hint is not None:
            try:
                value = TypeAdapter(hint).validate_python(value)
            except ValidationError as exc:
                reason = exc.errors()[0]["msg"]
                problems.append(f"trainer.{key}: {value!r} is not valid here ({reason})")
                continue
            except Exception:  # an annotation pydantic cannot build: TRL checks it itself
                pass
        if key == "max_steps" and isinstance(value, int) and value != -1 and value < 1:
            problems.append(f"trainer.max_steps: {value} is not a number of steps; use 1 or more")
        elif key in RANGES and isinstance(value, (int, float)) and value is not None:
            low, text = RANGES[key]
            if value < low:
                problems.append(f"trainer.{key}: {value} must be {text}")
    if problems:
        raise ConfigError("invalid run config:\n" + "\n".join(problems))


def preflight(
    config: RunConfig,
    registry: PluginRegistry | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    check_dir: bool = True,
) -> Prepared:
    """Check everything a run needs, touching nothing: run dir, model, verifiers, data, trainer.

    ``check_dir=False`` is for a launched child process: its parent already checked (and, with
    ``--overwrite``, cleared) the run dir and wrote its own files there.
    """
    if check_dir:
        check_run_dir(config.run_dir, resume=resume, overwrite=overwrite)
    check_model(config)
    check_packages(config)
    engine = Engine(config.rewards, registry=registry)
    try:
        train_rows, eval_rows = load_rows(config.data)
        required = engine.required_columns()
        check_columns(train_rows, required, where=f"data ({config.data.source})")
        if eval_rows:
            check_columns(eval_rows, required, where="data.eval")
        check_trainer_values(config.trainer)
        kwargs = trainer_arguments(config, engine)
        if config.vllm.mode == "colocate" or (
            config.vllm.mode == "server" and not config.vllm.server_command
        ):
            from harness.vllm_server import check_model_for_vllm

            check_model_for_vllm(config)  # vLLM (ours, not a given server command) loads the model
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
    limits = {
        spec.reward_name: spec.max_error_frac if spec.max_error_frac is not None else config.max_error_frac
        for spec in config.rewards
    }
    health = VerifierHealth(limits, window=config.error_window)
    return Prepared(
        config, engine, train_rows, eval_rows, kwargs, resume=resume, overwrite=overwrite, health=health
    )


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
        if config.cold_start.steps:
            from harness.cold_start import run_cold_start

            cold = config.cold_start
            prepared.cold_start = run_cold_start(
                model,
                tokenizer,
                prepared.train_rows,
                steps=cold.steps,
                batch_size=cold.batch_size,
                learning_rate=cold.learning_rate,
                seed=config.seed,
                think_prefilled=config.model.think_prefilled,
            )
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


def limit_cpu_threads(config: RunConfig) -> None:
    """The tiny model on CPU runs on one intra-op thread.

    Its matrices are too small to gain from a second thread, and on a loaded machine torch's
    spinning worker threads made a step ~12x slower (measured: 10 cold-start steps 1.2 s with one
    thread, 13.9 s with two, load average 11 on 2 cores).
    """
    if config.model.is_tiny and not cuda_available():
        import torch

        torch.set_num_threads(1)


def quiet_libraries() -> None:
    """No per-shard progress bars or info chatter from transformers/datasets: the table is the output."""
    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()


# -- the run directory ------------------------------------------------------------------------------
RUN_OUTPUTS = (METRICS_FILE, CURVES_FILE, ERRORS_FILE, "summary.json", "config.yaml", "grpo_config.json")


def run_outputs(run_dir: Path) -> list[Path]:
    """Files and directories an earlier ``grpo train`` wrote into ``run_dir``."""
    if not run_dir.is_dir():
        return []
    found = []
    for child in run_dir.iterdir():
        if (
            child.name in (FINAL_DIR, INIT_DIR)
            or child.name in RUN_OUTPUTS
            or child.name.startswith("checkpoint-")
        ):
            found.append(child)
    return sorted(found)


def check_run_dir(run_dir: Path, *, resume: bool, overwrite: bool) -> None:
    """A run directory is never overwritten silently; ``--resume`` needs a checkpoint. Touches nothing."""
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other; choose one")
    if resume:
        if last_checkpoint(run_dir) is None:
            raise ConfigError(
                f"--resume: no checkpoint-* directory in {run_dir}; set trainer.save_strategy: steps "
                "and trainer.save_steps to write checkpoints"
            )
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--output-dir {str(run_dir)!r} is a file, not a directory")
    earlier = run_outputs(run_dir)
    if earlier and not overwrite:
        names = ", ".join(p.name for p in earlier[:4]) + (", ..." if len(earlier) > 4 else "")
        raise ConfigError(
            f"run dir {run_dir} already holds a run ({names}); choose a new --output-dir (or name), "
            "--resume to continue it, or --overwrite to replace it"
        )


def clear_run_outputs(run_dir: Path) -> None:
    """``--overwrite``: remove an earlier run's outputs (other files in the directory stay)."""
    for child in run_outputs(run_dir):
        if child.is_dir():
            shutil.rmtree(child)
        else:
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


class RunFailed(Exception):
    """The run was stopped because it cannot be trusted (e.g. a verifier keeps failing): exit 1."""


def open_run_dir(prepared: Prepared) -> None:
    """Rank 0 creates the run dir; ``--overwrite`` clears an earlier run's outputs first."""
    run_dir = prepared.run_dir
    if is_main_rank() and prepared.overwrite:
        clear_run_outputs(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


def build_trainer(prepared: Prepared, model: Any, tokenizer: Any, args: Any, callbacks: list[Any]) -> Any:
    """TRL's GRPOTrainer with one reward function per verifier (and TRL's own printing removed)."""
    import datasets
    from transformers import PrinterCallback, ProgressCallback
    from trl import GRPOTrainer

    from harness.group_metrics import with_group_metrics
    from harness.rewards import make_reward_functions
    from harness.vllm_sync import with_vllm_backend

    stop_ids = None
    if prepared.config.truncated_completions == "zero":
        stop_ids = {i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None}
    trainer = with_vllm_backend(with_group_metrics(GRPOTrainer), prepared.config)(
        model=model,
        reward_funcs=make_reward_functions(prepared.engine, health=prepared.health, stop_ids=stop_ids),
        args=args,
        train_dataset=datasets.Dataset.from_list(prepared.train_rows),
        processing_class=tokenizer,
        callbacks=callbacks,
        peft_config=peft_config(prepared.config),
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def save_final(trainer: Any, tokenizer: Any, run_dir: Path) -> Path:
    final_dir = run_dir / FINAL_DIR
    trainer.save_model(str(final_dir))
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(final_dir)
    return final_dir


def before_after_eval(prepared: Prepared) -> dict[str, Any] | None:
    """pass@1 and reward means on the held-out rows, for ``init/`` (before RL) and ``final/``."""
    config = prepared.config
    init_dir, final_dir = prepared.run_dir / INIT_DIR, prepared.run_dir / FINAL_DIR
    if not (config.final_eval and prepared.eval_rows and config.model.lora is None):
        return None
    if not ((init_dir / "config.json").is_file() and (final_dir / "config.json").is_file()):
        return None
    from harness.evaluate import evaluate

    return {
        label: evaluate(config, path, samples=config.eval_samples, ks=(1,))
        for label, path in (("before", init_dir), ("after", final_dir))
    }


def run_training(
    prepared: Prepared,
    *,
    resume: bool | None = None,
    console: Any = None,
    extra_callbacks: list[Any] = (),
) -> dict[str, Any]:
    """Train; returns the summary written to ``summary.json``. The engine is closed at the end.

    The steps: open the run dir, build model and tokenizer (cold start included), write the
    resolved config, build the trainer, train, save ``final/``, then summarise, plot and evaluate.
    """
    from rich.console import Console

    from harness.progress import ErrorsCallback, MetricsCallback, RewardTable

    if resume is not None and resume != prepared.resume:
        check_run_dir(prepared.run_dir, resume=resume, overwrite=prepared.overwrite)
        prepared.resume = resume
    resume = prepared.resume
    config = prepared.config
    run_dir = prepared.run_dir
    checkpoint = last_checkpoint(run_dir) if resume else None
    open_run_dir(prepared)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    quiet_libraries()
    limit_cpu_threads(config)
    started = time.perf_counter()
    try:
        args = build_grpo_config(prepared.trainer_kwargs)
        model, tokenizer = build_model_and_tokenizer(prepared, resume=resume)
        if is_main_rank():
            write_config(prepared, args)
        else:  # one table per run, not one per process
            console = Console(file=open(os.devnull, "w"))  # noqa: SIM115
        table = RewardTable(prepared.engine.names, console=console)
        callbacks = [
            MetricsCallback(run_dir / METRICS_FILE, table),
            ErrorsCallback(prepared.health, run_dir / ERRORS_FILE, table.console),
            *extra_callbacks,
        ]
        trainer = build_trainer(prepared, model, tokenizer, args, callbacks)
        prepared.engine.start()  # workers up and verifiers set up before step 1, not during it
        prepared.engine.check_setup()  # a verifier that cannot set up: exit 2 before step 1
        with table:
            result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        if prepared.health.failure:
            raise RunFailed(prepared.health.failure + f"; details in {run_dir / ERRORS_FILE}")
        save_final(trainer, tokenizer, run_dir)
    finally:
        prepared.close()
    summary = summarize(run_dir, prepared.engine.names, time.perf_counter() - started, result.global_step)
    if prepared.cold_start:
        summary["cold_start"] = prepared.cold_start
    if trainer.accelerator.is_main_process:
        from harness.plots import plot_reward_curves

        plot_reward_curves(run_dir / METRICS_FILE, run_dir / CURVES_FILE, prepared.engine.names)
        evaluation = before_after_eval(prepared)
        if evaluation:
            summary["eval"] = evaluation
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


def train(
    config: RunConfig, *, resume: bool = False, overwrite: bool = False, console: Any = None
) -> dict[str, Any]:
    """Pre-flight, then train in this process (the library form of ``grpo train``)."""
    prepared = preflight(config, resume=resume, overwrite=overwrite)
    return run_training(prepared, console=console)
