"""Reading order and grouping of digits into numbers."""
from __future__ import annotations

from recognizer.layout import layout


def test_one_number_left_to_right():
    boxes = [(80, 10, 20, 30), (10, 12, 20, 30), (45, 8, 20, 30)]
    order, groups = layout(boxes)
    assert order == [1, 2, 0]
    assert groups == [[0, 1, 2]]


def test_two_lines_top_to_bottom_and_separate_numbers():
    boxes = [(10, 100, 20, 30), (200, 100, 20, 30), (10, 12, 20, 30), (35, 10, 20, 30), (40, 102, 20, 30)]
    order, groups = layout(boxes)
    assert order == [2, 3, 0, 4, 1]
    assert groups == [[0, 1], [2, 3], [4]]


def test_slanted_line_stays_one_line():
    # handwriting drifts: each digit a little lower than the one before
    boxes = [(10 + 25 * i, 10 + 6 * i, 20, 30) for i in range(5)]
    order, groups = layout(boxes)
    assert order == [0, 1, 2, 3, 4]
    assert groups == [[0, 1, 2, 3, 4]]


def test_small_and_large_digits_are_not_one_number():
    order, groups = layout([(10, 10, 20, 80), (35, 50, 8, 20)])
    assert groups == [[0], [1]]


def test_empty():
    assert layout([]) == ([], [])
