"""Real (tiny) training runs through train.py's CLI, and the batch augmentation.

Nothing here trains on full MNIST: runs use a 2,000-digit subset, one epoch, a small hidden
layer, and take a couple of seconds each.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import train
from recognizer.augment import AugmentConfig, augment_batch
from recognizer.checkpoint import load_checkpoint, save_checkpoint
from recognizer.data import load_mnist
from recognizer.model import IMAGE_SIDE, DigitMLP
from recognizer.rendered import RenderRecipe, render_digits, rendered_digits

PROJECT_ROOT = Path(__file__).resolve().parent.parent
META_KEYS = {"architecture", "config", "normalization", "test_accuracy", "val_accuracy", "recipe",
             "versions", "date", "train_seconds", "best_epoch", "epochs_run", "interrupted",
             "history", "augmentation", "command"}


def tiny_args(tmp_path: Path, name: str = "model.pt", seed: int = 3, *extra: str, plots: bool = False
              ) -> list[str]:
    """A tiny run's command line; the plots take seconds, so only the runs that check them draw them."""
    return ["--subset", "2000", "--epochs", "1", "--hidden", "64", "--val-size", "1000",
            "--seed", str(seed), "--device", "cpu", "--out", str(tmp_path / name),
            *(["--plots", str(tmp_path / "plots")] if plots else ["--no-plots"]), *extra]


@pytest.fixture(scope="module")
def mnist_test() -> tuple[torch.Tensor, torch.Tensor]:
    return load_mnist(train=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    assert train.main(tiny_args(folder, plots=True)) == 0
    return folder


def test_tiny_run_writes_a_loadable_checkpoint_with_metadata(tiny_run, mnist_test):
    path = tiny_run / "model.pt"
    loaded = load_checkpoint(path)
    assert META_KEYS <= loaded.meta.keys()
    meta = loaded.meta
    assert meta["recipe"]["subset"] == 2000 and meta["recipe"]["hidden"] == [64]
    assert meta["interrupted"] is False and meta["epochs_run"] == 1 and meta["best_epoch"] == 1
    assert set(meta["versions"]) >= {"torch", "torchvision", "numpy"}
    assert meta["train_seconds"] > 0
    # The normalisation was computed from the training digits and travels in the model.
    assert 0.05 < meta["normalization"]["mean"] < 0.25 and 0.2 < meta["normalization"]["std"] < 0.45
    assert float(loaded.model.mean) == meta["normalization"]["mean"]
    assert float(loaded.model.std) == meta["normalization"]["std"]
    # Clearly better than chance (10%) on the held-out test digits, and the stored number is right.
    images, labels = mnist_test
    with torch.no_grad():
        predicted = loaded.model(images.float() / 255).argmax(1)
    accuracy = float((predicted == labels).float().mean())
    assert accuracy > 0.6
    assert abs(accuracy - meta["test_accuracy"]) <= 1e-4  # measured on the saved (fp16) weights
    assert 0.5 < meta["val_accuracy"] <= 1
    # Human-readable metadata copy and the two plots.
    assert json.loads((tiny_run / "model.json").read_text())["test_accuracy"] == meta["test_accuracy"]
    for name in ("model_curves.png", "model_confusion.png"):
        assert (tiny_run / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tiny_run.rglob("*") if ".tmp" in p.name]
    # Every run reports the held-out digits as the normaliser presents them, too.
    assert meta["rendered"]["share"] == 0 and meta["rendered"]["recipe"] == RenderRecipe().as_dict()
    assert {"val_raw", "val_rendered"} <= meta["history"][0].keys()
    assert 0.5 < meta["history"][0]["val_rendered"] <= 1 and 0.5 < meta["test_rendered_accuracy"] <= 1
    assert meta["val_accuracy"] == meta["history"][0]["val_raw"]  # raw digits only: chosen on raw


def test_same_seed_gives_the_same_weights(tiny_run, tmp_path):
    assert train.main(tiny_args(tmp_path, "again.pt")) == 0
    assert train.main(tiny_args(tmp_path, "other_seed.pt", 4)) == 0
    first = load_checkpoint(tiny_run / "model.pt").model.state_dict()
    again = load_checkpoint(tmp_path / "again.pt").model.state_dict()
    other = load_checkpoint(tmp_path / "other_seed.pt").model.state_dict()
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not torch.equal(first["layers.1.weight"], other["layers.1.weight"])
    assert not list(tmp_path.rglob("*.png"))  # --no-plots


def test_ctrl_c_keeps_the_best_model_so_far(tmp_path, monkeypatch):
    real_epoch = train.train_one_epoch
    calls = []

    def interrupted_in_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train, "train_one_epoch", interrupted_in_second_epoch)
    args = tiny_args(tmp_path)
    args[args.index("--epochs") + 1] = "5"
    assert train.main(args) == 130
    loaded = load_checkpoint(tmp_path / "model.pt")
    assert loaded.meta["interrupted"] is True
    assert loaded.meta["best_epoch"] == 1 and loaded.meta["epochs_run"] == 1
    assert loaded.meta["test_accuracy"] > 0.5


def test_ctrl_c_before_the_first_epoch_leaves_the_previous_model_alone(tmp_path, monkeypatch):
    previous = tmp_path / "model.pt"
    save_checkpoint(previous, DigitMLP(hidden=(8,)), {"previous": True})
    before = previous.read_bytes()

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "train_one_epoch", interrupt)
    assert train.main(tiny_args(tmp_path)) == 130
    assert previous.read_bytes() == before


def test_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--epochs", "--seed", "--device", "--out", "--hidden", "--lr", "--batch-size",
                 "--val-size", "--subset", "--plots", "--no-plots", "--quick"):
        assert flag in text
    assert train.parse_args(["--quick"]).epochs == train.QUICK_EPOCHS


def test_an_interrupted_test_phase_leaves_a_checkpoint_and_json_of_the_same_model(tmp_path, monkeypatch):
    out = tmp_path / "model.pt"
    save_checkpoint(out, DigitMLP(hidden=(8,)), {"note": "an earlier run"})
    out.with_suffix(".json").write_text(json.dumps({"config": {"hidden": [8]}}))
    real_load = train.load_mnist

    def interrupt_at_the_test_digits(*args, **kwargs):
        if kwargs.get("train") is False:      # Ctrl-C while the test digits load
            raise KeyboardInterrupt
        return real_load(*args, **kwargs)

    monkeypatch.setattr(train, "load_mnist", interrupt_at_the_test_digits)
    assert train.main(tiny_args(tmp_path)) == 130
    assert load_checkpoint(out).meta["config"]["hidden"] == [64]
    assert json.loads(out.with_suffix(".json").read_text())["config"]["hidden"] == [64]


def test_too_few_training_digits_for_one_step_is_an_error(tmp_path):
    args = tiny_args(tmp_path)
    args[args.index("--subset") + 1] = "1"
    assert train.main(args) == 2
    assert not (tmp_path / "model.pt").exists()


@pytest.mark.parametrize("bad", [
    ["--epochs", "0"], ["--epochs", "-3"], ["--batch-size", "0"], ["--val-size", "0"],
    ["--patience", "0"], ["--subset", "0"], ["--subset", "-5"], ["--hidden", "64", "0"],
    ["--dropout", "1"], ["--dropout", "-0.1"], ["--label-smoothing", "1"], ["--label-smoothing", "-0.5"],
    ["--ema", "1"], ["--ema", "1.5"], ["--ema", "-0.1"], ["--rendered", "1.01"], ["--rendered", "-0.1"],
    ["--rendered", "nan"], ["--lr", "0"], ["--lr", "-0.001"], ["--lr", "inf"], ["--weight-decay", "-0.01"],
    ["--quick", "--epochs", "5"], ["--epochs", "5", "--quick"],
    ["--device", "foo"], ["--device", "cuda:x"], ["--device", ""], ["--device", "meta"],
    pytest.param(["--device", "cuda"], marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is here")),
])
def test_bad_arguments_are_a_one_line_usage_error_with_exit_code_2(bad, capsys, monkeypatch):
    def must_not_train(args):  # if a bad value got through, never start a real run (it would
        raise AssertionError(f"accepted {bad}")  # write models/mlp.pt)

    monkeypatch.setattr(train, "run", must_not_train)
    with pytest.raises(SystemExit) as exit_info:
        train.main(bad)  # through main: nothing is loaded or trained before the check
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ") and "Traceback" not in err
    error_lines = [line for line in err.splitlines() if ": error: " in line]
    flag = "--epochs" if "--quick" in bad else bad[0]  # the error names the offending option
    assert len(error_lines) == 1 and flag in error_lines[0], err


@pytest.mark.parametrize("edge", [
    ["--rendered", "0"], ["--rendered", "1"], ["--dropout", "0"], ["--label-smoothing", "0"],
    ["--ema", "0"], ["--weight-decay", "0"], ["--epochs", "1"], ["--subset", "1"], ["--patience", "1"],
])
def test_edge_values_that_make_sense_are_accepted(edge):
    value = getattr(train.parse_args(edge), edge[0][2:].replace("-", "_"))
    assert value == float(edge[1])


def test_quick_writes_runs_quick_and_keeps_the_shipped_model():
    from recognizer.checkpoint import DEFAULT_MODEL_PATH
    quick = train.parse_args(["--quick"])
    assert quick.out == PROJECT_ROOT / "runs" / "quick.pt" and quick.out != DEFAULT_MODEL_PATH
    assert quick.plots == PROJECT_ROOT / "runs"  # plots beside it, named after the checkpoint
    assert quick.epochs == train.QUICK_EPOCHS
    assert train.parse_args(["--quick", "--out", "elsewhere.pt"]).out == Path("elsewhere.pt")
    full = train.parse_args([])
    assert full.out == DEFAULT_MODEL_PATH == PROJECT_ROOT / "models" / "mlp.pt"
    assert full.epochs == 60 and full.plots == PROJECT_ROOT / "runs"
    assert train.parse_args(["--epochs", "7"]).out == DEFAULT_MODEL_PATH


def test_help_documents_the_quick_output_and_the_ranges(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "runs/quick.pt" in text and "add --out to keep" not in text
    assert "(default: None)" not in text
    for snippet in ("in [0, 1)", "in [0, 1]", "cannot be combined with --epochs"):
        assert snippet in text


def test_help_is_readable(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option, metavar in (("--epochs", "N"), ("--hidden", "WIDTH [WIDTH ...]"), ("--lr", "RATE"),
                            ("--weight-decay", "DECAY"), ("--label-smoothing", "P"), ("--batch-size", "N"),
                            ("--val-size", "N"), ("--out", "PATH"), ("--plots", "DIR"), ("--data", "DIR")):
        assert f"{option} {metavar}" in text  # not argparse's WEIGHT_DECAY, OUT, HIDDEN [HIDDEN ...]
    assert "(default: False)" not in text and "(default: 1024 1024)" in text
    # Default paths are shown relative to the project folder, all alike.
    assert str(PROJECT_ROOT) not in text
    for default in ("models/mlp.pt", "runs/quick.pt", "(default: runs/)", "(default: data/"):
        assert default in text
    # Where MNIST comes from, and what happens offline.
    assert "LIVE_DIGITS_MNIST_RAW" in text and "one-line error" in text


@pytest.mark.parametrize("argv, code", [(["--help"], 0), (["--epochs", "0"], 2), (["--quick", "--epochs", "5"], 2)])
def test_help_and_argument_errors_answer_before_torch_is_imported(argv, code):
    """torch takes seconds to import: the real command line does not wait for it to answer these."""
    result = subprocess.run([sys.executable, "-X", "importtime", "train.py", *argv], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == code, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "argparse" in imported  # the import log was read
    assert not imported & {"torch", "torchvision", "numpy", "cv2"}


def test_an_unknown_device_is_one_line_from_the_real_command_line(tmp_path):
    result = subprocess.run([sys.executable, "train.py", "--device", "foo", "--out", str(tmp_path / "m.pt")],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("usage: ")
    assert result.stderr.splitlines()[-1].startswith("train.py: error: --device foo: ")
    assert [line for line in result.stderr.splitlines() if "error" in line] == result.stderr.splitlines()[-1:]
    assert not (tmp_path / "m.pt").exists()


def test_a_device_number_beyond_the_machines_devices_is_refused(monkeypatch):
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda check_available=False: torch.device("cuda"))
    monkeypatch.setattr(torch.accelerator, "device_count", lambda: 1)
    assert train.training_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match="has 1 cuda device"):
        train.training_device("cuda:1")
    with pytest.raises(ValueError, match="no mps device"):
        train.training_device("mps")
    assert train.training_device("cpu") == torch.device("cpu")


# ---------------------------------------------------------------------------- augmentation
@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    images, _ = load_mnist(train=True)
    return images[:512].float() / 255


def centre_of_mass(batch: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(IMAGE_SIDE, dtype=torch.float32)
    mass = batch.sum((1, 2)).clamp_min(1e-6)
    return torch.stack([(batch.sum(2) * coords).sum(1) / mass, (batch.sum(1) * coords).sum(1) / mass], 1)


def test_augmentation_keeps_shape_and_range_and_changes_the_images(digits):
    out = augment_batch(digits, torch.Generator().manual_seed(0))
    assert out.shape == digits.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    changed = (out - digits).abs().flatten(1).mean(1)
    assert (changed > 1e-3).float().mean() > 0.95  # (nearly) every image is different
    assert torch.equal(digits, load_mnist(train=True)[0][:512].float() / 255)  # input untouched


def test_augmentation_keeps_digits_mnist_like(digits):
    out = augment_batch(digits, torch.Generator().manual_seed(1))
    # still centred by mass (MNIST's own centres scatter by about a pixel)
    shift = (centre_of_mass(out) - centre_of_mass(digits)).norm(dim=1)
    assert float(shift.median()) < 1.5 and float(shift.max()) < 5
    # about the same amount of ink, still bright strokes on a dark background
    ink_ratio = out.sum((1, 2)) / digits.sum((1, 2))
    assert 0.6 < float(ink_ratio.median()) < 1.6
    assert float(out.flatten(1).amax(1).median()) > 0.8
    border = torch.cat([out[:, :2].flatten(1), out[:, -2:].flatten(1)], 1)
    assert float(border.mean()) < 0.02


def test_augmentation_is_deterministic_per_generator(digits):
    first = augment_batch(digits[:64], torch.Generator().manual_seed(5))
    again = augment_batch(digits[:64], torch.Generator().manual_seed(5))
    other = augment_batch(digits[:64], torch.Generator().manual_seed(6))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_each_transform_alone_changes_images(digits):
    off = AugmentConfig(rotate_degrees=0, scale=(1, 1), aspect=0, shear=0, translate_pixels=0,
                        elastic_probability=0, stroke_probability=0, binarize_probability=0,
                        blur_probability=0, noise_probability=0)
    batch = digits[:32]
    identity = augment_batch(batch, torch.Generator().manual_seed(0), off)
    assert (identity - batch).abs().max() < 1e-5
    variants = {
        "rotate": {"rotate_degrees": 15}, "scale": {"scale": (0.8, 0.9)}, "shear": {"shear": 0.3},
        "translate": {"translate_pixels": 2}, "elastic": {"elastic_probability": 1},
        "stroke": {"stroke_probability": 1}, "binarize": {"binarize_probability": 1},
        "blur": {"blur_probability": 1}, "noise": {"noise_probability": 1},
    }
    for name, change in variants.items():
        cfg = AugmentConfig(**{**off.__dict__, **change})
        out = augment_batch(batch, torch.Generator().manual_seed(0), cfg)
        assert float((out - batch).abs().mean()) > 1e-3, name
    thick = AugmentConfig(**{**off.__dict__, "stroke_probability": 1, "stroke_range": (0.5, 1.0)})
    thin = AugmentConfig(**{**off.__dict__, "stroke_probability": 1, "stroke_range": (-1.0, -0.5)})
    assert (augment_batch(batch, torch.Generator(), thick).sum() > batch.sum() >
            augment_batch(batch, torch.Generator(), thin).sum())


def test_augmentation_edge_cases():
    generator = torch.Generator().manual_seed(0)
    assert augment_batch(torch.zeros(0, IMAGE_SIDE, IMAGE_SIDE), generator).shape == (0, IMAGE_SIDE, IMAGE_SIDE)
    assert augment_batch(torch.zeros(3, IMAGE_SIDE, IMAGE_SIDE), generator).max() < 0.3  # blank stays dark
    with pytest.raises(ValueError):
        augment_batch(torch.zeros(3, 32, 32), generator)


# ---------------------------------------------------------------------------- rendered digits
@pytest.fixture(scope="module")
def train_digits() -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = load_mnist(train=True)
    return images[:200], labels[:200]


def test_rendered_digits_are_mnist_format_and_centred(train_digits):
    images, labels = train_digits
    out = render_digits(images.numpy(), labels.numpy(), seed=0)
    assert out.shape == (200, IMAGE_SIDE, IMAGE_SIDE) and out.dtype.name == "uint8"
    batch = torch.from_numpy(out).float() / 255
    centre = centre_of_mass(batch)
    assert float((centre - (IMAGE_SIDE - 1) / 2).abs().max()) < 0.75  # centred by mass, as normalize_digit does
    assert float(batch.flatten(1).amax(1).min()) > 0.8  # every digit has bright ink
    border = torch.cat([batch[:, :2].flatten(1), batch[:, -2:].flatten(1)], 1)
    assert float(border.mean()) < 0.02
    # Close to the raw digit (same digit, same place) but not a copy of it.
    difference = (batch - images.float() / 255).abs().flatten(1).mean(1)
    assert float(difference.min()) > 0.005 and float(difference.median()) < 0.15


def test_rendered_digits_are_deterministic_per_seed_and_per_digit(train_digits):
    images, labels = train_digits
    first = render_digits(images.numpy()[:40], labels.numpy()[:40], seed=1)
    again = render_digits(images.numpy()[:40], labels.numpy()[:40], seed=1)
    other = render_digits(images.numpy()[:40], labels.numpy()[:40], seed=2)
    assert (first == again).all() and not (first == other).all()
    # Digit i renders the same whether or not other digits are rendered with it.
    keys = torch.arange(10, 40, 3)
    alone = rendered_digits(images, labels, seed=1, indices=keys)
    assert torch.equal(alone, torch.from_numpy(first[keys.numpy()]))


def test_rendered_digits_are_cached_atomically(train_digits, tmp_path):
    images, labels = train_digits[0][:30], train_digits[1][:30]
    first = rendered_digits(images, labels, seed=5, cache_dir=tmp_path)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npy" and ".tmp" not in files[0].name
    again = rendered_digits(images, labels, seed=5, indices=torch.tensor([3, 1]), cache_dir=tmp_path)
    assert torch.equal(again, first[[3, 1]])
    rendered_digits(images, labels, seed=6, cache_dir=tmp_path)  # another seed: another file
    assert len(list(tmp_path.iterdir())) == 2


def test_training_on_a_mix_with_rendered_digits(tiny_run, tmp_path):
    """--rendered P mixes in the rendered copies, and chooses on both views of the held-out digits."""
    assert train.main(tiny_args(tmp_path, "mix.pt", 3, "--rendered", "0.4")) == 0
    raw = load_checkpoint(tiny_run / "model.pt")
    mix = load_checkpoint(tmp_path / "mix.pt")
    assert mix.meta["rendered"]["share"] == 0.4 and "mean" in mix.meta["rendered"]["selection"]
    assert not torch.equal(raw.model.state_dict()["layers.1.weight"], mix.model.state_dict()["layers.1.weight"])
    epoch = mix.meta["history"][0]
    assert mix.meta["val_accuracy"] == pytest.approx((epoch["val_raw"] + epoch["val_rendered"]) / 2)
    assert mix.meta["test_accuracy"] > 0.6 and mix.meta["test_rendered_accuracy"] > 0.5
