"""Find handwritten digits in a frame: a flattened threshold, line removal and component grouping.

The steps, each cheap enough for every camera frame:
0. Find digits on a copy of the frame shrunk by an integer factor (2 for a webcam frame),
   keeping each block's darkest pixel so thin pen lines survive; only each digit's own box
   is then examined at full resolution, for a tight box and a full-detail ink mask.
1. Flatten the light: divide the frame by a smooth estimate of the paper (shadows and
   gradients vanish), then keep pixels clearly darker than their paper.
2. On a ruled or grid page, take out the printed lines: long, thin, nearly straight runs,
   except where ink is clearly darker than the lines, and bridge strokes the lines cut.
3. Label connected components; drop specks and anything cut by the frame's edge (a thumb,
   the desk beyond the page, a digit half out of view).
4. Merge pieces of one digit (the detached bar of a 5, a broken 4 or 7, the loops of an 8).
5. Reject what is not a digit: dashes, solid blobs, dark non-paper surfaces, the tip of a
   finger, and leftovers of printed lines.

Light ink on a dark ground (chalk, a black paint canvas, MNIST's own images) is read by
inverting the frame first; ``find_digits_of_ink`` can also judge the polarity per image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from recognizer.layout import Box
from recognizer.normalize import MIN_FILTER_SIDE, read_only, disc_kernel, ground_is_dark

# -- detection scale (every length below is in full-resolution pixels) -------------------
DETECTION_MIN_SIDE = 240       # the shrunken copy keeps at least this many pixels on its shorter side
MAX_DETECTION_FACTOR = 2       # and shrinks by at most this: a 20 px digit is still 10 px tall there
DIGIT_MASK_SLACK_PX = 1        # full-resolution ink this close to a digit's detected pieces is its ink
# -- light flattening -------------------------------------------------------------------
PAPER_ESTIMATE_SIDE = 160      # the paper estimate is computed on a frame shrunk to this longer side
PAPER_MAX_FILTER_FRACTION = 0.12  # closing window as a share of the frame's side: wider than a stroke
PAPER_MIN_FILTER_PX = 41       # ...and at least this many pixels of the original image (a scan is mostly digit)
PAPER_BLUR_SIDE = 3            # the closing's blockiness is blurred away over this window
INK_DARKNESS_LEVEL = 48        # ink is at least this much darker than its local paper (of 255)
PAPER_LEVEL_PERCENTILE = 90    # the paper's brightness: this percentile of the paper estimate
NOT_PAPER_FRACTION = 0.35      # surfaces darker than this share of the paper are not paper
FAINT_DARKNESS_LEVEL = 24      # faint marks (printed lines, pencil) start here
UINT8_LEVELS = 256             # gray levels of a uint8 image
# -- line removal ------------------------------------------------------------------------
LINE_MIN_LENGTH_FRACTION = 0.12  # ruled/grid lines run at least this share of the frame's side
LINE_MIN_LENGTH_PX = 40
LINE_MAX_RUN_PX = 64           # runs longer than this are not required (a 5 degree tilt drifts 6 px in 64)
BRIDGE_RADIUS_PX = 3           # a closing this wide spans a removed line and its fringe
MAX_LINE_SHARE = 0.7           # a candidate lying mostly on printed lines is a line remnant
LINE_CROSSING_PAD_PX = 2       # the line mask has holes where lines cross; this closes them
LINE_FRINGE_PX = 1             # the blurred edge of a printed line, on each side (on the copy searched)
RULED_LINE_SPAN = 0.4          # a page counts as ruled when RULED_PAGE_MIN_LINES parallel lines
RULED_PAGE_MIN_LINES = 3       # each span at least this share of the frame,
LINE_EXTENT_SHRINK = 4         # line extents are measured on a copy this many times smaller
RULED_PAGE_MIN_LINE_PIXELS = 4.0  # or line pixels add up to (height + width) x this
LINE_MAX_THICKNESS_PX = 6      # thicker straight strokes are pen strokes, not printed lines
LINE_TILT_SLACK_PX = 3         # rows of slack so lines tilted by a few degrees still count as straight
LINE_GAP_PX = 9                # gaps this long in a faint line (noise, a crossing stroke) are bridged
LINE_INK_FACTOR = 1.5          # on a printed line, ink must be this many times darker than the line
LOCAL_MEAN_MIN_WEIGHT = 0.25    # share of line pixels nearby (of 255) below which the mean fades to 0
# -- component filtering -----------------------------------------------------------------
MIN_PIECE_AREA_PX = 6          # smaller components are sensor noise or dust
MIN_DIGIT_HEIGHT_PX = 12
CROP_MAX_SIDE_PX = 64          # an image no bigger than this either way is a crop: its digit may touch the edge...
CROP_EDGE_PIECE_MAX_SHARE = 0.9  # ...unless the piece spans this share of the crop's side (a line, a border)
MAX_DIGIT_HEIGHT_FRACTION = 0.95
MAX_SOLID_FILL = 0.8           # ink covering more of its box than this is a blob, not a stroke
SOLID_MIN_SIDE_PX = 10         # ...unless the box is tiny or thin (a short, thick "1")
MAX_ASPECT_WIDE = 2.5          # width / height above this is a dash or a line remnant
EDGE_RING_INNER_PX = 2         # the ring checked around a candidate starts past the anti-aliased edge...
EDGE_RING_OUTER_PX = 5         # ...and ends here
SAME_TONE_LEVELS = 20          # ring pixels this close to the candidate's mean tone "continue" it
MAX_SAME_TONE_RING_SHARE = 0.25
# -- merging pieces ------------------------------------------------------------------------
MERGE_MIN_X_OVERLAP = 0.5      # pieces overlapping this share of the narrower piece's width...
MERGE_MAX_Y_GAP = 0.35         # ...and closer than this share of the taller piece's height merge
MERGE_SMALL_PIECE_FACTOR = 0.5  # a piece at most this share of its neighbour's height is "small"
MERGE_BAR_MAX_ASPECT = 0.6     # a small piece this flat (height / width) is a bar even in a row of digits
MERGE_TOUCH_PX = 2             # pieces this close vertically (or MERGE_TOUCH_FRACTION of the
MERGE_TOUCH_FRACTION = 0.05    # shorter one's height) are one digit when they overlap in x...
MERGE_MAX_TOUCHING_HEIGHT_FACTOR = 2.6  # ...and together are at most this many times the shorter's height
ROW_MIN_Y_OVERLAP = 0.5        # pieces on one line overlap this share of the shorter's height,
ROW_MAX_GAP = 3.0              # stand at most this many heights apart
ROW_MAX_HEIGHT_RATIO = 1.5     # and have heights within this factor
MERGE_MAX_HEIGHT_FACTOR = 1.6  # a merged digit is no taller than this many times its tallest piece
MERGE_VECTORISED_MIN_PIECES = 48  # from this many pieces (a grid page's specks) numpy tests the pairs
                                  # faster than plain Python (measured on crowded random boxes)


@dataclass(frozen=True, eq=False)
class DigitRegion:
    """One digit candidate: its box in frame coordinates and the ink mask inside that box."""
    box: Box
    mask: np.ndarray  # bool, shape (h, w) of the box

    def crop(self, image: np.ndarray) -> np.ndarray:
        x, y, w, h = self.box
        return image[y:y + h, x:x + w]


@dataclass(frozen=True, eq=False)
class InkLayers:
    """Ink and printed lines of a frame (uint8 0/255 masks)."""
    ink: np.ndarray                 # ink with ruled and grid lines taken out
    lines: np.ndarray               # the printed lines found (all zero on a plain page)
    taken_out: np.ndarray | None    # line pixels (and their fringe) not kept as ink; None on a plain page


def _px(length: float, factor: int) -> int:
    """A length in full-resolution pixels, in pixels of a copy shrunk ``factor`` times (rounded up)."""
    return max(1, math.ceil(length / factor))


@lru_cache(maxsize=None)
def _square(radius: int) -> np.ndarray:
    return read_only(np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))


def _speck_area(factor: int) -> int:
    """MIN_PIECE_AREA_PX on a copy shrunk ``factor`` times by block minimum.

    A speck of side s covers up to s / factor + 1 blocks each way (the blocks rarely line up
    with it), so its shrunken area is about (s / factor + 1) squared, not area / factor**2.
    """
    if factor == 1:
        return MIN_PIECE_AREA_PX
    return math.ceil((math.sqrt(MIN_PIECE_AREA_PX) / factor + 1) ** 2)


def detection_factor(shape: tuple[int, ...]) -> int:
    """How many times smaller the copy digits are found on is: 1 for small images, 2 for a webcam."""
    return max(1, min(min(shape[:2]) // DETECTION_MIN_SIDE, MAX_DETECTION_FACTOR))


def shrink_keeping_ink(gray: np.ndarray, factor: int) -> np.ndarray:
    """``gray`` shrunk ``factor`` times, each pixel the darkest of its factor x factor block.

    Averaging would fade a 1 px pen line to half its darkness, below the ink threshold; the
    block minimum keeps it as dark as it is (and one block thick).
    """
    if factor == 1:
        return gray
    height, width = gray.shape
    rows, columns = height // factor, width // factor
    if factor == 2:
        # A webcam's case, in two cheap passes (half the time of an erosion and a strided
        # copy): the darker of each pair of rows, then of each pair of columns, read as
        # the two bytes of a 16-bit word (the minimum does not care which byte is which).
        pairs = cv2.min(gray[0:rows * 2:2, :columns * 2], gray[1:rows * 2:2, :columns * 2])
        words = pairs.view(np.uint16)
        small = np.minimum(words & 0xFF, words >> 8).astype(np.uint8)
    else:
        darkest = cv2.erode(gray, np.ones((factor, factor), np.uint8), anchor=(0, 0))
        small = np.ascontiguousarray(darkest[:rows * factor:factor, :columns * factor:factor])
    # The outermost row and column of blocks take only the frame's outermost pixels, so that
    # ink reaches the copy's edge exactly when it reaches the frame's edge (a digit one pixel
    # inside stays a digit, not something cut by the edge). Rows and columns beyond the last
    # whole block are left out: find_digits pads a frame of odd size first.
    for small_edge, frame_edge in ((small[0], gray[0, :columns * factor]),
                                   (small[-1], gray[rows * factor - 1, :columns * factor]),
                                   (small[:, 0], gray[:rows * factor, 0]),
                                   (small[:, -1], gray[:rows * factor, columns * factor - 1])):
        small_edge[...] = frame_edge[::factor]
        for offset in range(1, factor):  # elementwise minimum: cheaper than a numpy reduction
            np.minimum(small_edge, frame_edge[offset::factor], out=small_edge)
    return small


def paper_of_frame(gray: np.ndarray, factor: int = 1) -> np.ndarray:
    """A smooth estimate of the bare paper's brightness, at PAPER_ESTIMATE_SIDE resolution.

    A closing (max then min filter) replaces ink with the surrounding paper but keeps the
    edges of shadows and of the desk beyond the page where they are; a small blur then
    removes its blockiness. Working on a shrunken frame makes it cheap at any resolution.
    ``factor`` says how many times ``gray`` was already shrunk from the original image.
    """
    height, width = gray.shape
    scale = min(1.0, PAPER_ESTIMATE_SIDE / max(height, width))
    small = cv2.resize(gray, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    # The window must be wider than any stroke: a share of the frame, but never less than
    # PAPER_MIN_FILTER_PX in the original image (a small scan is mostly digit).
    window = max(max(height, width) * PAPER_MAX_FILTER_FRACTION, PAPER_MIN_FILTER_PX / factor) * scale
    side = max(MIN_FILTER_SIDE, int(window) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    return cv2.GaussianBlur(cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel), (PAPER_BLUR_SIDE, PAPER_BLUR_SIDE), 0)


def stretch(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A smooth low-resolution estimate (paper, line darkness) stretched bilinearly to ``shape``."""
    height, width = shape
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def darkness_of(gray: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """uint8 darkness relative to the local paper (0 = paper, 255 = black).

    Dividing by the paper estimate removes lighting gradients and shadows, so one threshold
    works across the whole frame.
    """
    return cv2.bitwise_not(cv2.divide(gray, paper, scale=255))  # 255 - x for uint8


def straight_lines(faint: np.ndarray, factor: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """uint8 masks of long, thin, nearly straight horizontal and vertical lines (ruled and grid paper).

    A run counts when it is at least LINE_MIN_LENGTH_FRACTION of the frame's side long and
    no thicker than a printed line; a pen stroke is thicker, so a digit's stem survives.
    Both masks are empty unless the frame shows a ruled page (see RULED_LINE_SPAN).
    ``factor`` says how many times ``faint`` was shrunk from the original image.
    """
    height, width = faint.shape
    found_per_axis = []
    for axis_length, horizontal in ((width, True), (height, False)):
        # Long enough that no stroke of an ordinary digit qualifies, short enough that a line
        # tilted by a few degrees still holds a straight run within the slack.
        length = min(max(int(axis_length * LINE_MIN_LENGTH_FRACTION), _px(LINE_MIN_LENGTH_PX, factor)),
                     _px(LINE_MAX_RUN_PX, factor))
        slack = 2 * _px(LINE_TILT_SLACK_PX, factor) + 1
        gap = _px(LINE_GAP_PX, factor)
        thickness = _px(LINE_MAX_THICKNESS_PX, factor) + 1
        along = (gap, 1) if horizontal else (1, gap)
        across = (1, slack) if horizontal else (slack, 1)
        run = (length, 1) if horizontal else (1, length)
        thick_across = (1, thickness) if horizontal else (thickness, 1)
        # Close small gaps along the line (noise), thicken across it (a few degrees of tilt),
        # then keep only what contains a long straight run.
        candidate = cv2.morphologyEx(faint, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, along))
        candidate = cv2.dilate(candidate, cv2.getStructuringElement(cv2.MORPH_RECT, across))
        straight = cv2.morphologyEx(candidate, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, run))
        thick = cv2.morphologyEx(faint, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, thick_across))
        found = cv2.subtract(cv2.bitwise_and(straight, faint), thick)  # 0/255 masks: 255 - 255 saturates to 0
        found_per_axis.append((found, axis_length, horizontal))
    # Printed lines run across the page, several of them in parallel; the straight strokes
    # of one big digit do not. Without that evidence nothing is taken out.
    # Faint fine grids break into dashes under noise, but then there is a lot of them.
    by_direction = (found_per_axis[0][0], found_per_axis[1][0])
    line_pixels = cv2.countNonZero(cv2.bitwise_or(*by_direction))
    if line_pixels >= RULED_PAGE_MIN_LINE_PIXELS * (height + width):
        return by_direction
    nothing = np.zeros_like(faint)
    no_lines = (nothing, nothing)  # read-only use: one all-zero mask serves both directions
    if line_pixels < RULED_PAGE_MIN_LINES * RULED_LINE_SPAN * min(height, width):
        return no_lines  # too few pixels for that many spanning lines
    shrink = max(1, LINE_EXTENT_SHRINK // factor)
    for found, axis_length, horizontal in found_per_axis:
        # Only the lines' extents are needed: labelling a smaller copy is many times cheaper,
        # and shrinking keeps a line (even a tilted or dashed one) in one piece.
        small = cv2.resize(found, (max(1, width // shrink), max(1, height // shrink)), interpolation=cv2.INTER_AREA)
        _, _, stats, _ = cv2.connectedComponentsWithStats(small, connectivity=8, ltype=_label_type(small))
        extent = stats[1:, cv2.CC_STAT_WIDTH if horizontal else cv2.CC_STAT_HEIGHT] * shrink
        if np.count_nonzero(extent >= RULED_LINE_SPAN * axis_length) >= RULED_PAGE_MIN_LINES:
            return by_direction
    return no_lines


def _label_type(mask: np.ndarray) -> int:
    """16-bit labels (faster to write) whenever the mask cannot hold more components than that."""
    return cv2.CV_16U if mask.size < 2 * np.iinfo(np.uint16).max else cv2.CV_32S


def _percentile_of(values: np.ndarray, percent: float, where: np.ndarray | None = None) -> int:
    """A percentile of uint8 ``values`` (where ``where`` is non-zero): the lowest level v
    with at least ``percent`` % of the values at or below v (the histogram's definition).

    Found by binary search over the 256 levels, counting the values above each level tried
    (8 thresholds and counts): 3x faster than OpenCV's histogram on a grid page's lines,
    whose masked histogram costs about 5 ns a pixel.
    """
    if where is None:
        counted, above_of = values.size, values
    else:
        # Values outside ``where`` become 0, which is never above a level tried.
        counted, above_of = cv2.countNonZero(where), cv2.bitwise_and(values, values, mask=where)
    wanted = counted * percent / 100
    low, high = 0, UINT8_LEVELS - 1  # the answer lies in [low, high]
    while low < high:
        level = (low + high) // 2
        above = cv2.countNonZero(cv2.threshold(above_of, level, 255, cv2.THRESH_BINARY)[1])
        if counted - above >= wanted:
            high = level
        else:
            low = level + 1
    return low


def _median_of(values: np.ndarray, where: np.ndarray) -> int:
    return _percentile_of(values, 50, where)


def _local_mean(values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over the ``where`` (0/255) pixels nearby, as a float32 image at PAPER_ESTIMATE_SIDE."""
    height, width = values.shape
    scale = min(1.0, PAPER_ESTIMATE_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # ``where`` is 0/255: shrinking it gives the share of ``where`` pixels, times 255. Both are
    # shrunk as uint8 (rounding costs under half a level, and the blur below averages it out).
    weight = cv2.resize(where, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    total = cv2.resize(cv2.bitwise_and(values, where), size, interpolation=cv2.INTER_AREA).astype(np.float32) * 255
    side = max(MIN_FILTER_SIDE, int(PAPER_ESTIMATE_SIDE * PAPER_MAX_FILTER_FRACTION) | 1)
    weight = cv2.blur(weight, (side, side))
    total = cv2.blur(total, (side, side))
    return total / np.maximum(weight, LOCAL_MEAN_MIN_WEIGHT)


def ink_layers(darkness: np.ndarray, factor: int = 1) -> InkLayers:
    """Ink with ruled and grid lines taken out, the lines found, and the line pixels taken out.

    Printed lines are fainter than pen ink, so on a line a pixel counts as ink only when it
    is clearly darker than the lines themselves; that keeps strokes whole where they cross.
    """
    _, ink = cv2.threshold(darkness, INK_DARKNESS_LEVEL, 255, cv2.THRESH_BINARY)
    _, faint = cv2.threshold(darkness, FAINT_DARKNESS_LEVEL, 255, cv2.THRESH_BINARY)
    horizontal, vertical = straight_lines(faint, factor)
    has_horizontal, has_vertical = cv2.countNonZero(horizontal) > 0, cv2.countNonZero(vertical) > 0
    if not (has_horizontal or has_vertical):
        return InkLayers(ink, horizontal, None)  # no lines: an all-zero mask
    lines = cv2.bitwise_or(horizontal, vertical)
    typical_line = _median_of(darkness, lines)
    # Line darkness varies across a frame (exposure, shadows), so compare with the local level.
    # Pen strokes crossing a line are part of the line mask; leave them out of the estimate.
    _, plain = cv2.threshold(darkness, typical_line * LINE_INK_FACTOR, 255, cv2.THRESH_BINARY_INV)
    line_level = np.maximum(_local_mean(darkness, cv2.bitwise_and(lines, plain)), typical_line)
    # The level is smooth: compute the threshold at the estimate's low resolution, then stretch it.
    # (The level is never negative: np.minimum does np.clip's work here, at a third of its cost.)
    darker_than_lines = stretch(np.minimum(line_level * LINE_INK_FACTOR, 255).astype(np.uint8), darkness.shape)
    not_over_lines = cv2.compare(darkness, darker_than_lines, cv2.CMP_LE)
    # The line's blurred fringe belongs to the line too, or it is left behind as slivers.
    fringe = _square(LINE_FRINGE_PX)
    on_horizontal, on_vertical = (cv2.bitwise_and(cv2.dilate(found, fringe), not_over_lines) if present else None
                                  for found, present in ((horizontal, has_horizontal), (vertical, has_vertical)))
    line_only = on_vertical if on_horizontal is None else \
        on_horizontal if on_vertical is None else cv2.bitwise_or(on_horizontal, on_vertical)
    cleaned = cv2.subtract(ink, line_only)
    # Where a stroke crossed a line, removing the line cut the stroke; a small closing finds
    # those gaps, and only removed ink pixels inside them are put back. On a horizontal line
    # a pixel must also have the stroke above and below it: two digits standing on one line
    # are bridged along it, not across, and must stay apart. (Digits side by side are never
    # bridged along a vertical line.)
    radius = _px(BRIDGE_RADIUS_PX, factor)
    bridged = cv2.bitwise_and(cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, disc_kernel(radius)), ink)
    restored = np.zeros_like(ink) if on_vertical is None else cv2.bitwise_and(bridged, on_vertical)
    if on_horizontal is not None:
        # As far across as the closing reaches: a line and its fringe, a few pixels thick.
        (above, above_anchor), (below, below_anchor) = _above_and_below(2 * radius)
        across = cv2.bitwise_and(cv2.dilate(cleaned, above, anchor=above_anchor),
                                 cv2.dilate(cleaned, below, anchor=below_anchor))
        restored = cv2.bitwise_or(restored, cv2.bitwise_and(bridged, cv2.bitwise_and(on_horizontal, across)))
    return InkLayers(cv2.bitwise_or(cleaned, restored), lines, cv2.subtract(line_only, restored))


@lru_cache(maxsize=None)
def _above_and_below(reach: int) -> tuple[tuple[np.ndarray, tuple[int, int]], tuple[np.ndarray, tuple[int, int]]]:
    """Dilation kernels and anchors that see ink up to ``reach`` rows above, and below, a pixel.

    Each looks one column either way too, so that a slanted stroke still counts.
    """
    above = np.zeros((reach + 1, 3), np.uint8)
    above[:reach] = 1
    return (read_only(above), (1, reach)), (read_only(np.ascontiguousarray(above[::-1])), (1, 0))


def _is_digit_like(box: Box, area: int, frame_shape: tuple[int, int]) -> bool:
    x, y, w, h = box
    frame_h, frame_w = frame_shape
    if h < MIN_DIGIT_HEIGHT_PX or h > MAX_DIGIT_HEIGHT_FRACTION * frame_h:
        return False
    if w > MAX_ASPECT_WIDE * h:
        return False
    solid = area > MAX_SOLID_FILL * w * h and min(w, h) >= SOLID_MIN_SIDE_PX and w > h / 2
    return not solid


def _continues_beyond_its_edge(gray: np.ndarray, around: Box, padded: np.ndarray, factor: int) -> bool:
    """True when the candidate's tone carries on past its outline: the tip of a thumb or hand.

    A pen stroke is a valley: a few pixels beyond its edge lies paper on every side. The
    flattening can mistake the narrow tip of a finger for ink, but just beyond that "ink"
    the finger continues in the same tone. ``padded`` (uint8 0/255) marks the candidate in
    ``around``: its box grown by ``_px(EDGE_RING_OUTER_PX, factor)`` each way, within the frame.
    """
    x0, y0, w, h = around
    region = gray[y0:y0 + h, x0:x0 + w]
    ink_tone = cv2.mean(region, padded)[0]
    _, same_tone = cv2.threshold(region, ink_tone + SAME_TONE_LEVELS, 255, cv2.THRESH_BINARY_INV)
    # The ring lies outside the candidate: with nothing of its tone outside it (a stroke on
    # paper, nearly always) the ring need not be built.
    same_tone_outside = cv2.subtract(same_tone, padded)  # 255 - 255 saturates to 0 on the candidate
    if cv2.countNonZero(same_tone_outside) == 0:
        return False
    ring = cv2.subtract(cv2.dilate(padded, disc_kernel(_px(EDGE_RING_OUTER_PX, factor))),
                        cv2.dilate(padded, disc_kernel(_px(EDGE_RING_INNER_PX, factor))))
    ring_size = cv2.countNonZero(ring)
    return ring_size > 0 and cv2.countNonZero(cv2.bitwise_and(same_tone_outside, ring)) > MAX_SAME_TONE_RING_SHARE * ring_size


def _lies_on_lines(lines: np.ndarray, box: Box, mask: np.ndarray, factor: int) -> bool:
    """True when a thin candidate's ink (uint8 0/255 ``mask``) is mostly on or next to printed lines."""
    x, y, w, h = box
    if min(w, h) > _px(LINE_MAX_THICKNESS_PX, factor):
        return False  # a remnant of a line is as thin as the line
    pad = _px(LINE_CROSSING_PAD_PX, factor)
    x0, y0, near_w, near_h = _with_margin(box, lines.shape, pad)
    near_lines = cv2.dilate(lines[y0:y0 + near_h, x0:x0 + near_w], _square(pad))
    on_lines = cv2.bitwise_and(near_lines[y - y0:y - y0 + h, x - x0:x - x0 + w], mask)
    return cv2.countNonZero(on_lines) > MAX_LINE_SHARE * cv2.countNonZero(mask)


def _x_overlapping_pairs(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (a, b) of boxes whose x ranges overlap, without forming all N x N pairs.

    Sorted by left edge, the boxes overlapping box i in x are the run of later boxes that
    start before i ends: one searchsorted gives every run, so a grid page's thousand specks
    cost thousands of pairs, not a million.
    """
    order = np.argsort(x, kind="stable")
    starts = x[order]
    run_ends = np.searchsorted(starts, starts + w[order], side="left")
    counts = np.maximum(run_ends - np.arange(len(order)) - 1, 0)
    first = np.repeat(np.arange(len(order)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return order[first], order[first + 1 + offsets]


def _has_row_mate(x: np.ndarray, y: np.ndarray, w: np.ndarray, h: np.ndarray, min_height: int) -> np.ndarray:
    """Per piece: does a digit-sized piece of similar height stand beside it, on the same line?"""
    has_mate = np.zeros(len(x), bool)
    sized = np.flatnonzero(h >= min_height)
    if len(sized) < 2:
        return has_mate
    xs, ys, ws, hs = x[sized], y[sized], w[sized], h[sized]
    shorter, taller = np.minimum.outer(hs, hs), np.maximum.outer(hs, hs)
    y_overlap = np.minimum.outer(ys + hs, ys + hs) - np.maximum.outer(ys, ys)
    x_gap = np.maximum.outer(xs, xs) - np.minimum.outer(xs + ws, xs + ws)
    mates = ((y_overlap >= ROW_MIN_Y_OVERLAP * shorter) & (x_gap > 0) & (x_gap <= ROW_MAX_GAP * taller)
             & (taller <= ROW_MAX_HEIGHT_RATIO * shorter))
    has_mate[sized] = mates.any(axis=1)
    return has_mate


def _joined_pairs_vectorised(boxes: np.ndarray, factor: int) -> list[tuple[int, int]]:
    """The pairs of pieces ``_merge_pieces`` joins, all tested at once: for many pieces (a grid page's specks).

    Every way of joining needs the pieces to overlap in x, so only such pairs are tested.
    ``_joined_pairs_plain`` applies the same rules one pair at a time.
    """
    x, y, w, h = (boxes[:, k].astype(np.int64) for k in range(4))
    a, b = _x_overlapping_pairs(x, w)
    x_overlap = np.minimum(x[a] + w[a], x[b] + w[b]) - np.maximum(x[a], x[b])
    y_gap = np.maximum(y[a], y[b]) - np.minimum(y[a] + h[a], y[b] + h[b])
    taller, shorter = np.maximum(h[a], h[b]), np.minimum(h[a], h[b])
    union_height = np.maximum(y[a] + h[a], y[b] + h[b]) - np.minimum(y[a], y[b])
    stacked = x_overlap >= MERGE_MIN_X_OVERLAP * np.minimum(w[a], w[b])
    # Pieces that all but touch (the loops of an 8 drawn apart) merge even when they are
    # equally tall; pieces further apart only when one is much taller, or they would join
    # digits of two lines.
    touching = stacked & (y_gap <= np.maximum(_px(MERGE_TOUCH_PX, factor), MERGE_TOUCH_FRACTION * shorter)) \
        & (union_height <= MERGE_MAX_TOUCHING_HEIGHT_FACTOR * shorter)
    near = (y_gap <= MERGE_MAX_Y_GAP * taller) & (union_height <= MERGE_MAX_HEIGHT_FACTOR * taller)
    # A piece that stands in a line with a neighbour of its own size is a digit written under
    # (or over) a bigger digit, not a broken-off part of it.
    in_row = _has_row_mate(x, y, w, h, _px(MIN_DIGIT_HEIGHT_PX, factor))
    # A small flat piece (a 5's bar) joins a bigger one it overlaps in x even a little. A
    # small digit written under a big one is taller than wide, or round (a 0) and in a row.
    flat_small = (h <= MERGE_BAR_MAX_ASPECT * w) | ((h <= w) & ~in_row)
    small_piece = ((h[a] <= MERGE_SMALL_PIECE_FACTOR * taller) & flat_small[a]) | \
        ((h[b] <= MERGE_SMALL_PIECE_FACTOR * taller) & flat_small[b])
    shorter_piece = np.where(h[a] <= h[b], a, b)
    joined = (near & (small_piece | (stacked & ~in_row[shorter_piece]))) | touching
    return list(zip(a[joined].tolist(), b[joined].tolist()))


def _stands_in_a_row(boxes: list[list[int]], piece: int, min_height: int) -> bool:
    """``_has_row_mate`` for one piece of ``boxes`` (plain (x, y, w, h) lists)."""
    x, y, w, h = boxes[piece]
    if h < min_height:
        return False
    for other_x, other_y, other_w, other_h in boxes:
        if other_h < min_height:
            continue
        shorter, taller = min(h, other_h), max(h, other_h)
        y_overlap = min(y + h, other_y + other_h) - max(y, other_y)
        x_gap = max(x, other_x) - min(x + w, other_x + other_w)  # negative for the piece itself
        if (y_overlap >= ROW_MIN_Y_OVERLAP * shorter and 0 < x_gap <= ROW_MAX_GAP * taller
                and taller <= ROW_MAX_HEIGHT_RATIO * shorter):
            return True
    return False


def _joined_pairs_plain(boxes: np.ndarray, factor: int) -> list[tuple[int, int]]:
    """``_joined_pairs_vectorised`` one pair at a time, in plain Python: for the dozen pieces of a frame.

    A frame holds a few pairs overlapping in x, and numpy's cost per call is far more than
    testing them one by one; whether a piece stands in a row is then needed only for the
    rare pair whose verdict depends on it. Same pairs, same (a, b) order, same rules.
    """
    piece_boxes = boxes.tolist()
    touch_px, min_height = _px(MERGE_TOUCH_PX, factor), _px(MIN_DIGIT_HEIGHT_PX, factor)
    in_row: dict[int, bool] = {}

    def stands_in_a_row(piece: int) -> bool:
        if piece not in in_row:
            in_row[piece] = _stands_in_a_row(piece_boxes, piece, min_height)
        return in_row[piece]

    by_left_edge = sorted(range(len(piece_boxes)), key=lambda i: piece_boxes[i][0])  # stable, like the argsort
    joined = []
    for position, a in enumerate(by_left_edge):
        xa, ya, wa, ha = piece_boxes[a]
        for b in by_left_edge[position + 1:]:
            xb, yb, wb, hb = piece_boxes[b]
            if xb >= xa + wa:
                break  # this and every later piece starts right of a: no overlap in x
            y_gap = max(ya, yb) - min(ya + ha, yb + hb)
            taller, shorter = max(ha, hb), min(ha, hb)
            if y_gap > touch_px and y_gap > MERGE_MAX_Y_GAP * taller:
                continue  # neither near nor touching (below): mostly digits of two lines
            x_overlap = min(xa + wa, xb + wb) - xb
            union_height = max(ya + ha, yb + hb) - min(ya, yb)
            stacked = x_overlap >= MERGE_MIN_X_OVERLAP * min(wa, wb)
            touching = (stacked and y_gap <= max(touch_px, MERGE_TOUCH_FRACTION * shorter)
                        and union_height <= MERGE_MAX_TOUCHING_HEIGHT_FACTOR * shorter)
            near = y_gap <= MERGE_MAX_Y_GAP * taller and union_height <= MERGE_MAX_HEIGHT_FACTOR * taller
            if touching:
                joined.append((a, b))
                continue
            if not near:
                continue
            if any(height <= MERGE_SMALL_PIECE_FACTOR * taller and (height <= MERGE_BAR_MAX_ASPECT * width or (
                    height <= width and not stands_in_a_row(piece)))
                   for piece, width, height in ((a, wa, ha), (b, wb, hb))):
                joined.append((a, b))
            elif stacked and not stands_in_a_row(a if ha <= hb else b):
                joined.append((a, b))
    return joined


def _merge_pieces(boxes: np.ndarray, factor: int = 1) -> list[list[int]]:
    """Group vertically stacked pieces that overlap in x (the bar of a 5, a broken 4 or 7).

    ``boxes`` is an N x 4 array of (x, y, w, h) on a copy shrunk ``factor`` times. Returns
    lists of piece indices, one per digit, in order of their first piece, each list ascending:
    so the groups depend only on which pieces end up joined, not on how they were found.
    """
    count = len(boxes)
    if count < MERGE_VECTORISED_MIN_PIECES:
        pairs = _joined_pairs_plain(boxes, factor)
    else:
        pairs = _joined_pairs_vectorised(boxes, factor)
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


@dataclass(frozen=True, eq=False)
class Detection:
    """What the search on the shrunken copy found; a digit's box is then refined at full resolution."""
    factor: int                  # the copy is this many times smaller than the frame
    gray: np.ndarray             # the shrunken frame (block minimum)
    paper: np.ndarray            # paper estimate at PAPER_ESTIMATE_SIDE (see paper_of_frame)
    paper_here: np.ndarray       # the same, stretched to the copy's size
    layers: InkLayers            # at the copy's scale
    labels: np.ndarray           # connected components of layers.ink
    stats: np.ndarray            # their cv2 stats: x, y, w, h, area


def detect(gray: np.ndarray, light_ink: bool = False) -> Detection:
    """Threshold, line removal and labelling, on a copy shrunk by ``detection_factor``."""
    if light_ink:
        gray = cv2.bitwise_not(gray)
    factor = detection_factor(gray.shape)
    small = shrink_keeping_ink(gray, factor)
    paper = paper_of_frame(small, factor)
    paper_here = cv2.max(stretch(paper, small.shape), 1)  # never 0: it is divided by
    layers = ink_layers(darkness_of(small, paper_here), factor)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(layers.ink, connectivity=8, ltype=_label_type(layers.ink))
    return Detection(factor, small, paper, paper_here, layers, labels, stats)


def threshold_view(gray: np.ndarray, light_ink: bool = False) -> np.ndarray:
    """The uint8 ink mask digits are found in, at the frame's size (live mode's threshold view)."""
    ink = detect(gray, light_ink).layers.ink
    return cv2.resize(ink, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_NEAREST)


def _with_margin(box: Box, shape: tuple[int, int], margin: int = 1) -> Box:
    """``box`` on the shrunken copy grown by ``margin`` pixels each way (within the copy).

    The block minimum can move an edge by up to factor - 1 pixels, so the full-resolution
    refinement looks one shrunken pixel further (the default).
    """
    x, y, w, h = box
    height, width = shape
    x0, y0 = max(0, x - margin), max(0, y - margin)
    return x0, y0, min(width, x + w + margin) - x0, min(height, y + h + margin) - y0


def _ink_below_levels() -> np.ndarray:
    """Per paper level p: the gray levels below this are ink, exactly as ``darkness_of`` thresholds them.

    darkness_of gives 255 - round(255 g / p), which exceeds INK_DARKNESS_LEVEL when
    255 g / p < B + 0.5 with B = 255 - INK_DARKNESS_LEVEL - 1, that is when g < (2B + 1) p / 510.
    That bound is never a whole number for p in 1-255 (2B + 1 is odd and shares no factor with
    510 = 2 x 3 x 5 x 17 at the default level; checked below), so for whole g it is g < ceil(bound).
    """
    brightest_ink = 255 - INK_DARKNESS_LEVEL - 1
    paper = np.arange(256, dtype=np.int64)
    numerator = (2 * brightest_ink + 1) * paper
    if np.any(numerator[1:] % 510 == 0):
        raise ValueError(f"INK_DARKNESS_LEVEL {INK_DARKNESS_LEVEL} puts a tie on a whole gray level")
    return ((numerator + 509) // 510).astype(np.uint8)


_INK_BELOW_LEVEL = read_only(_ink_below_levels())


def _full_resolution_ink(gray: np.ndarray, detection: Detection, margin_box: Box, pieces: np.ndarray
                         ) -> tuple[Box, np.ndarray] | None:
    """A detected digit's tight box and ink mask in the full-resolution frame.

    The same flattening and threshold as on the shrunken copy, run only inside the digit's
    box. Printed lines stay out where the copy took them out (each pixel of the copy decides
    for its block), and only ink next to the digit's own pieces counts, so a neighbour's
    stroke reaching into the box stays out. ``margin_box`` is the digit's box on the shrunken copy
    with ``_with_margin``, and ``pieces`` (uint8 0/255, its size) marks the digit's pieces there.
    """
    factor, layers = detection.factor, detection.layers
    x0, y0, margin_w, margin_h = margin_box
    x1, y1 = x0 + margin_w, y0 + margin_h
    rx, ry, rw, rh = x0 * factor, y0 * factor, margin_w * factor, margin_h * factor
    # The copy's ink threshold (darkness above INK_DARKNESS_LEVEL), as the gray level each
    # pixel of paper puts ink below: a table lookup instead of dividing every pixel.
    ink_below = cv2.LUT(stretch(detection.paper_here[y0:y1, x0:x1], (rh, rw)), _INK_BELOW_LEVEL)
    ink = cv2.compare(gray[ry:ry + rh, rx:rx + rw], ink_below, cv2.CMP_LT)
    near_pieces = cv2.dilate(_enlarge(pieces, factor), disc_kernel(DIGIT_MASK_SLACK_PX))
    ink = cv2.bitwise_and(ink, near_pieces)
    if layers.taken_out is not None:
        taken_out = layers.taken_out[y0:y1, x0:x1]
        if cv2.countNonZero(taken_out):
            ink = cv2.subtract(ink, _enlarge(taken_out, factor))  # 255 - 255 saturates to 0 on lines
    bx, by, bw, bh = cv2.boundingRect(ink)
    if bw == 0 or bh == 0:
        return None
    return (rx + bx, ry + by, bw, bh), ink[by:by + bh, bx:bx + bw].astype(bool)  # a cast: cheaper than > 0


def _pieces_mask(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """uint8 0/255 mask of the pixels whose label is one of ``ids`` (a digit has one to a few)."""
    mask = cv2.compare(labels, int(ids[0]), cv2.CMP_EQ)
    for label in ids[1:]:
        mask |= cv2.compare(labels, int(label), cv2.CMP_EQ)
    return mask


def _padded_to_whole_blocks(gray: np.ndarray, factor: int) -> np.ndarray:
    """``gray`` with its last row and column repeated until both sides divide by ``factor``.

    Every pixel then lies in a block of the shrunken copy, so a frame of odd size has its
    true last row and column as its edge (nothing beyond them can be ink).
    """
    height, width = gray.shape
    bottom, right = -height % factor, -width % factor
    if bottom == 0 and right == 0:
        return gray
    return cv2.copyMakeBorder(gray, 0, bottom, 0, right, cv2.BORDER_REPLICATE)


def _enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel repeated into a factor x factor block: the inverse of the shrink's blocks."""
    if factor == 1:
        return image
    return cv2.resize(image, (image.shape[1] * factor, image.shape[0] * factor), interpolation=cv2.INTER_NEAREST)


def _pieces_inside(stats: np.ndarray, small_shape: tuple[int, int], frame_shape: tuple[int, ...],
                   factor: int) -> np.ndarray:
    """Labels of the ink pieces that can belong to a digit: not specks, not cut by the frame's edge."""
    x, y, w, h, area = (stats[:, k] for k in range(5))
    small_h, small_w = small_shape
    # Anything cut by the frame's edge is a thumb, the desk, the page edge or an unreadable
    # digit; dropping it before merging keeps it from swallowing digits next to it. A tiny
    # image is a crop around its digit, as MNIST's own are: there a stroke at the edge is the
    # crop's tightness, but a piece spanning the crop (a ruled line, a scan's border) is still
    # not a digit.
    inside = (x > 0) & (y > 0) & (x + w < small_w) & (y + h < small_h)
    if max(frame_shape) <= CROP_MAX_SIDE_PX:
        inside |= (w < CROP_EDGE_PIECE_MAX_SHARE * small_w) & (h < CROP_EDGE_PIECE_MAX_SHARE * small_h)
    # Label 0 is the paper, not a piece. It usually spans the frame, but a page held up with
    # a dark desk or room all around it is ringed by "ink", and the paper is then inside.
    inside[0] = False
    return np.nonzero((area >= _speck_area(factor)) & inside)[0]


def find_digits(gray: np.ndarray, light_ink: bool = False) -> list[DigitRegion]:
    """Digit candidates of a gray frame, in no particular order (see ``layout`` for reading order).

    ``light_ink`` reads light strokes on a dark ground (chalk on a board). Polarity is a
    setting, not guessed per frame: a half-shadowed page would otherwise flip between frames.
    """
    if light_ink:
        gray = cv2.bitwise_not(gray)  # once: the full-resolution refinement reads this frame too
    frame_shape = gray.shape
    gray = _padded_to_whole_blocks(gray, detection_factor(frame_shape))
    detection = detect(gray)
    factor, stats, labels = detection.factor, detection.stats, detection.labels
    small_h, small_w = labels.shape
    pieces = _pieces_inside(stats, (small_h, small_w), frame_shape, factor)
    # Paper is the brightest large surface in view; far darker "paper" is the desk, a hand or a
    # dark object, whose edges the flattening turns into ink-like rings.
    paper = detection.paper
    paper_level = _percentile_of(paper, PAPER_LEVEL_PERCENTILE)
    paper_scale_x, paper_scale_y = paper.shape[1] / small_w, paper.shape[0] / small_h  # rounded sizes differ
    piece_boxes = stats[pieces, :4].tolist()  # plain ints: a digit has a few pieces, numpy would cost more
    ring_px = _px(EDGE_RING_OUTER_PX, factor)  # at least the refinement's margin of 1 px
    regions = []
    for group in _merge_pieces(stats[pieces, :4], factor):
        if len(group) == 1:  # most digits are one piece
            x0, y0, w0, h0 = piece_boxes[group[0]]
            x1, y1 = x0 + w0, y0 + h0
        else:
            x0 = min(piece_boxes[i][0] for i in group)
            y0 = min(piece_boxes[i][1] for i in group)
            x1 = max(piece_boxes[i][0] + piece_boxes[i][2] for i in group)
            y1 = max(piece_boxes[i][1] + piece_boxes[i][3] for i in group)
        if (y1 - y0 + 1) * factor < MIN_DIGIT_HEIGHT_PX:
            continue  # too short even allowing for the shrink's rounding
        box = (x0, y0, x1 - x0, y1 - y0)
        if paper[int((y0 + y1) / 2 * paper_scale_y), int((x0 + x1) / 2 * paper_scale_x)] < NOT_PAPER_FRACTION * paper_level:
            continue
        ids = pieces[group]
        # The digit's pieces, once, on its box grown by the edge check's ring: the checks read
        # that and the box, the full-resolution refinement the box plus its margin (inside).
        ax, ay, aw, ah = around = _with_margin(box, labels.shape, ring_px)
        pieces_around = _pieces_mask(labels[ay:ay + ah, ax:ax + aw], ids)
        mx, my, mw, mh = margin_box = _with_margin(box, labels.shape)
        margin_pieces = pieces_around[my - ay:my - ay + mh, mx - ax:mx - ax + mw]
        piece_mask = pieces_around[y0 - ay:y1 - ay, x0 - ax:x1 - ax]
        if _continues_beyond_its_edge(detection.gray, around, pieces_around, factor):
            continue
        if _lies_on_lines(detection.layers.lines, box, piece_mask, factor):
            continue  # a leftover of a darker printed line (a margin line), not a digit
        refined = _full_resolution_ink(gray, detection, margin_box, margin_pieces)
        if refined is None:
            continue
        full_box, mask = refined
        if _is_digit_like(full_box, int(np.count_nonzero(mask)), frame_shape):
            regions.append(DigitRegion(full_box, mask))
    return regions


# -- ink polarity ----------------------------------------------------------------------------
INK_CHOICES = ("dark", "light", "auto")  # dark ink on light paper, light ink on a dark ground, or judged per image
POLARITY_SIDE = 320              # the polarity is judged on a copy shrunk to at most this longer side
POLARITY_MEDIAN_FRACTION = 0.25  # a pixel's background: the median over this share of the copy's shorter side
POLARITY_DETAIL_LEVELS = 32      # detail is at least this much darker or lighter than its background (of 255)
# Light detail must outweigh dark detail by e^1.5 = 4.5 times for an image to be read as light
# ink first. On 1,800 generated paper images (300 of each evaluation category) the score
# stayed below 0.93; on the same images inverted, clean, pen, printed and photo ones scored
# 1.45 or more, but shadowed grid pages and thick-stroked scans came out near 0 either way.
LIGHT_INK_CLEAR_SCORE = 1.5


def _polarity_copy(gray: np.ndarray) -> np.ndarray:
    """``gray`` shrunk to at most POLARITY_SIDE on its longer side, for judging its polarity."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected a gray uint8 image, got shape {gray.shape} and {gray.dtype}")
    height, width = gray.shape
    scale = min(1.0, POLARITY_SIDE / max(height, width))
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, round(width * scale)), max(1, round(height * scale))),
                          interpolation=cv2.INTER_AREA)
    return gray


def mostly_light(gray: np.ndarray) -> bool:
    """Whether most of the image is its lighter tones (median at least the mean): paper
    filling the view, as opposed to a dark ground with light strokes on it."""
    small = _polarity_copy(gray)
    return bool(np.median(small) >= small.mean())


def light_ink_score(gray: np.ndarray) -> float:
    """How strongly an image's fine detail is lighter, rather than darker, than its surroundings.

    The log of (pixels clearly lighter than their local median + 1) / (pixels clearly darker
    + 1): positive for light ink on a dark ground, negative for ink on paper, near 0 when the
    image does not say (little ink, strong shadows). Ink is a minority of any neighbourhood,
    so the median is the background whichever its tone.
    """
    gray = _polarity_copy(gray)
    background = cv2.medianBlur(gray, max(MIN_FILTER_SIDE, int(min(gray.shape) * POLARITY_MEDIAN_FRACTION) | 1))
    # numpy's comparison: cv2.compare would take a 1x1 image for a scalar.
    lighter = np.count_nonzero(cv2.subtract(gray, background) > POLARITY_DETAIL_LEVELS)
    darker = np.count_nonzero(cv2.subtract(background, gray) > POLARITY_DETAIL_LEVELS)
    return math.log((lighter + 1) / (darker + 1))


HOLE_MAX_CONTAINER_FACTOR = 3.0  # a digit's hole is at least a third of its height (a 0's, an 8's loop)


def _all_holes(inner: list[DigitRegion], outer: list[DigitRegion]) -> bool:
    """Whether every region of ``inner`` lies within a region of ``outer`` at most
    HOLE_MAX_CONTAINER_FACTOR times its height, as the hole of a digit does (a whole page
    seen as one light region contains its digits too, but is far taller)."""
    def hole_of(box: Box, around: Box) -> bool:
        x, y, w, h = box
        ax, ay, aw, ah = around
        return ax <= x and ay <= y and x + w <= ax + aw and y + h <= ay + ah and ah <= HOLE_MAX_CONTAINER_FACTOR * h
    return all(any(hole_of(region.box, other.box) for other in outer) for region in inner)


def find_digits_of_ink(gray: np.ndarray, ink: str = "dark") -> tuple[list[DigitRegion], bool]:
    """``find_digits`` for ``ink`` "dark", "light" or "auto"; also says whether light ink was read.

    "auto" judges each image on its own (``light_ink_score``): light ink when the score is
    clearly light and the image is not mostly light tones (``mostly_light``: a page on a
    dark desk scores light), dark ink otherwise. An image whose score leans light at all is
    read both ways: dark ink is kept unless it found nothing, or found only the
    holes of light digits (a fat white 0's inside is a dark blob), which show as every dark
    box lying inside a light one. Light ink that finds nothing is read as dark too. A crop
    (at most CROP_MAX_SIDE_PX either way) is judged by its border instead. Meant for separate
    pictures: on a camera a passing shadow could flip a frame, so live mode reads a fixed
    polarity.
    """
    if ink not in INK_CHOICES:
        raise ValueError(f"unknown ink {ink!r}; choose from {', '.join(INK_CHOICES)}")
    if ink != "auto":
        light = ink == "light"
        return find_digits(gray, light_ink=light), light
    if max(gray.shape) <= CROP_MAX_SIDE_PX:
        # A crop's score says little (its median window is a few pixels, inside a fat
        # stroke); its border does: a light digit's crop is ringed by dark ground, a dark
        # digit's by paper. Reading the other way would find the paper in its loops.
        light = ground_is_dark(gray)
        return find_digits(gray, light_ink=light), light
    small = _polarity_copy(gray)  # shrunk once for both judgements (a no-op on a copy this small)
    score = light_ink_score(small)
    # A bright page on a dark desk scores light (its corners are lighter than the desk around
    # them) but is mostly light: it is read as dark ink first, and light only as the hole rule says.
    light = score >= LIGHT_INK_CLEAR_SCORE and not mostly_light(small)
    regions = find_digits(gray, light_ink=light)
    if score <= 0 or (light and regions):
        return regions, light
    other = find_digits(gray, light_ink=not light)
    if other and (light or _all_holes(regions, other)):
        return other, not light
    return regions, light
