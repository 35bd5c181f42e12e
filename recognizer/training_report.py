"""What train.py leaves beside the model: the checkpoint's metadata (.json), and the plots.

The metadata records how the model was made (architecture, command line, augmentation and
rendering recipes, library versions) and how well it did (validation per epoch, test), so
a checkpoint explains itself. The plots are the training curves and the test confusion matrix.
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recognizer.atomic import atomic_path, atomic_write_text
from recognizer.augment import AugmentConfig
from recognizer.checkpoint import save_checkpoint
from recognizer.model import IMAGE_SIDE, NUM_CLASSES, DigitMLP
from recognizer.rendered import RenderRecipe

log = logging.getLogger(__name__)
PLOT_DPI = 100


def architecture(model: DigitMLP) -> str:
    widths = "-".join(str(w) for w in (IMAGE_SIDE ** 2, *model.hidden, NUM_CLASSES))
    return f"MLP {widths}, BatchNorm + ReLU + dropout {model.dropout:g} per hidden layer"


def save_model(path: Path, model: DigitMLP, meta: dict[str, Any]) -> None:
    """The checkpoint, then its metadata as .json beside it: both always describe the same model."""
    save_checkpoint(path, model, meta)
    atomic_write_text(Path(path).with_suffix(".json"), json.dumps(meta, indent=2) + "\n")


def build_meta(args: argparse.Namespace, model: DigitMLP, *, val_accuracy: float, best_epoch: int,
               history: list[dict[str, float]], started: float, test_accuracy: float | None,
               interrupted: bool) -> dict[str, Any]:
    """The checkpoint's metadata; ``started`` is the run's time.perf_counter() at its start."""
    import torchvision  # only for its version number
    return {
        "architecture": architecture(model),
        "config": model.config(),
        "normalization": {"mean": float(model.mean), "std": float(model.std)},
        "test_accuracy": test_accuracy,
        "val_accuracy": val_accuracy,
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "interrupted": interrupted,
        "history": history,
        "recipe": {key: str(value) if isinstance(value, Path) else value
                   for key, value in vars(args).items()},
        "augmentation": None if args.no_augment else AugmentConfig().as_dict(),
        "rendered": {"share": args.rendered, "seed": args.seed, "recipe": RenderRecipe().as_dict(),
                     "selection": ("mean of raw and rendered validation accuracy" if args.rendered > 0
                                   else "raw validation accuracy"),
                     "printed_fonts": False},
        "command": "python " + " ".join(sys.argv),
        # str(): torch.__version__ is a str subclass that weights_only loading refuses
        "versions": {"torch": str(torch.__version__), "torchvision": str(torchvision.__version__),
                     "numpy": str(np.__version__), "python": platform.python_version()},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "train_seconds": round(time.perf_counter() - started, 1),
    }


def confusion_matrix(labels: torch.Tensor, predicted: torch.Tensor) -> np.ndarray:
    """Counts of (true, predicted) label pairs: NUM_CLASSES x NUM_CLASSES, true labels down the rows."""
    pairs = labels * NUM_CLASSES + predicted
    return torch.bincount(pairs, minlength=NUM_CLASSES ** 2).view(NUM_CLASSES, NUM_CLASSES).numpy()


def save_plots(history: list[dict[str, float]], confusion: np.ndarray, folder: Path, stem: str) -> None:
    """``<stem>_curves.png`` (loss and validation accuracy per epoch) and ``<stem>_confusion.png``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, loss_ax = plt.subplots(figsize=(7, 4))
    loss_ax.plot(epochs, [h["loss"] for h in history], "b-", label="training loss")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss", color="b")
    acc_ax = loss_ax.twinx()
    acc_ax.plot(epochs, [100 * h["val_accuracy"] for h in history], "r-", label="validation")
    acc_ax.plot(epochs, [100 * h["val_raw"] for h in history], "r:", label="validation, raw")
    acc_ax.plot(epochs, [100 * h["val_rendered"] for h in history], "r--", label="validation, rendered")
    acc_ax.legend(loc="lower right")
    acc_ax.set_ylabel("validation accuracy (%)", color="r")
    fig.tight_layout()
    with atomic_path(folder / f"{stem}_curves.png") as tmp:
        fig.savefig(tmp, dpi=PLOT_DPI)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.imshow(np.log1p(confusion), cmap="Blues")
    for (row, col), count in np.ndenumerate(confusion):
        ax.text(col, row, str(count), ha="center", va="center", fontsize=7,
                color="white" if row == col else "black")
    ax.set_xticks(range(NUM_CLASSES))
    ax.set_yticks(range(NUM_CLASSES))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"MNIST test confusion ({int(np.trace(confusion))}/{int(confusion.sum())} correct)")
    fig.tight_layout()
    with atomic_path(folder / f"{stem}_confusion.png") as tmp:
        fig.savefig(tmp, dpi=PLOT_DPI)
    plt.close(fig)
    log.info("plots: %s", folder)
