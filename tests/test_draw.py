"""Drawing: labels come from a cache of rendered text, and must look exactly as drawn in place."""
from __future__ import annotations

import cv2
import numpy as np

from recognizer import draw
from recognizer.recognize import Digit, Recognition, StageTimes

PAPER = 235


def _recognition(digits: tuple[Digit, ...], numbers: tuple[str, ...], groups: tuple[tuple[int, ...], ...]
                 ) -> Recognition:
    return Recognition(digits=digits, numbers=numbers, groups=groups,
                       inputs=np.zeros((len(digits), 28, 28), np.uint8),
                       probabilities=np.full((len(digits), 10), 0.1), times=StageTimes(0.0, 0.0, 0.0))


def _label_drawn_in_place(canvas: np.ndarray, text: str, anchor: tuple[int, int], font_scale: float,
                          background: tuple[int, int, int], style: draw.DrawStyle, below: bool) -> None:
    """The label as OpenCV draws it straight onto the canvas: the reference for the cached copy."""
    (text_w, text_h), baseline = cv2.getTextSize(text, draw.FONT, font_scale, style.text_thickness)
    box_w, box_h = text_w + 2 * style.padding, text_h + baseline + 2 * style.padding
    height, width = canvas.shape[:2]
    left = min(max(anchor[0], 0), max(width - box_w, 0))
    top = min(max(anchor[1] if below else anchor[1] - box_h, 0), max(height - box_h, 0))
    cv2.rectangle(canvas, (left, top), (left + box_w - 1, top + box_h - 1), background, cv2.FILLED)
    cv2.putText(canvas, text, (left + style.padding, top + style.padding + text_h), draw.FONT, font_scale,
                draw.TEXT_COLOR, style.text_thickness, cv2.LINE_AA)


def test_cached_labels_match_labels_drawn_in_place() -> None:
    rng = np.random.default_rng(0)
    for shape in ((480, 640, 3), (720, 1280, 3), (60, 90, 3)):
        style = draw.style_for(shape)
        for text, below in (("7 .98", True), ("? .41", True), ("2024", False), ("1?3", False)):
            for anchor in ((5, 10), (shape[1] - 3, shape[0] - 2), (-4, -4), (shape[1] // 2, 1)):
                background = tuple(int(v) for v in rng.integers(0, 256, 3))
                expected = rng.integers(0, 256, shape, dtype=np.uint8)
                cached = expected.copy()
                _label_drawn_in_place(expected, text, anchor, style.label_font_scale, background, style, below)
                draw._draw_label(cached, text, anchor, style.label_font_scale, background, style, below)
                assert np.array_equal(cached, expected), (shape, text, anchor)


def test_a_reused_label_is_not_changed_by_drawing_over_the_frame() -> None:
    recognition = _recognition((Digit(3, 0.97, (40, 30, 20, 32)), Digit(8, 0.95, (66, 30, 20, 32))),
                               ("38",), ((0, 1),))
    image = np.full((120, 160, 3), PAPER, np.uint8)
    first = draw.draw_recognition(image, recognition, lambda digit: str(digit.label))
    first[...] = 0  # what a caller may do with the returned frame (e.g. draw its HUD on it)
    second = draw.draw_recognition(image, recognition, lambda digit: str(digit.label))
    again = draw.draw_recognition(np.full_like(image, PAPER), recognition, lambda digit: str(digit.label))
    assert np.array_equal(second, again) and (second != PAPER).any()


def test_a_number_label_sits_above_all_its_digits() -> None:
    digits = (Digit(1, 0.99, (30, 50, 10, 30)), Digit(2, 0.99, (44, 46, 14, 34)))
    image = np.full((120, 160, 3), PAPER, np.uint8)
    drawn = draw.draw_recognition(image, _recognition(digits, ("12",), ((0, 1),)), lambda digit: str(digit.label))
    number_pixels = np.nonzero((drawn == draw.NUMBER_COLOR).all(axis=2))
    assert len(number_pixels[0]) > 0
    style = draw.style_for(image.shape)
    # Its bottom edge rests on the union box's top (46), the box's line width above it.
    assert number_pixels[0].max() == 46 - style.box_thickness - 1
    assert number_pixels[1].min() == 30  # left edge of the union of both digits
