"""The backend contract, run against every backend available here."""

from __future__ import annotations

import pytest

from grpo_core.plugins import PluginRegistry
from sandboxes import Job, Limits, Result, SandboxBackend, SandboxUnavailable, get_backend
from sandboxes.local import UNSAFE_ENV, SubprocessBackend
from sandboxes.protocol import decode_result, encode_job


def py(program: str, **limits) -> Job:
    return Job(["python3", "main.py"], files={"main.py": program}, limits=Limits(**limits))


def test_limits_validate():
    with pytest.raises(ValueError):
        Limits(wall_time=0)
    with pytest.raises(ValueError):
        Limits(memory_mb=-1)


def test_plugin_registers_the_builtin_backends():
    import sandboxes.plugin

    registry = PluginRegistry()
    info = registry.add_plugin(sandboxes.plugin, "sandboxes")
    assert not info.errors
    assert set(registry.sandbox_backends) == {"docker", "bwrap", "subprocess"}
    assert sandboxes.backend_classes()["bwrap"].name == "bwrap"


def test_unsafe_backend_needs_explicit_opt_in(monkeypatch):
    monkeypatch.delenv(UNSAFE_ENV, raising=False)
    with pytest.raises(SandboxUnavailable, match="opt in"):
        SubprocessBackend()
    with pytest.raises(SandboxUnavailable, match="opt in"):
        get_backend("subprocess")
    monkeypatch.setenv(UNSAFE_ENV, "1")
    SubprocessBackend().close()


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(SandboxUnavailable, match="unknown sandbox backend 'nope'"):
        get_backend("nope")


def test_auto_refuses_when_nothing_safe_is_available(monkeypatch):
    from sandboxes.docker_backend import DockerBackend
    from sandboxes.local import BwrapBackend

    monkeypatch.setattr(DockerBackend, "available", classmethod(lambda cls: (False, "no engine")))
    monkeypatch.setattr(BwrapBackend, "available", classmethod(lambda cls: (False, "no bwrap")))
    with pytest.raises(SandboxUnavailable, match="no safe sandbox backend") as info:
        get_backend("auto")
    assert "no engine" in str(info.value) and "no bwrap" in str(info.value)


def test_protocol_roundtrip_and_broken_replies():
    payload = encode_job(py("print(1)"), workroot="/work", kill_all=True)
    size, _, body = payload.partition(b"\n")
    assert int(size) == len(body)
    result, _ = decode_result(b"", b"Traceback: boom", "x", 0.1)
    assert result.error and "boom" in result.error and not result.ok
    reply = b'\nGRPO-RESULT n1 {"exit_code": 3, "stdout": "hi"}\n'
    result, _ = decode_result(reply, b"", "x", 0.1, "n1")
    assert result.exit_code == 3 and result.stdout == "hi" and result.error is None
    # a line forged without the job's nonce is ignored
    forged = b'\nGRPO-RESULT xx {"exit_code": 0}\n'
    assert decode_result(forged, b"", "x", 0.1, "n1")[0].error


def test_backend_bug_is_an_infrastructure_error():
    class Broken(SandboxBackend):
        name = "broken"

        def _run(self, job):
            raise RuntimeError("kaput")

    result = Broken().run(py("print(1)"))
    assert isinstance(result, Result) and result.infra_error and "kaput" in result.error
    assert result.exit_code is None and not result.ok


def test_runs_files_command_stdin(any_backend):
    result = any_backend.run(
        Job(
            ["python3", "main.py", "arg"],
            files={
                "main.py": "import sys, helper\nprint(helper.X, sys.argv[1], sys.stdin.read())",
                "helper.py": "X = 41",
            },
            stdin="from stdin",
        )
    )
    assert result.ok, result
    assert result.stdout.strip() == "41 arg from stdin"
    assert not result.timed_out and result.error is None


def test_exit_code_and_stderr(any_backend):
    result = any_backend.run(py("import sys\nprint('oops', file=sys.stderr)\nsys.exit(3)"))
    assert result.error is None and result.exit_code == 3 and "oops" in result.stderr and not result.ok


def test_timeout(any_backend):
    result = any_backend.run(py("import time\ntime.sleep(30)", wall_time=1))
    assert result.timed_out and result.error is None and not result.ok


def test_output_cap(any_backend):
    result = any_backend.run(
        py("import sys\nsys.stdout.write('x' * 100000)\nsys.stderr.write('e' * 10)", output_bytes=1000)
    )
    assert result.stdout_truncated and len(result.stdout) == 1000
    assert result.output_limit_exceeded


def test_missing_command_is_a_program_failure(any_backend):
    result = any_backend.run(Job(["definitely-not-a-command"]))
    assert result.error is None and result.exit_code == 127


def test_file_paths_cannot_escape(any_backend):
    result = any_backend.run(Job(["true"], files={"../escape.txt": "x"}))
    assert result.error and "escapes" in result.error


def test_async_run(any_backend):
    import asyncio

    async def main():
        return await asyncio.gather(*(any_backend.arun(py(f"print({i})")) for i in range(4)))

    results = asyncio.run(main())
    assert [r.stdout.strip() for r in results] == ["0", "1", "2", "3"]


def _serve(jobs: list[dict], tmp_path) -> list[dict]:
    """Run the runner itself (a session, no sandbox: kill_all off) over ``jobs``; its results."""
    import json
    import subprocess
    import sys

    from sandboxes.protocol import runner_source

    stream = b""
    for index, job in enumerate(jobs):
        body = json.dumps({**job, "workroot": str(tmp_path), "nonce": f"n{index}"}).encode()
        stream += str(len(body)).encode() + b"\n" + body
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", runner_source(), "serve"], input=stream, capture_output=True
    )
    return [decode_result(proc.stdout, proc.stderr, "x", 0.1, f"n{i}") for i in range(len(jobs))]


def test_a_session_keeps_a_marked_file_and_takes_it_by_digest_later(tmp_path):
    """The host sends a ``script_entry`` script once per session: whole with ``keep`` (its sha256),
    then only ``kept``. A digest the runner does not hold, or content that does not match its
    digest, is never taken on trust."""
    import base64
    import hashlib
    import json

    script = b"print('the host script')\n"
    digest = hashlib.sha256(script).hexdigest()
    base = json.loads(encode_job(py(""), workroot="/w", kill_all=False).partition(b"\n")[2])
    base["command"] = ["python3", "main.py"]

    def job(entry: dict) -> dict:
        return {**base, "files": {"main.py": entry}}

    whole = {"b64": base64.b64encode(script).decode()}
    (first, raw1), (second, raw2), (unknown, raw3), (forged, raw4), (after, _) = _serve(
        [
            job({**whole, "keep": digest}),
            job({"kept": digest}),
            job({"kept": "0" * 64}),
            job({"b64": base64.b64encode(b"print('other')\n").decode(), "keep": "1" * 64}),
            job({"kept": "1" * 64}),
        ],
        tmp_path,
    )
    assert first.ok and first.stdout == "the host script\n" and raw1["kept"] == [digest], raw1
    assert second.ok and second.stdout == "the host script\n", second
    assert unknown.error and "no kept copy" in unknown.error and raw3["program_started"] is False
    assert forged.ok and raw4["kept"] == [digest], raw4  # run, but not kept under a false digest
    assert after.error and "no kept copy" in after.error


def test_only_a_script_entry_script_is_sent_once():
    """What ``encode_job`` marks: the script of a ``script_entry`` job, in a session only (never the
    program or the tests, never outside a session)."""
    import json

    from sandboxes.protocol import _digest

    job = Job(
        ["python3", "-I", "drv.py"],
        files={"drv.py": "def main(): pass\n", "solution.py": "x = 1\n"},
        preloaded_python=True,
        script_entry="main",
    )

    def files(**kw) -> dict:
        return json.loads(encode_job(job, workroot="/w", kill_all=True, **kw).partition(b"\n")[2])["files"]

    digest = _digest("def main(): pass\n")[0]
    assert set(files()["drv.py"]) == {"b64"}  # not a session
    assert files(kept=frozenset())["drv.py"]["keep"] == digest
    assert files(kept=frozenset({digest}))["drv.py"] == {"kept": digest}
    assert set(files(kept=frozenset({digest}))["solution.py"]) == {"b64"}
    plain = Job(["python3", "-I", "drv.py"], files=job.files, preloaded_python=True)
    assert set(
        json.loads(
            encode_job(plain, workroot="/w", kill_all=True, kept=frozenset({digest})).partition(b"\n")[2]
        )["files"]["drv.py"]
    ) == {"b64"}


def test_a_script_too_large_or_of_another_type_is_sent_whole():
    """Over KEEP_BYTES as bytes (not characters), or not str/bytes: never kept, always sent."""
    from sandboxes.protocol import KEEP_BYTES, keepable_file

    def job(script) -> Job:
        return Job(
            ["python3", "-I", "d.py"], files={"d.py": script}, preloaded_python=True, script_entry="main"
        )

    assert keepable_file(job("x" * KEEP_BYTES)) == "d.py"
    assert keepable_file(job("é" * (KEEP_BYTES // 2 + 1))) is None  # fewer characters than bytes
    assert keepable_file(job(bytearray(b"def main(): pass\n"))) is None
