"""``grpo doctor``: is this machine set up the way the tested constraint sets expect?

Checks python and the training stack's versions against ``constraints/cpu.txt`` and
``constraints/gpu.txt``, the GPUs torch sees, whether a Docker engine answers, and the installed
plugins (with their load errors). Each check gets a verdict: ok, warn, fail or info.
"""

from __future__ import annotations

import platform
import re
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REQUIRED = ("torch", "trl", "transformers", "accelerate", "datasets")
OPTIONAL = ("peft", "vllm", "deepspeed", "math-verify", "matplotlib", "reasoning-gym")


@dataclass
class Check:
    name: str
    verdict: str  # ok | warn | fail | info
    detail: str


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def constraints_dir() -> Path | None:
    here = Path(__file__).resolve().parents[1] / "constraints"
    return here if here.is_dir() else None


def read_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_canonical(name)] = version.strip()
    return pins


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _base(version: str) -> str:
    return version.split("+", 1)[0]


def package_checks(pin_sets: dict[str, dict[str, str]]) -> list[Check]:
    checks = []
    for name in (*REQUIRED, *OPTIONAL):
        version = installed_version(name)
        pins = {label: pins.get(_canonical(name)) for label, pins in pin_sets.items()}
        pinned = ", ".join(f"{label} {v}" for label, v in pins.items() if v) or "not pinned"
        if version is None:
            verdict = "fail" if name in REQUIRED else "info"
            checks.append(Check(name, verdict, f"not installed (tested: {pinned})"))
            continue
        matches = [label for label, v in pins.items() if v and _base(v) == _base(version)]
        if matches:
            checks.append(Check(name, "ok", f"{version} (matches {', '.join(matches)})"))
        elif any(pins.values()):
            checks.append(Check(name, "warn", f"{version}; tested: {pinned}"))
        else:
            checks.append(Check(name, "info", f"{version}"))
    return checks


def python_check() -> Check:
    version = platform.python_version()
    verdict = "ok" if sys.version_info[:2] == (3, 11) else "warn"
    return Check("python", verdict, f"{version} (tested: 3.11)")


def gpu_checks() -> list[Check]:
    try:
        import torch
    except ImportError:
        return [Check("cuda", "fail", "torch is not installed")]
    cuda = torch.version.cuda
    if not torch.cuda.is_available():
        build = f"CUDA build {cuda}" if cuda else "CPU build"
        return [Check("cuda", "info", f"no GPU visible (torch {torch.__version__}, {build}); CPU runs only")]
    checks = [Check("cuda", "ok", f"CUDA {cuda}, {torch.cuda.device_count()} GPU(s)")]
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        bf16 = "bf16" if torch.cuda.is_bf16_supported() else "no bf16"
        checks.append(Check(f"gpu {i}", "ok", f"{props.name}, {props.total_memory / 2**30:.0f} GiB, {bf16}"))
    return checks


def docker_check() -> Check:
    try:
        import docker
    except ImportError:
        return Check("docker", "info", "docker SDK not installed (code sandboxes fall back to local)")
    try:
        client = docker.from_env(timeout=5)
        version = client.version().get("Version", "?")
        client.close()
        return Check("docker engine", "ok", f"{version} reachable")
    except Exception as exc:
        return Check("docker engine", "warn", f"not reachable: {type(exc).__name__}: {str(exc)[:120]}")


def plugin_checks() -> list[Check]:
    from grpo_core.plugins import get_registry

    registry = get_registry()
    checks = []
    for info in registry.describe():
        what = ", ".join(info["verifiers"] + info["sandbox_backends"]) or "nothing registered"
        if info["status"] == "partial":
            problems = "; ".join(info["errors"])
            checks.append(
                Check(f"plugin {info['name']}", "fail", f"partly loaded ({what}); {problems}"[:300])
            )
        elif info["errors"]:
            checks.append(Check(f"plugin {info['name']}", "fail", "; ".join(info["errors"])[:300]))
        else:
            checks.append(
                Check(f"plugin {info['name']}", "ok", f"{info['distribution']} {info['version']}: {what}")
            )
    for clash in registry.clashes():
        checks.append(Check(f"{clash['kind']} {clash['name']}", "fail", clash["message"]))
    if not checks:
        checks.append(Check("plugins", "warn", "no plugins installed (pip install -e plugins/format ...)"))
    return checks


def run_checks() -> list[Check]:
    pin_sets: dict[str, dict[str, str]] = {}
    directory = constraints_dir()
    if directory is not None:
        for label in ("cpu", "gpu"):
            path = directory / f"{label}.txt"
            if path.is_file():
                pin_sets[label] = read_pins(path)
    checks = [python_check()]
    if not pin_sets:
        checks.append(Check("constraints", "info", "constraints/ not found (installed from a wheel)"))
    checks += package_checks(pin_sets)
    checks += gpu_checks()
    checks.append(docker_check())
    checks += plugin_checks()
    return checks


def as_dicts(checks: list[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]
