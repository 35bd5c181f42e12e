"""Checkpoint round trip and every way a model file can be wrong (no training needed)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from recognizer.checkpoint import (FORMAT_NAME, FORMAT_VERSION, CheckpointError, LoadedModel,
                                   load_checkpoint, save_checkpoint)
from recognizer.model import IMAGE_SIDE, NUM_CLASSES, DigitMLP
from random_models import random_mlp

META = {"test_accuracy": 0.5, "val_accuracy": 0.25, "recipe": {"epochs": 1, "hidden": [96, 64]},
        "history": [{"epoch": 1, "loss": 1.0}], "normalization": {"mean": 0.125, "std": 0.3}}


def images(count: int = 64, seed: int = 1) -> torch.Tensor:
    return torch.rand(count, IMAGE_SIDE, IMAGE_SIDE, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, DigitMLP]:
    model = random_mlp()
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, META)
    return path, model


def assert_one_line_error(path: Path, *words: str) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message and len(message) < 400
    assert str(path) in message
    for word in words:
        assert word in message
    return message


def test_round_trip_keeps_architecture_metadata_and_normalisation(saved):
    path, model = saved
    loaded = load_checkpoint(path)
    assert isinstance(loaded, LoadedModel) and loaded.path == path
    assert not loaded.model.training
    assert loaded.model.config() == model.config()
    assert loaded.meta == META
    assert float(loaded.model.mean) == float(model.mean) and float(loaded.model.std) == float(model.std)
    for name, tensor in model.state_dict().items():
        restored = loaded.model.state_dict()[name]
        assert restored.dtype == tensor.dtype and restored.shape == tensor.shape
        if tensor.numel() < 4096:  # small tensors (norm statistics, biases) are stored exactly
            assert torch.equal(restored, tensor), name


def test_round_trip_gives_identical_predictions(tmp_path):
    model = random_mlp(seed=3)
    # The big matrices are stored in fp16; a model whose weights are already fp16-exact must
    # come back bit-identical, so the logits are identical too.
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    path = tmp_path / "exact.pt"
    save_checkpoint(path, model, {})
    batch = images(200)
    with torch.no_grad():
        assert torch.equal(load_checkpoint(path).model(batch), model(batch))
        # Saving a loaded model again is stable, too.
        save_checkpoint(tmp_path / "again.pt", load_checkpoint(path).model, {})
        assert torch.equal(load_checkpoint(tmp_path / "again.pt").model(batch), model(batch))


def test_fp16_storage_changes_predictions_negligibly(saved):
    path, model = saved
    batch = images(500)
    with torch.no_grad():
        before = torch.softmax(model(batch), 1)
        after = torch.softmax(load_checkpoint(path).model(batch), 1)
    assert (before - after).abs().max() < 5e-3
    assert (before.argmax(1) == after.argmax(1)).float().mean() >= 0.99


def test_missing_file(tmp_path):
    assert_one_line_error(tmp_path / "nope.pt", "not found")


def test_random_bytes(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(os.urandom(5000))
    assert_one_line_error(path, "not a readable PyTorch checkpoint")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    assert_one_line_error(path, "not a readable PyTorch checkpoint")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_checkpoint(saved, tmp_path, fraction):
    path, _ = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[:int(len(data) * fraction)])
    assert_one_line_error(cut, "not a readable PyTorch checkpoint")


def test_plain_state_dict_is_the_wrong_format(tmp_path):
    path = tmp_path / "state.pt"
    torch.save(random_mlp().state_dict(), path)
    assert_one_line_error(path, "not a live-digits model checkpoint")


def test_other_torch_objects_are_the_wrong_format(tmp_path):
    for index, thing in enumerate([torch.zeros(3), [1, 2, 3], {"format": "other"}]):
        path = tmp_path / f"other{index}.pt"
        torch.save(thing, path)
        assert_one_line_error(path, "not a live-digits model checkpoint")


def test_whole_pickled_module_is_refused_without_running_code(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(random_mlp(), path)  # a pickled class, which weights_only loading must refuse
    assert_one_line_error(path, "not a readable PyTorch checkpoint")


def test_newer_format_version(saved):
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    torch.save(payload, path)
    assert_one_line_error(path, "format version")


@pytest.mark.parametrize("change", ["hidden", "depth", "unknown_key", "missing_weight", "not_tensor"])
def test_mismatched_architecture(saved, change):
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT_NAME
    if change == "hidden":
        payload["config"]["hidden"] = [128, 64]
    elif change == "depth":
        payload["config"]["hidden"] = [96]
    elif change == "unknown_key":
        payload["config"]["kernel_size"] = 3
    elif change == "missing_weight":
        del payload["state_dict"]["layers.1.weight"]
    else:
        payload["state_dict"]["layers.1.weight"] = [1.0, 2.0]
    torch.save(payload, path)
    assert_one_line_error(path, "does not match the model architecture")


class _InterruptWhilePickling:
    """Stands for a Ctrl-C arriving while torch.save is half-way through writing the file."""

    def __reduce__(self):
        raise KeyboardInterrupt


def test_previous_model_survives_an_interrupted_save(saved):
    path, model = saved
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, random_mlp(seed=9), {"history": [1, 2, 3], "oops": _InterruptWhilePickling()})
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # no temporary file left
    assert load_checkpoint(path).meta == META


def test_save_creates_missing_folders_and_replaces_atomically(tmp_path):
    path = tmp_path / "new" / "dir" / "m.pt"
    save_checkpoint(path, random_mlp(seed=1), {"n": 1})
    save_checkpoint(path, random_mlp(seed=2), {"n": 2})
    assert load_checkpoint(path).meta == {"n": 2}
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]


def test_default_width_model_fits_the_size_budget(tmp_path):
    path = tmp_path / "big.pt"
    save_checkpoint(path, DigitMLP(hidden=(1024, 1024)), {})
    assert path.stat().st_size <= 5 * 1024 * 1024
    assert load_checkpoint(path).model(torch.zeros(2, IMAGE_SIDE, IMAGE_SIDE)).shape == (2, NUM_CLASSES)


def test_shipped_model_loads_with_its_metadata_and_accuracy():
    from recognizer.checkpoint import DEFAULT_MODEL_PATH
    from recognizer.data import load_mnist

    if not DEFAULT_MODEL_PATH.is_file():
        pytest.skip("no shipped model yet (python train.py writes it)")
    assert DEFAULT_MODEL_PATH.stat().st_size <= 5 * 1024 * 1024
    loaded = load_checkpoint()
    meta = loaded.meta
    for key in ("architecture", "normalization", "test_accuracy", "val_accuracy", "recipe", "versions",
                "date", "train_seconds"):
        assert key in meta, key
    assert meta["normalization"] == {"mean": float(loaded.model.mean), "std": float(loaded.model.std)}
    images, labels = load_mnist(train=False)
    with torch.no_grad():
        correct = int((loaded.model(images.float() / 255).argmax(1) == labels).sum())
    assert abs(correct / len(labels) - meta["test_accuracy"]) <= 1e-4  # the recorded number is true


def test_only_weight_matrices_are_stored_in_half_precision(tmp_path):
    # A layer wide enough that its biases and norm statistics pass the element count too.
    path = tmp_path / "wide.pt"
    save_checkpoint(path, DigitMLP(hidden=(4096,)), {})
    stored = torch.load(path, weights_only=True)["state_dict"]
    halves = {name for name, tensor in stored.items() if tensor.dtype == torch.float16}
    assert halves and all(stored[name].ndim == 2 for name in halves)
    assert all(stored[name].dtype == torch.float32 for name in stored
               if stored[name].is_floating_point() and stored[name].ndim == 1)
