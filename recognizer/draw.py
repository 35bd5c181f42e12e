"""Draw a Recognition onto an image: a box, label and confidence per digit, numbers above.

Pure OpenCV and cheap enough to run on every camera frame in live mode.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from recognizer.layout import Box
from recognizer.recognize import UNCERTAIN_MARK, Digit, Recognition

# Colours are BGR.
CERTAIN_COLOR = (40, 160, 0)      # green: the label is trusted
UNCERTAIN_COLOR = (0, 90, 240)    # orange-red: below the confidence threshold, shown as "?"
NUMBER_COLOR = (170, 60, 0)       # blue: a whole number read from a group of digits
TEXT_COLOR = (255, 255, 255)      # label text, drawn on a filled background of the box colour

FONT = cv2.FONT_HERSHEY_SIMPLEX
# Sizes are given for an image whose longer side is REFERENCE_SIDE_PX and scaled linearly,
# so a label covers about the same share of a phone photo as of a webcam frame.
REFERENCE_SIDE_PX = 640
LABEL_FONT_SCALE = 0.5
NUMBER_FONT_SCALE = 0.75
MIN_FONT_SCALE = 0.3              # below this Hershey glyphs are unreadable
BOX_THICKNESS_PX = 2
TEXT_THICKNESS_PX = 1
TEXT_PADDING_PX = 3               # space between a label's text and its background edge
# Rendered labels kept for reuse: a page held up to the camera shows the same few dozen
# "7 .98" labels frame after frame, and anti-aliased text costs ~25 us a label to draw.
LABEL_CACHE_SIZE = 512


@dataclass(frozen=True)
class DrawStyle:
    """Pixel sizes for one image size; compute once per frame size with ``style_for``."""
    label_font_scale: float
    number_font_scale: float
    box_thickness: int
    text_thickness: int
    padding: int


def style_for(image_shape: tuple[int, ...]) -> DrawStyle:
    scale = max(image_shape[:2]) / REFERENCE_SIDE_PX
    return DrawStyle(
        label_font_scale=max(MIN_FONT_SCALE, LABEL_FONT_SCALE * scale),
        number_font_scale=max(MIN_FONT_SCALE, NUMBER_FONT_SCALE * scale),
        box_thickness=max(1, round(BOX_THICKNESS_PX * scale)),
        text_thickness=max(1, round(TEXT_THICKNESS_PX * scale)),
        padding=max(1, round(TEXT_PADDING_PX * scale)),
    )


def draw_recognition(image_bgr: np.ndarray, recognition: Recognition,
                     text_of: Callable[[Digit], str]) -> np.ndarray:
    """Return an annotated BGR copy of ``image_bgr`` (gray input is converted to BGR).

    ``text_of`` is ``Recognizer.text_of``: it decides which digits are uncertain ("?").
    Each digit gets its box and "label confidence" beneath it; each number is written
    above the digits it was read from.
    """
    canvas = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR) if image_bgr.ndim == 2 else image_bgr.copy()
    style = style_for(canvas.shape)
    for digit in recognition.digits:
        text = text_of(digit)
        color = UNCERTAIN_COLOR if text == UNCERTAIN_MARK else CERTAIN_COLOR
        x, y, w, h = digit.box
        cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), color, style.box_thickness)
        # ".97" rather than "0.97": labels of neighbouring digits overlap less.
        confidence = f"{digit.confidence:.2f}".removeprefix("0")
        _draw_label(canvas, f"{text} {confidence}", (x, y + h + style.box_thickness),
                    style.label_font_scale, color, style, below=True)
    for number, group in zip(recognition.numbers, recognition.groups):
        x, y, _, _ = _union_box([recognition.digits[i].box for i in group])
        color = UNCERTAIN_COLOR if UNCERTAIN_MARK in number else NUMBER_COLOR
        _draw_label(canvas, number, (x, y - style.box_thickness), style.number_font_scale, color, style,
                    below=False)
    return canvas


def _draw_label(canvas: np.ndarray, text: str, anchor: tuple[int, int], font_scale: float,
                background: tuple[int, int, int], style: DrawStyle, below: bool) -> None:
    """Write ``text`` on a filled box whose top (below=True) or bottom edge sits at ``anchor``.

    The box is shifted to stay inside the image, so labels at the border stay readable.
    """
    label = _rendered_label(text, font_scale, background, style.text_thickness, style.padding)
    box_h, box_w = label.shape[:2]
    height, width = canvas.shape[:2]
    left = min(max(anchor[0], 0), max(width - box_w, 0))
    top = anchor[1] if below else anchor[1] - box_h
    top = min(max(top, 0), max(height - box_h, 0))
    # The label is opaque (text on a filled box), so it is copied, not blended.
    visible = canvas[top:top + box_h, left:left + box_w]
    visible[...] = label[:visible.shape[0], :visible.shape[1]]


@functools.lru_cache(maxsize=LABEL_CACHE_SIZE)
def _rendered_label(text: str, font_scale: float, background: tuple[int, int, int], thickness: int,
                    padding: int) -> np.ndarray:
    """A read-only BGR image of ``text`` in white on a box of ``background``, ``padding`` px around it."""
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, font_scale, thickness)
    label = np.empty((text_h + baseline + 2 * padding, text_w + 2 * padding, 3), np.uint8)
    label[...] = background
    cv2.putText(label, text, (padding, padding + text_h), FONT, font_scale, TEXT_COLOR, thickness, cv2.LINE_AA)
    label.flags.writeable = False
    return label


def _union_box(boxes: list[Box]) -> Box:
    # Plain Python: a number has a few digits, and a numpy array for them costs more.
    left, top = min(x for x, _, _, _ in boxes), min(y for _, y, _, _ in boxes)
    right, bottom = max(x + w for x, _, w, _ in boxes), max(y + h for _, y, _, h in boxes)
    return left, top, right - left, bottom - top


# -- live-mode overlays -------------------------------------------------------------------
HUD_TEXT_COLOR = (255, 255, 255)
HUD_BACKGROUND = (0, 0, 0)
HUD_OPACITY = 0.55                # the video stays visible behind the heads-up text
HUD_FONT_SCALE = 0.5
HUD_LINE_GAP_PX = 6
HUD_MARGIN_PX = 6
STRIP_TILE_PX = 56                # each 28x28 input shown at 2x
STRIP_BACKGROUND = (40, 40, 40)
STRIP_LABEL_OFFSET_PX = (2, 4)    # a tile's label: from its left edge, and above its bottom edge
STRIP_FONT_SCALE = 1.5 * MIN_FONT_SCALE  # small, but readable on a 56 px tile


def draw_text_panel(canvas: np.ndarray, lines: list[str], *, centred: bool = False) -> None:
    """Write ``lines`` on a translucent dark panel, top-left (the HUD) or centred (help)."""
    if not lines:
        return
    style = style_for(canvas.shape)
    scale = max(MIN_FONT_SCALE, HUD_FONT_SCALE * max(canvas.shape[:2]) / REFERENCE_SIDE_PX)
    # "key\tdescription" lines are laid out in two columns (the font is proportional).
    cells = [line.split("\t", 1) for line in lines]
    first_w = max(cv2.getTextSize(cell[0], FONT, scale, style.text_thickness)[0][0] for cell in cells)
    column_x = first_w + 2 * HUD_MARGIN_PX if any(len(cell) > 1 for cell in cells) else 0
    sizes = [cv2.getTextSize(cell[-1], FONT, scale, style.text_thickness)[0] for cell in cells]
    line_h = max(h for _, h in sizes) + HUD_LINE_GAP_PX
    panel_w = max(max(column_x + w for w, _ in sizes), first_w) + 2 * HUD_MARGIN_PX
    panel_h = line_h * len(lines) + HUD_MARGIN_PX
    height, width = canvas.shape[:2]
    left, top = ((width - panel_w) // 2, (height - panel_h) // 2) if centred else (0, 0)
    left, top = max(left, 0), max(top, 0)
    right, bottom = min(left + panel_w, width), min(top + panel_h, height)
    region = canvas[top:bottom, left:right]
    region[:] = cv2.addWeighted(region, 1 - HUD_OPACITY, np.full_like(region, HUD_BACKGROUND), HUD_OPACITY, 0)
    for number, cell in enumerate(cells, start=1):
        baseline_y = top + number * line_h
        for offset, text in zip((0, column_x), cell):
            cv2.putText(canvas, text, (left + HUD_MARGIN_PX + offset, baseline_y), FONT, scale, HUD_TEXT_COLOR,
                        style.text_thickness, cv2.LINE_AA)


def input_strip(inputs: np.ndarray, texts: list[str], width: int) -> np.ndarray:
    """A BGR strip ``width`` px wide showing the 28x28 model inputs with their labels."""
    tile = STRIP_TILE_PX
    per_row = max(1, width // tile)
    rows = max(1, -(-len(inputs) // per_row))
    strip = np.full((rows * tile, width, 3), STRIP_BACKGROUND, np.uint8)
    for index, (pixels, text) in enumerate(zip(inputs, texts)):
        row, column = divmod(index, per_row)
        y, x = row * tile, column * tile
        strip[y:y + tile, x:x + tile] = cv2.cvtColor(cv2.resize(pixels, (tile, tile),
                                                                interpolation=cv2.INTER_NEAREST),
                                                     cv2.COLOR_GRAY2BGR)
        color = UNCERTAIN_COLOR if text == UNCERTAIN_MARK else CERTAIN_COLOR
        label_x, label_rise = STRIP_LABEL_OFFSET_PX
        cv2.putText(strip, text, (x + label_x, y + tile - label_rise), FONT, STRIP_FONT_SCALE, color,
                    TEXT_THICKNESS_PX, cv2.LINE_AA)
    return strip
