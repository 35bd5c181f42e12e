"""Crash-safe file writing: write to a temporary file beside the target, then rename.

A reader (or a user after a crash or Ctrl-C) sees either the old file or the complete new
one, never a half-written file, because rename within one directory is atomic on POSIX
and Windows.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recognizer.errors import one_line

DEFAULT_FILE_MODE = 0o666


class WriteError(OSError):
    """A file that could not be written, as one line naming the file the user asked for.

    ``str()`` is "cannot write FILE (reason)"; ``filename`` is the file, ``strerror`` the
    reason and ``errno`` the system's error code when there is one, as on any OSError, so
    every ``except OSError`` catches it.
    """

    def __init__(self, target: str | os.PathLike[str], reason: str, code: int | None = None) -> None:
        super().__init__(code, reason, os.fspath(target))

    def __str__(self) -> str:
        return f"cannot write {self.filename} ({self.strerror})"

    @classmethod
    def from_error(cls, target: str | os.PathLike[str], error: OSError) -> WriteError:
        """``error`` (a failed open, write, flush or rename) as a WriteError about ``target``."""
        return cls(target, error.strerror or one_line(error), error.errno)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    The temporary name keeps the target's suffix so that libraries which infer the
    format from the extension (matplotlib, ``images.write_image``) still work. An OSError
    about the temporary file (a full disk, a failed rename) comes out as a WriteError
    naming ``target``: the hidden temporary name means nothing to the user, and is gone.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}",
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file owner-only; give the result the permissions a plain open()
    # would have given it, or a saved model or snapshot would be unreadable to others.
    os.chmod(tmp, DEFAULT_FILE_MODE & ~_current_umask())
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and _concerns(error, tmp):
            raise WriteError.from_error(target, error) from error
        raise


def checked_target(target: str | os.PathLike[str]) -> Path:
    """``target`` as a file that can be written at the end of a long run, checked now.

    Creates its folder; raises OSError (one line) when it is a folder, lies below a file, or
    its folder cannot be written (read-only, no permission, a system folder such as /proc).
    """
    target = Path(target)
    try:
        is_folder = target.is_dir()
    except OSError as error:  # a name too long for the file system, say
        raise OSError(f"{target}: {error.strerror or error}") from None
    if is_folder:
        raise OSError(f"{target} is a folder; give a file name")
    _made_and_writable(target.parent, target)
    return target


def checked_folder(folder: str | os.PathLike[str]) -> Path:
    """``folder`` as a folder that files can be written into, made now if missing.

    Raises OSError (one line) when it, or a folder on its path, is a file, or when it cannot
    be made or written.
    """
    folder = Path(folder)
    try:
        is_file = folder.exists() and not folder.is_dir()
    except OSError as error:
        raise OSError(f"{folder}: {error.strerror or error}") from None
    if is_file:
        raise OSError(f"{folder} is a file; give a folder")
    _made_and_writable(folder, folder)
    return folder


def _made_and_writable(folder: Path, named: Path) -> None:
    """Make ``folder`` if missing and prove a file can be created in it (``named`` is what the
    user gave, for the message)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OSError(f"{named}: a folder on its path is a file") from None
    except OSError as error:
        raise OSError(f"{named}: cannot make folder {folder} ({error.strerror or error})") from None
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OSError(f"{named}: cannot create a file in {folder} ({error.strerror or error})") from None


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def _concerns(error: OSError, temporary: Path) -> bool:
    """Whether ``error`` is about the temporary file: it names it, or no file at all (a failed
    write or flush), rather than another file (the source of a copy, say)."""
    named = error.filename
    if named is None:
        return True
    return isinstance(named, (str, bytes, os.PathLike)) and os.fsdecode(named) == os.fspath(temporary)


def _fsync_file(path: Path) -> None:
    # Without fsync a power loss right after the rename can leave an empty file behind.
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
