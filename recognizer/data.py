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


class MnistUnavailable(RuntimeError):
    """MNIST is neither on disk nor downloadable."""


def _mirror_dirs() -> list[Path]:
    dirs = [Path(os.environ[MIRROR_ENV])] if os.environ.get(MIRROR_ENV) else []
    return dirs + [DEFAULT_MIRROR]


def ensure_local_raw_files(root: Path) -> None:
    """Copy the original .gz files from a mirror into ``root/MNIST/raw`` if they are missing."""
    raw = root / "MNIST" / "raw"
    missing = [name for name in MNIST_FILES if not (raw / name).exists()]
    if not missing:
        return
    for mirror in _mirror_dirs():
        if all((mirror / name).is_file() for name in missing):
            raw.mkdir(parents=True, exist_ok=True)
            for name in missing:
                # Copy rather than link: the mirror is read-only and may be unmounted later.
                shutil.copyfile(mirror / name, raw / name)
            log.info("copied MNIST files from %s to %s", mirror, raw)
            return


def load_mnist(train: bool, root: str | os.PathLike[str] = DEFAULT_DATA_ROOT
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (images N x 28 x 28 uint8, labels N int64) of the MNIST train or test split."""
    from torchvision.datasets import MNIST  # imported lazily: only training and evaluation need it

    root = Path(root)
    ensure_local_raw_files(root)
    try:
        dataset = MNIST(str(root), train=train, download=True)
    except Exception as error:  # torchvision raises RuntimeError or URLError, depending on what failed
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise MnistUnavailable(
            f"MNIST could not be loaded from {root / 'MNIST' / 'raw'} or downloaded ({reason}). "
            f"Put the four original .gz files there, or set {MIRROR_ENV} to a folder holding them."
        ) from None
    return dataset.data.clone(), dataset.targets.clone()


def train_val_split(count: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a fixed random split of the training set; the test set is never used to choose."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[val_size:], order[:val_size]
