"""Reading order and numbers: which digits form a line, and which stand together as one number."""
from __future__ import annotations

from collections.abc import Sequence

Box = tuple[int, int, int, int]  # x, y, width, height in the image's pixel coordinates (every module's box)

# Two boxes are on one line when their vertical extents overlap by this share of the shorter.
SAME_LINE_OVERLAP = 0.5
# Adjacent digits belong to one number when the gap between them is below this share of
# their mean height (handwriting leaves about a quarter height between digits of a number,
# and a clearly wider space between numbers).
NUMBER_GAP_FACTOR = 0.6
# Digits whose heights differ by more than this factor are not read as one number.
MAX_HEIGHT_RATIO = 1.8


def _vertical_overlap(a: Box, b: Box) -> float:
    overlap = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return overlap / max(1, min(a[3], b[3]))


def reading_order(boxes: Sequence[Box]) -> list[list[int]]:
    """Indices of ``boxes`` grouped into lines (top to bottom), each sorted left to right."""
    lines: list[list[int]] = []
    for index in sorted(range(len(boxes)), key=lambda i: boxes[i][1] + boxes[i][3] / 2):
        # Join the line whose members overlap this box vertically the most.
        box = boxes[index]
        best, best_overlap = None, SAME_LINE_OVERLAP
        for line in lines:
            overlap = max([_vertical_overlap(box, boxes[member]) for member in line])
            if overlap >= best_overlap:
                best, best_overlap = line, overlap
        if best is None:
            lines.append([index])
        else:
            best.append(index)
    for line in lines:
        line.sort(key=lambda i: boxes[i][0])
    lines.sort(key=lambda line: sum(boxes[i][1] + boxes[i][3] / 2 for i in line) / len(line))
    return lines


def _same_number(left: Box, right: Box) -> bool:
    gap = right[0] - (left[0] + left[2])
    mean_height = (left[3] + right[3]) / 2
    heights_alike = max(left[3], right[3]) <= MAX_HEIGHT_RATIO * min(left[3], right[3])
    return heights_alike and gap <= NUMBER_GAP_FACTOR * mean_height


def layout(boxes: Sequence[Box]) -> tuple[list[int], list[list[int]]]:
    """Reading order of ``boxes`` and the numbers they form.

    Returns ``(order, groups)``: ``order`` lists box indices in reading order, and each group
    lists positions *in that order* of the digits forming one number, left to right.
    """
    order: list[int] = []
    groups: list[list[int]] = []
    for line in reading_order(boxes):
        for index in line:
            position = len(order)
            if groups and order and order[-1] in line and _same_number(boxes[order[-1]], boxes[index]):
                groups[-1].append(position)
            else:
                groups.append([position])
            order.append(index)
    return order, groups
