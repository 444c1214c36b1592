"""Devices for parallel sweep runs: disjoint GPUs per run, or a share of the CPU threads.

``grpo sweep --parallel N`` runs up to N runs at once. Each of the N slots gets an environment that
every run started in it inherits:

* on a GPU machine, ``CUDA_VISIBLE_DEVICES`` with its own ``--gpus-per-run K`` devices (default: the
  visible GPUs split evenly), so no two concurrent runs share a GPU;
* on CPU (no GPU, or ``--gpus-per-run 0``), ``OMP_NUM_THREADS`` and friends set to the cores divided
  by N, so N runs do not oversubscribe the cores (torch sizes its thread pool from them at start).
"""

from __future__ import annotations

import os

from grpo_core.errors import ConfigError

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def visible_gpus() -> list[str]:
    """GPU ids the sweep may hand out: ``CUDA_VISIBLE_DEVICES`` if set, else every CUDA device."""
    declared = os.environ.get("CUDA_VISIBLE_DEVICES")
    if declared is not None:
        return [part.strip() for part in declared.split(",") if part.strip() and part.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # no torch or a broken CUDA install: plan for CPU
        return []


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def slot_environments(
    parallel: int,
    gpus_per_run: int | None = None,
    *,
    gpus: list[str] | None = None,
    cores: int | None = None,
) -> list[dict[str, str]]:
    """One environment per concurrent slot (see the module docstring)."""
    if parallel < 1:
        raise ConfigError(f"--parallel {parallel}: must be at least 1")
    if gpus_per_run is not None and gpus_per_run < 0:
        raise ConfigError(f"--gpus-per-run {gpus_per_run}: must be 0 (CPU) or more")
    gpus = visible_gpus() if gpus is None else gpus
    if gpus_per_run is None:
        gpus_per_run = len(gpus) // parallel if gpus else 0
        if gpus and gpus_per_run == 0:
            raise ConfigError(
                f"--parallel {parallel}: only {len(gpus)} GPU(s) visible, so runs would share GPUs; "
                f"lower --parallel to {len(gpus)} or pass --gpus-per-run 0 to run on CPU"
            )
    if gpus_per_run > 0:
        if parallel * gpus_per_run > len(gpus):
            raise ConfigError(
                f"--parallel {parallel} x --gpus-per-run {gpus_per_run} needs {parallel * gpus_per_run} "
                f"GPUs, {len(gpus)} visible ({','.join(gpus) or 'none'}); lower one of them"
            )
        return [
            {"CUDA_VISIBLE_DEVICES": ",".join(gpus[i * gpus_per_run : (i + 1) * gpus_per_run])}
            for i in range(parallel)
        ]
    base: dict[str, str] = {"CUDA_VISIBLE_DEVICES": ""} if gpus else {}
    if parallel == 1:
        return [base]
    threads = str(max(1, (cores or cpu_cores()) // parallel))
    return [{**base, **dict.fromkeys(THREAD_VARIABLES, threads)} for _ in range(parallel)]
