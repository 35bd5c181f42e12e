"""One normaliser from any crop to the model's input: a 28x28 MNIST-format image.

MNIST digits were made by fitting the ink into a 20x20 box (aspect ratio kept, anti-aliased)
and pasting it into 28x28 so that the centre of mass sits at the centre. Every crop the
model sees - in training checks, still mode, live mode and evaluation - comes through
``normalize_digits`` (or ``normalize_digit`` for one crop) so that preprocessing cannot
drift between them.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np

from recognizer.model import IMAGE_SIDE

DIGIT_BOX_SIDE = 20                 # MNIST fits each digit's longer side into 20 px
WORK_SCALE = 4                      # stroke width is adjusted at 4x the final resolution
WORK_SIDE = DIGIT_BOX_SIDE * WORK_SCALE
# Median stroke width of MNIST test digits at 28x28 scale, measured with stroke_width()'s
# estimator (4 x mean distance-to-background of ink pixels): 2.79 px, 10th-90th pct 2.2-3.8.
MNIST_STROKE_WIDTH = 2.8
# Strokes within this factor of MNIST's are left alone; outside it they are grown or shrunk.
STROKE_TOLERANCE = 1.35
MIN_INK_KEPT_BY_THINNING = 0.25   # a thinning that leaves less of the ink was misjudged (see _adjust_stroke)
INK_VALUE = 255                     # ink in the work image (uint8 0/255)
MIN_COVERAGE_WHEN_SHRINKING = 64   # of 255: a work pixel a quarter covered by ink is ink
HALF_COVERAGE = 128                # of 255: when enlarging, a work pixel half covered by ink is ink
MAX_STROKE_CHANGE = 4.0             # px at 28 scale: never grow or shrink by more than this
# Used only when no mask is given (a bare crop): a local max filter this share of the crop's
# shorter side wide sees past any stroke to the paper; darkness below MIN_INK_CONTRAST
# (of 255) is paper texture, not ink.
PAPER_FILTER_FRACTION = 0.3
MIN_INK_CONTRAST = 24
MIN_FILTER_SIDE = 3                 # the smallest odd window the paper filter is given


def to_gray(image: np.ndarray) -> np.ndarray:
    """BGR, BGRA or gray uint8 -> gray uint8 (a view when already gray)."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    raise ValueError(f"expected a gray, BGR or BGRA image, got shape {image.shape}")


def ground_is_dark(gray: np.ndarray) -> bool:
    """Whether a crop around one digit shows a dark ground at its border (light ink), judged
    by the border's median against the whole crop's mean: the border is mostly ground."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return bool(np.median(border) < gray.mean())


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Boolean ink mask of a crop holding one digit; polarity is decided automatically.

    The background is what the crop's border shows: dark ink on light paper and light chalk
    on a dark board both work. Dividing by a max-filtered copy flattens uneven light before
    Otsu's threshold, which copes with JPEG noise and faint pencil.
    """
    gray = to_gray(gray)
    if ground_is_dark(gray):
        gray = 255 - gray  # light ink on a dark background
    side = max(MIN_FILTER_SIDE, int(min(gray.shape) * PAPER_FILTER_FRACTION) | 1)
    paper = cv2.dilate(gray, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
    darkness = 255 - cv2.divide(gray, np.maximum(paper, 1), scale=255)
    if int(darkness.max()) < MIN_INK_CONTRAST:
        return np.zeros(gray.shape, bool)
    level, _ = cv2.threshold(darkness, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return darkness > max(level, MIN_INK_CONTRAST)


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels: for a band of width w the mean distance to its edge is w/4."""
    mask = np.asarray(mask)
    return _stroke_width_of_ink(mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8))


def _stroke_width_of_ink(ink: np.ndarray) -> float:
    """``stroke_width`` of a uint8 image whose non-zero pixels are ink."""
    ink_pixels = cv2.countNonZero(ink)
    if ink_pixels == 0:
        return 0.0
    # One pixel of paper around the image: distanceTransform counts the image edge as far
    # from paper, but a stroke that touches the edge ends there.
    distances = cv2.distanceTransform(cv2.copyMakeBorder(ink, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0),
                                      cv2.DIST_L2, cv2.DIST_MASK_3)
    # Paper pixels are at distance 0, so the sum over the image is the sum over the ink. It is
    # accumulated in float64: exact at work-box size (a float32 mean was off in the 7th digit).
    return 4.0 * cv2.sumElems(distances)[0] / ink_pixels


def _binarized(image: np.ndarray, min_ink: int) -> np.ndarray:
    """uint8 0/255: 255 where ``image`` >= ``min_ink``."""
    return cv2.threshold(image, min_ink - 1, INK_VALUE, cv2.THRESH_BINARY)[1]


def _fit_to_work_box(ink: np.ndarray) -> np.ndarray:
    """Scale a tight 0/1 uint8 ink mask so that its longer side is WORK_SIDE, as a uint8 0/255 image.

    Both sides are whole multiples of WORK_SCALE: the digit's size in the 20 px box is
    rounded first, so that the final shrink is by exactly WORK_SCALE (OpenCV's fast path for
    INTER_AREA, about 3x cheaper than a fractional one).
    """
    height, width = ink.shape
    scale = WORK_SIDE / max(height, width)
    box_width, box_height = (max(1, round(side * scale / WORK_SCALE)) for side in (width, height))
    size = (box_width * WORK_SCALE, box_height * WORK_SCALE)
    ink_0_255 = _binarized(ink, 1)
    if scale < 1:
        # Shrinking a 1 px line leaves pixels only partly covered; keeping every covered
        # pixel keeps the line whole (a half-coverage threshold would break it into dots).
        return _binarized(cv2.resize(ink_0_255, size, interpolation=cv2.INTER_AREA), MIN_COVERAGE_WHEN_SHRINKING)
    return _binarized(cv2.resize(ink_0_255, size, interpolation=cv2.INTER_LINEAR), HALF_COVERAGE)


@functools.lru_cache(maxsize=None)
def disc_kernel(radius: int) -> np.ndarray:
    """Read-only elliptic structuring element of the given radius (cached: the same few radii recur)."""
    return read_only(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))


def read_only(array: np.ndarray) -> np.ndarray:
    """``array``, marked read-only: a cached array is shared by every caller, so one write would corrupt all."""
    array.flags.writeable = False
    return array


def _adjust_stroke(work: np.ndarray) -> np.ndarray:
    """Grow thin pen lines to MNIST's stroke width; shrink marker strokes into MNIST's range.

    A thick stroke is shrunk only to the thick end of the tolerated range, not to the
    median: MNIST itself has digits that thick, and every extra pixel of erosion wipes out
    the thinner parts of a stroke whose width varies (a felt pen's tail, the join of a 2's
    loop), which changes the digit.
    """
    target = MNIST_STROKE_WIDTH * WORK_SCALE
    width = _stroke_width_of_ink(work)
    if width <= 0:
        return work
    thickest = target * STROKE_TOLERANCE
    if target / STROKE_TOLERANCE <= width <= thickest:
        return work
    largest_change = MAX_STROKE_CHANGE * WORK_SCALE
    # min/max rather than np.clip, which costs 3 us on a scalar.
    change = min(target - width, largest_change) if width < target else max(thickest - width, -largest_change)
    kernel = disc_kernel(max(1, round(abs(change) / 2)))
    if change > 0:
        return cv2.dilate(work, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    eroded = cv2.erode(work, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    # A shrink that would erase most of the digit means the estimate was off: keep the original.
    return eroded if cv2.countNonZero(eroded) > int(cv2.countNonZero(work) * MIN_INK_KEPT_BY_THINNING) else work


def _centred_by_mass(digits: Sequence[np.ndarray | None]) -> np.ndarray:
    """Each uint8 digit image (at most 20x20) placed into 28x28 with its centre of mass at the centre.

    MNIST-format N x 28 x 28 uint8; ``None`` gives an empty image. The whole batch is
    converted, weighed and rounded at once: per-digit numpy calls cost more than the work.
    """
    pasted = np.zeros((len(digits), IMAGE_SIDE, IMAGE_SIDE), np.uint8)
    for canvas, digit in zip(pasted, digits):
        if digit is not None:
            height, width = digit.shape
            top, left = (IMAGE_SIDE - height) // 2, (IMAGE_SIDE - width) // 2
            canvas[top:top + height, left:left + width] = digit
    pixels = np.divide(pasted, np.float32(INK_VALUE), dtype=np.float32)
    # Centre of mass from row and column sums, accumulated in float64.
    positions = np.arange(IMAGE_SIDE, dtype=np.float64)
    mass = pixels.sum(axis=(1, 2), dtype=np.float64)
    centre_x = pixels.sum(axis=1, dtype=np.float64) @ positions
    centre_y = pixels.sum(axis=2, dtype=np.float64) @ positions
    centred = np.empty_like(pixels)
    middle = (IMAGE_SIDE - 1) / 2
    for index, (weight, mass_x, mass_y) in enumerate(zip(mass.tolist(), centre_x.tolist(), centre_y.tolist())):
        if weight <= 0:
            centred[index] = pixels[index]
            continue
        shift = np.float32([[1, 0, middle - mass_x / weight], [0, 1, middle - mass_y / weight]])
        cv2.warpAffine(pixels[index], shift, (IMAGE_SIDE, IMAGE_SIDE), dst=centred[index], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return _to_uint8(centred)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """float32 image with values in [0, 1] -> uint8 0-255, rounding halves up."""
    # No clipping needed: the image is a bilinear interpolation of values in [0, 1], so
    # image * 255 + 0.5 lies in [0.5, 255.5] up to float32 rounding, and the truncating cast
    # gives 0-255 exactly as clipping to [0, 255] first would.
    return (image * np.float32(INK_VALUE) + np.float32(0.5)).astype(np.uint8)


def _digit_in_box(crop: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
    """A crop's ink, stroke width adjusted, its longer side scaled to 20 px (uint8); None if no ink."""
    ink = ink_mask(crop) if mask is None else np.asarray(mask, bool)
    if ink.shape != crop.shape[:2]:
        raise ValueError(f"mask shape {ink.shape} does not match crop shape {crop.shape[:2]}")
    ink = ink.view(np.uint8)  # 0/1, no copy
    left, top, width, height = cv2.boundingRect(ink)
    if width == 0:
        return None
    work = _adjust_stroke(_fit_to_work_box(ink[top:top + height, left:left + width]))
    height, width = work.shape
    # INTER_AREA from 4x gives the soft, anti-aliased edges MNIST digits have.
    return cv2.resize(work, (width // WORK_SCALE, height // WORK_SCALE), interpolation=cv2.INTER_AREA)


def normalize_digits(crops: Sequence[np.ndarray], masks: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
    """Crops each holding one digit -> N x 28 x 28 uint8, white digits on black, MNIST-style.

    ``masks`` (each the shape of its crop) are the digits' ink when the caller already
    separated it, as the segmenter does; a missing mask means the ink is found with ``ink_mask``.
    """
    masks = [None] * len(crops) if masks is None else masks
    if len(masks) != len(crops):
        raise ValueError(f"{len(crops)} crops but {len(masks)} masks")
    return _centred_by_mass([_digit_in_box(crop, mask) for crop, mask in zip(crops, masks)])


def normalize_digit(crop: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Any crop holding one digit -> 28x28 uint8, white digit on black, MNIST-style (see ``normalize_digits``)."""
    return normalize_digits([crop], [mask])[0]
