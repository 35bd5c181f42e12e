"""Train the live-digits MLP on MNIST and write the shipped checkpoint.

    python train.py                 # the shipped recipe (writes models/mlp.pt)
    python train.py --quick         # quick recipe: 3 epochs, writes runs/quick.pt
    python train.py --subset 2000 --epochs 1 --hidden 64 --out /tmp/tiny.pt   # smoke test

The model is fully connected, so it learns tolerance to shifts, slant and stroke width
from augmentation (recognizer/augment.py). Every crop reaches the model through one
normaliser, so training mixes the raw digits with copies drawn as ink on paper and passed
through that normaliser (recognizer/rendered.py). Model selection and early stopping use a
validation split carved from the 60,000 training digits, raw and rendered; the 10,000 test
digits are only used once, at the end, to report the accuracy of the chosen model. The best
model so far is saved (atomically) after every improving epoch, so Ctrl-C keeps a valid
checkpoint.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a CPU shared with other processes,
# spinning threads made training up to 7x slower (measured on 2 cores), and results do
# not change. Must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from recognizer.arguments import fraction, non_negative_float, positive_float, positive_int, probability
from recognizer.atomic import atomic_path, atomic_write_text
from recognizer.augment import AugmentConfig, augment_batch
from recognizer.checkpoint import DEFAULT_MODEL_PATH, load_checkpoint, save_checkpoint
from recognizer.data import DEFAULT_DATA_ROOT, MnistUnavailable, load_mnist, train_val_split
from recognizer.model import NUM_CLASSES, DigitMLP
from recognizer.rendered import RenderRecipe, rendered_digits

log = logging.getLogger("train")
DEFAULT_EPOCHS = 60
QUICK_EPOCHS = 3
# --quick must not overwrite the shipped model: it writes beside the other experiments.
RUNS_DIR = DEFAULT_MODEL_PATH.parent.parent / "runs"   # experiments and plots, in the project folder
QUICK_MODEL_PATH = RUNS_DIR / "quick.pt"
TEST_RENDER_SEED = 12345  # the test digits' rendering, for the report only
RECIPES = """recipes (measured on 2 shared CPU cores, seed 1):
  python train.py            shipped model: 60 epochs, 99.42% on the MNIST test set,
                             99.62% validation, 14.7 min wall clock
  python train.py --quick    3 epochs, 98.55% test, 51 s; writes runs/quick.pt (and
                             runs/quick_*.png), the shipped models/mlp.pt stays
  python train.py --rendered 0.4 --out runs/mix.pt
                             also train on normaliser-rendered digits: 99.44% test, 98.90% on
                             rendered test digits (shipped: 98.57%), not better on scenes
A run is deterministic for a given --seed, device and library versions."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults, and keep the line breaks of the recipes below the options.

    A default of None means "decided after parsing" (the help text says how), so no
    "(default: None)" is appended.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=RECIPES,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help=f"maximum number of epochs (default: {DEFAULT_EPOCHS}; "
                             f"{QUICK_EPOCHS} with --quick, which cannot be combined with --epochs)")
    parser.add_argument("--quick", action="store_true",
                        help=f"quick recipe: {QUICK_EPOCHS} epochs, written to runs/quick.pt "
                             "unless --out is given")
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=[1024, 1024],
                        help="widths of the hidden layers")
    parser.add_argument("--dropout", type=fraction, default=0.2,
                        help="dropout after each hidden layer, in [0, 1)")
    parser.add_argument("--lr", type=positive_float, default=3e-3,
                        help="peak learning rate (AdamW, one-cycle), > 0")
    parser.add_argument("--weight-decay", type=non_negative_float, default=0.02,
                        help="AdamW weight decay, >= 0")
    parser.add_argument("--label-smoothing", type=fraction, default=0.05,
                        help="cross-entropy label smoothing, in [0, 1)")
    parser.add_argument("--ema", type=fraction, default=0.999,
                        help="decay of the weight average used for evaluation, in [0, 1) (0 = off)")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="training batch size")
    parser.add_argument("--val-size", type=positive_int, default=5000,
                        help="training digits held out for model selection and early stopping")
    parser.add_argument("--patience", type=positive_int, default=15,
                        help="stop after this many epochs without a better validation accuracy")
    parser.add_argument("--rendered", type=probability, default=0.0, metavar="P",
                        help="chance in [0, 1] that a training sample is the digit's normaliser-rendered "
                             "copy (recognizer/rendered.py) rather than the raw MNIST digit; 0 = raw only, "
                             "1 = rendered only. "
                             "With P > 0, model selection uses the mean of raw and rendered validation "
                             "accuracy (0.4 was tried: see README, Training)")
    parser.add_argument("--no-augment", action="store_true",
                        help="train on the plain digits (see recognizer/augment.py)")
    parser.add_argument("--subset", type=positive_int, default=None, metavar="N",
                        help="train on only N digits of the training split (for tests; default: all)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (the run is deterministic)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", type=Path, default=None,
                        help="checkpoint path; metadata also goes to the same name with .json "
                             "(default: models/mlp.pt, the shipped model; runs/quick.pt with --quick; "
                             "both in the project folder)")
    parser.add_argument("--plots", type=Path, default=RUNS_DIR, metavar="DIR",
                        help="folder for the training-curve and confusion-matrix PNGs")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT, help="MNIST root folder")
    args = parser.parse_args(argv)
    if args.quick and args.epochs is not None:
        parser.error(f"--quick already sets the epochs ({QUICK_EPOCHS}): give --quick or --epochs, not both")
    if args.epochs is None:
        args.epochs = QUICK_EPOCHS if args.quick else DEFAULT_EPOCHS
    if args.out is None:
        args.out = QUICK_MODEL_PATH if args.quick else DEFAULT_MODEL_PATH
    return args


# ---------------------------------------------------------------------------- training
def train_one_epoch(model, ema, optimizer, scheduler, images, rendered, labels, args, generator, device):
    """One pass over the (augmented) training digits; returns the mean training loss.

    Each sample is the raw digit or, with chance ``args.rendered``, its rendered copy.
    """
    model.train()
    order = torch.randperm(len(images), generator=generator, device=device)
    batches = order.split(args.batch_size)
    total_loss, seen = 0.0, 0
    for batch in tqdm(batches, desc="train", unit="batch", leave=False, disable=None):
        if len(batch) < 2:  # BatchNorm cannot train on a single image
            continue
        pixels = images[batch]
        if args.rendered > 0:
            use_rendered = torch.rand(len(batch), generator=generator, device=device) < args.rendered
            pixels = torch.where(use_rendered[:, None, None], rendered[batch], pixels)
        pixels = pixels.float().div_(255)
        if not args.no_augment:
            pixels = augment_batch(pixels, generator)
        loss = F.cross_entropy(model(pixels), labels[batch], label_smoothing=args.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(model)
        total_loss += loss.item() * len(batch)
        seen += len(batch)
    return total_loss / max(seen, 1)


@torch.no_grad()
def predict(model, images, batch_size=2048):
    """Predicted labels of N x 28 x 28 uint8 images."""
    model.eval()
    return torch.cat([model(chunk.float().div_(255)).argmax(1) for chunk in images.split(batch_size)])


def accuracy(model, images, labels):
    return float((predict(model, images) == labels).float().mean())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    with logging_redirect_tqdm():
        try:
            return run(args)
        except MnistUnavailable as error:
            log.error("error: %s", " ".join(str(error).split()))
            return 2


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto"
                          else args.device)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    generator = torch.Generator(device=device).manual_seed(args.seed)

    # Data: train/validation split of the 60,000 training digits; the test set waits for the end.
    train_images, train_labels = load_mnist(train=True, root=args.data)
    train_idx, val_idx = train_val_split(len(train_images), args.val_size, args.seed)
    if args.subset:
        train_idx = train_idx[:args.subset]
    x_train, y_train = train_images[train_idx].to(device), train_labels[train_idx].to(device)
    x_val, y_val = train_images[val_idx].to(device), train_labels[val_idx].to(device)
    # The same digits drawn on paper and normalised (cached under data/ for full mixed runs);
    # the validation copies are always made, so every run reports both views.
    if args.rendered > 0:
        cache = None if args.subset else args.data / "rendered"
        rendered = rendered_digits(train_images, train_labels, args.seed,
                                   indices=torch.cat([train_idx, val_idx]), cache_dir=cache).to(device)
        r_train, r_val = rendered[:len(train_idx)], rendered[len(train_idx):]
    else:
        r_train, r_val = None, rendered_digits(train_images, train_labels, args.seed, indices=val_idx).to(device)
    pixels = x_train.float().div(255)
    mean, std = float(pixels.mean()), float(pixels.std())  # the only place these are computed
    del pixels
    log.info("data: %d training, %d validation digits; pixel mean %.4f std %.4f; device %s",
             len(x_train), len(x_val), mean, std, device)

    # Model, optimizer and one-cycle learning-rate schedule.
    model = DigitMLP(hidden=args.hidden, dropout=args.dropout, mean=mean, std=std).to(device)
    ema = WeightAverage(model, args.ema) if args.ema > 0 else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = sum(1 for b in torch.arange(len(x_train)).split(args.batch_size) if len(b) >= 2)
    if steps_per_epoch == 0:  # BatchNorm needs two samples; a single one would train nothing
        log.error("%d training digit(s): at least 2 are needed for one training step", len(x_train))
        return 2
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=max(steps_per_epoch, 1))
    log.info("model: %s, %d parameters", architecture(model), sum(p.numel() for p in model.parameters()))

    history: list[dict[str, float]] = []
    best_val, best_model, best_epoch, interrupted = -1.0, None, 0, False
    try:
        for epoch in range(1, args.epochs + 1):
            tick = time.perf_counter()
            loss = train_one_epoch(model, ema, optimizer, scheduler, x_train, r_train, y_train, args,
                                   generator, device)
            seconds = time.perf_counter() - tick
            candidate = ema.model if ema is not None else model
            # Choose on the views trained on: raw MNIST, and as the normaliser makes them if mixed in.
            val_raw, val_rendered = accuracy(candidate, x_val, y_val), accuracy(candidate, r_val, y_val)
            val_acc = (val_raw + val_rendered) / 2 if args.rendered > 0 else val_raw
            history.append({"epoch": epoch, "loss": loss, "val_accuracy": val_acc, "val_raw": val_raw,
                            "val_rendered": val_rendered, "seconds": seconds})
            improved = val_acc > best_val
            log.info("epoch %d/%d  loss %.4f  val %.2f%% (raw %.2f%%, rendered %.2f%%)  %.1f s  %.0f img/s%s",
                     epoch, args.epochs, loss, 100 * val_acc, 100 * val_raw, 100 * val_rendered, seconds,
                     len(x_train) / seconds, "  *best*" if improved else "")
            if improved:  # save first: if Ctrl-C hits the save, the previous best stays valid
                snapshot = copy.deepcopy(candidate).cpu()
                save_model(args.out, snapshot, build_meta(args, snapshot, val_acc, epoch, history, started, None, False))
                best_val, best_epoch, best_model = val_acc, epoch, snapshot
            elif epoch - best_epoch >= args.patience:
                log.info("early stop: no better validation accuracy for %d epochs", args.patience)
                break
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: keeping the best model so far (epoch %d)", best_epoch)
        if best_model is None:
            return 130

    # Test: the only time the 10,000 test digits are touched, for the chosen model exactly as
    # saved (big matrices in fp16), so the recorded accuracy is that of the shipped file.
    try:
        best_model = load_checkpoint(args.out).model
        test_images, test_labels = load_mnist(train=False, root=args.data)
        test_pred = predict(best_model, test_images)
        test_acc = float((test_pred == test_labels).float().mean())
        # Also report (never choose on) the test digits as the normaliser presents them.
        test_rendered = rendered_digits(test_images, test_labels, TEST_RENDER_SEED,
                                        cache_dir=args.data / "rendered")
        test_rendered_acc = accuracy(best_model, test_rendered, test_labels)
    except KeyboardInterrupt:
        log.warning("interrupted while testing: %s and its .json hold the best model (epoch %d), "
                    "without a test accuracy", args.out, best_epoch)
        return 130
    meta = build_meta(args, best_model, best_val, best_epoch, history, started, test_acc, interrupted)
    meta["test_rendered_accuracy"] = test_rendered_acc
    save_model(args.out, best_model, meta)
    confusion = torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.int64)
    confusion.index_put_((test_labels, test_pred), torch.ones_like(test_labels), accumulate=True)
    if args.plots:
        save_plots(history, confusion.numpy(), Path(args.plots), Path(args.out).stem)
    log.info("best epoch %d: val %.2f%%, test %.2f%% (%d/%d), rendered test %.2f%%; %.1f s total; saved %s",
             best_epoch, 100 * best_val, 100 * test_acc, int((test_pred == test_labels).sum()),
             len(test_labels), 100 * test_rendered_acc, time.perf_counter() - started, args.out)
    return 130 if interrupted else 0


# ---------------------------------------------------------------------------- helpers
def save_model(path: Path, model: DigitMLP, meta: dict) -> None:
    """The checkpoint, then its metadata as .json beside it: both always describe the same model."""
    save_checkpoint(path, model, meta)
    atomic_write_text(Path(path).with_suffix(".json"), json.dumps(meta, indent=2) + "\n")


class WeightAverage:
    """Exponential moving average of all weights and BatchNorm statistics, used for evaluation.

    The decay ramps up from 0 so that the average is useful after the first epoch too.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.model = copy.deepcopy(model).eval()
        self.decay, self.updates = decay, 0
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for average, current in zip(self.model.state_dict().values(), model.state_dict().values()):
            if average.is_floating_point():
                average.lerp_(current, 1 - decay)
            else:
                average.copy_(current)


def architecture(model: DigitMLP) -> str:
    widths = "-".join(str(w) for w in (784, *model.hidden, NUM_CLASSES))
    return f"MLP {widths}, BatchNorm + ReLU + dropout {model.dropout:g} per hidden layer"


def build_meta(args, model, val_acc, epoch, history, started, test_acc, interrupted) -> dict:
    import torchvision
    return {
        "architecture": architecture(model),
        "config": model.config(),
        "normalization": {"mean": float(model.mean), "std": float(model.std)},
        "test_accuracy": test_acc,
        "val_accuracy": val_acc,
        "best_epoch": epoch,
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


def save_plots(history: list[dict], confusion: np.ndarray, folder: Path, stem: str) -> None:
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
    if "val_rendered" in history[0]:
        acc_ax.plot(epochs, [100 * h["val_raw"] for h in history], "r:", label="validation, raw")
        acc_ax.plot(epochs, [100 * h["val_rendered"] for h in history], "r--", label="validation, rendered")
        acc_ax.legend(loc="lower right")
    acc_ax.set_ylabel("validation accuracy (%)", color="r")
    fig.tight_layout()
    with atomic_path(folder / f"{stem}_curves.png") as tmp:
        fig.savefig(tmp, dpi=100)
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
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    log.info("plots: %s", folder)


if __name__ == "__main__":
    sys.exit(main())
