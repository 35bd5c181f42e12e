"""Regenerate the sample images in digits/ and their expected readings in digits/labels.json.

The samples are what a new user feeds still mode first, and what the tests read back, so
they are built deterministically from MNIST *test* digits (the model never trained on
them) with the same generator the evaluation uses: single handwritten digits at several
sizes, thin paint-program strokes, multi-digit numbers on plain, ruled and grid paper, a
photo-like frame with uneven light, printed digits, and light digits on a dark ground.

Usage: python scripts/make_digits.py [--out digits] [--seed 2024]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # run as a file (python scripts/make_digits.py), not only with -m
    sys.path.insert(0, str(PROJECT_ROOT))

from recognizer import scenes  # noqa: E402
from recognizer.atomic import atomic_path, atomic_write_text  # noqa: E402
from recognizer.data import MnistUnavailable  # noqa: E402
from recognizer.images import write_image  # noqa: E402
from recognizer.scenes import DigitPool, Scene  # noqa: E402

log = logging.getLogger("make_digits")

DEFAULT_OUT = PROJECT_ROOT / "digits"
DEFAULT_SEED = 2024
LABELS_FILE = "labels.json"
SAMPLE_NAME = "digit{}.png"
SAMPLE_PATTERN = re.compile(r"digit\d+\.png")
PNG_COMPRESSION = 9
# The folder is committed, and sensor noise is what makes a PNG big: the photo-like samples
# keep light, shadow, blur and paper lines but only a trace of noise, and are a little
# smaller than a webcam frame, so the whole folder stays well under a megabyte.
PHOTO_SAMPLE_SIZE = (480, 360)
SAMPLE_NOISE_SIGMA = 0.0
MAX_FOLDER_BYTES = 1_000_000


@dataclass(frozen=True)
class Sample:
    description: str
    make: Callable[[np.random.Generator, DigitPool], Scene]


def _camera(kind: str, lines: Sequence[Sequence[str]], heights: Sequence[float] | None = None,
            **overrides: object) -> Callable[[np.random.Generator, DigitPool], Scene]:
    """A camera-like scene of fixed text; ``overrides`` pin paper, light and camera settings."""
    def make(rng: np.random.Generator, pool: DigitPool) -> Scene:
        conditions = dataclasses.replace(scenes.sample_conditions(rng, kind), **overrides)
        return scenes.compose_camera_scene(rng, pool, lines, conditions, heights, category=kind)
    return make


def _single(maker: Callable[..., Scene], label: int) -> Callable[[np.random.Generator, DigitPool], Scene]:
    return lambda rng, pool: maker(rng, pool, label=label)


def _photo(label: int) -> Callable[[np.random.Generator, DigitPool], Scene]:
    return lambda rng, pool: scenes.make_paper_photo_scene(rng, pool, label=label, noise_sigma=SAMPLE_NOISE_SIGMA)


def _printed(text: str, font: int) -> Callable[[np.random.Generator, DigitPool], Scene]:
    return lambda rng, pool: scenes.make_printed_scene(rng, pool, text=text, font=font)


def _inverted(make: Callable[[np.random.Generator, DigitPool], Scene]) -> Callable[[np.random.Generator, DigitPool], Scene]:
    """The same scene with its tones inverted: light strokes on a dark ground."""
    return lambda rng, pool: scenes.inverted(make(rng, pool))


def samples() -> list[Sample]:
    """The sample set, in file order (digit1.png first)."""
    quiet_photo = dict(size=PHOTO_SAMPLE_SIZE, noise_sigma=SAMPLE_NOISE_SIGMA, jpeg_quality=None, thumb_side=None)
    return [
        Sample("small scan of a handwritten 7", _single(scenes.make_scan_scene, 7)),
        Sample("photo of a handwritten 2 on tinted paper, uneven light", _photo(2)),
        Sample("small scan of a handwritten 1", _single(scenes.make_scan_scene, 1)),
        Sample("photo of a handwritten 0 on tinted paper", _photo(0)),
        Sample("small scan of a handwritten 4", _single(scenes.make_scan_scene, 4)),
        Sample("photo of a handwritten 9 on tinted paper", _photo(9)),
        Sample("a handwritten 5 alone on clean paper", _camera(scenes.CLEAN, [["5"]], [110])),
        Sample("small scan of a handwritten 3", _single(scenes.make_scan_scene, 3)),
        Sample("photo of a handwritten 6 on tinted paper", _photo(6)),
        Sample("small scan of a handwritten 8", _single(scenes.make_scan_scene, 8)),
        Sample("thin-pen 3 drawn in a paint program", _single(scenes.make_thin_pen_scene, 3)),
        Sample("thin-pen 7 drawn in a paint program", _single(scenes.make_thin_pen_scene, 7)),
        Sample("thin-pen 4 drawn in a paint program", _single(scenes.make_thin_pen_scene, 4)),
        Sample("thin-pen 2 drawn in a paint program", _single(scenes.make_thin_pen_scene, 2)),
        Sample("the number 2024 on clean paper", _camera(scenes.CLEAN, [["2024"]], [70])),
        Sample("two lines, 2024 and 815, on clean paper", _camera(scenes.CLEAN, [["2024"], ["815"]], [60, 75])),
        Sample("two numbers on one line, 31 and 415, on ruled paper",
               _camera(scenes.HARD, [["31", "415"]], [55], pattern="ruled", shadow_strength=0.0, rotation_deg=2.0,
                       page_edge_side=None, **quiet_photo)),
        Sample("three lines, 12 / 345 / 6789, on grid paper",
               _camera(scenes.HARD, [["12"], ["345"], ["6789"]], [45, 45, 45], pattern="grid", shadow_strength=0.0,
                       page_edge_side=None, **quiet_photo)),
        Sample("photo-like: 4096 and 73 on grid paper, uneven light, a shadow and the desk at the edge",
               _camera(scenes.HARD, [["4096"], ["73"]], [60, 80], pattern="grid", light_gradient=0.35,
                       shadow_strength=0.35, page_edge_side="left", **quiet_photo)),
        Sample("printed 305 (Hershey simplex)", _printed("305", cv2.FONT_HERSHEY_SIMPLEX)),
        Sample("printed 8 (Hershey duplex)", _printed("8", cv2.FONT_HERSHEY_DUPLEX)),
        Sample("58 on ruled paper, a thumb holding the sheet",
               _camera(scenes.HARD, [["58"]], [90], pattern="ruled", thumb_side="bottom", page_edge_side=None,
                       shadow_strength=0.0, size=PHOTO_SAMPLE_SIZE, noise_sigma=SAMPLE_NOISE_SIGMA,
                       jpeg_quality=None)),
        Sample("pencil digits 1 2 3 on ruled paper",
               _camera(scenes.HARD, [["1", "2", "3"]], [50], pattern="ruled", ink=scenes.INK_PENCIL, pencil=True,
                       shadow_strength=0.0, page_edge_side=None, **quiet_photo)),
        Sample("a five-digit postcode, 90210, small on clean paper", _camera(scenes.CLEAN, [["90210"]], [32])),
        Sample("light on dark: 47 in white strokes on a black ground, as on a board",
               _inverted(_camera(scenes.CLEAN, [["47"]], [90], size=PHOTO_SAMPLE_SIZE))),
        Sample("an MNIST test digit as MNIST stores it: 28x28, white on black", scenes.make_mnist_image_scene),
    ]


def write_samples(out: Path, seed: int, pool: DigitPool) -> dict[str, list[str]]:
    """Write every sample PNG and labels.json; returns the labels written."""
    out.mkdir(parents=True, exist_ok=True)
    labels: dict[str, list[str]] = {}
    for index, sample in enumerate(samples(), start=1):
        scene = sample.make(np.random.default_rng([seed, index]), pool)
        name = SAMPLE_NAME.format(index)
        with atomic_path(out / name) as tmp:
            write_image(tmp, scene.image, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
        labels[name] = list(scene.numbers)
        height, width = scene.image.shape[:2]
        log.info("%-12s %4d x %-4d %7.1f kB  %-22s %s", name, width, height, (out / name).stat().st_size / 1e3,
                 " ".join(scene.numbers), sample.description)
    for stale in sorted(out.iterdir()):
        if SAMPLE_PATTERN.fullmatch(stale.name) and stale.name not in labels:
            stale.unlink()
            log.info("removed stale %s", stale.name)
    atomic_write_text(out / LABELS_FILE, json.dumps(labels, indent=2) + "\n")
    total = sum(path.stat().st_size for path in out.iterdir() if path.is_file())
    log.info("wrote %d samples and %s to %s (%.0f kB in total)", len(labels), LABELS_FILE, out, total / 1e3)
    if total > MAX_FOLDER_BYTES:
        log.warning("the samples take %.0f kB, more than the %.0f kB budget", total / 1e3, MAX_FOLDER_BYTES / 1e3)
    return labels


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Regenerate digits/*.png (MNIST test digits on paper, thin pens, numbers, print) "
                    "and digits/labels.json, deterministically.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write the samples to")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the sample set")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        pool = DigitPool.mnist_test()
    except MnistUnavailable as error:
        log.error("error: %s", error)
        return 2
    write_samples(args.out, args.seed, pool)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
