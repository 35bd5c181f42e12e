"""Crash-safe writes: the target is either the old file or the complete new one."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
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


PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUBPROCESS_TIMEOUT_S = 60


def test_a_failed_rename_names_the_target_not_the_temporary(tmp_path):
    target = tmp_path / "out.png"
    target.mkdir()   # a folder that is not empty: nothing can be renamed onto it
    (target / "kept.txt").write_text("kept")
    with pytest.raises(OSError) as raised, atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert str(raised.value) == f"cannot write {target} ({os.strerror(errno.EISDIR)})"
    assert raised.value.errno == errno.EISDIR
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"] and (target / "kept.txt").read_text() == "kept"


def test_an_error_about_another_file_is_left_as_it_is(tmp_path):
    # Copying from a missing file is that file's problem, not the target's.
    with pytest.raises(FileNotFoundError) as raised, atomic_path(tmp_path / "copy.gz") as tmp:
        shutil.copyfile(tmp_path / "missing.gz", tmp)
    assert raised.value.filename == str(tmp_path / "missing.gz")
    assert not list(tmp_path.iterdir())


def test_a_full_disk_names_the_target_and_keeps_the_old_file(tmp_path):
    # A real failed write: the subprocess may grow no file past 1 KB (RLIMIT_FSIZE), as on a
    # full disk; writes past it fail with EFBIG. SIGXFSZ would kill it, so it is ignored.
    # Before, the message was "[Errno 27] File too large", naming no file.
    target = tmp_path / "model.json"
    target.write_text("old")
    script = """
        import resource, signal, sys
        from recognizer.atomic import atomic_write_bytes
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            atomic_write_bytes(sys.argv[1], b"x" * 100_000)
        except OSError as error:
            print(error)
    """
    completed = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(target)], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"cannot write {target} ({os.strerror(errno.EFBIG)})"
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["model.json"]
