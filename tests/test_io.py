import json

import pytest

from scaledrop_lib._io import atomic_write, atomic_write_json, atomic_write_text


def test_text_and_json_are_written_with_parents(tmp_path):
    path = atomic_write_text(tmp_path / "a" / "b.txt", "héllo\n")
    assert path.read_text(encoding="utf-8") == "héllo\n"
    atomic_write_json(tmp_path / "c.json", {"b": 1, "a": [1.5]})
    text = (tmp_path / "c.json").read_text()
    assert json.loads(text) == {"a": [1.5], "b": 1}
    assert text.index('"a"') < text.index('"b"') and text.endswith("\n")
    assert oct((tmp_path / "c.json").stat().st_mode & 0o777) == "0o644"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")

    def broken(handle):
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]


def test_a_write_removes_only_its_own_stale_temporaries(tmp_path):
    from scaledrop_lib._io import temporary_pattern

    stale = tmp_path / "data.json.k3j4h5g6.tmp"  # what a killed write of data.json leaves
    stale.write_bytes(b"half")
    assert temporary_pattern(tmp_path / "data.json").fullmatch(stale.name)
    others = ["data.json.tmp", "other.json.k3j4h5g6.tmp", "data.json.k3j4h5g.tmp", "data.json.bak"]
    for name in others:
        (tmp_path / name).write_bytes(b"not ours")
    atomic_write_json(tmp_path / "data.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "data.json"])
