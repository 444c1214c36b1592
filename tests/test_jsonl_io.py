"""Reading rows with file:line errors, and writing that never leaves half a file."""

from __future__ import annotations

import pytest

from grpo_core.errors import DataError
from grpo_core.jsonl import atomic_writer, read_jsonl


def test_read_jsonl_skips_blank_lines_and_numbers_lines(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert read_jsonl(path) == [(1, {"a": 1}), (3, {"a": 2})]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1}\n{"a": \n', r"rows\.jsonl:2: invalid JSON"),
        ("[1, 2]\n", r"rows\.jsonl:1: each line must be"),
    ],
)
def test_read_jsonl_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "rows.jsonl"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_jsonl(path)


def test_atomic_writer_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_writer(path) as handle:
        handle.write("half")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_atomic_writer_replaces_on_success(tmp_path):
    path = tmp_path / "sub" / "out.jsonl"
    with atomic_writer(path) as handle:
        handle.write("new\n")
    assert path.read_text() == "new\n"


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(DataError, match=r"rows\.jsonl:2: not UTF-8"):
        read_jsonl(path)


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n')
    assert read_jsonl(path) == [(1, {"a": 1})]


def test_lone_surrogates_are_written_escaped(tmp_path):
    import io
    import json

    from grpo_core.jsonl import write_jsonl

    rows = [{"completion": "cut mid emoji \ud83d"}, {"completion": "café"}]
    buffer = io.StringIO()
    write_jsonl(buffer, rows)
    lines = buffer.getvalue().splitlines()
    assert "\\ud83d" in lines[0] and "café" in lines[1]
    assert json.loads(lines[0]) == rows[0]
    buffer.getvalue().encode("utf-8")


def test_atomic_files_get_normal_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = tmp_path / "out.json"
        with atomic_writer(path) as handle:
            handle.write("{}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
