"""Sandbox backends come from the registry: a third-party backend package, built and installed as
one is published, is chosen by name through ``grpo score --reward code`` and scores real rows;
without grpo-core's own ``sandboxes`` plugin, docker and bwrap are gone and choosing them is a clear
set-up error (exit 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGE = REPO / "tests" / "fixtures" / "grpo-sandbox-tempdir"


@pytest.fixture(scope="module")
def tempdir_backend_site(tmp_path_factory) -> Path:
    """grpo-sandbox-tempdir built from its pyproject and installed into a directory of its own (a
    copy of the source, so the build leaves nothing in the repository); put it on PYTHONPATH."""
    work = tmp_path_factory.mktemp("tempdir-backend")
    source = shutil.copytree(PACKAGE, work / "src")
    site = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(site), str(source)],
        check=True,
        timeout=300,
    )  # fmt: skip
    assert list(site.glob("grpo_sandbox_tempdir-0.0.1.dist-info/entry_points.txt"))
    return site


def row(program: str, tests: dict) -> dict:
    return {"prompt": "p", "completion": f"```python\n{program}\n```", "tests": tests}


def call_tests(*pairs) -> dict:
    return {"type": "call", "fn_name": "f", "cases": [{"args": [a], "expected": e} for a, e in pairs]}


def grpo_score(tmp_path: Path, rows: list[dict], *options: str, site: Path | None = None, **env: str):
    src, out = tmp_path / "rows.jsonl", tmp_path / "scored.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "harness", "score", str(src), "--reward", "code", "-o", str(out)]
    for option in options:
        argv += ["--option", option]
    environ = {**os.environ, **env}
    if site is not None:
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(argv, capture_output=True, text=True, env=environ, timeout=600, cwd=tmp_path)
    scored = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else None
    return proc, scored


def test_a_third_party_backend_is_chosen_by_name_and_scores_rows(tempdir_backend_site, tmp_path):
    workroot = tmp_path / "jobs"
    workroot.mkdir()
    rows = [
        row("def f(x):\n    return x * 2", call_tests((1, 2), (5, 10), (-3, -6))),
        row("def f(x):\n    return x + 2", call_tests((1, 2), (5, 10), (2, 4))),  # 1 of 3
        row("def f(x):\n    while True:\n        pass", call_tests((1, 2))),
        # the backend's own setting reached it: the job's work dir is under the chosen workroot
        row("import os\ndef f(x):\n    return os.getcwd().startswith(x)", call_tests((str(workroot), True))),
    ]
    options = (
        "code.backend=tempdir",
        "code.allow_unsafe=true",
        f"code.backend_options={json.dumps({'tempdir': {'workroot': str(workroot)}})}",
        "code.backend_options.tempdir.nice=3",  # one entry, merged with the mapping above
        "code.timeout_s=10",
        "code.case_timeout_s=2",
    )
    proc, scored = grpo_score(tmp_path, rows, *options, site=tempdir_backend_site)
    assert proc.returncode == 0, proc.stderr
    assert [r["rewards"]["code"] for r in scored] == [1.0, pytest.approx(1 / 3), 0.0, 1.0]
    assert {r["status"]["code"] for r in scored} == {"ok"}
    assert {r["details"]["code"]["backend"] for r in scored} == {"tempdir"}
    assert list(workroot.iterdir()) == []  # each job's work dir is removed when it ends

    # it needs no built-in backend: with grpo-core's `sandboxes` plugin disabled it still scores
    proc, scored = grpo_score(
        tmp_path, rows[:1], *options, site=tempdir_backend_site, GRPO_DISABLE_PLUGINS="sandboxes"
    )
    assert proc.returncode == 0, proc.stderr
    assert scored[0]["rewards"]["code"] == 1.0


def test_the_third_party_backend_settings_and_opt_in_are_checked(tempdir_backend_site, tmp_path):
    rows = [row("def f(x):\n    return x", call_tests((1, 1)))]
    base = ("code.backend=tempdir", "code.allow_unsafe=true")
    cases = {
        'code.backend_options={"tempdir": {"wrokroot": "/tmp"}}': "backend_options.tempdir.wrokroot",
        'code.backend_options={"tempdir": {"nice": 40}}': "backend_options.tempdir.nice",
        'code.backend_options={"tempdir": {"workroot": "relative"}}': "not an existing absolute directory",
    }
    for option, expected in cases.items():
        proc, scored = grpo_score(tmp_path, rows, *base, option, site=tempdir_backend_site)
        assert proc.returncode == 2 and expected in proc.stderr, (option, proc.stderr)
        assert "Traceback" not in proc.stderr and scored is None
    # settings of the tempdir backend are listed with the unknown key
    proc, _ = grpo_score(
        tmp_path, rows, *base, 'code.backend_options={"tempdir": {"x": 1}}', site=tempdir_backend_site
    )
    assert "settings of the tempdir backend: workroot, nice" in proc.stderr
    # no isolation: refused without the explicit opt-in, and never taken by auto
    proc, _ = grpo_score(tmp_path, rows, "code.backend=tempdir", site=tempdir_backend_site)
    assert proc.returncode == 2 and "without any isolation" in proc.stderr, proc.stderr
    proc, _ = grpo_score(tmp_path, rows, "code.backend_preference=tempdir,bwrap", site=tempdir_backend_site)
    assert proc.returncode == 2 and "never chosen automatically" in proc.stderr, proc.stderr


def test_without_the_builtin_plugin_docker_and_bwrap_are_a_set_up_error(tempdir_backend_site, tmp_path):
    rows = [row("def f(x):\n    return x", call_tests((1, 1)))]
    for options in (["code.backend=bwrap"], ["code.backend=docker"], []):
        proc, scored = grpo_score(
            tmp_path, rows, *options, site=tempdir_backend_site, GRPO_DISABLE_PLUGINS="sandboxes"
        )
        assert proc.returncode == 2, proc.stderr
        assert "remove 'sandboxes' from GRPO_DISABLE_PLUGINS" in proc.stderr, proc.stderr
        assert "registered: tempdir" in proc.stderr and "Traceback" not in proc.stderr
        assert scored is None


def test_an_unknown_backend_lists_the_registered_ones(tmp_path):
    rows = [row("def f(x):\n    return x", call_tests((1, 1)))]
    proc, _ = grpo_score(tmp_path, rows, "code.backend=firecracker")
    assert proc.returncode == 2
    assert "code: backend: unknown sandbox backend 'firecracker'; registered: bwrap, docker, subprocess" in (
        proc.stderr
    ), proc.stderr


def test_the_moved_docker_options_say_where_they_went(tmp_path):
    rows = [row("def f(x):\n    return x", call_tests((1, 1)))]
    proc, _ = grpo_score(tmp_path, rows, "code.image=mine:1", "code.docker_mode=exec")
    assert proc.returncode == 2
    assert "image, docker_mode: now a setting of the docker backend" in proc.stderr, proc.stderr
    assert 'backend_options={"docker": {"image": "mine:1", "mode": "exec"}}' in proc.stderr


def test_dotted_option_keys_set_one_entry_of_a_mapping():
    from grpo_core.errors import ConfigError
    from harness.cli.score_cmd import build_specs

    options = [
        'code.backend_options={"docker": {"image": "a:1"}}',
        "code.backend_options.docker.mode=exec",
        "code.backend_options.bwrap.cgroups=off",
    ]
    (spec,) = build_specs(["code"], options, None, "none", "none")
    assert spec.options["backend_options"] == {
        "docker": {"image": "a:1", "mode": "exec"},
        "bwrap": {"cgroups": "off"},
    }
    for bad, message in {
        "code.scoring.x=1": "scoring is already set to a value that is not a mapping",
        "code.backend_options..x=1": "empty key",
    }.items():
        with pytest.raises(ConfigError, match=message):
            build_specs(["code"], ["code.scoring=binary", bad], None, "none", "none")
