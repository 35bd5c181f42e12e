"""Copying the MNIST .gz files from a local mirror (small fake files, no real MNIST), and the
commands' one-line error when MNIST is nowhere."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recognizer import data

PROJECT_ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE_MIRROR = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connection is refused


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


@pytest.mark.parametrize("command", [
    ["train.py", "--quick"],
    ["-m", "recognizer.evaluate", "--per-category", "1"],
    ["-m", "recognizer.bench", "--quick"],
    ["scripts/make_digits.py"],
], ids=["train", "evaluate", "bench", "make_digits"])
def test_every_command_reading_mnist_says_it_is_missing_in_one_line(tmp_path, command):
    # Both mirrors and the data folder point at empty folders, and torchvision's download
    # mirrors at a closed local port, so the download fails at once, with or without internet.
    empty = tmp_path / "empty"
    empty.mkdir()
    outputs = {"train.py": ["--out", str(tmp_path / "m.pt")], "recognizer.bench": ["--out", str(tmp_path / "bench")],
               "scripts/make_digits.py": ["--out", str(tmp_path / "digits")]}
    target = command[1] if command[0] == "-m" else command[0]
    argv = [target] + command[(2 if command[0] == "-m" else 1):] + outputs.get(target, [])
    run = "run_module" if command[0] == "-m" else "run_path"
    code = ("import sys, pathlib, runpy, recognizer.data as data, torchvision.datasets; "
            "data.DEFAULT_MIRROR = data.DEFAULT_DATA_ROOT = pathlib.Path(sys.argv[1]); "
            f"torchvision.datasets.MNIST.mirrors = [{UNREACHABLE_MIRROR!r}]; "
            f"sys.argv = sys.argv[2:]; runpy.{run}(sys.argv[0], run_name='__main__')")
    # no_proxy: a proxy, if one is configured, must not be asked for the closed port instead.
    env = {**os.environ, data.MIRROR_ENV: str(empty), "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    result = subprocess.run([sys.executable, "-c", code, str(empty), *argv], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "MNIST could not be loaded" in line]
    assert len(errors) == 1, result.stderr
    assert len(errors[0]) < 400 and errors[0].rstrip().endswith("a folder holding them."), errors[0]
    assert not any(tmp_path.glob("m.pt")) and not (tmp_path / "digits").exists()


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
def test_a_data_folder_that_cannot_be_made_is_mnist_unavailable(mirror):
    with pytest.raises(data.MnistUnavailable, match=r"^cannot copy MNIST into /proc/no_data/MNIST/raw \("):
        data.load_mnist(train=False, root="/proc/no_data")
