"""MNIST loading that works offline when the original files are already on disk.

torchvision's MNIST checks the md5 of files in ``<root>/MNIST/raw`` before it tries the
network, so we copy the originals there from a local mirror when one exists. Users with
internet and no mirror get torchvision's normal download.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import torch

from recognizer.atomic import atomic_path
from recognizer.errors import one_line

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_ROOT = PROJECT_ROOT / "data"
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# Where a read-only copy of the four original files may already sit; the environment
# variable wins so that other machines can point at their own copy.
MIRROR_ENV = "LIVE_DIGITS_MNIST_RAW"
DEFAULT_MIRROR = PROJECT_ROOT.parent / "shared" / "data" / "MNIST" / "raw"
MAX_REASON_CHARS = 160  # of torchvision's error, in our one-line message


class MnistUnavailable(RuntimeError):
    """MNIST is neither on disk nor downloadable."""


def _mirror_dirs() -> list[Path]:
    dirs = [Path(os.environ[MIRROR_ENV])] if os.environ.get(MIRROR_ENV) else []
    return dirs + [DEFAULT_MIRROR]


def _needs_copy(local: Path, original: Path) -> bool:
    """True if ``local`` is missing, or differs in size from the mirror's ``original``.

    Comparing sizes is cheap and catches the truncated file an interrupted copy or download
    leaves behind (torchvision would then fail its md5 check and try the network).
    """
    if not local.is_file():
        return True
    return original.is_file() and local.stat().st_size != original.stat().st_size


def ensure_local_raw_files(root: Path) -> None:
    """Copy the original .gz files from a mirror into ``root/MNIST/raw`` if missing or truncated.

    The first mirror that holds any of the files is the reference; a file is copied when it
    is missing or its size differs from the mirror's. Each copy is atomic (temporary file
    beside the target, then rename), so an interrupted copy never leaves a partial .gz under
    the final name.
    """
    raw = root / "MNIST" / "raw"
    for mirror in _mirror_dirs():
        if not any((mirror / name).is_file() for name in MNIST_FILES):
            continue  # nothing to copy from or compare with: try the next mirror
        stale = [name for name in MNIST_FILES if _needs_copy(raw / name, mirror / name)]
        if not stale:
            return
        if all((mirror / name).is_file() for name in stale):
            for name in stale:
                # Copy rather than link: the mirror is read-only and may be unmounted later.
                with atomic_path(raw / name) as tmp:
                    shutil.copyfile(mirror / name, tmp)
            log.info("copied %s from %s to %s", ", ".join(stale), mirror, raw)
            return


def _failure_reason(error: Exception) -> str:
    """The gist of torchvision's error, short enough for one line.

    A failed download reads "Error downloading <file>: Tried <url>, got: <error> Tried <url>,
    got: <error>"; the last error says why (no network, say) and the rest repeats addresses.
    """
    return one_line(str(error).rsplit("got:", 1)[-1], MAX_REASON_CHARS) or type(error).__name__


def load_mnist(train: bool, root: str | os.PathLike[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (images N x 28 x 28 uint8, labels N int64) of the MNIST train or test split.

    ``root`` defaults to ``DEFAULT_DATA_ROOT``, looked up at call time.
    """
    from torchvision.datasets import MNIST  # imported lazily: only training and evaluation need it

    root = Path(root) if root is not None else DEFAULT_DATA_ROOT
    try:
        ensure_local_raw_files(root)
    except OSError as error:  # the data folder cannot be made or written
        raise MnistUnavailable(f"cannot copy MNIST into {root / 'MNIST' / 'raw'} "
                               f"({error.strerror or error})") from None
    try:
        dataset = MNIST(str(root), train=train, download=True)
    except Exception as error:  # torchvision raises RuntimeError or URLError, depending on what failed
        raise MnistUnavailable(
            f"MNIST could not be loaded from {root / 'MNIST' / 'raw'} or downloaded ({_failure_reason(error)}). "
            f"Put the four original .gz files there, or set {MIRROR_ENV} to a folder holding them."
        ) from None
    return dataset.data.clone(), dataset.targets.clone()


def train_val_split(count: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a fixed random split of the training set; the test set is never used to choose."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[val_size:], order[:val_size]
