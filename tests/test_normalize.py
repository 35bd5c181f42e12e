"""Properties of the one normaliser every crop goes through."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from recognizer import normalize

from recognizer.normalize import (DIGIT_BOX_SIDE, MNIST_STROKE_WIDTH, ink_mask, normalize_digit,
                                  stroke_width, to_gray)


def paper_digit(mnist_digit: np.ndarray, height: int, ink: int = 40, paper: int = 220) -> np.ndarray:
    """An MNIST digit as dark ink on light paper, scaled to ``height`` with a margin."""
    big = cv2.resize(mnist_digit, (height, height), interpolation=cv2.INTER_CUBIC)
    alpha = np.clip(big.astype(np.float32) / 255.0, 0, 1)
    image = paper - alpha * (paper - ink)
    return np.pad(image, height // 4, constant_values=paper).astype(np.uint8)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    moments = cv2.moments(image.astype(np.float32))
    return moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]


def test_output_is_28x28_uint8_white_on_black(mnist_test):
    out = normalize_digit(paper_digit(mnist_test[0][0], 90))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() > 200, "the digit should be bright"
    assert np.median(out) == 0, "the background should be black"


@pytest.mark.parametrize("index", range(10))
def test_centre_of_mass_is_at_the_centre(mnist_test, index):
    out = normalize_digit(paper_digit(mnist_test[0][index], 70))
    cx, cy = centre_of_mass(out)
    assert abs(cx - 13.5) < 0.6 and abs(cy - 13.5) < 0.6


def test_longer_side_is_twenty_pixels(mnist_test):
    for digit in mnist_test[0][:20]:
        out = normalize_digit(paper_digit(digit, 120))
        rows, cols = np.nonzero(out > 40)
        longer = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
        assert DIGIT_BOX_SIDE - 2 <= longer <= DIGIT_BOX_SIDE + 2


def test_aspect_ratio_is_kept_for_a_narrow_one():
    one = np.full((100, 100), 230, np.uint8)
    cv2.line(one, (50, 10), (50, 90), 20, 8)
    out = normalize_digit(one)
    rows, cols = np.nonzero(out > 60)
    assert rows.max() - rows.min() >= 17
    assert cols.max() - cols.min() <= 6


def test_polarity_is_decided_automatically(mnist_test):
    dark_on_light = paper_digit(mnist_test[0][3], 80)
    light_on_dark = 255 - dark_on_light
    a, b = normalize_digit(dark_on_light), normalize_digit(light_on_dark)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 3


def test_matches_mnist_itself(mnist_test):
    """Re-normalising MNIST digits drawn as ink on paper gives back images close to MNIST's."""
    differences = [np.abs(normalize_digit(paper_digit(d, 84)).astype(int) - d.astype(int)).mean()
                   for d in mnist_test[0][:200]]
    assert np.mean(differences) < 20


def test_uneven_light_and_noise(mnist_test):
    digit = paper_digit(mnist_test[0][7], 80).astype(np.float32)
    gradient = np.linspace(0.55, 1.0, digit.shape[1])[None, :]
    noisy = digit * gradient + np.random.default_rng(0).normal(0, 8, digit.shape)
    clean_out = normalize_digit(digit.astype(np.uint8))
    noisy_out = normalize_digit(np.clip(noisy, 0, 255).astype(np.uint8))
    assert np.abs(clean_out.astype(int) - noisy_out.astype(int)).mean() < 25


def test_faint_pencil_is_found(mnist_test):
    faint = paper_digit(mnist_test[0][1], 80, ink=185, paper=215)
    assert ink_mask(faint).sum() > 100
    assert normalize_digit(faint).max() > 200


def test_thin_pen_strokes_are_thickened_towards_mnist():
    thin = np.full((200, 200), 255, np.uint8)
    cv2.line(thin, (60, 30), (140, 30), 0, 1)       # a 7 drawn with a 1 px pen
    cv2.line(thin, (140, 30), (80, 170), 0, 1)
    out = normalize_digit(thin)
    width = stroke_width(out > 127)
    assert out.max() > 200, "a 1 px line must survive downscaling"
    assert MNIST_STROKE_WIDTH * 0.6 <= width <= MNIST_STROKE_WIDTH * 1.6


def test_thick_marker_strokes_are_thinned_into_mnists_range(monkeypatch):
    thick = np.full((200, 200), 255, np.uint8)
    cv2.circle(thick, (100, 100), 60, 0, 40)          # a 0 drawn with a fat marker
    thinned = stroke_width(normalize_digit(thick) > 127)
    monkeypatch.setattr(normalize, "_adjust_stroke", lambda work: work)
    as_drawn = stroke_width(normalize_digit(thick) > 127)
    assert thinned < 0.9 * as_drawn


def test_thick_strokes_are_shrunk_to_the_thick_end_of_mnists_range_not_its_median():
    work = np.zeros((normalize.WORK_SIDE, normalize.WORK_SIDE), np.uint8)
    cv2.circle(work, (40, 40), 28, 255, 22)           # about twice MNIST's width at work scale
    median = MNIST_STROKE_WIDTH * normalize.WORK_SCALE
    thickest = median * normalize.STROKE_TOLERANCE
    width = normalize._stroke_width_of_ink(normalize._adjust_stroke(work))
    assert (median + thickest) / 2 < width <= thickest


def test_mask_restricts_the_ink_to_one_digit(mnist_test):
    crop = paper_digit(mnist_test[0][0], 60)
    mask = np.zeros(crop.shape, bool)
    with_neighbour = crop.copy()
    with_neighbour[:, :5] = 0                      # a neighbour's stroke at the crop edge
    mask[:, 10:] = ink_mask(crop)[:, 10:]
    out_masked = normalize_digit(with_neighbour, mask)
    out_clean = normalize_digit(crop, ink_mask(crop))
    assert np.abs(out_masked.astype(int) - out_clean.astype(int)).mean() < 10


def test_blank_crop_gives_black_image():
    assert normalize_digit(np.full((40, 40), 200, np.uint8)).max() == 0


def test_to_gray_accepts_gray_bgr_and_bgra():
    bgr = np.zeros((5, 6, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 200, 100, 30        # distinct channels: order matters
    expected = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    assert np.array_equal(to_gray(bgr), expected)
    bgra = np.dstack([bgr, np.zeros((5, 6), np.uint8)])          # alpha must not leak in
    assert np.array_equal(to_gray(bgra), expected)
    assert np.array_equal(to_gray(expected[..., None]), expected)
    assert to_gray(np.zeros((5, 6), np.uint8)).shape == (5, 6)
    with pytest.raises(ValueError):
        to_gray(np.zeros((5, 6, 2), np.uint8))


def test_a_batch_is_normalised_as_each_crop_alone(mnist_test):
    # The batch path shares its conversion and centring across crops; nothing may leak between them.
    crops = [paper_digit(mnist_test[0][index], height) for index, height in ((0, 40), (1, 90), (2, 64), (3, 130))]
    crops.insert(2, np.full((30, 20), 220, np.uint8))  # no ink at all
    masks = [ink_mask(crop) for crop in crops]
    masks[1] = None  # found by the normaliser itself
    batch = normalize.normalize_digits(crops, masks)
    assert batch.shape == (5, 28, 28) and batch.dtype == np.uint8
    for crop, mask, out in zip(crops, masks, batch):
        assert np.array_equal(out, normalize_digit(crop, mask))
    assert not batch[2].any()
    assert normalize.normalize_digits([]).shape == (0, 28, 28)
    with pytest.raises(ValueError, match="2 crops but 1 masks"):
        normalize.normalize_digits(crops[:2], masks[:1])
