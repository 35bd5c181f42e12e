"""Crash-safe writes: the target is either the old file or the complete new one."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from recognizer.atomic import atomic_path, atomic_write_text, checked_folder, checked_target


def test_write_creates_parent_folders_and_content(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_temporary_keeps_the_suffix_for_format_sniffing_writers(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "sheet.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_bytes(b"x")


def test_permissions_follow_the_umask_not_owner_only(tmp_path: Path) -> None:
    old_mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "model.json", "{}")
    finally:
        os.umask(old_mask)
    assert (tmp_path / "model.json").stat().st_mode & 0o777 == 0o644


def test_checked_target_refuses_a_folder_or_a_path_below_a_file(tmp_path):
    assert checked_target(tmp_path / "new" / "out.json") == tmp_path / "new" / "out.json"
    assert (tmp_path / "new").is_dir()
    with pytest.raises(OSError, match="is a folder"):
        checked_target(tmp_path / "new")
    (tmp_path / "a_file").write_text("")
    with pytest.raises(OSError, match="is a file"):
        checked_target(tmp_path / "a_file" / "out.json")


def test_checked_folder_makes_a_folder_and_refuses_a_file(tmp_path):
    assert checked_folder(tmp_path / "new" / "images") == tmp_path / "new" / "images"
    assert (tmp_path / "new" / "images").is_dir()
    assert checked_folder(tmp_path / "new" / "images").is_dir()   # an existing folder is fine
    (tmp_path / "a_file").write_text("")
    with pytest.raises(OSError, match="is a file"):
        checked_folder(tmp_path / "a_file")
    with pytest.raises(OSError, match="a folder on its path is a file"):
        checked_folder(tmp_path / "a_file" / "images")


UNWRITABLE = Path("/proc")   # a system folder: no file can be created in it, not even by root


@pytest.mark.skipif(not (UNWRITABLE / "self").exists(), reason="needs Linux's /proc")
def test_a_folder_that_cannot_be_written_is_found_before_the_run():
    with pytest.raises(OSError, match=r"^/proc/out.json: cannot create a file in /proc \("):
        checked_target(UNWRITABLE / "out.json")
    with pytest.raises(OSError, match=r"^/proc/images: cannot make folder /proc/images \("):
        checked_folder(UNWRITABLE / "images")
