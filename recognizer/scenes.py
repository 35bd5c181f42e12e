"""Synthetic photos of digits on paper, with exact ground truth, for evaluation and samples.

The product is judged on real paper in real light, which we cannot ship as a test set, so
this module imitates it: MNIST *test* digits (never the training digits the model saw)
become pen strokes at camera sizes, are laid out as numbers on lines, and are put on paper
with the things that break naive pipelines - ruled and grid lines, uneven light, shadows,
a thumb or the desk at the edge, blur, sensor noise and JPEG. Thin paint-program strokes,
printed (Hershey) digits and small scans cover the other ways digits reach the program,
and inverted scenes and MNIST's own 28x28 images the light digits on a dark ground.

Everything is drawn from a caller-supplied ``numpy.random.Generator``, so a seed fixes
every pixel. Ground-truth boxes are measured from the ink coverage that was actually drawn
(after any rotation), never predicted from the layout.
"""
from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from recognizer.layout import Box

Colour = tuple[float, float, float]      # BGR, 0-255
Rect = tuple[int, int, int, int]         # x0, y0, x1, y1 (exclusive) in image pixels
Stroke = Literal["natural", "pen", "marker", "thin"]
PRINTED_PEN = "print"                    # what Scene.pens says of a printed digit

# ---------------------------------------------------------------------------------------
# Categories
# ---------------------------------------------------------------------------------------
CLEAN = "clean"                  # several digits, plain paper, even light, no camera faults
HARD = "hard"                    # several digits, ruled/grid paper, shadows, blur, noise, JPEG, thumb
THIN_PEN = "thin_pen"            # one digit drawn with a 1-2 px line, as in a paint program
PRINTED = "printed"              # Hershey-font digits, black on white
SCAN = "scan"                    # one small cropped scan of an MNIST test digit
PAPER_PHOTO = "paper_photo"      # one digit on a tinted page under gradient light
LIGHT_ON_DARK = "light_on_dark"  # a clean scene with its tones inverted: light digits on a dark ground
MNIST_IMAGE = "mnist"            # an MNIST digit as MNIST stores it: its own 28x28 image, light on dark
HANDHELD = "handheld"            # a hard scene on a page held at a slant, moving during the exposure
CATEGORIES: tuple[str, ...] = (CLEAN, HARD, THIN_PEN, PRINTED, SCAN, PAPER_PHOTO, LIGHT_ON_DARK, MNIST_IMAGE,
                               HANDHELD)
SINGLE_DIGIT_CATEGORIES: tuple[str, ...] = (THIN_PEN, SCAN, PAPER_PHOTO, MNIST_IMAGE)

# ---------------------------------------------------------------------------------------
# Ink and ground truth
# ---------------------------------------------------------------------------------------
# A pixel at least half covered by ink is ink: the same pixel a threshold halfway between
# paper and ink would pick, so a good detector lands within a pixel of the truth box.
INK_COVERAGE_FOR_BOX = 0.5
NO_INK = -1                      # value of Scene.ink_owner where no digit's ink is
MNIST_STROKE_LEVEL = 64          # MNIST pixels above this are stroke, below is the anti-aliasing halo
MNIST_CROP_MARGIN = 2            # MNIST pixels kept around the stroke so upsampling has room to fade
NATURAL_THRESHOLD_RANGE = (0.30, 0.55)  # soft-threshold centre: lower keeps more of MNIST's thick stroke
ANTIALIAS_EDGE_PX = 1.2          # width of the soft edge of a rendered stroke, in output pixels
# Bounds of the soft-threshold band that gives that edge, in MNIST levels (0-1): on a huge
# digit the edge stays a little soft, on a tiny one the threshold still decides something.
NATURAL_EDGE_BAND = (0.02, 0.45)
MIN_RENDER_HEIGHT_PX = 4.0       # a digit asked for smaller is drawn this tall: below it no shape is left
NEGLIGIBLE_TILT_DEG = 1e-3       # a smaller lean is not worth resampling the digit for
# Real pens have a width in millimetres, not a share of the digit: at webcam distance
# (~0.4 mm per pixel) a ballpoint or fine felt-tip draws 1.5-4.5 px, a marker 4-12 px.
PEN_STROKE_PX = (1.5, 4.5)
MARKER_STROKE_PX = (4.0, 12.0)
MAX_STROKE_FRACTION = 0.16       # and no stroke is fatter than this share of the digit's height
MNIST_STROKE_FRACTION = 0.14     # MNIST's own stroke is about 2.8 px on a 20 px digit
# Pens people write with, for camera scenes and photos: (style, chance).
CAMERA_STROKES: tuple[tuple[str, float], ...] = (("natural", 0.35), ("pen", 0.4), ("marker", 0.25))
THIN_STROKE_PX = (1, 2)          # paint-program pencil tool widths
MIN_STROKE_PX = 1.5              # thinner anti-aliased strokes vanish into the paper
SKELETON_LEVEL = 0.45            # upsampled MNIST level taken as the stroke before thinning
# Thinning a thick stroke leaves short spurs at corners and junctions that no pen draws;
# branches shorter than this share of the stroke width are pruned.
SPUR_LENGTH_PER_STROKE = 0.6
# A digit whose loops the writer's thick pen filled in cannot be redrawn with a thin pen
# (a filled 8 thins to a squiggle), so thin-pen renders use digits with open loops only.
LOOPS_OF_DIGIT = {0: 1, 6: 1, 8: 2, 9: 1}
LOOP_CHECK_SCALE = 4
MIN_LOOP_AREA_PX = LOOP_CHECK_SCALE ** 2   # one MNIST pixel: smaller holes are not a loop anyone sees
MAX_LOOP_PICKS = 200
JOIN_LEVELS = (0.35, 0.25, 0.15)  # lower thresholds tried to join a stroke broken at SKELETON_LEVEL
# While joining, regions smaller than MIN_STROKE_REGION_PX, or than the upsampled digit's
# area over IMAGE_AREA_PER_SPECK, are specks of the threshold, not strokes.
MIN_STROKE_REGION_PX = 4
IMAGE_AREA_PER_SPECK = 2000
THIN_STROKE_PAD_PX = 3           # paper kept around a thin-pen skeleton: room for the widest brush

PAPER_WHITE: Colour = (246, 246, 246)
PAPER_CREAM: Colour = (214, 236, 248)
PAPER_GREY: Colour = (226, 228, 230)
PAPER_BLUE_WHITE: Colour = (250, 240, 232)
PAPER_YELLOW_PAD: Colour = (170, 238, 250)
PAPER_TINTS: tuple[Colour, ...] = (PAPER_WHITE, PAPER_CREAM, PAPER_GREY, PAPER_BLUE_WHITE, PAPER_YELLOW_PAD)
CLEAN_PAPER_TINTS: tuple[Colour, ...] = (PAPER_WHITE, PAPER_CREAM, PAPER_BLUE_WHITE)
PAPER_TINT_JITTER = 6.0          # per-channel variation between sheets and white balances

INK_BLACK: Colour = (32, 30, 28)
INK_BLUE: Colour = (115, 45, 25)          # ballpoint blue
INK_DARK_BLUE: Colour = (90, 30, 20)
INK_PENCIL: Colour = (88, 88, 92)
INK_COLOURS: tuple[Colour, ...] = (INK_BLACK, INK_BLUE, INK_DARK_BLUE, INK_PENCIL)
CLEAN_INK_COLOURS: tuple[Colour, ...] = (INK_BLACK, INK_BLUE, INK_DARK_BLUE)
INK_COLOUR_JITTER = 8.0          # per-channel variation between pens of one colour, and white balances
PENCIL_COVERAGE_RANGE = (0.75, 0.95)  # graphite never covers paper completely
PENCIL_GRAIN = 0.30               # share of coverage lost to paper grain, at most
PENCIL_GRAIN_BLUR_PX = 0.7        # blur sigma of that grain, in pixels: the size of the paper's tooth
PAINT_COLOURS: tuple[Colour, ...] = ((0, 0, 0), (0, 0, 0), (0, 0, 0), (160, 0, 0), (0, 0, 160))
PAINT_CANVAS_LEVEL = 255.0        # a paint program's canvas is pure white
PRINT_BLACK_RANGE = (0, 40)

# ---------------------------------------------------------------------------------------
# Paper patterns
# ---------------------------------------------------------------------------------------
RULE_SPACING_PX = (24, 44)       # 8 mm college ruling at typical webcam distances
GRID_SPACING_PX = (15, 30)       # 5 mm squares
RULE_COLOURS: tuple[Colour, ...] = ((228, 196, 160), (214, 190, 170), (200, 200, 200))
GRID_COLOURS: tuple[Colour, ...] = ((226, 204, 182), (205, 205, 205), (190, 215, 190))
PATTERN_COLOUR_JITTER = 8.0      # per-channel variation of the printed lines between pads
MARGIN_LINE_COLOUR: Colour = (170, 160, 236)  # red margin rule of an exercise book
MARGIN_LINE_CHANCE = 0.3
MARGIN_LINE_X_FRACTION = 0.12    # where the margin rule runs; people write to the right of it
PATTERN_LINE_PX = (1, 2)
# Pattern lines are drawn with this many fractional bits (4x sub-pixel precision) so they
# come out anti-aliased, like a photo.
PATTERN_LINE_SUBPIXEL_BITS = 2
BASELINE_ON_RULE_CHANCE = 0.5    # people usually write on the line: rule touching digit bottoms

# ---------------------------------------------------------------------------------------
# Camera-like scenes
# ---------------------------------------------------------------------------------------
CAMERA_SIZE = (640, 480)         # width, height of a webcam frame
DIGITS_PER_CAMERA_SCENE = (1, 8)
MAX_DIGITS_PER_NUMBER = 4
MAX_LINES = 3
DIGIT_VALUES = 10                # random digits are drawn from 0-9
DIGIT_HEIGHT_PX = (20, 140)
MIN_DIGIT_HEIGHT_PX = 20
DIGIT_HEIGHT_JITTER = 0.08       # digits of one line differ in height by this fraction
BASELINE_JITTER = 0.06           # and sit this fraction of their height off a common baseline
MIN_DIGIT_GAP_PX = 3             # digits inside a number never touch: segmenting touching digits is out of scope
DIGIT_GAP_FRACTION = (0.08, 0.30)     # gap between digits of one number, fraction of height
NUMBER_GAP_FRACTION = (0.8, 1.6)      # gap between numbers on one line
LINE_GAP_FRACTION = (0.35, 0.8)       # gap between lines
PAPER_MARGIN_PX = 8
DIGIT_TILT_DEG = 4.0             # each hard-scene digit leans a little on its own
PAGE_ROTATION_DEG = 5.0          # the sheet is never held perfectly level
MAX_LAYOUT_ATTEMPTS = 20
# A layout too big for its area is shrunk by this much more than measured: re-rendering
# changes widths by a pixel or two.
LAYOUT_SHRINK_SAFETY = 0.95

PAGE_EDGE_CHANCE = 0.35
PAGE_EDGE_WIDTH_PX = (15, 70)
DESK_COLOURS: tuple[Colour, ...] = ((40, 65, 95), (70, 70, 75), (35, 35, 38), (95, 120, 140))
DESK_TEXTURE_SIGMA = 8.0
DESK_GRAIN_PX = 2.0              # blur sigma of the desk's texture: the size of its grain
DESK_COLOUR_JITTER = 10.0        # per-channel variation between desks and white balances
PAGE_EDGE_SHADOW_PX = 3.0        # blur sigma of the shadow the paper's edge throws on the desk
PAGE_EDGE_SHADOW_STRENGTH = 0.3  # share of the desk's light that shadow takes, at the edge
EDGE_CLEARANCE_PX = 12           # digits are written a little away from what covers the page

THUMB_CHANCE = 0.35
THUMB_HALF_WIDTH_PX = (30, 46)
THUMB_HALF_LENGTH_PX = (70, 110)
THUMB_DEPTH_PX = (55, 120)       # how far the thumb reaches into the frame
THUMB_TILT_DEG = 25.0
THUMB_POSITION_FRACTION = (0.15, 0.85)  # where along its side of the frame the thumb reaches in
THUMB_EDGE_BLUR_PX = 1.2         # blur sigma of the thumb's outline: it is a little out of focus
# The thumb's shadow falls this far from it on the paper: either way sideways, and down,
# away from a light above the desk.
THUMB_SHADOW_SHIFT_X_PX = 8
THUMB_SHADOW_SHIFT_Y_PX = (3, 10)
THUMB_SHADOW_BLUR_PX = 8.0       # blur sigma of that shadow
SKIN_COLOURS: tuple[Colour, ...] = ((150, 180, 225), (125, 155, 205), (95, 125, 170), (65, 90, 130))
THUMB_SHADOW_STRENGTH = 0.25
THUMB_EDGE_DARKENING = 0.35
SKIN_TEXTURE_SIGMA = 3.0
SKIN_COLOUR_JITTER = 12.0        # per-channel variation of skin around each of SKIN_COLOURS

HARD_LIGHT_GRADIENT = (0.10, 0.40)    # brightness lost from the bright to the dim side
SHADOW_CHANCE = 0.6
SHADOW_STRENGTH = (0.20, 0.45)
SHADOW_SOFTNESS_PX = (15.0, 45.0)
SHADOW_EDGE_CHANCE = 0.5         # a shadow is the edge of a cast shadow, or else a blob of something nearer the lens
SHADOW_EDGE_POSITION_FRACTION = (0.2, 0.8)   # where a shadow's edge passes, share of the image side
SHADOW_BLOB_RADIUS_FRACTION = (0.15, 0.45)   # a blob shadow's radii, share of the image side
SOFTNESS_PER_BLUR_SIGMA = 3.0    # a Gaussian-blurred edge looks about three sigmas wide
EXPOSURE_RANGE = (0.85, 1.05)
HARD_NOISE_SIGMA = (2.0, 6.0)
HARD_BLUR_CHANCE = 0.8
HARD_BLUR_SIGMA = (0.4, 1.2)
JPEG_QUALITY = (60, 90)
HARD_PATTERN_WEIGHTS = {"ruled": 0.4, "grid": 0.4, "plain": 0.2}

# ---------------------------------------------------------------------------------------
# Single-digit and printed categories
# ---------------------------------------------------------------------------------------
SCAN_SIDE_PX = (40, 120)
SCAN_DIGIT_FRACTION = (0.55, 0.85)
SCAN_PAPER_LEVEL = (215, 250)
SCAN_INK_LEVEL = (15, 70)
SCAN_NOISE_SIGMA = (1.5, 4.0)
SCAN_BLUR_SIGMA = (0.3, 0.8)
SCAN_OFFSET_FRACTION = 0.08      # a scan is cropped nearly to the digit: it sits close to the centre
SCAN_PAPER_TINT_JITTER = 4       # per-channel tint of the scanned paper, in grey levels

THIN_CANVAS_SIZES: tuple[tuple[int, int], ...] = ((200, 200), (256, 256), (280, 280), (300, 200), (400, 300),
                                                  (128, 128))
THIN_DIGIT_FRACTION = (0.35, 0.85)
MIN_THIN_DIGIT_PX = 24
THIN_ANTIALIAS_CHANCE = 0.5
THIN_OFFSET_FRACTION = 0.2       # how far off-centre a drawing may sit, fraction of the canvas side

PHOTO_SIZES: tuple[tuple[int, int], ...] = ((320, 240), (480, 360), (640, 480), (240, 320), (360, 480))
PHOTO_DIGIT_FRACTION = (0.30, 0.75)
PHOTO_OFFSET_FRACTION = 0.15      # how far off-centre the digit may sit, fraction of the image side
PHOTO_LIGHT_GRADIENT = (0.15, 0.45)
PHOTO_NOISE_SIGMA = (1.0, 4.0)
PHOTO_BLUR_SIGMA = (0.0, 0.8)
PHOTO_JPEG_QUALITY = (70, 92)
PHOTO_FIT_MARGIN_PX = 4          # paper kept on every side when fitting the digit into the photo

PRINT_SIZES: tuple[tuple[int, int], ...] = ((320, 240), (400, 300))
PRINT_FONTS: tuple[int, ...] = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
                                cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)
PRINT_DIGITS = (1, 4)
PRINT_DIGIT_HEIGHT_PX = (24, 110)
PRINT_PAPER_LEVEL = (238, 255)
PRINT_ITALIC_CHANCE = 0.15
PRINT_MARGIN_PX = 10
PRINT_LAYER_MARGIN_PX = 4        # room around printed text, beyond its line thickness, so no edge is cut
# Print weights run from 1 px lines up to one pixel of line per this many of digit height,
# and small print still comes in a bold of MIN_BOLD_PRINT_PX.
PRINT_HEIGHT_PER_THICKNESS_PX = 14
MIN_BOLD_PRINT_PX = 2
PRINT_SHRINK_STEP = 0.85         # text too big for the page is set this much smaller and tried again
# A digit cut by the image border is a different problem (a bad crop), not a hard digit;
# single-digit images keep this much paper around the ink.
SINGLE_DIGIT_MARGIN_PX = 2
# A digit too big for its image is redrawn this much smaller than measured: re-rendering
# changes its size a little.
FIT_SHRINK_SAFETY = 0.9


# ---------------------------------------------------------------------------------------
# Data types
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Scene:
    """One synthetic image and what a perfect recogniser would report for it."""
    image: np.ndarray                       # H x W x 3 BGR uint8
    boxes: tuple[Box, ...]                  # tight box of each digit's ink, reading order
    labels: tuple[int, ...]                 # digit values, same order as boxes
    lines: tuple[tuple[str, ...], ...]      # numbers written on each line, top to bottom
    category: str
    ink_owner: np.ndarray                   # H x W int8: index of the digit whose ink covers a pixel, or NO_INK
    # How each digit was drawn, same order as boxes: a Stroke (natural = MNIST's own stroke,
    # pen, marker, thin) or PRINTED_PEN; empty for a scene made by hand.
    pens: tuple[str, ...] = ()

    @property
    def numbers(self) -> tuple[str, ...]:
        """All numbers in reading order, as the recogniser's ``Recognition.numbers`` lists them."""
        return tuple(number for line in self.lines for number in line)


@dataclass(frozen=True)
class DigitPool:
    """MNIST digits to draw from, indexed by label. Pass only the *test* split."""
    images: np.ndarray    # N x 28 x 28 uint8, white digit on black
    labels: np.ndarray    # N int

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or len(self.images) != len(self.labels):
            raise ValueError("expected N x 28 x 28 images and N labels")

    @classmethod
    def mnist_test(cls) -> "DigitPool":
        """The 10,000 MNIST test digits (the model never trains on them)."""
        from recognizer.data import load_mnist  # imported lazily: it pulls in torch and torchvision

        images, labels = load_mnist(train=False)
        return cls(images.numpy(), labels.numpy())

    @classmethod
    def mnist_validation(cls, size: int, seed: int) -> "DigitPool":
        """The training digits ``train.py --val-size size --seed seed`` held out for validation.

        The model never trained on them either, and unlike the test digits they may be used to
        choose pipeline settings: tune on these, report on ``mnist_test``.
        """
        from recognizer.data import load_mnist, train_val_split

        images, labels = load_mnist(train=True)
        _, validation = train_val_split(len(images), size, seed)
        return cls(images[validation].numpy(), labels[validation].numpy())

    def pick(self, rng: np.random.Generator, label: int, open_loops: bool = False) -> np.ndarray:
        """A random digit ``label``; with ``open_loops`` one whose loops survive thinning."""
        indices = np.flatnonzero(self.labels == label)
        if len(indices) == 0:
            raise ValueError(f"no digit {label} in the pool")
        for _ in range(MAX_LOOP_PICKS):
            image = self.images[indices[rng.integers(len(indices))]]
            if not open_loops or loops_are_open(image, label):
                return image
        raise ValueError(f"no digit {label} with open loops found in {MAX_LOOP_PICKS} picks")

    def pick_any(self, rng: np.random.Generator, open_loops: bool = False) -> tuple[np.ndarray, int]:
        label = int(self.labels[rng.integers(len(self.labels))])
        return self.pick(rng, label, open_loops), label


def loops_are_open(mnist_28x28: np.ndarray, label: int) -> bool:
    """Whether the digit's loops (two for 8, one for 0, 6, 9) are open holes, not filled ink."""
    expected = LOOPS_OF_DIGIT.get(int(label), 0)
    if expected == 0:
        return True
    upsampled = cv2.resize(np.asarray(mnist_28x28, np.float32) / 255.0, None, fx=LOOP_CHECK_SCALE,
                           fy=LOOP_CHECK_SCALE, interpolation=cv2.INTER_CUBIC)
    paper = np.pad(upsampled <= SKELETON_LEVEL, 1, constant_values=True).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(paper, connectivity=4)
    # Component 0 is ink, component 1 the paper around the digit (it touches the padding).
    holes = sum(1 for index in range(2, count) if stats[index, cv2.CC_STAT_AREA] >= MIN_LOOP_AREA_PX)
    return holes >= expected


@dataclass(frozen=True)
class CameraConditions:
    """Everything about the paper, pen and camera of one camera-like scene."""
    size: tuple[int, int]                       # width, height
    paper: Colour
    pattern: Literal["plain", "ruled", "grid"]
    pattern_spacing_px: int
    pattern_colour: Colour
    pattern_line_px: int
    margin_line: bool
    baseline_on_rule: bool
    ink: Colour
    pencil: bool
    stroke: Stroke
    digit_tilt_deg: float                       # largest random lean of a single digit
    rotation_deg: float                         # of the whole sheet
    light_gradient: float
    shadow_strength: float                      # 0: no shadow
    exposure: float
    blur_sigma: float                           # 0: sharp
    noise_sigma: float
    jpeg_quality: int | None
    page_edge_side: str | None                  # "left", "right", "top", "bottom"
    thumb_side: str | None                      # "left", "right", "bottom"


@dataclass(frozen=True)
class _PlacedDigit:
    alpha: np.ndarray     # ink coverage patch, float32 0-1
    x: int                # patch top-left in (unrotated) image coordinates
    y: int
    label: int
    pen: Stroke           # what the digit was drawn with (see ``pen_of``)


# ---------------------------------------------------------------------------------------
# Drawing one digit
# ---------------------------------------------------------------------------------------
def _zhang_suen_tables() -> tuple[np.ndarray, np.ndarray]:
    """For each 8-neighbourhood code, whether Zhang-Suen's first / second pass deletes the pixel."""
    first, second = np.zeros(256, bool), np.zeros(256, bool)
    for code in range(256):
        p2, p3, p4, p5, p6, p7, p8, p9 = ((code >> bit) & 1 for bit in range(8))
        ring = (p2, p3, p4, p5, p6, p7, p8, p9, p2)
        neighbours = sum(ring[:-1])
        transitions = sum(a == 0 and b == 1 for a, b in zip(ring[:-1], ring[1:]))
        deletable = 2 <= neighbours <= 6 and transitions == 1
        first[code] = deletable and p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
        second[code] = deletable and p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
    return first, second


_THINNING_TABLES = _zhang_suen_tables()
# Correlation kernel giving each pixel a byte: bit k set when neighbour P(k+2) is ink, with
# Zhang-Suen's numbering P2 = north, then clockwise to P9 = north-west.
_NEIGHBOUR_CODE_KERNEL = np.array([[128, 1, 2], [64, 0, 4], [32, 16, 8]], np.float32)


def thin_mask(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide skeleton of a binary mask (Zhang-Suen thinning).

    cv2.ximgproc.thinning is only in opencv-contrib, which the project does not depend on.
    Each pass codes every pixel's neighbourhood as a byte with one filter and looks the
    decision up in a table, so thinning a large digit takes a few milliseconds.
    """
    image = np.asarray(mask, bool).astype(np.float32)
    while True:
        changed = False
        for table in _THINNING_TABLES:
            codes = cv2.filter2D(image, -1, _NEIGHBOUR_CODE_KERNEL, borderType=cv2.BORDER_CONSTANT)
            remove = (image > 0) & table[codes.astype(np.uint8)]
            if remove.any():
                image[remove] = 0
                changed = True
        if not changed:
            return image > 0


def _neighbour_count(skeleton: np.ndarray) -> np.ndarray:
    kernel = np.ones((3, 3), np.float32)
    kernel[1, 1] = 0
    return cv2.filter2D(skeleton.astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)


def prune_spurs(skeleton: np.ndarray, length: int) -> np.ndarray:
    """Remove branches up to ``length`` px long that end freely, keeping real line ends.

    Classic pruning: eat ``length`` pixels from every free end, then regrow the ends that
    survived back along the original skeleton. A spur is eaten completely and its stub is
    no longer an end, so it does not grow back.
    """
    if length <= 0:
        return skeleton
    pruned = skeleton.copy()
    for _ in range(length):
        ends = pruned & (_neighbour_count(pruned) <= 1)
        if not ends.any():
            break
        pruned &= ~ends
    if pruned.sum() < skeleton.sum() / 2:
        return skeleton  # a short digit such as a small 1 would be eaten whole
    grown = (pruned & (_neighbour_count(pruned) == 1)).astype(np.uint8)
    for _ in range(length):
        grown = cv2.dilate(grown, np.ones((3, 3), np.uint8)) & skeleton.astype(np.uint8)
    return pruned | grown.astype(bool)


def _stroke_skeleton(skeleton: np.ndarray, width_px: float, antialias: bool) -> np.ndarray:
    """Coverage of a round pen of ``width_px`` dragged along a skeleton."""
    distance = cv2.distanceTransform((~skeleton).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    if antialias:
        return np.clip(width_px / 2 + 0.5 - distance, 0.0, 1.0).astype(np.float32)
    if width_px <= 1:
        return skeleton.astype(np.float32)
    # A 2 px paint brush: the skeleton plus its right/down neighbours, as a square brush paints.
    thick = cv2.dilate(skeleton.astype(np.uint8), np.ones((2, 2), np.uint8), anchor=(0, 0))
    return thick.astype(np.float32)


def _crop_to_content(alpha: np.ndarray, pad: int = 1) -> np.ndarray:
    rows, cols = np.nonzero(alpha.max(axis=1) > 0)[0], np.nonzero(alpha.max(axis=0) > 0)[0]
    if len(rows) == 0:
        return alpha[:1, :1] * 0
    top, bottom = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, alpha.shape[0])
    left, right = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, alpha.shape[1])
    return alpha[top:bottom, left:right]


def _rotate_patch(alpha: np.ndarray, angle_deg: float) -> np.ndarray:
    if abs(angle_deg) < NEGLIGIBLE_TILT_DEG:
        return alpha
    height, width = alpha.shape
    pad = int(math.ceil(max(height, width) * abs(math.sin(math.radians(angle_deg))))) + 2
    padded = np.pad(alpha, pad)
    centre = (padded.shape[1] / 2, padded.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle_deg, 1.0)
    rotated = cv2.warpAffine(padded, matrix, (padded.shape[1], padded.shape[0]), flags=cv2.INTER_LINEAR)
    return _crop_to_content(rotated)


def _count_regions(binary: np.ndarray, min_area: int) -> int:
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    return sum(1 for index in range(1, count) if stats[index, cv2.CC_STAT_AREA] >= min_area)


def _holes(binary: np.ndarray, min_area: int) -> int:
    paper = np.pad(~binary, 1, constant_values=True).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(paper, connectivity=4)
    return sum(1 for index in range(2, count) if stats[index, cv2.CC_STAT_AREA] >= min_area)


def _stroke_mask(upsampled: np.ndarray) -> np.ndarray:
    """The digit's stroke as a mask to thin: where a faint stretch of an MNIST stroke would
    break the line at SKELETON_LEVEL, a lower level joins it, as long as no loop fills in.

    A pen line drawn in a paint program is continuous; MNIST's faint, anti-aliased joins
    are an artefact of its scanning, not a gap the writer left.
    """
    min_area = max(MIN_STROKE_REGION_PX, upsampled.size // IMAGE_AREA_PER_SPECK)
    best = upsampled > SKELETON_LEVEL
    best_regions, holes = _count_regions(best, min_area), _holes(best, min_area)
    for level in JOIN_LEVELS:
        if best_regions <= 1:
            break
        candidate = upsampled > level
        regions = _count_regions(candidate, min_area)
        if regions < best_regions and _holes(candidate, min_area) >= holes:
            best, best_regions = candidate, regions
    return best


def redraws_centre_line(style: Stroke, height_px: float) -> bool:
    """Whether ``render_digit_ink`` redraws the digit along its centre line (so needs open loops)."""
    return style != "natural" or MNIST_STROKE_FRACTION * float(height_px) > MARKER_STROKE_PX[1]


def pen_of(style: Stroke, height_px: float) -> Stroke:
    """The pen ``render_digit_ink`` draws a digit ``height_px`` tall with when asked for ``style``.

    MNIST's own stroke (``natural``) on a big digit would be fatter than any marker, so such
    a digit is redrawn with a marker.
    """
    return "marker" if style == "natural" and redraws_centre_line(style, height_px) else style


def render_digit_ink(mnist_28x28: np.ndarray, height_px: float, rng: np.random.Generator,
                     style: Stroke = "natural", tilt_deg: float = 0.0) -> np.ndarray:
    """Turn an MNIST digit into ink coverage (float32 0-1) whose strokes are ~``height_px`` tall.

    ``natural`` keeps MNIST's own stroke shape (a felt pen) as long as that stroke is no
    fatter than a marker; ``pen`` and ``marker`` redraw the digit's centre line with a
    round pen of that kind; ``thin`` with a 1-2 px paint-program brush.
    The 28x28 image is upsampled smoothly first so that big digits have smooth edges
    rather than 28 px staircases.
    """
    digit = np.asarray(mnist_28x28, np.float32) / 255.0
    rows = np.nonzero((digit > MNIST_STROKE_LEVEL / 255.0).any(axis=1))[0]
    cols = np.nonzero((digit > MNIST_STROKE_LEVEL / 255.0).any(axis=0))[0]
    if len(rows) == 0:
        raise ValueError("the MNIST image holds no stroke")
    stroke_rows = rows[-1] - rows[0] + 1
    digit = np.pad(digit, MNIST_CROP_MARGIN)
    top, bottom = rows[0], rows[-1] + 2 * MNIST_CROP_MARGIN + 1
    left, right = cols[0], cols[-1] + 2 * MNIST_CROP_MARGIN + 1
    crop = digit[top:bottom, left:right]
    scale = max(float(height_px), MIN_RENDER_HEIGHT_PX) / stroke_rows
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    upsampled = np.clip(cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC), 0.0, 1.0)

    max_width = max(MIN_STROKE_PX, MAX_STROKE_FRACTION * float(height_px))
    style = pen_of(style, height_px)
    if style == "natural":
        centre = rng.uniform(*NATURAL_THRESHOLD_RANGE)
        # MNIST's edges ramp over about two of its pixels; in output pixels that is 2*scale,
        # so this band gives an edge ANTIALIAS_EDGE_PX wide whatever the size.
        band = float(np.clip(ANTIALIAS_EDGE_PX / (2.0 * scale), *NATURAL_EDGE_BAND))
        alpha = np.clip((upsampled - centre) / band + 0.5, 0.0, 1.0).astype(np.float32)
    else:
        skeleton = thin_mask(_stroke_mask(upsampled))
        spur = round(SPUR_LENGTH_PER_STROKE * MNIST_STROKE_FRACTION * float(height_px))
        skeleton = prune_spurs(skeleton, spur)
        if style in ("pen", "marker"):
            width = min(max_width, rng.uniform(*(PEN_STROKE_PX if style == "pen" else MARKER_STROKE_PX)))
            alpha = _stroke_skeleton(np.pad(skeleton, int(width) + 2), width, antialias=True)
        elif style == "thin":
            width = float(rng.choice(THIN_STROKE_PX))
            antialias = bool(rng.random() < THIN_ANTIALIAS_CHANCE)
            alpha = _stroke_skeleton(np.pad(skeleton, THIN_STROKE_PAD_PX), width, antialias=antialias)
        else:
            raise ValueError(f"unknown stroke style {style!r}")
    return _rotate_patch(_crop_to_content(alpha), tilt_deg)


# ---------------------------------------------------------------------------------------
# Paper and camera
# ---------------------------------------------------------------------------------------
def _gaussian_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    # float32 straight from the generator: float64 noise for a whole frame costs more than the frame.
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise *= sigma
    return noise


def _jitter_colour(rng: np.random.Generator, colour: Colour, amount: float) -> Colour:
    return tuple(float(np.clip(c + rng.uniform(-amount, amount), 0, 255)) for c in colour)  # type: ignore[return-value]


def _paper_canvas(height: int, width: int, conditions: CameraConditions, rule_phase: float,
                  margin_x: float) -> np.ndarray:
    """Paper with its printed pattern, H x W x 3 float32; ``margin_x`` places the margin rule."""
    paper = np.empty((height, width, 3), np.float32)
    paper[:] = conditions.paper
    if conditions.pattern == "plain":
        return paper
    line_image = paper.copy()
    spacing = conditions.pattern_spacing_px
    thickness = conditions.pattern_line_px
    colour = conditions.pattern_colour
    sub = 1 << PATTERN_LINE_SUBPIXEL_BITS
    y = rule_phase % spacing
    while y < height:
        cv2.line(line_image, (0, round(y * sub)), (width * sub, round(y * sub)), colour, thickness,
                 cv2.LINE_AA, PATTERN_LINE_SUBPIXEL_BITS)
        y += spacing
    if conditions.pattern == "grid":
        x = rule_phase % spacing
        while x < width:
            cv2.line(line_image, (round(x * sub), 0), (round(x * sub), height * sub), colour, thickness,
                     cv2.LINE_AA, PATTERN_LINE_SUBPIXEL_BITS)
            x += spacing
    if conditions.margin_line:
        x = round(margin_x)
        cv2.line(line_image, (x, 0), (x, height), MARGIN_LINE_COLOUR, thickness, cv2.LINE_AA)
    return line_image


def _rotation_about_centre(width: int, height: int, angle_deg: float) -> np.ndarray:
    return cv2.getRotationMatrix2D((width / 2.0, height / 2.0), angle_deg, 1.0)


def _warp_patch_into_image(alpha: np.ndarray, x: int, y: int, rotation: np.ndarray,
                           width: int, height: int) -> np.ndarray:
    """Full-image coverage of one digit patch placed at (x, y) and then rotated with the sheet."""
    linear = rotation[:, :2]
    translation = rotation[:, 2] + linear @ np.array([x, y], np.float64)
    matrix = np.hstack([linear, translation[:, None]])
    if np.allclose(linear, np.eye(2)):
        full = np.zeros((height, width), np.float32)
        tx, ty = int(round(translation[0])), int(round(translation[1]))
        patch_h, patch_w = alpha.shape
        y0, x0 = max(ty, 0), max(tx, 0)
        y1, x1 = min(ty + patch_h, height), min(tx + patch_w, width)
        if y1 > y0 and x1 > x0:
            full[y0:y1, x0:x1] = alpha[y0 - ty:y1 - ty, x0 - tx:x1 - tx]
        return full
    return cv2.warpAffine(alpha, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _box_of(mask: np.ndarray) -> Box | None:
    """Tight box of the true pixels of a boolean mask, or None when there are none."""
    x, y, width, height = cv2.boundingRect(mask.astype(np.uint8))  # of the nonzero pixels; all 0 when none
    return (x, y, width, height) if width > 0 else None


def _linear_ramp(height: int, width: int, angle: float) -> np.ndarray:
    """0 on one side of the image rising to 1 on the other, along direction ``angle``."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = xs * math.cos(angle) + ys * math.sin(angle)
    ramp -= ramp.min()
    return ramp / max(float(ramp.max()), 1e-6)


def _lighting(rng: np.random.Generator, height: int, width: int, gradient: float,
              shadow_strength: float, exposure: float) -> np.ndarray:
    """Multiplicative light field: a gradient across the sheet and an optional soft shadow."""
    light = 1.0 - gradient * _linear_ramp(height, width, rng.uniform(0, 2 * math.pi))
    if shadow_strength > 0:
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        softness = rng.uniform(*SHADOW_SOFTNESS_PX)
        if rng.random() < SHADOW_EDGE_CHANCE:
            # The edge of a cast shadow (a hand, the phone, the lamp arm): a half-plane, softened.
            angle = rng.uniform(0, 2 * math.pi)
            cx = rng.uniform(*SHADOW_EDGE_POSITION_FRACTION) * width
            cy = rng.uniform(*SHADOW_EDGE_POSITION_FRACTION) * height
            signed = (xs - cx) * math.cos(angle) + (ys - cy) * math.sin(angle)
            shadow = 0.5 * (1.0 + np.tanh(signed / (softness / 2.0)))  # a logistic ramp, overflow-free
        else:
            # A blob-shaped shadow of something nearer the lens.
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            rx = rng.uniform(*SHADOW_BLOB_RADIUS_FRACTION) * width
            ry = rng.uniform(*SHADOW_BLOB_RADIUS_FRACTION) * height
            shadow = np.exp(-(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2) ** 2)
            shadow = cv2.GaussianBlur(shadow, (0, 0), softness / SOFTNESS_PER_BLUR_SIGMA)
        light *= 1.0 - shadow_strength * shadow
    return (light * exposure).astype(np.float32)


def _draw_page_edge(rng: np.random.Generator, image: np.ndarray, side: str, widths: tuple[int, int]) -> None:
    """Paint the desk beyond a slightly slanted paper edge on one side (in place)."""
    height, width = image.shape[:2]
    near, far = widths
    if side == "left":
        polygon = [(0, 0), (near, 0), (far, height), (0, height)]
    elif side == "right":
        polygon = [(width, 0), (width - near, 0), (width - far, height), (width, height)]
    elif side == "top":
        polygon = [(0, 0), (0, near), (width, far), (width, 0)]
    else:
        polygon = [(0, height), (0, height - near), (width, height - far), (width, height)]
    mask = np.zeros((height, width), np.float32)
    cv2.fillPoly(mask, [np.array(polygon, np.int32)], 1.0, cv2.LINE_AA)
    desk = np.empty_like(image)
    desk[:] = _jitter_colour(rng, DESK_COLOURS[rng.integers(len(DESK_COLOURS))], DESK_COLOUR_JITTER)
    desk += cv2.GaussianBlur(_gaussian_noise(rng, (height, width), DESK_TEXTURE_SIGMA),
                             (0, 0), DESK_GRAIN_PX)[:, :, None]
    # The paper throws a thin shadow onto the desk along its edge.
    edge_shadow = cv2.GaussianBlur(mask, (0, 0), PAGE_EDGE_SHADOW_PX)
    desk_light = 1 - PAGE_EDGE_SHADOW_STRENGTH * (1 - edge_shadow[:, :, None])
    image[:] = image * (1 - mask[:, :, None]) + desk * mask[:, :, None] * desk_light


def _draw_thumb(rng: np.random.Generator, image: np.ndarray, side: str, depth: int) -> None:
    """A thumb holding the sheet, entering from one side (in place)."""
    height, width = image.shape[:2]
    half_width = rng.uniform(*THUMB_HALF_WIDTH_PX)
    half_length = rng.uniform(*THUMB_HALF_LENGTH_PX)
    tilt = rng.uniform(-THUMB_TILT_DEG, THUMB_TILT_DEG)
    # The ellipse centre sits outside the frame so that only the tip, ``depth`` deep, shows.
    if side == "bottom":
        centre = (rng.uniform(*THUMB_POSITION_FRACTION) * width, height - depth + half_length)
        angle = 90 + tilt
    elif side == "left":
        centre = (depth - half_length, rng.uniform(*THUMB_POSITION_FRACTION) * height)
        angle = tilt
    else:
        centre = (width - depth + half_length, rng.uniform(*THUMB_POSITION_FRACTION) * height)
        angle = tilt
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(mask, ((centre[0], centre[1]), (2 * half_length, 2 * half_width), angle), 1.0, -1, cv2.LINE_AA)
    soft = cv2.GaussianBlur(mask, (0, 0), THUMB_EDGE_BLUR_PX)
    # Shadow on the paper beside the thumb, offset away from the light.
    shift = np.float32([[1, 0, rng.uniform(-THUMB_SHADOW_SHIFT_X_PX, THUMB_SHADOW_SHIFT_X_PX)],
                        [0, 1, rng.uniform(*THUMB_SHADOW_SHIFT_Y_PX)]])
    shadow = cv2.GaussianBlur(cv2.warpAffine(mask, shift, (width, height)), (0, 0), THUMB_SHADOW_BLUR_PX)
    image *= (1 - THUMB_SHADOW_STRENGTH * shadow * (1 - soft))[:, :, None]
    # Rounded flesh: darker towards the outline.
    inside = cv2.distanceTransform((mask > 0.5).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_3)
    roundness = np.clip(inside / max(half_width, 1.0), 0, 1)
    shade = 1 - THUMB_EDGE_DARKENING * (1 - roundness) ** 2
    skin = np.empty_like(image)
    skin[:] = _jitter_colour(rng, SKIN_COLOURS[rng.integers(len(SKIN_COLOURS))], SKIN_COLOUR_JITTER)
    skin *= shade[:, :, None]
    skin += _gaussian_noise(rng, skin.shape, SKIN_TEXTURE_SIGMA)
    image[:] = image * (1 - soft[:, :, None]) + skin * soft[:, :, None]


def _camera_finish(rng: np.random.Generator, image: np.ndarray, blur_sigma: float, noise_sigma: float,
                   jpeg_quality: int | None) -> np.ndarray:
    """Optics blur, sensor noise and JPEG, in the order a camera applies them; returns uint8."""
    if blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), blur_sigma)
    if noise_sigma > 0:
        # Luminance noise shared by the channels: after demosaicing and JPEG a webcam's noise
        # is mostly luma, and one plane costs a third of three.
        noise_shape = image.shape[:2] + (1,) * (image.ndim - 2)
        image = image + _gaussian_noise(rng, noise_shape, noise_sigma)
    result = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    if jpeg_quality is not None:
        ok, encoded = cv2.imencode(".jpg", result, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        result = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return result


def _composite_ink(paper: np.ndarray, coverage: np.ndarray, ink: Colour, rng: np.random.Generator,
                   pencil: bool) -> np.ndarray:
    """Paper with the ink laid on it; only the region holding ink is recomputed."""
    result = paper.copy()
    box = _box_of(coverage > 0)
    if box is None:
        return result
    x, y, w, h = box
    region = coverage[y:y + h, x:x + w]
    if pencil:
        grain = cv2.GaussianBlur(rng.random(region.shape, dtype=np.float32), (0, 0), PENCIL_GRAIN_BLUR_PX)
        region = region * rng.uniform(*PENCIL_COVERAGE_RANGE) * (1 - PENCIL_GRAIN * grain)
    alpha = region[:, :, None]
    result[y:y + h, x:x + w] = paper[y:y + h, x:x + w] * (1 - alpha) + np.asarray(ink, np.float32) * alpha
    return result


# ---------------------------------------------------------------------------------------
# Camera-like scenes
# ---------------------------------------------------------------------------------------
def _pick_stroke(rng: np.random.Generator) -> Stroke:
    styles = [style for style, _ in CAMERA_STROKES]
    return styles[rng.choice(len(styles), p=[chance for _, chance in CAMERA_STROKES])]  # type: ignore[return-value]


def sample_conditions(rng: np.random.Generator, kind: str, size: tuple[int, int] = CAMERA_SIZE) -> CameraConditions:
    """Random paper, pen and camera for a ``clean`` or ``hard`` camera-like scene."""
    if kind == CLEAN:
        ink = CLEAN_INK_COLOURS[rng.integers(len(CLEAN_INK_COLOURS))]
        return CameraConditions(
            size=size, paper=_jitter_colour(rng, CLEAN_PAPER_TINTS[rng.integers(len(CLEAN_PAPER_TINTS))],
                                            PAPER_TINT_JITTER),
            pattern="plain", pattern_spacing_px=0, pattern_colour=PAPER_WHITE, pattern_line_px=1,
            margin_line=False, baseline_on_rule=False, ink=ink, pencil=False,
            stroke=_pick_stroke(rng), digit_tilt_deg=0.0, rotation_deg=0.0,
            light_gradient=0.0, shadow_strength=0.0, exposure=1.0, blur_sigma=0.0, noise_sigma=0.0,
            jpeg_quality=None, page_edge_side=None, thumb_side=None)
    if kind != HARD:
        raise ValueError(f"camera scene kind must be {CLEAN!r} or {HARD!r}, not {kind!r}")
    patterns = list(HARD_PATTERN_WEIGHTS)
    pattern = patterns[rng.choice(len(patterns), p=list(HARD_PATTERN_WEIGHTS.values()))]
    spacing_range = RULE_SPACING_PX if pattern == "ruled" else GRID_SPACING_PX
    pattern_colours = RULE_COLOURS if pattern == "ruled" else GRID_COLOURS
    ink_index = int(rng.integers(len(INK_COLOURS)))
    return CameraConditions(
        size=size, paper=_jitter_colour(rng, PAPER_TINTS[rng.integers(len(PAPER_TINTS))], PAPER_TINT_JITTER),
        pattern=pattern,  # type: ignore[arg-type]
        pattern_spacing_px=int(rng.integers(spacing_range[0], spacing_range[1] + 1)),
        pattern_colour=_jitter_colour(rng, pattern_colours[rng.integers(len(pattern_colours))],
                                      PATTERN_COLOUR_JITTER),
        pattern_line_px=int(rng.choice(PATTERN_LINE_PX)),
        margin_line=pattern == "ruled" and bool(rng.random() < MARGIN_LINE_CHANCE),
        baseline_on_rule=pattern == "ruled" and bool(rng.random() < BASELINE_ON_RULE_CHANCE),
        ink=_jitter_colour(rng, INK_COLOURS[ink_index], INK_COLOUR_JITTER),
        pencil=INK_COLOURS[ink_index] == INK_PENCIL,
        stroke=_pick_stroke(rng), digit_tilt_deg=DIGIT_TILT_DEG,
        rotation_deg=float(rng.uniform(-PAGE_ROTATION_DEG, PAGE_ROTATION_DEG)),
        light_gradient=float(rng.uniform(*HARD_LIGHT_GRADIENT)),
        shadow_strength=float(rng.uniform(*SHADOW_STRENGTH)) if rng.random() < SHADOW_CHANCE else 0.0,
        exposure=float(rng.uniform(*EXPOSURE_RANGE)),
        blur_sigma=float(rng.uniform(*HARD_BLUR_SIGMA)) if rng.random() < HARD_BLUR_CHANCE else 0.0,
        noise_sigma=float(rng.uniform(*HARD_NOISE_SIGMA)),
        jpeg_quality=int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)),
        page_edge_side=str(rng.choice(["left", "right", "top", "bottom"])) if rng.random() < PAGE_EDGE_CHANCE
        else None,
        thumb_side=str(rng.choice(["left", "right", "bottom"])) if rng.random() < THUMB_CHANCE else None)


def random_digits(rng: np.random.Generator, count: int) -> str:
    """``count`` random decimal digits, each drawn uniformly from 0-9."""
    return "".join(str(int(d)) for d in rng.integers(0, DIGIT_VALUES, count))


def random_lines(rng: np.random.Generator, digit_count: int) -> list[list[str]]:
    """Split ``digit_count`` random digits into numbers of 1-4 digits on 1-3 lines."""
    lengths: list[int] = []
    remaining = digit_count
    while remaining > 0:
        length = int(rng.integers(1, min(MAX_DIGITS_PER_NUMBER, remaining) + 1))
        lengths.append(length)
        remaining -= length
    numbers = [random_digits(rng, length) for length in lengths]
    line_count = int(rng.integers(1, min(MAX_LINES, len(numbers)) + 1))
    cuts = sorted(rng.choice(np.arange(1, len(numbers)), line_count - 1, replace=False)) if line_count > 1 else []
    bounds = [0, *[int(c) for c in cuts], len(numbers)]
    return [numbers[start:end] for start, end in zip(bounds[:-1], bounds[1:])]


def _render_lines(rng: np.random.Generator, glyphs: list[list[list[np.ndarray]]], heights: Sequence[float],
                  stroke: Stroke, tilt_deg: float) -> tuple[list[list[list[np.ndarray]]], list[list[list[Stroke]]]]:
    """Render every MNIST glyph of every number of every line at its line's height.

    Returns the ink patches and, in the same nesting, the pen each digit was drawn with.
    """
    patches: list[list[list[np.ndarray]]] = []
    pens: list[list[list[Stroke]]] = []
    for line, height in zip(glyphs, heights):
        patches.append([])
        pens.append([])
        for number in line:
            patches[-1].append([])
            pens[-1].append([])
            for glyph in number:
                digit_height = height * (1 + rng.uniform(-DIGIT_HEIGHT_JITTER, DIGIT_HEIGHT_JITTER))
                tilt = rng.uniform(-tilt_deg, tilt_deg) if tilt_deg else 0.0
                patches[-1][-1].append(render_digit_ink(glyph, digit_height, rng, stroke, tilt))
                pens[-1][-1].append(pen_of(stroke, digit_height))
    return patches, pens


def _layout(rng: np.random.Generator, lines: Sequence[Sequence[str]], pool: DigitPool, area: Rect,
            heights: Sequence[float], stroke: Stroke, tilt_deg: float) -> list[list[_PlacedDigit]]:
    """Place the numbers of each line inside ``area``; returns placed digits per line."""
    # A digit is drawn up to DIGIT_HEIGHT_JITTER taller than its line: if that could make it
    # a redrawn one, its loops must be open.
    glyphs = [[[pool.pick(rng, int(ch), redraws_centre_line(stroke, height * (1 + DIGIT_HEIGHT_JITTER)))
                for ch in number] for number in line]
              for line, height in zip(lines, heights)]
    area_width, area_height = area[2] - area[0], area[3] - area[1]
    heights = [float(h) for h in heights]
    for _ in range(MAX_LAYOUT_ATTEMPTS):
        patches, pens = _render_lines(rng, glyphs, heights, stroke, tilt_deg)
        digit_gaps = [[[max(MIN_DIGIT_GAP_PX, h * rng.uniform(*DIGIT_GAP_FRACTION)) for _ in number[1:]]
                       for number in line] for line, h in zip(patches, heights)]
        number_gaps = [[h * rng.uniform(*NUMBER_GAP_FRACTION) for _ in line[1:]] for line, h in zip(patches, heights)]
        line_widths = [sum(p.shape[1] for number in line for p in number) + sum(map(sum, gaps)) + sum(ngaps)
                       for line, gaps, ngaps in zip(patches, digit_gaps, number_gaps)]
        line_heights = [max(p.shape[0] for number in line for p in number) + round(BASELINE_JITTER * h)
                        for line, h in zip(patches, heights)]
        line_gaps = [h * rng.uniform(*LINE_GAP_FRACTION) for h in heights[1:]]
        needed_height = sum(line_heights) + sum(line_gaps)
        shrink = min(area_width / max(max(line_widths), 1.0), area_height / max(needed_height, 1.0))
        if shrink >= 1.0:
            break
        heights = [max(MIN_DIGIT_HEIGHT_PX, h * shrink * LAYOUT_SHRINK_SAFETY) for h in heights]
    else:
        raise RuntimeError(f"could not fit {lines} into an area of {area_width} x {area_height} px")

    slack = area_height - needed_height
    shares = rng.dirichlet(np.ones(len(patches) + 1)) * slack
    placed_lines: list[list[_PlacedDigit]] = []
    y = area[1] + shares[0]
    for index, (line, height) in enumerate(zip(patches, heights)):
        x = area[0] + rng.uniform(0, area_width - line_widths[index])
        bottom = y + line_heights[index]
        placed: list[_PlacedDigit] = []
        for number_index, (number, text) in enumerate(zip(line, lines[index])):
            if number_index > 0:
                x += number_gaps[index][number_index - 1]
            for digit_index, (patch, pen, ch) in enumerate(zip(number, pens[index][number_index], text)):
                if digit_index > 0:
                    x += digit_gaps[index][number_index][digit_index - 1]
                offset = rng.uniform(0, BASELINE_JITTER * height)
                placed.append(_PlacedDigit(patch, int(round(x)), int(round(bottom - offset - patch.shape[0])), int(ch),
                                           pen))
                x += patch.shape[1]
        placed_lines.append(placed)
        y = bottom + (line_gaps[index] if index < len(line_gaps) else 0) + shares[index + 1]
    return placed_lines


def _free_area(conditions: CameraConditions, rng: np.random.Generator, keep_out: int = 0
               ) -> tuple[Rect, dict[str, int]]:
    """Where digits may go, after the page edge, the thumb and the sheet's rotation take their share.

    ``keep_out`` pixels along every side are left free as well (a shaky clip's margin).
    """
    width, height = conditions.size
    reserve = {side: PAPER_MARGIN_PX + keep_out for side in ("left", "right", "top", "bottom")}
    extents: dict[str, int] = {}
    if conditions.page_edge_side:
        extents["edge_near"] = int(rng.integers(PAGE_EDGE_WIDTH_PX[0], PAGE_EDGE_WIDTH_PX[1] + 1))
        extents["edge_far"] = int(rng.integers(PAGE_EDGE_WIDTH_PX[0], PAGE_EDGE_WIDTH_PX[1] + 1))
        side = conditions.page_edge_side
        reserve[side] = max(reserve[side], max(extents["edge_near"], extents["edge_far"]) + EDGE_CLEARANCE_PX)
    if conditions.thumb_side:
        extents["thumb_depth"] = int(rng.integers(THUMB_DEPTH_PX[0], THUMB_DEPTH_PX[1] + 1))
        side = conditions.thumb_side
        reserve[side] = max(reserve[side], extents["thumb_depth"] + EDGE_CLEARANCE_PX)
    # Rotating the sheet moves a point at most |sin(angle)| * half-diagonal; keep digits clear of that.
    rotation_margin = int(math.ceil(abs(math.sin(math.radians(conditions.rotation_deg)))
                                    * math.hypot(width, height) / 2))
    if conditions.margin_line:
        margin_x = math.ceil(MARGIN_LINE_X_FRACTION * width)
        reserve["left"] = max(reserve["left"], margin_x + EDGE_CLEARANCE_PX)
    area = (reserve["left"] + rotation_margin, reserve["top"] + rotation_margin,
            width - reserve["right"] - rotation_margin, height - reserve["bottom"] - rotation_margin)
    return area, extents


def compose_camera_scene(rng: np.random.Generator, pool: DigitPool, lines: Sequence[Sequence[str]],
                         conditions: CameraConditions, heights: Sequence[float] | None = None,
                         category: str = "custom", keep_out: int = 0) -> Scene:
    """Write the given numbers (one list of number strings per line) on paper and photograph it.

    No digit is written within ``keep_out`` pixels of the image's sides.
    """
    if not lines or not all(lines) or not all(n.isdigit() for line in lines for n in line):
        raise ValueError(f"lines must be non-empty lists of digit strings, got {lines!r}")
    width, height = conditions.size
    area, extents = _free_area(conditions, rng, keep_out)
    if heights is None:
        heights = [rng.uniform(*DIGIT_HEIGHT_PX) for _ in lines]
    placed_lines = _layout(rng, lines, pool, area, heights, conditions.stroke, conditions.digit_tilt_deg)
    placed = [digit for line in placed_lines for digit in line]

    rotation = _rotation_about_centre(width, height, conditions.rotation_deg)
    coverages = [_warp_patch_into_image(d.alpha, d.x, d.y, rotation, width, height) for d in placed]
    boxes = [_box_of(c >= INK_COVERAGE_FOR_BOX) for c in coverages]
    if any(box is None for box in boxes):
        raise RuntimeError("a digit rendered without ink")

    rule_phase = 0.0
    if conditions.baseline_on_rule and placed_lines:
        first_line_bottom = max(d.y + d.alpha.shape[0] for d in placed_lines[0])
        rule_phase = float(first_line_bottom)
    # The paper is drawn bigger than the frame so that rotating it leaves no empty corners.
    pad = int(math.ceil(abs(math.sin(math.radians(conditions.rotation_deg))) * max(width, height))) + 2
    canvas = _paper_canvas(height + 2 * pad, width + 2 * pad, conditions, rule_phase + pad,
                           MARGIN_LINE_X_FRACTION * width + pad)
    to_image = rotation.copy()
    to_image[:, 2] -= rotation[:, :2] @ np.array([pad, pad], np.float64)
    paper = cv2.warpAffine(canvas, to_image, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    coverage = np.maximum.reduce(coverages) if coverages else np.zeros((height, width), np.float32)
    image = _composite_ink(paper, coverage, conditions.ink, rng, conditions.pencil)
    if conditions.page_edge_side:
        _draw_page_edge(rng, image, conditions.page_edge_side, (extents["edge_near"], extents["edge_far"]))
    if conditions.thumb_side:
        _draw_thumb(rng, image, conditions.thumb_side, extents["thumb_depth"])
    image *= _lighting(rng, height, width, conditions.light_gradient, conditions.shadow_strength,
                       conditions.exposure)[:, :, None]
    result = _camera_finish(rng, image, conditions.blur_sigma, conditions.noise_sigma, conditions.jpeg_quality)
    return Scene(result, tuple(boxes), tuple(d.label for d in placed),  # type: ignore[arg-type]
                 tuple(tuple(line) for line in lines), category, _ink_owner(coverages, height, width),
                 tuple(d.pen for d in placed))


def _ink_owner(coverages: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    owner = np.full((height, width), NO_INK, np.int8)
    for index, coverage in enumerate(coverages):
        owner[coverage >= INK_COVERAGE_FOR_BOX] = index
    return owner


def make_camera_scene(rng: np.random.Generator, pool: DigitPool, kind: str = HARD) -> Scene:
    """A webcam frame of 1-8 handwritten digits, some grouped into numbers, on ``clean`` or ``hard`` paper."""
    conditions = sample_conditions(rng, kind)
    lines = random_lines(rng, int(rng.integers(DIGITS_PER_CAMERA_SCENE[0], DIGITS_PER_CAMERA_SCENE[1] + 1)))
    return compose_camera_scene(rng, pool, lines, conditions, category=kind)


# A page held up to a webcam is rarely square to it: seen at a slant, its far side is
# shorter (keystone), and a hand moves during the exposure.
SLANT_SHRINK = (0.05, 0.22)      # the far side of the page is this much shorter than the near one
SLANT_CORNER_JITTER = 0.03       # each corner of the page's outline moves by up to this share of the frame
SLANT_ZOOM = (0.85, 1.0)         # the page is further away than in the hard scenes, by up to this
# A hand holding a sheet still trembles at a few cm/s; over a webcam's 1/30 s indoor exposure,
# at about 2 px per mm of paper, that smears the picture by 1-5 px (1: none).
MOTION_BLUR_PX = (1, 5)
MOTION_BLUR_ANGLE_DEG = (0, 180)  # any direction: a smear along a line looks the same both ways
DESK_LEVEL = (30, 110)           # the desk or room seen around the page


def _slant(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A homography that shows the full frame as a page seen at a slant: a keystone quad inside the frame."""
    zoom = rng.uniform(*SLANT_ZOOM)
    near, far = zoom / 2, zoom * (1 - rng.uniform(*SLANT_SHRINK)) / 2  # half lengths of the two sides
    # Corners (top-left, top-right, bottom-right, bottom-left) in units of the frame; the far
    # side is the page's top, right, bottom or left, and the page stays upright.
    far_side = int(rng.integers(4))
    top, bottom = (far, near) if far_side == 0 else (near, far) if far_side == 2 else (near, near)
    left, right = (far, near) if far_side == 3 else (near, far) if far_side == 1 else (near, near)
    quad = np.array([[0.5 - top, 0.5 - left], [0.5 + top, 0.5 - right],
                     [0.5 + bottom, 0.5 + right], [0.5 - bottom, 0.5 + left]])
    quad = np.clip(quad + rng.uniform(-SLANT_CORNER_JITTER, SLANT_CORNER_JITTER, quad.shape), 0.0, 1.0)
    frame = np.float32([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])
    return cv2.getPerspectiveTransform(frame, np.float32(quad * [width - 1, height - 1]))


def _motion_blur(image: np.ndarray, length_px: int, angle_deg: float) -> np.ndarray:
    """``image`` smeared along a straight line of ``length_px`` at ``angle_deg``."""
    if length_px <= 1:
        return image
    kernel = np.zeros((length_px, length_px), np.float32)
    kernel[length_px // 2, :] = 1.0
    centre = ((length_px - 1) / 2, (length_px - 1) / 2)
    kernel = cv2.warpAffine(kernel, cv2.getRotationMatrix2D(centre, angle_deg, 1.0), (length_px, length_px))
    return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def make_handheld_scene(rng: np.random.Generator, pool: DigitPool) -> Scene:
    """A hard scene whose page is held at a slant to the camera (keystone, a desk around it)
    and moves during the exposure (motion blur), then goes through the camera's blur, noise and JPEG."""
    # The whole page is in view, with the desk around it: no desk strip on the page, and no
    # thumb, which would end at the page's edge instead of reaching in from outside the frame.
    conditions = dataclasses.replace(sample_conditions(rng, HARD), page_edge_side=None, thumb_side=None)
    lines = random_lines(rng, int(rng.integers(DIGITS_PER_CAMERA_SCENE[0], DIGITS_PER_CAMERA_SCENE[1] + 1)))
    flat = compose_camera_scene(rng, pool, lines, dataclasses.replace(conditions, blur_sigma=0.0, noise_sigma=0.0,
                                                                      jpeg_quality=None), category=HANDHELD)
    width, height = conditions.size
    homography = _slant(rng, width, height)
    desk = np.float32(rng.uniform(*DESK_LEVEL)) + _gaussian_noise(rng, (height, width, 1), DESK_TEXTURE_SIGMA)
    page = cv2.warpPerspective(flat.image.astype(np.float32), homography, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    on_page = cv2.warpPerspective(np.ones((height, width), np.float32), homography, (width, height),
                                  flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)[:, :, None]
    image = page + (1.0 - on_page) * desk  # the page's own pixels are already weighted by on_page at its edge
    image = _motion_blur(image, int(rng.integers(MOTION_BLUR_PX[0], MOTION_BLUR_PX[1] + 1)),
                         rng.uniform(*MOTION_BLUR_ANGLE_DEG))
    # The truth follows the ink: each digit's pixels carried through the same warp.
    owner = cv2.warpPerspective((flat.ink_owner.astype(np.int16) + 1).astype(np.uint8), homography, (width, height),
                                flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    boxes = [_box_of(owner == index + 1) for index in range(len(flat.boxes))]
    if any(box is None for box in boxes):
        raise RuntimeError("a digit vanished in the slant")
    result = _camera_finish(rng, image, conditions.blur_sigma, conditions.noise_sigma, conditions.jpeg_quality)
    return dataclasses.replace(flat, image=result, boxes=tuple(boxes),  # type: ignore[arg-type]
                               ink_owner=(owner.astype(np.int16) - 1).astype(np.int8))


def make_mnist_image_scene(rng: np.random.Generator, pool: DigitPool) -> Scene:
    """An MNIST digit as MNIST stores it, its own 28x28 image (light on dark, the digit
    centred by its mass, strokes sometimes touching the edge): what people try first."""
    glyph, label = pool.pick_any(rng)
    coverage = glyph.astype(np.float32) / 255.0
    box = _box_of(coverage >= INK_COVERAGE_FOR_BOX)
    if box is None:
        raise RuntimeError("an MNIST digit without ink")
    image = cv2.cvtColor(np.ascontiguousarray(glyph, np.uint8), cv2.COLOR_GRAY2BGR)
    return Scene(image, (box,), (label,), ((str(label),),), MNIST_IMAGE, _ink_owner([coverage], *coverage.shape),
                 ("natural",))


def inverted(scene: Scene, category: str | None = None) -> Scene:
    """``scene`` with its tones inverted (light digits on a dark ground), and the same truth."""
    return dataclasses.replace(scene, image=cv2.bitwise_not(scene.image), category=category or scene.category)


def make_light_on_dark_scene(rng: np.random.Generator, pool: DigitPool) -> Scene:
    """A clean scene with its tones inverted: light digits on a dark ground, as a paint program
    with a black canvas, chalk on a board or MNIST's own images show them."""
    return inverted(make_camera_scene(rng, pool, CLEAN), LIGHT_ON_DARK)


# ---------------------------------------------------------------------------------------
# Single digits, thin pens and print
# ---------------------------------------------------------------------------------------
def _single_digit_scene(image_f: np.ndarray, coverage: np.ndarray, label: int, pen: Stroke, category: str,
                        rng: np.random.Generator, blur_sigma: float, noise_sigma: float,
                        jpeg_quality: int | None) -> Scene:
    box = _box_of(coverage >= INK_COVERAGE_FOR_BOX)
    if box is None:
        raise RuntimeError("a digit rendered without ink")
    image = _camera_finish(rng, image_f, blur_sigma, noise_sigma, jpeg_quality)
    return Scene(image, (box,), (label,), ((str(label),),), category, _ink_owner([coverage], *coverage.shape), (pen,))


def _place_patch(alpha: np.ndarray, width: int, height: int, rng: np.random.Generator,
                 offset_fraction: float) -> np.ndarray:
    """Full-image coverage with the patch near the centre, shifted by up to ``offset_fraction``."""
    patch_h, patch_w = alpha.shape
    margin = SINGLE_DIGIT_MARGIN_PX
    if patch_h > height - 2 * margin or patch_w > width - 2 * margin:
        raise ValueError(f"a {patch_w} x {patch_h} digit does not fit a {width} x {height} image")
    centre_x = width / 2 + rng.uniform(-offset_fraction, offset_fraction) * width
    centre_y = height / 2 + rng.uniform(-offset_fraction, offset_fraction) * height
    x = int(np.clip(round(centre_x - patch_w / 2), margin, width - margin - patch_w))
    y = int(np.clip(round(centre_y - patch_h / 2), margin, height - margin - patch_h))
    return _warp_patch_into_image(alpha, x, y, np.hstack([np.eye(2), np.zeros((2, 1))]), width, height)


def _fit_digit(rng: np.random.Generator, glyph: np.ndarray, height_px: float, width: int, height: int,
               style: Stroke, tilt_deg: float = 0.0) -> tuple[np.ndarray, Stroke]:
    """Render a digit and shrink it until it fits the image (wide digits like 0 at large sizes).

    Returns the ink and the pen it was drawn with (see ``pen_of``).
    """
    for _ in range(MAX_LAYOUT_ATTEMPTS):
        alpha = render_digit_ink(glyph, height_px, rng, style, tilt_deg)
        if alpha.shape[0] <= height and alpha.shape[1] <= width:
            return alpha, pen_of(style, height_px)
        height_px *= FIT_SHRINK_SAFETY * min(height / alpha.shape[0], width / alpha.shape[1])
    raise RuntimeError("digit does not fit the image")


def _pick_glyph(rng: np.random.Generator, pool: DigitPool, label: int | None,
                open_loops: bool) -> tuple[np.ndarray, int]:
    if label is None:
        return pool.pick_any(rng, open_loops)
    return pool.pick(rng, label, open_loops), int(label)


def make_scan_scene(rng: np.random.Generator, pool: DigitPool, label: int | None = None) -> Scene:
    """One small, slightly noisy and blurred scan of a handwritten digit, cropped nearly to the digit."""
    glyph, label = _pick_glyph(rng, pool, label, open_loops=False)
    side = int(rng.integers(SCAN_SIDE_PX[0], SCAN_SIDE_PX[1] + 1))
    room = side - 2 * SINGLE_DIGIT_MARGIN_PX
    digit_height = side * rng.uniform(*SCAN_DIGIT_FRACTION)
    if redraws_centre_line("natural", digit_height) and not loops_are_open(glyph, label):
        # So big that it is redrawn along its centre line, which needs open loops (another
        # writer's digit of the same value).
        glyph = pool.pick(rng, label, open_loops=True)
    alpha, pen = _fit_digit(rng, glyph, digit_height, room, room, "natural")
    coverage = _place_patch(alpha, side, side, rng, SCAN_OFFSET_FRACTION)
    paper_level = rng.uniform(*SCAN_PAPER_LEVEL)
    tint = rng.uniform(-SCAN_PAPER_TINT_JITTER, SCAN_PAPER_TINT_JITTER, 3).astype(np.float32)
    paper = np.full((side, side, 3), paper_level, np.float32) + tint
    ink_level = rng.uniform(*SCAN_INK_LEVEL)
    image = _composite_ink(paper, coverage, (ink_level, ink_level, ink_level), rng, pencil=False)
    return _single_digit_scene(image, coverage, label, pen, SCAN, rng, rng.uniform(*SCAN_BLUR_SIGMA),
                               rng.uniform(*SCAN_NOISE_SIGMA), None)


def make_thin_pen_scene(rng: np.random.Generator, pool: DigitPool, label: int | None = None) -> Scene:
    """One digit drawn with a 1-2 px brush on a white paint-program canvas."""
    glyph, label = _pick_glyph(rng, pool, label, open_loops=True)
    width, height = THIN_CANVAS_SIZES[rng.integers(len(THIN_CANVAS_SIZES))]
    digit_height = max(MIN_THIN_DIGIT_PX, height * rng.uniform(*THIN_DIGIT_FRACTION))
    room_x, room_y = width - 2 * SINGLE_DIGIT_MARGIN_PX, height - 2 * SINGLE_DIGIT_MARGIN_PX
    alpha, pen = _fit_digit(rng, glyph, digit_height, room_x, room_y, "thin")
    coverage = _place_patch(alpha, width, height, rng, THIN_OFFSET_FRACTION)
    canvas = np.full((height, width, 3), PAINT_CANVAS_LEVEL, np.float32)
    image = _composite_ink(canvas, coverage, PAINT_COLOURS[rng.integers(len(PAINT_COLOURS))], rng, pencil=False)
    return _single_digit_scene(image, coverage, label, pen, THIN_PEN, rng, 0.0, 0.0, None)


def make_paper_photo_scene(rng: np.random.Generator, pool: DigitPool, label: int | None = None,
                           noise_sigma: float | None = None) -> Scene:
    """A phone/webcam photo of one handwritten digit on a tinted page with uneven light.

    ``noise_sigma`` overrides the random sensor noise (samples shipped as PNG use less,
    because noise is what makes a PNG big).
    """
    width, height = PHOTO_SIZES[rng.integers(len(PHOTO_SIZES))]
    stroke = _pick_stroke(rng)
    digit_height = height * rng.uniform(*PHOTO_DIGIT_FRACTION)
    glyph, label = _pick_glyph(rng, pool, label, open_loops=redraws_centre_line(stroke, digit_height))
    room_x, room_y = width - 2 * PHOTO_FIT_MARGIN_PX, height - 2 * PHOTO_FIT_MARGIN_PX
    alpha, pen = _fit_digit(rng, glyph, digit_height, room_x, room_y, stroke,
                            rng.uniform(-DIGIT_TILT_DEG, DIGIT_TILT_DEG))
    coverage = _place_patch(alpha, width, height, rng, PHOTO_OFFSET_FRACTION)
    paper = np.empty((height, width, 3), np.float32)
    paper[:] = _jitter_colour(rng, PAPER_TINTS[rng.integers(len(PAPER_TINTS))], PAPER_TINT_JITTER)
    ink_index = int(rng.integers(len(INK_COLOURS)))
    image = _composite_ink(paper, coverage, _jitter_colour(rng, INK_COLOURS[ink_index], INK_COLOUR_JITTER), rng,
                           pencil=INK_COLOURS[ink_index] == INK_PENCIL)
    image *= _lighting(rng, height, width, rng.uniform(*PHOTO_LIGHT_GRADIENT), 0.0,
                       rng.uniform(*EXPOSURE_RANGE))[:, :, None]
    blur_sigma, random_noise = rng.uniform(*PHOTO_BLUR_SIGMA), rng.uniform(*PHOTO_NOISE_SIGMA)
    return _single_digit_scene(image, coverage, label, pen, PAPER_PHOTO, rng, blur_sigma,
                               random_noise if noise_sigma is None else noise_sigma,
                               int(rng.integers(PHOTO_JPEG_QUALITY[0], PHOTO_JPEG_QUALITY[1] + 1)))


def render_printed_number(text: str, font: int, height_px: float, thickness: int,
                          italic: bool = False) -> list[np.ndarray]:
    """Per-digit coverage patches of ``text`` set in a Hershey font, all on one shared canvas.

    Each digit is drawn on its own layer so its box is exact; all layers share the
    canvas and origin, so their positions keep the font's own spacing.
    """
    face = font | (cv2.FONT_ITALIC if italic else 0)
    (_, unit_height), _ = cv2.getTextSize("0", face, 1.0, 1)
    scale = height_px / unit_height
    total_width = sum(cv2.getTextSize(ch, face, scale, thickness)[0][0] for ch in text)
    margin = thickness + PRINT_LAYER_MARGIN_PX
    (_, glyph_height), baseline = cv2.getTextSize(text, face, scale, thickness)
    canvas_size = (int(glyph_height + baseline + 2 * margin), int(total_width + 2 * margin))
    layers = []
    x = margin
    for ch in text:
        layer = np.zeros(canvas_size, np.uint8)
        cv2.putText(layer, ch, (x, margin + glyph_height), face, scale, 255, thickness, cv2.LINE_AA)
        layers.append(layer.astype(np.float32) / 255.0)
        x += cv2.getTextSize(ch, face, scale, thickness)[0][0]
    return layers


def make_printed_scene(rng: np.random.Generator, pool: DigitPool | None = None, text: str | None = None,
                       font: int | None = None) -> Scene:
    """1-4 digits printed in a Hershey font, black on white paper. ``pool`` is unused (print has no MNIST)."""
    width, height = PRINT_SIZES[rng.integers(len(PRINT_SIZES))]
    count = int(rng.integers(PRINT_DIGITS[0], PRINT_DIGITS[1] + 1))
    random_text = random_digits(rng, count)
    text = random_text if text is None else text
    if not text.isdigit():
        raise ValueError(f"printed text must be digits, got {text!r}")
    random_font = int(PRINT_FONTS[rng.integers(len(PRINT_FONTS))])
    font = random_font if font is None else font
    italic = bool(rng.random() < PRINT_ITALIC_CHANCE)
    digit_height = rng.uniform(*PRINT_DIGIT_HEIGHT_PX)
    for _ in range(MAX_LAYOUT_ATTEMPTS):
        boldest = max(MIN_BOLD_PRINT_PX, round(digit_height / PRINT_HEIGHT_PER_THICKNESS_PX))
        thickness = int(rng.integers(1, boldest + 1))
        layers = render_printed_number(text, font, digit_height, thickness, italic)
        layer_h, layer_w = layers[0].shape
        if layer_h <= height - 2 * PRINT_MARGIN_PX and layer_w <= width - 2 * PRINT_MARGIN_PX:
            break
        digit_height *= PRINT_SHRINK_STEP
    else:
        raise RuntimeError(f"printed text {text!r} does not fit")
    x = int(rng.integers(PRINT_MARGIN_PX, width - PRINT_MARGIN_PX - layer_w + 1))
    y = int(rng.integers(PRINT_MARGIN_PX, height - PRINT_MARGIN_PX - layer_h + 1))
    identity = np.hstack([np.eye(2), np.zeros((2, 1))])
    coverages = [_warp_patch_into_image(layer, x, y, identity, width, height) for layer in layers]
    boxes = [_box_of(c >= INK_COVERAGE_FOR_BOX) for c in coverages]
    if any(box is None for box in boxes):
        raise RuntimeError("a printed digit rendered without ink")
    paper_level = rng.uniform(*PRINT_PAPER_LEVEL)
    paper = np.full((height, width, 3), paper_level, np.float32)
    ink_level = rng.uniform(*PRINT_BLACK_RANGE)
    image = _composite_ink(paper, np.maximum.reduce(coverages), (ink_level, ink_level, ink_level), rng, False)
    result = _camera_finish(rng, image, 0.0, 0.0, None)
    return Scene(result, tuple(boxes), tuple(int(ch) for ch in text), ((text,),), PRINTED,  # type: ignore[arg-type]
                 _ink_owner(coverages, height, width), (PRINTED_PEN,) * len(text))


SCENE_MAKERS: dict[str, Callable[[np.random.Generator, DigitPool], Scene]] = {
    CLEAN: lambda rng, pool: make_camera_scene(rng, pool, CLEAN),
    HARD: lambda rng, pool: make_camera_scene(rng, pool, HARD),
    THIN_PEN: make_thin_pen_scene,
    PRINTED: make_printed_scene,
    SCAN: make_scan_scene,
    PAPER_PHOTO: make_paper_photo_scene,
    LIGHT_ON_DARK: make_light_on_dark_scene,
    MNIST_IMAGE: make_mnist_image_scene,
    HANDHELD: make_handheld_scene,
}


def make_scene(category: str, rng: np.random.Generator, pool: DigitPool) -> Scene:
    """One scene of ``category`` (see CATEGORIES)."""
    try:
        maker = SCENE_MAKERS[category]
    except KeyError:
        raise ValueError(f"unknown scene category {category!r}; choose from {', '.join(CATEGORIES)}") from None
    return maker(rng, pool)


def scene_rng(seed: int, category: str, index: int) -> np.random.Generator:
    """The generator for image ``index`` of ``category``: image i is the same whatever the set size."""
    category_key = zlib.crc32(category.encode("utf-8"))  # stable across runs, unlike hash()
    return np.random.default_rng([seed, category_key, index])


# ---------------------------------------------------------------------------------------
# A shaking camera over one page (live mode's tests and benchmark)
# ---------------------------------------------------------------------------------------
SHAKE_PX = 8.0                   # largest offset of the hand-held page from its rest position
SHAKE_DEG = 1.5                  # largest rotation
SHAKE_INERTIA = 0.85             # a hand drifts smoothly: each frame keeps this much of the last motion
SHAKE_STEP = 0.35                # random push per frame, as a share of the largest offset
CLIP_NOISE_SIGMA = 3.0           # fresh sensor noise on every frame
CLIP_DIGITS = (3, DIGITS_PER_CAMERA_SCENE[1])  # a clip has a few digits to track, at most a camera scene's


@dataclass(frozen=True, eq=False)
class ShakyClip:
    """Frames of one page held up to a camera by a shaking hand, with per-frame truth."""
    frames: tuple[np.ndarray, ...]               # BGR uint8, all the same size
    boxes: tuple[tuple[Box | None, ...], ...]    # per frame: each digit's tight box; None where the edge cuts it
    labels: tuple[int, ...]                      # the digits' values, in the page's reading order
    numbers: tuple[str, ...]


def make_shaky_clip(rng: np.random.Generator, pool: DigitPool, frame_count: int, kind: str = HARD,
                    lines: Sequence[Sequence[str]] | None = None,
                    size: tuple[int, int] = CAMERA_SIZE) -> ShakyClip:
    """A camera-like page (``kind`` as in ``make_camera_scene``) seen through ``frame_count`` frames.

    The page is rendered once with a margin, then every frame views it through a small
    rotation and offset that wander like a hand (a damped random walk), plus new sensor
    noise. Truth boxes are measured from the warped ink of each digit, so they are exact.
    """
    width, height = size
    margin = int(math.ceil(SHAKE_PX + math.sin(math.radians(SHAKE_DEG)) * max(size))) + 2
    conditions = dataclasses.replace(sample_conditions(rng, kind, (width + 2 * margin, height + 2 * margin)),
                                     page_edge_side=None, thumb_side=None)
    if lines is None:
        lines = random_lines(rng, int(rng.integers(CLIP_DIGITS[0], CLIP_DIGITS[1] + 1)))
    # Digits go where the camera sees them: the margin is only ever glimpsed while shaking.
    page = compose_camera_scene(rng, pool, lines, conditions, category=f"{kind}_clip", keep_out=margin)
    motion = np.zeros(3)        # dx, dy (px), angle (deg)
    velocity = np.zeros(3)
    limits = np.array([SHAKE_PX, SHAKE_PX, SHAKE_DEG])
    frames, boxes = [], []
    for _ in range(frame_count):
        velocity = SHAKE_INERTIA * velocity + rng.normal(0, SHAKE_STEP, 3) * limits * (1 - SHAKE_INERTIA)
        motion = np.clip(motion + velocity, -limits, limits)
        matrix = cv2.getRotationMatrix2D((width / 2 + margin, height / 2 + margin), float(motion[2]), 1.0)
        matrix[:, 2] += motion[:2] - margin
        frame = cv2.warpAffine(page.image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        noisy = frame.astype(np.float32) + rng.normal(0, CLIP_NOISE_SIGMA, frame.shape).astype(np.float32)
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
        # OpenCV does not warp int8: shift the owner map to uint8 (0 = no ink).
        owner = cv2.warpAffine((page.ink_owner.astype(np.int16) - NO_INK).astype(np.uint8), matrix,
                               (width, height), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)
        in_view = [_box_of(owner == index - NO_INK) for index in range(len(page.labels))]
        # A digit the frame's edge cuts is out of view: nothing can read it (or must).
        boxes.append(tuple(box if box is not None and _inside(box, width, height) else None for box in in_view))
    return ShakyClip(tuple(frames), tuple(boxes), page.labels, page.numbers)


def _inside(box: Box, width: int, height: int) -> bool:
    x, y, w, h = box
    return x > 0 and y > 0 and x + w < width and y + h < height
