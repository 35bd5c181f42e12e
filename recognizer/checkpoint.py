"""Saving and loading the model with its metadata, safely in both directions.

Saving is atomic (temporary file, then rename) so an interrupted training run never
destroys the previous model. Loading uses ``weights_only=True`` so a checkpoint cannot run
code, and turns every way a file can be wrong into one ``CheckpointError`` line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from recognizer.atomic import atomic_path
from recognizer.errors import described
from recognizer.model import DigitMLP

FORMAT_NAME = "live-digits-mlp"
FORMAT_VERSION = 1
# Large weight matrices are stored in half precision: it halves the shipped file and
# changes no prediction measurably; vectors (biases, norm statistics) stay exact, however long.
HALF_PRECISION_MIN_ELEMENTS = 4096
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "mlp.pt"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or not a live-digits model."""


@dataclass(frozen=True)
class LoadedModel:
    model: DigitMLP
    meta: dict[str, Any]
    path: Path


def save_checkpoint(path: str | os.PathLike[str], model: DigitMLP, meta: dict[str, Any]) -> None:
    state = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point() and tensor.ndim >= 2 and tensor.numel() >= HALF_PRECISION_MIN_ELEMENTS:
            tensor = tensor.half()
        state[name] = tensor.clone()
    payload = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
               "config": model.config(), "state_dict": state, "meta": meta}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike[str] | None = None) -> LoadedModel:
    """Load a checkpoint written by ``save_checkpoint``; the model comes back in eval mode."""
    path = Path(path) if path is not None else DEFAULT_MODEL_PATH
    if not path.is_file():
        raise CheckpointError(f"model file not found: {path} (train one with: python train.py)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged file can fail in many ways (EOF, zip, pickle...)
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({described(error)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is not a live-digits model checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {payload.get('format_version')}, "
                              f"this program reads version {FORMAT_VERSION}")
    try:
        model = DigitMLP(**payload["config"])
        state = {name: tensor.float() if tensor.is_floating_point() else tensor
                 for name, tensor in payload["state_dict"].items()}
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError, AttributeError, ValueError) as error:
        raise CheckpointError(f"{path} does not match the model architecture ({described(error)})") from None
    meta = payload.get("meta", {})
    model.eval()
    return LoadedModel(model=model, meta=dict(meta) if isinstance(meta, dict) else {}, path=path)

