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
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from recognizer.arguments import (EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, fraction, non_negative_float,
                                  positive_float, positive_int, probability)

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_EPOCHS = 60
QUICK_EPOCHS = 3
# --quick must not overwrite the shipped model: it writes beside the other experiments.
RUNS_DIR = PROJECT_ROOT / "runs"   # experiments and plots
QUICK_MODEL_PATH = RUNS_DIR / "quick.pt"
TEST_RENDER_SEED = 12345  # the test digits' rendering, for the report only
EPILOG = """recipes (measured on 2 shared CPU cores, seed 1):
  python train.py            shipped model: 60 epochs, 99.42% on the MNIST test set,
                             99.62% validation, 14.7 min wall clock
  python train.py --quick    3 epochs, 98.55% test, 51 s; writes runs/quick.pt (and
                             runs/quick_*.png), the shipped models/mlp.pt stays
  python train.py --rendered 0.4 --out runs/mix.pt
                             also train on normaliser-rendered digits: 99.44% test, 98.90% on
                             rendered test digits (shipped: 98.57%), not better on scenes
A run is deterministic for a given --seed, device and library versions.

data:
  MNIST is read from MNIST/raw in the --data folder, as the four original .gz files.
  Files missing there, or truncated, are copied in from LIVE_DIGITS_MNIST_RAW, an
  environment variable naming a folder that holds the four files (failing that, from
  ../shared/data/MNIST/raw next to the project folder), so nothing is downloaded;
  without such a folder, torchvision downloads them. With neither network nor files,
  train.py stops with a one-line error (exit status 2).

Default paths (models/, runs/, data/) are in the project folder, beside train.py; paths
given on the command line are relative to the working directory."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Show each option's default as typed, and keep the line breaks of the text below the options.

    On/off flags show no default, nor do options whose default is None: it is decided after
    parsing, and their help says how.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is argparse.SUPPRESS or action.nargs == 0:
            return action.help
        default = action.default
        shown = " ".join(map(str, default)) if isinstance(default, list) else str(default)
        return f"{action.help} (default: {shown.replace('%', '%%')})"


def build_parser() -> argparse.ArgumentParser:
    """The command line; standard library only, so that --help and argument errors are instant."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                     formatter_class=HelpFormatter)
    epochs_or_quick = parser.add_mutually_exclusive_group()
    epochs_or_quick.add_argument("--epochs", type=positive_int, default=None, metavar="N",
                                 help=f"maximum number of epochs (default: {DEFAULT_EPOCHS}; "
                                      f"{QUICK_EPOCHS} with --quick, which cannot be combined with --epochs)")
    epochs_or_quick.add_argument("--quick", action="store_true",
                                 help=f"quick recipe: {QUICK_EPOCHS} epochs, written to runs/quick.pt "
                                      "unless --out is given")
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=[1024, 1024], metavar="WIDTH",
                        help="widths of the hidden layers")
    parser.add_argument("--dropout", type=fraction, default=0.2, metavar="P",
                        help="dropout after each hidden layer, in [0, 1)")
    parser.add_argument("--lr", type=positive_float, default=3e-3, metavar="RATE",
                        help="peak learning rate (AdamW, one-cycle), > 0")
    parser.add_argument("--weight-decay", type=non_negative_float, default=0.02, metavar="DECAY",
                        help="AdamW weight decay, >= 0")
    parser.add_argument("--label-smoothing", type=fraction, default=0.05, metavar="P",
                        help="cross-entropy label smoothing, in [0, 1)")
    parser.add_argument("--ema", type=fraction, default=0.999, metavar="DECAY",
                        help="decay of the weight average used for evaluation, in [0, 1) (0 = off)")
    parser.add_argument("--batch-size", type=positive_int, default=256, metavar="N", help="training batch size")
    parser.add_argument("--val-size", type=positive_int, default=5000, metavar="N",
                        help="training digits held out for model selection and early stopping")
    parser.add_argument("--patience", type=positive_int, default=15, metavar="N",
                        help="stop after N epochs without a better validation accuracy")
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
    parser.add_argument("--seed", type=int, default=1, metavar="N", help="random seed (the run is deterministic)")
    parser.add_argument("--device", default="auto",
                        help="auto (the GPU if CUDA is available, else the CPU), cpu, cuda, cuda:1, mps, ...")
    parser.add_argument("--out", type=Path, default=None, metavar="PATH",
                        help="checkpoint path; metadata also goes to the same name with .json "
                             "(default: models/mlp.pt, the shipped model; runs/quick.pt with --quick)")
    parser.add_argument("--plots", type=Path, default=None, metavar="DIR",
                        help="folder for the training-curve and confusion-matrix PNGs (default: runs/)")
    parser.add_argument("--no-plots", action="store_true",
                        help="write no PNGs (the checkpoint and its .json are still written)")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="MNIST root folder (default: data/; see data below)")
    return parser


if __name__ == "__main__":
    # torch takes seconds to import (more on a busy CPU), so the command line is checked
    # before the imports below: --help and argument errors answer at once. main() parses
    # it again, then checks --device, which needs torch.
    build_parser().parse_args()

# Idle OpenMP threads sleep instead of spinning: on a CPU shared with other processes,
# spinning threads made training up to 7x slower (measured on 2 cores), and results do
# not change. Must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from recognizer.augment import augment_batch
from recognizer.checkpoint import DEFAULT_MODEL_PATH, load_checkpoint
from recognizer.data import DEFAULT_DATA_ROOT, MnistUnavailable, load_mnist, train_val_split
from recognizer.model import DigitMLP
from recognizer.recognize import PIXEL_MAX
from recognizer.rendered import rendered_digits
from recognizer.training_report import architecture, build_meta, confusion_matrix, save_model, save_plots

log = logging.getLogger("train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The checked command line (--device too), with its remaining defaults filled in."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        training_device(args.device)
    except ValueError as problem:
        parser.error(f"--device {args.device}: {problem}")
    if args.epochs is None:
        args.epochs = QUICK_EPOCHS if args.quick else DEFAULT_EPOCHS
    if args.out is None:
        args.out = QUICK_MODEL_PATH if args.quick else DEFAULT_MODEL_PATH
    args.plots = RUNS_DIR if args.plots is None else args.plots
    args.data = DEFAULT_DATA_ROOT if args.data is None else args.data
    return args


def training_device(name: str) -> torch.device:
    """The device --device names ("auto": the GPU if CUDA is available, else the CPU).

    ValueError, in one line, for a name torch cannot read or a device this machine lacks.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError("not a device name (auto, cpu, cuda, cuda:1, mps, ...)") from None
    if device.type == "cpu":
        return device
    available = torch.accelerator.current_accelerator(check_available=True)
    if available is None or available.type != device.type:
        raise ValueError(f"no {device.type} device is available here (use --device cpu or auto)")
    if device.index is not None and device.index >= torch.accelerator.device_count():
        raise ValueError(f"this machine has {torch.accelerator.device_count()} {device.type} device(s), "
                         f"numbered from 0")
    return device


# ---------------------------------------------------------------------------- training
SMALLEST_BATCH = 2  # BatchNorm cannot train on a single image
# The weight average's decay after n updates is min(--ema, (1 + n) / (EMA_RAMP + n)): it
# averages over few steps at first, so that it is useful after the first epoch too.
EMA_RAMP = 10


@dataclass(frozen=True)
class Digits:
    """N x 28 x 28 uint8 images and their labels, on the training device, and the images'
    normaliser-rendered copies (None when the run does not need them)."""
    images: torch.Tensor
    labels: torch.Tensor
    rendered: torch.Tensor | None


def load_data(root: Path, *, val_size: int, subset: int | None, rendered_share: float, seed: int,
              device: torch.device) -> tuple[Digits, Digits]:
    """Training and validation digits, a split of the 60,000 training digits; the test set waits for the end.

    The validation digits always come with their rendered copies, so every run reports both views.
    """
    images, labels = load_mnist(train=True, root=root)
    train_idx, val_idx = train_val_split(len(images), val_size, seed)
    if subset:
        train_idx = train_idx[:subset]
    if rendered_share > 0:
        cache = None if subset else root / "rendered"  # only full runs are worth caching
        rendered = rendered_digits(images, labels, seed, indices=torch.cat([train_idx, val_idx]),
                                   cache_dir=cache).to(device)
        train_rendered, val_rendered = rendered[:len(train_idx)], rendered[len(train_idx):]
    else:
        train_rendered, val_rendered = None, rendered_digits(images, labels, seed, indices=val_idx).to(device)
    return (Digits(images[train_idx].to(device), labels[train_idx].to(device), train_rendered),
            Digits(images[val_idx].to(device), labels[val_idx].to(device), val_rendered))


def steps_per_epoch(count: int, batch_size: int) -> int:
    """Training steps in one epoch over ``count`` digits: every batch but a last one too small to train."""
    if batch_size < SMALLEST_BATCH:
        return 0
    full_batches, last_batch = divmod(count, batch_size)
    return full_batches + (last_batch >= SMALLEST_BATCH)


def weight_average(model: DigitMLP, decay: float) -> AveragedModel:
    """Exponential moving average of all weights and BatchNorm statistics, used for evaluation."""
    def ramped_ema(averages: list[torch.Tensor], currents: list[torch.Tensor], updates: torch.Tensor) -> None:
        steps = int(updates)  # training steps averaged so far, this one included
        weight = 1 - min(decay, (1 + steps) / (EMA_RAMP + steps))
        for average, current in zip(averages, currents):
            if average.is_floating_point():
                average.lerp_(current, weight)
            else:  # BatchNorm's count of batches seen is copied, not averaged
                average.copy_(current)

    averaged = AveragedModel(model, multi_avg_fn=ramped_ema, use_buffers=True)
    # AveragedModel's first update copies the model instead of averaging: spend it on the
    # starting weights, so that the first training step is already averaged with the ramp.
    averaged.update_parameters(model)
    return averaged


def train_one_epoch(model: DigitMLP, averaged: AveragedModel | None, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, digits: Digits,
                    generator: torch.Generator, *, batch_size: int, rendered_share: float, augment: bool,
                    label_smoothing: float) -> float:
    """One pass over the (augmented) training digits; returns the mean training loss.

    Each sample is the raw digit or, with chance ``rendered_share``, its rendered copy.
    """
    model.train()
    device = digits.images.device
    order = torch.randperm(len(digits.images), generator=generator, device=device)
    batches = order.split(batch_size)[:steps_per_epoch(len(order), batch_size)]  # drops a last batch of one
    total_loss, seen = 0.0, 0
    for batch in tqdm(batches, desc="train", unit="batch", leave=False, disable=None):
        pixels = digits.images[batch]
        if rendered_share > 0:
            use_rendered = torch.rand(len(batch), generator=generator, device=device) < rendered_share
            pixels = torch.where(use_rendered[:, None, None], digits.rendered[batch], pixels)
        pixels = pixels.float().div_(PIXEL_MAX)
        if augment:
            pixels = augment_batch(pixels, generator)
        loss = F.cross_entropy(model(pixels), digits.labels[batch], label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if averaged is not None:
            averaged.update_parameters(model)
        total_loss += loss.item() * len(batch)
        seen += len(batch)
    return total_loss / max(seen, 1)


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Predicted labels of N x 28 x 28 uint8 images."""
    model.eval()
    return torch.cat([model(chunk.float().div_(PIXEL_MAX)).argmax(1) for chunk in images.split(batch_size)])


def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predict(model, images) == labels).float().mean())


@dataclass
class Fit:
    """What the epoch loop leaves for the test: the best epoch (0 if none ended) and the curves."""
    best_epoch: int = 0
    best_val: float = -1.0  # below any accuracy, so the first epoch is the best so far
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False


def fit(args: argparse.Namespace, model: DigitMLP, train_digits: Digits, val_digits: Digits,
        generator: torch.Generator, started: float) -> Fit:
    """Train for up to --epochs, stopping early; save the best model after every improving epoch.

    The model chosen is the weight average (if --ema), on validation accuracy. Ctrl-C ends the
    loop and keeps the best model saved so far.
    """
    averaged = weight_average(model, args.ema) if args.ema > 0 else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, epochs=args.epochs,
        steps_per_epoch=steps_per_epoch(len(train_digits.images), args.batch_size))
    fitted = Fit()
    try:
        for epoch in range(1, args.epochs + 1):
            tick = time.perf_counter()
            loss = train_one_epoch(model, averaged, optimizer, scheduler, train_digits, generator,
                                   batch_size=args.batch_size, rendered_share=args.rendered,
                                   augment=not args.no_augment, label_smoothing=args.label_smoothing)
            seconds = time.perf_counter() - tick
            candidate = averaged.module if averaged is not None else model
            # Choose on the views trained on: raw MNIST, and as the normaliser makes them if mixed in.
            val_raw = accuracy(candidate, val_digits.images, val_digits.labels)
            val_rendered = accuracy(candidate, val_digits.rendered, val_digits.labels)
            val_acc = (val_raw + val_rendered) / 2 if args.rendered > 0 else val_raw
            fitted.history.append({"epoch": epoch, "loss": loss, "val_accuracy": val_acc, "val_raw": val_raw,
                                   "val_rendered": val_rendered, "seconds": seconds})
            improved = val_acc > fitted.best_val
            log.info("epoch %d/%d  loss %.4f  val %.2f%% (raw %.2f%%, rendered %.2f%%)  %.1f s  %.0f img/s%s",
                     epoch, args.epochs, loss, 100 * val_acc, 100 * val_raw, 100 * val_rendered, seconds,
                     len(train_digits.images) / seconds, "  *best*" if improved else "")
            if improved:  # save first: if Ctrl-C hits the save, the previous best stays valid
                snapshot = copy.deepcopy(candidate).cpu()
                save_model(args.out, snapshot, build_meta(
                    args, snapshot, val_accuracy=val_acc, best_epoch=epoch, history=fitted.history,
                    started=started, test_accuracy=None, interrupted=False))
                fitted.best_val, fitted.best_epoch = val_acc, epoch
            elif epoch - fitted.best_epoch >= args.patience:
                log.info("early stop: no better validation accuracy for %d epochs", args.patience)
                break
    except KeyboardInterrupt:
        fitted.interrupted = True
        log.warning("interrupted: keeping the best model so far (epoch %d)", fitted.best_epoch)
    return fitted


def test_and_report(args: argparse.Namespace, fitted: Fit, started: float) -> int:
    """Test the chosen model and complete its metadata (and plots); returns the exit code.

    The only time the 10,000 test digits are touched, for the chosen model exactly as saved
    (big matrices in fp16), so the recorded accuracy is that of the shipped file.
    """
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
                    "without a test accuracy", args.out, fitted.best_epoch)
        return EXIT_INTERRUPTED
    meta = build_meta(args, best_model, val_accuracy=fitted.best_val, best_epoch=fitted.best_epoch,
                      history=fitted.history, started=started, test_accuracy=test_acc,
                      interrupted=fitted.interrupted)
    meta["test_rendered_accuracy"] = test_rendered_acc
    save_model(args.out, best_model, meta)
    if not args.no_plots:
        save_plots(fitted.history, confusion_matrix(test_labels, test_pred), args.plots, args.out.stem)
    log.info("best epoch %d: val %.2f%%, test %.2f%% (%d/%d), rendered test %.2f%%; %.1f s total; saved %s",
             fitted.best_epoch, 100 * fitted.best_val, 100 * test_acc, int((test_pred == test_labels).sum()),
             len(test_labels), 100 * test_rendered_acc, time.perf_counter() - started, args.out)
    return EXIT_INTERRUPTED if fitted.interrupted else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    with logging_redirect_tqdm():
        try:
            return run(args)
        except MnistUnavailable as error:
            log.error("error: %s", " ".join(str(error).split()))
            return EXIT_FAILURE


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    device = training_device(args.device)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    generator = torch.Generator(device=device).manual_seed(args.seed)

    train_digits, val_digits = load_data(args.data, val_size=args.val_size, subset=args.subset,
                                         rendered_share=args.rendered, seed=args.seed, device=device)
    pixels = train_digits.images.float().div(PIXEL_MAX)
    mean, std = float(pixels.mean()), float(pixels.std())  # the only place these are computed
    del pixels
    log.info("data: %d training, %d validation digits; pixel mean %.4f std %.4f; device %s",
             len(train_digits.images), len(val_digits.images), mean, std, device)
    if steps_per_epoch(len(train_digits.images), args.batch_size) == 0:
        log.error("%d training digit(s) in batches of %d: one training step needs a batch of at least %d",
                  len(train_digits.images), args.batch_size, SMALLEST_BATCH)
        return EXIT_FAILURE

    model = DigitMLP(hidden=args.hidden, dropout=args.dropout, mean=mean, std=std).to(device)
    log.info("model: %s, %d parameters", architecture(model), sum(p.numel() for p in model.parameters()))
    fitted = fit(args, model, train_digits, val_digits, generator, started)
    if fitted.best_epoch == 0:  # interrupted before the first epoch ended: nothing was saved
        return EXIT_INTERRUPTED
    return test_and_report(args, fitted, started)


if __name__ == "__main__":
    sys.exit(main())
