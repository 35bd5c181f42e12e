"""Segmentation on generated scenes with known boxes: grid paper, shadows, thumbs, specks."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from recognizer.normalize import to_gray
from recognizer.scenes import (HARD, DigitPool, compose_camera_scene, make_camera_scene, make_shaky_clip,
                               sample_conditions, scene_rng)
from recognizer.segment import (MERGE_VECTORISED_MIN_PIECES, _joined_pairs_plain, _joined_pairs_vectorised,
                                _merge_pieces, find_digits)
from recognizer import scenes, segment
from recognizer.evaluate import box_iou, match_boxes


def matches(truth, found) -> tuple[int, int]:
    """(true positives, false positives), matched as the evaluation matches them."""
    matching = match_boxes(truth, found)
    return len(matching.pairs), len(matching.false_positives)


@pytest.fixture(scope="module")
def pool(mnist_test) -> DigitPool:
    return DigitPool(*mnist_test)


def boxes_of(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    return [region.box for region in find_digits(to_gray(image))]


def test_digits_on_grid_paper_are_found(pool):
    found_total = truth_total = false_total = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        conditions = dataclasses.replace(sample_conditions(rng, HARD), pattern="grid", pattern_spacing_px=20,
                                         page_edge_side=None, thumb_side=None)
        scene = compose_camera_scene(rng, pool, [["407"], ["1959"]], conditions)
        hits, false = matches(scene.boxes, boxes_of(scene.image))
        found_total, truth_total, false_total = found_total + hits, truth_total + len(scene.boxes), false_total + false
    assert found_total / truth_total >= 0.95
    assert false_total / (found_total + false_total) <= 0.05


def test_hard_camera_scenes_recall_and_precision(pool):
    hits_total = truth_total = false_total = 0
    for seed in range(100, 130):
        scene = make_camera_scene(np.random.default_rng(seed), pool, HARD)
        hits, false = matches(scene.boxes, boxes_of(scene.image))
        hits_total, truth_total, false_total = hits_total + hits, truth_total + len(scene.boxes), false_total + false
    assert hits_total / truth_total >= 0.95
    assert hits_total / (hits_total + false_total) >= 0.95


def test_boxes_are_tight(pool):
    scene = compose_camera_scene(np.random.default_rng(7), pool, [["23"]],
                                 sample_conditions(np.random.default_rng(7), "clean"))
    found = boxes_of(scene.image)
    assert len(found) == 2
    for truth in scene.boxes:
        assert max(box_iou(truth, f) for f in found) >= 0.8


def blank_page(height: int = 480, width: int = 640) -> np.ndarray:
    return np.full((height, width, 3), (215, 225, 232), np.uint8)


def test_blank_grid_paper_gives_nothing():
    page = blank_page()
    for x in range(5, 640, 22):
        cv2.line(page, (x, 0), (x + 6, 479), (200, 170, 140), 1)
    for y in range(5, 480, 22):
        cv2.line(page, (0, y), (639, y + 9), (200, 170, 140), 1)
    assert boxes_of(page) == []


def test_specks_and_noise_are_not_digits():
    rng = np.random.default_rng(0)
    page = blank_page().astype(np.float32) + rng.normal(0, 6, (480, 640, 3))
    page = np.clip(page, 0, 255).astype(np.uint8)
    for _ in range(40):
        x, y = rng.integers(10, 630), rng.integers(10, 470)
        cv2.circle(page, (int(x), int(y)), 1, (40, 40, 40), -1)
    assert boxes_of(page) == []


def test_thumb_and_desk_at_the_edge_are_rejected():
    page = blank_page()
    page[:, :60] = (40, 60, 80)                                          # the desk beyond the page edge
    cv2.ellipse(page, (660, 300), (130, 70), 0, 0, 360, (120, 150, 200), -1)  # a thumb from the right
    cv2.putText(page, "3", (300, 260), cv2.FONT_HERSHEY_SIMPLEX, 3, (30, 30, 30), 8)
    found = boxes_of(page)
    assert len(found) == 1
    x, y, w, h = found[0]
    assert 280 < x < 360 and h > 40


def test_noise_specks_in_a_shadow_do_not_chain_digits_together(pool):
    # Frame 18 of the live evaluation's sixth clip: sensor noise in a shadow on grid paper,
    # between a 5 and the 8 below it. Shrunk by block minimum, noise grows into specks that
    # once joined the two digits into one box.
    clip = make_shaky_clip(scene_rng(0, "live", 5), pool, 19, HARD)
    truth = [box for box in clip.boxes[18] if box is not None]
    hits, false = matches(truth, boxes_of(clip.frames[18]))
    assert (hits, false) == (len(truth), 0)


@pytest.mark.parametrize("height, width", [(480, 640), (481, 641)], ids=["even", "odd"])
@pytest.mark.parametrize("edge", ["top", "bottom", "left", "right"])
@pytest.mark.parametrize("gap, found", [(0, False), (1, True)], ids=["cut", "one-pixel-inside"])
def test_every_frame_edge_cuts_exactly_the_ink_that_reaches_it(height, width, edge, gap, found):
    # The half-size search must not move any edge of the frame, even sizes or odd: only ink
    # on the outermost row or column counts as cut by it.
    page = blank_page(height, width)
    tall, wide = 61, 4                                     # a "1"
    y = {"top": gap, "bottom": height - gap - tall}.get(edge, 200)
    x = {"left": gap, "right": width - gap - wide}.get(edge, 300)
    cv2.rectangle(page, (x, y), (x + wide - 1, y + tall - 1), (30, 30, 30), -1)
    assert boxes_of(page) == ([(x, y, wide, tall)] if found else [])


def test_a_tall_narrow_image_is_searched_without_error():
    # Its shrunken paper estimate is rounded differently along x and y.
    image = np.full((3000, 30), 220, np.uint8)
    cv2.rectangle(image, (13, 2900), (16, 2940), 30, -1)
    assert boxes_of(image) == [(13, 2900, 4, 41)]


def test_a_solid_ink_blot_is_not_a_digit():
    page = blank_page()
    cv2.rectangle(page, (300, 200), (329, 229), (30, 30, 30), -1)   # 30 x 30, no stroke in it
    assert boxes_of(page) == []


def test_a_remnant_of_a_printed_line_is_not_a_digit():
    from recognizer.segment import _lies_on_lines
    lines = np.zeros((100, 100), np.uint8)
    lines[50:52, :] = 255                                   # a ruled line, 2 px thick
    dash = np.full((3, 20), 255, np.uint8)                  # a thin dash left on it
    assert _lies_on_lines(lines, (40, 49, 20, 3), dash, 1)
    assert not _lies_on_lines(lines, (40, 20, 20, 3), dash, 1)   # the same dash away from lines


def test_large_dark_blob_is_rejected():
    page = blank_page()
    cv2.rectangle(page, (200, 150), (330, 280), (50, 50, 50), -1)
    assert boxes_of(page) == []


def test_detached_bar_of_a_five_is_merged():
    page = blank_page()
    ink = (30, 30, 30)
    cv2.line(page, (300, 200), (345, 200), ink, 5)                      # the bar, drawn apart
    cv2.line(page, (300, 210), (298, 240), ink, 5)                      # the stem
    cv2.ellipse(page, (315, 262), (25, 22), 0, -150, 150, ink, 5)       # the belly
    found = boxes_of(page)
    assert len(found) == 1
    x, y, w, h = found[0]
    assert y <= 200 and y + h >= 280


def test_shadow_across_the_page_does_not_hide_digits(pool):
    scene = compose_camera_scene(np.random.default_rng(3), pool, [["58"]],
                                 sample_conditions(np.random.default_rng(3), "clean"))
    shaded = scene.image.astype(np.float32)
    shaded[:, : shaded.shape[1] // 2] *= 0.45                            # hard shadow over the left half
    hits, false = matches(scene.boxes, boxes_of(shaded.astype(np.uint8)))
    assert hits == 2 and false == 0


@pytest.mark.parametrize("height", [20, 60, 140, 400])
def test_digit_heights_from_twenty_pixels_to_most_of_the_frame(pool, height):
    digit = pool.images[np.flatnonzero(pool.labels == 3)[0]]
    big = cv2.resize(digit, (height * 28 // 20, height * 28 // 20), interpolation=cv2.INTER_CUBIC)
    # A pen held close to the camera draws strokes about a twentieth of the digit's height,
    # thinner than MNIST's; thin the upscaled digit accordingly for big sizes.
    stroke_excess = max(0, round(height * (0.14 - 0.05) / 2))
    if stroke_excess:
        big = cv2.erode(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * stroke_excess + 1,) * 2))
    page = np.full((720, 960), 225, np.uint8)   # 400 px is most of a 720p frame
    y0, x0 = (720 - big.shape[0]) // 2, (960 - big.shape[1]) // 2
    region = page[y0:y0 + big.shape[0], x0:x0 + big.shape[1]]
    region[:] = np.minimum(region, 255 - big)
    found = boxes_of(page)
    assert len(found) == 1
    assert abs(found[0][3] - height) <= max(3, height * 0.15)


def test_light_ink_on_dark_background_with_light_ink_setting():
    board = np.full((240, 320), 40, np.uint8)
    cv2.putText(board, "7", (130, 170), cv2.FONT_HERSHEY_SIMPLEX, 3, 230, 8)
    assert len(find_digits(board, light_ink=True)) == 1


@pytest.mark.parametrize("index", range(3))
def test_auto_ink_reads_a_page_and_its_inverse_alike(pool, index):
    gray = to_gray(make_camera_scene(scene_rng(0, "ink", index), pool, "clean").image)
    regions, light = segment.find_digits_of_ink(gray, "auto")
    assert not light and [r.box for r in regions] == [r.box for r in find_digits(gray)] != []
    assert segment.light_ink_score(gray) < 0 < segment.LIGHT_INK_CLEAR_SCORE < segment.light_ink_score(255 - gray)
    inverted, light = segment.find_digits_of_ink(255 - gray, "auto")
    assert light and [r.box for r in inverted] == [r.box for r in regions]
    with pytest.raises(ValueError, match="ink"):
        segment.find_digits_of_ink(gray, "white")


def test_auto_ink_reads_the_other_polarity_when_its_first_choice_finds_nothing():
    # A light digit on a mid-gray board crossed by a dark line: the detail leans light, but
    # not clearly, so dark ink is read first; it finds nothing, so light ink is read too.
    board = np.full((240, 320), 120, np.uint8)
    board[40] = 30
    cv2.putText(board, "7", (150, 160), cv2.FONT_HERSHEY_SIMPLEX, 2, 230, 6)
    assert 0 < segment.light_ink_score(board) < segment.LIGHT_INK_CLEAR_SCORE
    assert find_digits(board) == []
    regions, light = segment.find_digits_of_ink(board, "auto")
    assert light and [region.box for region in regions] == [region.box for region in find_digits(board, True)]
    board[41:44] = 30  # a thicker line: the detail leans dark, and dark ink is all that is read
    assert segment.light_ink_score(board) < 0 and segment.find_digits_of_ink(board, "auto") == ([], False)


def _fat_light_zero(side: int, stroke_px: int) -> np.ndarray:
    image = np.zeros((side, side), np.uint8)
    centre = side // 2
    cv2.ellipse(image, (centre, centre), (side * 6 // 28, side * 8 // 28), 0, 0, 360, 255, stroke_px, cv2.LINE_AA)
    return cv2.GaussianBlur(image, (3, 3), 0)


def test_auto_ink_reads_a_fat_light_zero_not_its_hole():
    # The inside of a fat white 0 is a dark blob that dark-ink reading takes for a digit; it
    # lies inside the light reading's box, so the light reading is the right one.
    zero = _fat_light_zero(40, 5)
    assert 0 < segment.light_ink_score(zero) < segment.LIGHT_INK_CLEAR_SCORE
    (hole,) = find_digits(zero)
    (ring,) = find_digits(zero, light_ink=True)
    x, y, w, h = ring.box
    assert x < hole.box[0] and hole.box[0] + hole.box[2] < x + w and y < hole.box[1] and hole.box[3] < h
    regions, light = segment.find_digits_of_ink(zero, "auto")
    assert light and [region.box for region in regions] == [ring.box]


def test_auto_ink_judges_a_crop_by_its_border_not_its_score():
    # At 28x28 (MNIST's own size) a fat stroke fills the score's median window and the
    # score leans dark; the crop's dark border says light ink. The same crop inverted has a
    # paper border: dark ink, the ring itself, not the paper in its loop.
    zero = _fat_light_zero(28, 5)
    assert segment.light_ink_score(zero) <= 0 and find_digits(zero) == []
    regions, light = segment.find_digits_of_ink(zero, "auto")
    assert light and len(regions) == 1 and regions[0].box[3] >= 20
    dark_zero = 255 - zero
    inverted, light = segment.find_digits_of_ink(dark_zero, "auto")
    assert not light and [region.box for region in inverted] == [region.box for region in regions]


def test_auto_ink_reads_a_page_on_a_dark_desk_as_dark_ink(pool):
    # A bright page held at a slant over a dark desk: the page's corners are lighter than the
    # desk around them, so the score leans light, and a light reading finds the page's outline
    # as one big region around the digit. The digit is not its hole: it stays dark ink.
    scene = scenes.make_scene(scenes.HANDHELD, scene_rng(0, scenes.HANDHELD, 44), pool)
    gray = to_gray(scene.image)
    assert segment.light_ink_score(gray) > 0 and segment.mostly_light(gray)
    (outline,) = find_digits(gray, light_ink=True)
    (truth,) = scene.boxes
    assert outline.box[3] > 5 * truth[3]
    regions, light = segment.find_digits_of_ink(gray, "auto")
    assert not light and len(regions) == 1 and box_iou(regions[0].box, truth) > 0.8


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (2, 2), (3, 3), (9, 1)])
def test_auto_ink_on_images_of_a_few_pixels_finds_nothing_without_error(shape):
    for level in (0, 255):
        assert segment.find_digits_of_ink(np.full(shape, level, np.uint8), "auto")[0] == []


def test_light_ink_score_wants_a_gray_uint8_image():
    with pytest.raises(ValueError, match="uint8"):
        segment.light_ink_score(np.zeros((40, 40), np.uint16))
    with pytest.raises(ValueError, match="gray"):
        segment.light_ink_score(np.zeros((40, 40, 3), np.uint8))


def test_the_crop_rule_keeps_out_a_line_across_a_crop_and_leaves_strips_alone():
    # A crop (both sides <= CROP_MAX_SIDE_PX) may have its digit touch the edge, but a line
    # spanning it is no digit; a strip of a page longer than that is a frame as any other,
    # where the ruled line its edge cuts is dropped before it can swallow the digits.
    crop = np.full((48, 48), 230, np.uint8)
    cv2.putText(crop, "7", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 30, 3)
    alone = [region.box for region in find_digits(crop)]
    crop[46:] = 60
    assert len(alone) == 1 and [region.box for region in find_digits(crop)] == alone
    strip = np.full((60, 300), 230, np.uint8)
    cv2.putText(strip, "2024", (20, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 30, 3)
    strip[59:] = 120
    assert len(find_digits(strip)) == 4


def test_a_digit_touching_the_edge_of_a_tiny_crop_is_found(mnist_test):
    # MNIST's own images are 28x28 crops whose strokes may reach the edge (test image 262,
    # a 7, touches the left one). In a larger frame the same stroke would be cut by the edge.
    images, labels = mnist_test
    crop = images[262]
    assert crop[:, 0].max() > 0 and labels[262] == 7
    regions, light = segment.find_digits_of_ink(crop, "auto")
    assert light and len(regions) == 1 and regions[0].box[0] == 0
    frame = np.zeros((240, 320), np.uint8)
    frame[100:128, :28] = crop
    assert find_digits(frame, light_ink=True) == []


def test_small_digits_on_a_line_under_a_big_digit_stay_separate():
    page = blank_page()
    ink = (30, 30, 30)
    cv2.putText(page, "5", (200, 300), cv2.FONT_HERSHEY_SIMPLEX, 5, ink, 10)         # about 110 px tall
    cv2.putText(page, "3", (215, 350), cv2.FONT_HERSHEY_SIMPLEX, 1.3, ink, 3)        # a line of small digits
    cv2.putText(page, "6", (285, 350), cv2.FONT_HERSHEY_SIMPLEX, 1.3, ink, 3)        # just below it
    found = sorted(boxes_of(page), key=lambda box: (box[1], box[0]))
    assert len(found) == 3, found
    assert found[0][3] > 80 and all(box[3] < 40 for box in found[1:])


def test_small_digits_standing_on_one_ruled_line_stay_apart():
    # Taking out the line cuts both digits; putting back what the line cut must bridge
    # across the line, not along it to the neighbour 4 px away.
    page = blank_page()
    rule_colour, line_y, gap_px = (205, 170, 140), 210, 4
    for y in range(line_y % 30, 480, 30):
        cv2.line(page, (0, y), (639, y), rule_colour, 2)
    x = 300
    for character in "05":
        (width, height), _ = cv2.getTextSize(character, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)
        cv2.putText(page, character, (x, line_y + height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (40, 40, 40), 2,
                    cv2.LINE_AA)
        x += width + gap_px
    found = sorted(boxes_of(cv2.GaussianBlur(page, (0, 0), 0.8)))
    assert len(found) == 2, found
    assert all(y < line_y < y + h for _, y, _, h in found)   # each digit whole across the line


@pytest.mark.parametrize("factor", [1, 2])
def test_plain_and_vectorised_piece_merging_join_the_same_pairs(factor):
    # _merge_pieces tests a frame's few pieces in plain Python and a grid page's many specks
    # with numpy: both must join exactly the same pairs, or a frame's digits would depend on
    # how many specks it holds. Crowded random boxes give every rule pairs to judge.
    rng = np.random.default_rng(factor)
    joined_total = 0
    for _ in range(300):
        count = int(rng.integers(1, 2 * MERGE_VECTORISED_MIN_PIECES))
        side = int(rng.integers(40, 240))
        corners = rng.integers(0, side, (count, 2))
        sizes = rng.integers(1, 48, (count, 2))
        boxes = np.column_stack([corners, sizes]).astype(np.int32)   # like cv2's stats
        plain = _joined_pairs_plain(boxes, factor)
        assert sorted(plain) == sorted(_joined_pairs_vectorised(boxes, factor))
        joined_total += len(plain)
    assert joined_total > 300   # the boxes were crowded enough to join many pairs


@pytest.mark.parametrize("specks", [0, MERGE_VECTORISED_MIN_PIECES], ids=["plain", "vectorised"])
def test_a_small_digit_under_a_big_one_joins_it_only_without_a_row_mate(specks):
    big, small, mate = (10, 10, 20, 40), (12, 52, 10, 20), (30, 52, 10, 20)
    far_specks = [(1000 + 10 * i, 500, 2, 2) for i in range(specks)]  # pushes N to the other path
    alone = np.array([big, small] + far_specks, np.int32)
    in_a_row = np.array([big, small, mate] + far_specks, np.int32)
    assert _merge_pieces(alone)[0] == [0, 1]
    assert _merge_pieces(in_a_row)[:3] == [[0], [1], [2]]


@pytest.mark.parametrize("specks", [0, MERGE_VECTORISED_MIN_PIECES], ids=["plain", "vectorised"])
def test_a_round_small_digit_in_a_row_stays_apart_but_a_bar_joins(specks):
    # A small 0 under a tall 1 is about as wide as tall, like a broken-off bar only in that
    # it is not flat: in a row of small digits it is one of them. A clearly flat piece is a
    # bar (a 5's) and joins its digit even beside a row mate of its size.
    tall_one, mate = (20, 10, 12, 80), (60, 95, 16, 16)
    far_specks = [(1000 + 10 * i, 500, 2, 2) for i in range(specks)]
    round_zero, flat_bar = (18, 95, 17, 16), (18, 95, 30, 16)
    assert _merge_pieces(np.array([tall_one, round_zero] + far_specks, np.int32))[0] == [0, 1]
    assert _merge_pieces(np.array([tall_one, round_zero, mate] + far_specks, np.int32))[:3] == [[0], [1], [2]]
    assert _merge_pieces(np.array([tall_one, flat_bar, mate] + far_specks, np.int32))[:2] == [[0, 1], [2]]


def test_full_resolution_ink_threshold_table_matches_darkness_threshold() -> None:
    # A digit's full-resolution ink is read from a table of gray levels per paper level; it
    # must be exactly the copy's test (darkness_of above INK_DARKNESS_LEVEL) for every pair.
    gray, paper = (np.ascontiguousarray(a) for a in np.meshgrid(np.arange(256, dtype=np.uint8),
                                                                np.arange(1, 256, dtype=np.uint8)))
    by_darkness = segment.darkness_of(gray, paper) > segment.INK_DARKNESS_LEVEL
    by_table = gray < segment._INK_BELOW_LEVEL[paper]
    assert np.array_equal(by_darkness, by_table)
    assert by_table.any() and not by_table.all()


def test_a_lone_digit_on_a_page_ringed_by_a_dark_desk_is_found():
    # A page held up with the desk showing on every side: the desk is one dark region around
    # the page, so the paper (label 0 of the ink mask) lies inside the frame. It must not
    # count as a piece that swallows a digit standing alone (found in the handheld category).
    frame = np.full((480, 640, 3), 60, np.uint8)
    cv2.rectangle(frame, (20, 10), (620, 465), (235, 235, 235), -1)
    cv2.putText(frame, "5", (520, 200), cv2.FONT_HERSHEY_SIMPLEX, 2.5, (40, 40, 40), 7, cv2.LINE_AA)
    (box,) = boxes_of(frame)
    x, y, w, h = box
    assert 515 <= x <= 530 and 140 <= y <= 160 and 40 <= h <= 70


@pytest.mark.parametrize("factor", [2, 3])
@pytest.mark.parametrize("shape", [(480, 640), (241, 323), (7, 9)])
def test_the_shrink_keeps_each_blocks_darkest_pixel_and_the_frames_outermost_ones(factor, shape):
    gray = np.random.default_rng(sum(shape) + factor).integers(0, 256, shape, dtype=np.uint8)
    rows, columns = shape[0] // factor, shape[1] // factor
    blocks = gray[:rows * factor, :columns * factor].reshape(rows, factor, columns, factor)
    expected = blocks.min(axis=(1, 3))
    # The outermost blocks take only the frame's outermost pixels (see shrink_keeping_ink);
    # at a corner, the outermost column's.
    expected[0] = blocks[0, 0].min(axis=1)
    expected[-1] = blocks[-1, -1].min(axis=1)
    expected[:, 0] = blocks[:, :, 0, 0].min(axis=1)
    expected[:, -1] = blocks[:, :, -1, -1].min(axis=1)
    np.testing.assert_array_equal(segment.shrink_keeping_ink(gray, factor), expected)


@pytest.mark.parametrize("percent", [0, 10, 50, 90, 100])
def test_a_percentile_is_the_lowest_level_with_that_share_of_the_values_at_or_below_it(percent):
    rng = np.random.default_rng(percent)
    values = rng.integers(0, 256, (120, 160), dtype=np.uint8)
    values[:40] = rng.integers(0, 8, (40, 160))  # a crowd of low values, zeros among them
    where = np.where(rng.random(values.shape) < 0.3, 255, 0).astype(np.uint8)
    for mask in (None, where):
        chosen = values.ravel() if mask is None else values[mask > 0]
        at_or_below = np.cumsum(np.bincount(chosen, minlength=256))
        expected = int(np.argmax(at_or_below >= len(chosen) * percent / 100))
        assert segment._percentile_of(values, percent, mask) == expected
    assert segment._percentile_of(values, percent, np.zeros_like(where)) == 0  # nothing counted
