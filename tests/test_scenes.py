"""The synthetic scene generator: deterministic, and its ground truth matches the ink drawn."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from recognizer import scenes
from recognizer.scenes import DigitPool, Scene

IMAGES_PER_CATEGORY = 4
# Categories on plain paper without distractors: any clearly dark pixel there is digit ink.
PLAIN_CATEGORIES = (scenes.CLEAN, scenes.THIN_PEN, scenes.PRINTED, scenes.SCAN)
CLEARLY_INK_DARKNESS = 110   # grey levels below the paper that only ink reaches in those categories


@pytest.fixture(scope="module")
def pool() -> DigitPool:
    return DigitPool.mnist_test()


@pytest.fixture(scope="module")
def generated(pool: DigitPool) -> dict[str, list[Scene]]:
    return {category: [scenes.make_scene(category, scenes.scene_rng(0, category, index), pool)
                       for index in range(IMAGES_PER_CATEGORY)]
            for category in scenes.CATEGORIES}


def _box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def test_box_of_is_the_tight_box_of_the_true_pixels() -> None:
    rng = np.random.default_rng(0)
    for ink_share in (0.0, 0.002, 0.05, 0.5):
        for _ in range(50):
            mask = rng.random(tuple(rng.integers(1, 40, 2))) < ink_share
            assert scenes._box_of(mask) == (_box_of(mask) if mask.any() else None)


@pytest.mark.parametrize("category", scenes.CATEGORIES)
def test_same_seed_gives_the_same_scene(pool: DigitPool, generated: dict[str, list[Scene]], category: str) -> None:
    again = scenes.make_scene(category, scenes.scene_rng(0, category, 0), pool)
    first = generated[category][0]
    assert np.array_equal(again.image, first.image)
    assert again.boxes == first.boxes and again.labels == first.labels and again.lines == first.lines


@pytest.mark.parametrize("category", scenes.CATEGORIES)
def test_different_seeds_give_different_scenes(generated: dict[str, list[Scene]], category: str) -> None:
    images = generated[category]
    assert not np.array_equal(images[0].image, images[1].image) or images[0].image.shape != images[1].image.shape


@pytest.mark.parametrize("category", scenes.CATEGORIES)
def test_truth_is_consistent(generated: dict[str, list[Scene]], category: str) -> None:
    for scene in generated[category]:
        assert scene.image.dtype == np.uint8 and scene.image.ndim == 3 and scene.image.shape[2] == 3
        assert len(scene.boxes) == len(scene.labels) >= 1
        assert "".join(scene.numbers) == "".join(str(label) for label in scene.labels)
        if category in scenes.SINGLE_DIGIT_CATEGORIES:
            assert len(scene.labels) == 1
        height, width = scene.image.shape[:2]
        for x, y, w, h in scene.boxes:
            assert w >= 1 and h >= 1
            assert 0 <= x and x + w <= width and 0 <= y and y + h <= height


@pytest.mark.parametrize("category", scenes.CATEGORIES)
def test_boxes_are_the_tight_boxes_of_each_digits_ink(generated: dict[str, list[Scene]], category: str) -> None:
    for scene in generated[category]:
        assert scene.ink_owner.shape == scene.image.shape[:2]
        for index, box in enumerate(scene.boxes):
            assert _box_of(scene.ink_owner == index) == box


@pytest.mark.parametrize("category", PLAIN_CATEGORIES)
def test_every_dark_pixel_lies_in_a_box_and_every_box_edge_touches_ink(
        generated: dict[str, list[Scene]], category: str) -> None:
    """Checked on the pixels themselves, independently of how the generator tracks its ink."""
    for scene in generated[category]:
        gray = cv2.cvtColor(scene.image, cv2.COLOR_BGR2GRAY).astype(np.int32)
        paper = int(np.median(gray))
        dark = gray < paper - CLEARLY_INK_DARKNESS
        inside_some_box = np.zeros_like(dark)
        for x, y, w, h in scene.boxes:
            # One pixel of slack: anti-aliased edges are half ink by definition.
            inside_some_box[max(y - 1, 0):y + h + 1, max(x - 1, 0):x + w + 1] = True
            edges = (dark[y:y + h, x:x + 2], dark[y:y + h, x + w - 2:x + w],
                     dark[y:y + 2, x:x + w], dark[y + h - 2:y + h, x:x + w])
            assert all(edge.any() for edge in edges), f"{category}: box {(x, y, w, h)} is not tight"
        assert not (dark & ~inside_some_box).any(), f"{category}: ink outside every box"


def test_digits_are_listed_in_reading_order(generated: dict[str, list[Scene]]) -> None:
    for scene in generated[scenes.CLEAN] + generated[scenes.HARD]:
        start = 0
        line_centres = []
        for line in scene.lines:
            line_boxes = scene.boxes[start:start + sum(len(number) for number in line)]
            lefts = [x for x, _, _, _ in line_boxes]
            assert lefts == sorted(lefts), "digits of a line are listed left to right"
            line_centres.append(np.mean([y + h / 2 for _, y, _, h in line_boxes]))
            start += len(line_boxes)
        assert line_centres == sorted(line_centres), "lines are listed top to bottom"


def test_hard_scenes_use_ruled_and_grid_paper(pool: DigitPool) -> None:
    patterns = {scenes.sample_conditions(np.random.default_rng(seed), scenes.HARD).pattern for seed in range(30)}
    assert {"ruled", "grid"} <= patterns


def test_clean_conditions_have_no_camera_faults() -> None:
    conditions = scenes.sample_conditions(np.random.default_rng(1), scenes.CLEAN)
    assert conditions.pattern == "plain" and conditions.noise_sigma == 0 and conditions.blur_sigma == 0
    assert conditions.jpeg_quality is None and conditions.thumb_side is None and conditions.light_gradient == 0


def test_requested_numbers_are_written(pool: DigitPool) -> None:
    rng = np.random.default_rng(5)
    conditions = dataclasses.replace(scenes.sample_conditions(rng, scenes.HARD), thumb_side="bottom",
                                     page_edge_side="left", pattern="grid")
    scene = scenes.compose_camera_scene(rng, pool, [["2024"], ["815"]], conditions, heights=[60, 60])
    assert scene.numbers == ("2024", "815")
    assert scene.labels == (2, 0, 2, 4, 8, 1, 5)
    heights = [h for _, _, _, h in scene.boxes]
    assert all(45 <= h <= 75 for h in heights), heights


def test_thinning_gives_one_pixel_lines() -> None:
    bar = np.zeros((40, 80), bool)
    bar[15:26, 10:70] = True
    skeleton = scenes.thin_mask(bar)
    columns = skeleton[:, 20:60]
    assert (columns.sum(axis=0) == 1).all()


def test_pen_styles_draw_thin_strokes_and_keep_the_height(pool: DigitPool) -> None:
    digit = pool.pick(np.random.default_rng(0), 8, open_loops=True)
    for style, widest in (("thin", 2), ("pen", 5)):
        alpha = scenes.render_digit_ink(digit, 120, np.random.default_rng(1), style)
        ink = alpha >= scenes.INK_COVERAGE_FOR_BOX
        assert abs(_box_of(ink)[3] - 120) <= 12
        # A stroke of width w has no ink pixel farther than w/2 from paper.
        depth = cv2.distanceTransform(np.pad(ink, 1).astype(np.uint8), cv2.DIST_L2, 3)
        assert depth.max() <= widest / 2 + 1.5, style


def test_open_loop_digits_keep_their_loops_when_thinned(pool: DigitPool) -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        digit = pool.pick(rng, 8, open_loops=True)
        assert scenes.loops_are_open(digit, 8)
        alpha = scenes.render_digit_ink(digit, 100, rng, "thin")
        paper = np.pad(alpha < scenes.INK_COVERAGE_FOR_BOX, 1, constant_values=True).astype(np.uint8)
        regions, _ = cv2.connectedComponents(paper, connectivity=4)
        assert regions - 2 >= 2, "an 8 drawn with a thin pen has two loops"


@pytest.mark.parametrize("category", scenes.CATEGORIES)
def test_every_digit_says_how_it_was_drawn(generated: dict[str, list[Scene]], category: str) -> None:
    expected = {scenes.THIN_PEN: {"thin"}, scenes.PRINTED: {scenes.PRINTED_PEN}}.get(
        category, {"natural", "pen", "marker"})
    for scene in generated[category]:
        assert len(scene.pens) == len(scene.labels)
        assert set(scene.pens) <= expected


def test_a_digit_too_big_for_its_own_stroke_is_drawn_with_a_marker() -> None:
    threshold = scenes.MARKER_STROKE_PX[1] / scenes.MNIST_STROKE_FRACTION
    assert scenes.pen_of("natural", threshold - 1) == "natural"
    assert scenes.pen_of("natural", threshold + 1) == "marker"
    assert scenes.pen_of("pen", threshold + 1) == "pen"


def test_a_digit_that_may_be_redrawn_needs_open_loops(pool: DigitPool) -> None:
    # Only 8s whose loops are filled with ink: redrawing one along its centre line would
    # make it another shape, so the generator must refuse to.
    eights = np.flatnonzero(pool.labels == 8)
    filled = [i for i in eights[:400] if not scenes.loops_are_open(pool.images[i], 8)]
    assert filled, "MNIST has 8s with filled loops"
    filled_pool = DigitPool(pool.images[filled], pool.labels[filled])
    conditions = dataclasses.replace(scenes.sample_conditions(np.random.default_rng(2), scenes.CLEAN),
                                     stroke="natural")
    threshold = scenes.MARKER_STROKE_PX[1] / scenes.MNIST_STROKE_FRACTION
    small = scenes.compose_camera_scene(np.random.default_rng(0), filled_pool, [["88"]], conditions,
                                        heights=[threshold * 0.8])
    assert small.pens == ("natural", "natural")
    # Just under the size where the stroke is redrawn, the height jitter of single digits
    # could still cross it: such a line needs open loops too.
    with pytest.raises(ValueError, match="open loops"):
        scenes.compose_camera_scene(np.random.default_rng(0), filled_pool, [["88"]], conditions,
                                    heights=[threshold * 0.97])


def test_unknown_category_is_rejected(pool: DigitPool) -> None:
    with pytest.raises(ValueError, match="unknown scene category"):
        scenes.make_scene("chalkboard", np.random.default_rng(0), pool)


def test_every_digit_of_a_shaky_clip_is_in_view(pool: DigitPool) -> None:
    # The page is drawn with a margin the shaking camera only glimpses; a digit written
    # there would be in the truth (labels, numbers) but never on screen.
    for seed in range(12):
        clip = scenes.make_shaky_clip(scenes.scene_rng(seed, "live", 0), pool, 3, scenes.HARD)
        for digit in range(len(clip.labels)):
            assert any(frame[digit] is not None for frame in clip.boxes), (seed, digit)


def test_light_on_dark_is_a_clean_scene_inverted_and_mnist_is_the_digit_itself(pool: DigitPool) -> None:
    clean = scenes.make_camera_scene(scenes.scene_rng(0, "x", 0), pool, scenes.CLEAN)
    light = scenes.make_light_on_dark_scene(scenes.scene_rng(0, "x", 0), pool)
    assert np.array_equal(light.image, 255 - clean.image) and light.boxes == clean.boxes
    assert light.labels == clean.labels and light.category == scenes.LIGHT_ON_DARK
    mnist = scenes.make_mnist_image_scene(scenes.scene_rng(0, "x", 0), pool)
    digit = mnist.image[:, :, 0]
    assert mnist.image.shape == (28, 28, 3) and any(np.array_equal(digit, image) for image in pool.images)
    assert mnist.boxes == (_box_of(digit >= 128),)
