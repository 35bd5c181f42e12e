"""MNIST training digits as the model meets them in use: drawn on paper, then normalised.

Every crop reaches the model through ``normalize_digit``, which binarises the ink, fits
the ink's box into 20 px, pulls the stroke towards MNIST's width and centres by mass.
Raw MNIST digits were made differently (anti-aliased box, no stroke change), so a model
trained only on them meets slightly unfamiliar inputs in still and live mode. Here each
training digit is drawn as ink at a random size and pen (``scenes.render_digit_ink``),
cut into an ink mask the way the segmenter does (coverage above a threshold), and passed
through ``normalize_digit``. ``train.py`` reports validation accuracy on these copies in
every run, and ``--rendered P`` mixes them into training (off in the shipped recipe: it
raised accuracy on re-rendered MNIST test digits but not on the whole-pipeline evaluation).

Digit ``i`` is rendered from its own generator seeded with (seed, i), so a rendering does
not depend on which other digits are rendered, and a run is deterministic for its seed.
Rendering the 60,000 training digits takes about 40 s on one core; the result is cached
under ``data/`` keyed by a hash of the recipe, the seed and the digits themselves.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from recognizer.atomic import atomic_write_bytes
from recognizer.normalize import normalize_digit
from recognizer.scenes import loops_are_open, redraws_centre_line, render_digit_ink

log = logging.getLogger(__name__)

# Bump when the rendering code or the normaliser changes in a way the recipe does not show:
# it is part of the cache key. 2: thick strokes are shrunk only to the thick end of MNIST's range.
# 3: the work image's sides are whole multiples of WORK_SCALE.
RENDER_VERSION = 3


@dataclass(frozen=True)
class RenderRecipe:
    """How a training digit is drawn before it is normalised (each choice drawn per digit)."""
    # Pen styles of recognizer/scenes.py and their shares. "natural" keeps MNIST's own stroke
    # (a felt pen); "pen"/"marker" redraw the centre line with a round pen; "thin" with a
    # 1-2 px paint brush. Camera scenes use natural/pen/marker 35/40/25; thin pen is its own
    # use case (paint programs), so it gets a small share.
    styles: tuple[tuple[str, float], ...] = (("natural", 0.40), ("pen", 0.30), ("marker", 0.20),
                                             ("thin", 0.10))
    # Digit height in pixels, log-uniform. Above ~80 px the normaliser's output hardly changes
    # (everything is first fitted into an 80 px work box), and rendering costs grow with size.
    height_px: tuple[float, float] = (20.0, 90.0)
    # The segmenter keeps pixels at least 48/255 darker than their paper; with ink 150-220
    # levels darker than the paper that is ink coverage of about 0.2-0.35. Blur and faint
    # ink move it further, so the mask threshold is drawn from a wider range.
    mask_level: tuple[float, float] = (0.15, 0.5)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "version": RENDER_VERSION}


def render_one(mnist_28x28: np.ndarray, label: int, rng: np.random.Generator,
               recipe: RenderRecipe = RenderRecipe()) -> np.ndarray:
    """One MNIST digit drawn as ink at a random size and pen, through ``normalize_digit``."""
    styles = [style for style, _ in recipe.styles]
    shares = np.array([share for _, share in recipe.styles], np.float64)
    style = styles[rng.choice(len(styles), p=shares / shares.sum())]
    low, high = np.log(recipe.height_px[0]), np.log(recipe.height_px[1])
    height = float(np.exp(rng.uniform(low, high)))
    if redraws_centre_line(style, height) and not loops_are_open(mnist_28x28, label):
        # Redrawing a digit whose loops are filled with ink along its centre line would turn
        # an 8 into something else: keep MNIST's own stroke instead.
        style = "natural"
    try:
        coverage = render_digit_ink(mnist_28x28, height, rng, style)  # type: ignore[arg-type]
    except ValueError:  # an (almost) empty MNIST image: nothing to draw
        return np.asarray(mnist_28x28, np.uint8).copy()
    mask = coverage > rng.uniform(*recipe.mask_level)
    if not mask.any():
        mask = coverage > 0
    return normalize_digit(mask.view(np.uint8), mask)


def render_digits(images: np.ndarray, labels: np.ndarray, seed: int,
                  recipe: RenderRecipe = RenderRecipe(), keys: np.ndarray | None = None) -> np.ndarray:
    """N x 28 x 28 uint8 MNIST digits -> their normalised renderings, same shape.

    ``keys`` (default 0..N-1) seed each digit's generator together with ``seed``: pass the
    digits' indices in the full training set to get the same rendering as a full run.
    """
    keys = np.arange(len(images)) if keys is None else np.asarray(keys)
    out = np.empty((len(images), 28, 28), np.uint8)
    for row, (image, label, key) in enumerate(zip(images, labels, keys)):
        out[row] = render_one(image, int(label), np.random.default_rng([seed, int(key)]), recipe)
    return out


def cache_key(images: np.ndarray, labels: np.ndarray, seed: int, recipe: RenderRecipe) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"recipe": recipe.as_dict(), "seed": seed}, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    digest.update(np.ascontiguousarray(labels).astype(np.int64).tobytes())
    return digest.hexdigest()[:16]


def rendered_digits(images: torch.Tensor, labels: torch.Tensor, seed: int,
                             recipe: RenderRecipe = RenderRecipe(), indices: torch.Tensor | None = None,
                             cache_dir: Path | None = None) -> torch.Tensor:
    """Normalised renderings of ``images[indices]`` (all when None) as a uint8 tensor.

    With ``cache_dir`` the whole set is rendered once and kept in
    ``cache_dir/rendered-<key>.npy`` (written atomically); later runs with the same digits,
    seed and recipe load it in a fraction of a second.
    """
    images_np, labels_np = images.numpy(), labels.numpy()
    started = time.perf_counter()
    if cache_dir is None:
        keys = np.arange(len(images_np)) if indices is None else indices.numpy()
        rendered = render_digits(images_np[keys], labels_np[keys], seed, recipe, keys)
        log.info("rendered %d digits through the normaliser in %.1f s", len(keys),
                 time.perf_counter() - started)
        return torch.from_numpy(rendered)
    path = Path(cache_dir) / f"rendered-{cache_key(images_np, labels_np, seed, recipe)}.npy"
    if path.is_file():
        everything = np.load(path)
        log.info("loaded %d normalised renderings from %s", len(everything), path)
    else:
        everything = render_digits(images_np, labels_np, seed, recipe)
        buffer = io.BytesIO()
        np.save(buffer, everything)
        atomic_write_bytes(path, buffer.getvalue())
        log.info("rendered %d digits through the normaliser in %.1f s (cached in %s)",
                 len(everything), time.perf_counter() - started, path)
    selected = everything if indices is None else everything[indices.numpy()]
    return torch.from_numpy(np.ascontiguousarray(selected))
