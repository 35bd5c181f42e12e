"""Copying the MNIST .gz files from a local mirror (small fake files, no real MNIST)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recognizer import data


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake mirror with four small 'gz' files, the only mirror data.py will look at."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    for index, name in enumerate(data.MNIST_FILES):
        (folder / name).write_bytes(bytes([index]) * (1000 + index))
    monkeypatch.setenv(data.MIRROR_ENV, str(folder))
    monkeypatch.setattr(data, "DEFAULT_MIRROR", tmp_path / "no_default_mirror")
    return folder


def raw_dir(root: Path) -> Path:
    return root / "MNIST" / "raw"


def test_missing_files_are_copied_and_no_temporary_is_left(tmp_path, mirror):
    root = tmp_path / "data"
    data.ensure_local_raw_files(root)
    for name in data.MNIST_FILES:
        assert (raw_dir(root) / name).read_bytes() == (mirror / name).read_bytes()
    assert sorted(p.name for p in raw_dir(root).iterdir()) == sorted(data.MNIST_FILES)


def test_an_interrupted_copy_leaves_no_partial_file_under_the_final_name(tmp_path, mirror, monkeypatch):
    real_copyfile = shutil.copyfile

    def copy_half_then_interrupt(source, target, *args, **kwargs):
        Path(target).write_bytes(Path(source).read_bytes()[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "copyfile", copy_half_then_interrupt)
    root = tmp_path / "data"
    with pytest.raises(KeyboardInterrupt):
        data.ensure_local_raw_files(root)
    assert list(raw_dir(root).iterdir()) == []  # neither a truncated .gz nor a temporary file
    # The next start copies everything.
    monkeypatch.setattr(shutil, "copyfile", real_copyfile)
    data.ensure_local_raw_files(root)
    for name in data.MNIST_FILES:
        assert (raw_dir(root) / name).read_bytes() == (mirror / name).read_bytes()


def test_a_truncated_existing_file_is_replaced(tmp_path, mirror):
    root = tmp_path / "data"
    data.ensure_local_raw_files(root)
    truncated = raw_dir(root) / data.MNIST_FILES[0]
    truncated.write_bytes(truncated.read_bytes()[:10])  # what an interrupted copy used to leave
    data.ensure_local_raw_files(root)
    assert truncated.read_bytes() == (mirror / data.MNIST_FILES[0]).read_bytes()
    assert not [p for p in raw_dir(root).iterdir() if ".tmp" in p.name]


def test_an_existing_file_of_the_right_size_is_kept(tmp_path, mirror):
    """The check is the size only (cheap on every start); the md5 is torchvision's job."""
    root = tmp_path / "data"
    data.ensure_local_raw_files(root)
    same_size = raw_dir(root) / data.MNIST_FILES[1]
    same_size.write_bytes(b"x" * same_size.stat().st_size)
    data.ensure_local_raw_files(root)
    assert same_size.read_bytes() == b"x" * same_size.stat().st_size


def test_without_a_mirror_nothing_is_touched(tmp_path, monkeypatch):
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    monkeypatch.setattr(data, "DEFAULT_MIRROR", tmp_path / "nowhere")
    root = tmp_path / "data"
    raw_dir(root).mkdir(parents=True)
    (raw_dir(root) / data.MNIST_FILES[0]).write_bytes(b"short")
    data.ensure_local_raw_files(root)
    assert sorted(p.name for p in raw_dir(root).iterdir()) == [data.MNIST_FILES[0]]
    assert (raw_dir(root) / data.MNIST_FILES[0]).read_bytes() == b"short"


def test_an_empty_first_mirror_does_not_hide_the_second(tmp_path, mirror, monkeypatch):
    """A truncated file is still repaired when the environment points at an empty folder."""
    empty = tmp_path / "empty_mirror"
    empty.mkdir()
    monkeypatch.setenv(data.MIRROR_ENV, str(empty))
    monkeypatch.setattr(data, "DEFAULT_MIRROR", mirror)
    root = tmp_path / "data"
    data.ensure_local_raw_files(root)
    truncated = raw_dir(root) / data.MNIST_FILES[2]
    truncated.write_bytes(b"cut")
    data.ensure_local_raw_files(root)
    assert truncated.read_bytes() == (mirror / data.MNIST_FILES[2]).read_bytes()
