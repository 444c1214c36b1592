"""Process verifiers from a script without a ``__main__`` guard, from stdin and from a notebook-like
``__main__`` (no file): workers never re-run the user's main module."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import os
    from grpo_core import Engine, Isolation, Verifier

    with open(os.environ["MAIN_LOG"], "a") as log:
        log.write(f"main ran in {os.getpid()}\\n")


    class Twice(Verifier):  # a process verifier defined in __main__ travels by value
        name = "twice"
        isolation = Isolation.PROCESS

        def score(self, sample):
            return 2.0 * float(sample.completion_text)


    class Registry:
        def verifier_claim(self, name):
            from grpo_core.plugins import get_registry

            if name == "twice":
                from grpo_core.plugins import Claim

                return Claim("twice", "script", None, None, Twice)
            return get_registry().verifier_claim(name)


    engine = Engine([{"verifier": "misbehaving"}, {"verifier": "twice"}], workers=2, registry=Registry())
    result = engine.score([{"completion": "1"}, {"completion": "0.5"}, {"completion": "raise"}])
    print("misbehaving", result.values("misbehaving"))
    print("twice", result.values("twice"))
    print("status", [s.status.value for s in result.scores["misbehaving"]])
    engine.close()
    """
)


def check(result: subprocess.CompletedProcess, log: Path) -> None:
    assert result.returncode == 0, result.stderr
    assert "misbehaving [1.0, 0.5, None]" in result.stdout, result.stdout + result.stderr
    assert "twice [2.0, 1.0, None]" in result.stdout
    assert "status ['ok', 'ok', 'error']" in result.stdout
    assert "BrokenProcessPool" not in result.stderr and "bootstrapping" not in result.stderr
    assert len(log.read_text().splitlines()) == 1  # the parent only; no worker re-ran the script


def run(args: list[str], tmp_path: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**__import__("os").environ, "MAIN_LOG": str(tmp_path / "main.log")}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path, **kwargs
    )


@pytest.mark.timeout(180)
def test_guardless_script(tmp_path):
    script = tmp_path / "train_like_trl_examples.py"
    script.write_text(SCRIPT)
    check(run([str(script)], tmp_path), tmp_path / "main.log")


@pytest.mark.timeout(180)
def test_script_from_stdin(tmp_path):
    check(run(["-"], tmp_path, input=SCRIPT), tmp_path / "main.log")


@pytest.mark.timeout(180)
def test_notebook_like_main_without_a_file(tmp_path):
    # A notebook kernel's __main__ has no __file__, as with `python -c`.
    check(run(["-c", SCRIPT], tmp_path), tmp_path / "main.log")


def test_spawn_start_method_skips_main_too(tmp_path, monkeypatch):
    script = tmp_path / "spawned.py"
    script.write_text(SCRIPT)
    monkeypatch.setenv("GRPO_WORKER_START_METHOD", "spawn")
    check(run([str(script)], tmp_path), tmp_path / "main.log")
