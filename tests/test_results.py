"""Committed result files: checksummed, refused when changed, missing ones name their command."""

import json

import pytest

from scaledrop_lib.routines.results import (
    load_result,
    read_results_manifest,
    result_path,
    save_result,
)


def test_round_trip_records_checksum_and_command(tmp_path):
    data = {"a": [1, 2.5, None], "b": {"c": "x"}}
    sha = save_result("demo", data, "python -m demo", tmp_path)
    assert load_result("demo", tmp_path) == data
    entry = read_results_manifest(tmp_path)["demo"]
    assert entry == {"sha256": sha, "command": "python -m demo"}
    assert json.loads(result_path("demo", tmp_path).read_text()) == data


def test_a_changed_file_is_refused_naming_the_command(tmp_path):
    save_result("demo", {"a": 1}, "python -m demo", tmp_path)
    result_path("demo", tmp_path).write_text('{"a": 2}\n')
    with pytest.raises(ValueError, match="regenerate it with `python -m demo`"):
        load_result("demo", tmp_path)


def test_missing_file_or_entry_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no result 'demo'"):
        load_result("demo", tmp_path)
    save_result("demo", {"a": 1}, "python -m demo", tmp_path)
    result_path("demo", tmp_path).unlink()
    with pytest.raises(FileNotFoundError, match="create it with `python -m demo`"):
        load_result("demo", tmp_path)
    save_result("demo", {"a": 1}, "python -m demo", tmp_path)
    (tmp_path / "manifest.json").write_text('{"demo": {"command": "x"}}')
    with pytest.raises(ValueError, match="has no sha256"):
        load_result("demo", tmp_path)


def test_non_json_data_and_bad_names_write_nothing(tmp_path):
    with pytest.raises(TypeError):
        save_result("demo", {"a": object()}, "cmd", tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="name must be"):
        save_result("../escape", {}, "cmd", tmp_path)
