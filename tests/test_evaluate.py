"""Evaluation: box matching, scoring against known answers, the CLI, and the shipped samples."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from recognizer import evaluate as ev
from recognizer import scenes
from recognizer.arguments import EXIT_FAILURE, EXIT_OK
from recognizer.checkpoint import CheckpointError, save_checkpoint
from recognizer.model import IMAGE_SIDE, DigitMLP
from recognizer.scenes import DigitPool, Scene

DIGITS_DIR = Path(__file__).resolve().parent.parent / "digits"
TINY = 5


@pytest.fixture(scope="module")
def pool() -> DigitPool:
    return DigitPool.mnist_test()


# ---------------------------------------------------------------------------------------
# IoU and matching on hand-made boxes
# ---------------------------------------------------------------------------------------
def test_iou_of_identical_disjoint_and_half_overlapping_boxes() -> None:
    assert ev.box_iou((10, 10, 20, 20), (10, 10, 20, 20)) == 1.0
    assert ev.box_iou((0, 0, 10, 10), (20, 20, 10, 10)) == 0.0
    assert ev.box_iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0  # touching edges share no area
    assert ev.box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert ev.box_iou((0, 0, 0, 10), (0, 0, 0, 10)) == 0.0


def test_perfect_match() -> None:
    truth = [(0, 0, 10, 20), (30, 0, 10, 20)]
    matching = ev.match_boxes(truth, [(31, 1, 10, 20), (0, 0, 10, 20)])
    assert matching.pairs == ((0, 1), (1, 0))
    assert matching.missed == () and matching.false_positives == ()


def test_miss_and_false_positive() -> None:
    truth = [(0, 0, 10, 20), (30, 0, 10, 20)]
    matching = ev.match_boxes(truth, [(0, 0, 10, 20), (100, 100, 10, 10)])
    assert matching.pairs == ((0, 0),)
    assert matching.missed == (1,)
    assert matching.false_positives == (1,)


def test_low_overlap_is_a_miss_and_a_false_positive() -> None:
    matching = ev.match_boxes([(0, 0, 10, 20)], [(0, 0, 10, 8)])  # IoU 0.4: half a digit is not a digit
    assert matching.pairs == () and matching.missed == (0,) and matching.false_positives == (0,)


def test_duplicate_detection_counts_as_one_false_positive() -> None:
    matching = ev.match_boxes([(0, 0, 10, 20)], [(0, 0, 10, 19), (0, 0, 10, 20)])
    assert matching.pairs == ((0, 1),)  # the better box wins
    assert matching.false_positives == (0,)
    assert matching.missed == ()


def test_greedy_gives_a_contested_prediction_to_its_best_truth() -> None:
    truth = [(0, 0, 10, 20), (8, 0, 10, 20)]
    matching = ev.match_boxes(truth, [(7, 0, 10, 20)])
    assert matching.pairs == ((1, 0),)
    assert matching.missed == (0,)


def test_a_thin_one_matches_despite_a_pixel_of_disagreement() -> None:
    # Raw IoU of these is 38/84 = 0.45, yet both boxes mark the same 2 px wide stroke.
    assert ev.box_iou((357, 411, 2, 19), (356, 410, 4, 21)) < ev.MIN_MATCH_IOU
    assert ev.match_boxes([(357, 411, 2, 19)], [(356, 410, 4, 21)]).pairs == ((0, 0),)
    # ...but a thin box beside the stroke is still no match.
    assert ev.match_boxes([(357, 411, 2, 19)], [(366, 411, 2, 19)]).pairs == ()


def test_no_predictions_and_no_truth() -> None:
    assert ev.match_boxes([], []).pairs == ()
    assert ev.match_boxes([(0, 0, 5, 5)], []).missed == (0,)
    assert ev.match_boxes([], [(0, 0, 5, 5)]).false_positives == (0,)


def test_naive_model_input_shrinks_the_gray_image_to_28x28_and_inverts_it() -> None:
    image = np.full((2 * IMAGE_SIDE, 3 * IMAGE_SIDE, 3), 255, np.uint8)   # white paper...
    image[:, :3 * IMAGE_SIDE // 2] = 0                                      # ...inked on its left half
    model_input = ev.naive_model_input(image)
    assert model_input.shape == (IMAGE_SIDE, IMAGE_SIDE) and model_input.dtype == np.uint8
    assert (model_input[:, :IMAGE_SIDE // 2] == 255).all() and (model_input[:, IMAGE_SIDE // 2:] == 0).all()
    assert np.array_equal(ev.naive_model_input(image[:, :, 0]), model_input)   # a gray image reads the same


# ---------------------------------------------------------------------------------------
# Scoring end to end against a recogniser whose answers we control
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Digit:
    label: int
    confidence: float
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class _Reading:
    digits: tuple[_Digit, ...]
    numbers: tuple[str, ...]


class _Oracle:
    """Knows every generated scene; optionally misreads the first digit and repeats it."""
    confidence_threshold = 0.6

    def __init__(self, known: list[Scene], mislabel_first: bool = False, duplicate_first: bool = False) -> None:
        self.known = {self._key(scene.image): scene for scene in known}
        self.mislabel_first = mislabel_first
        self.duplicate_first = duplicate_first
        self.inks: list[str] = []   # the polarity of every call, in order

    @staticmethod
    def _key(image: np.ndarray) -> str:
        return hashlib.sha1(image.tobytes() + str(image.shape).encode()).hexdigest()

    def recognize(self, image: np.ndarray, ink: str = "dark") -> _Reading:
        self.inks.append(ink)
        scene = self.known.get(self._key(image))
        if scene is None:  # e.g. evaluate's warm-up call on a blank page
            return _Reading((), ())
        digits = [_Digit(label, 0.99, box) for label, box in zip(scene.labels, scene.boxes)]
        if self.mislabel_first:
            digits[0] = _Digit((digits[0].label + 1) % 10, 0.99, digits[0].box)
        if self.duplicate_first:
            digits.append(digits[0])
        numbers = scene.numbers if not (self.mislabel_first or self.duplicate_first) else ("?",)
        return _Reading(tuple(digits), numbers)

    def classify(self, batch: np.ndarray) -> np.ndarray:
        probabilities = np.zeros((len(batch), 10), np.float32)
        probabilities[:, 0] = 1.0  # the baseline always answers 0
        return probabilities


def _known_scenes(pool: DigitPool, categories: tuple[str, ...], seed: int) -> list[Scene]:
    return [scene for category in categories for scene in ev.build_scenes(category, TINY, seed, pool)]


def test_a_perfect_reader_scores_perfectly(pool: DigitPool) -> None:
    categories = (scenes.HARD, scenes.SCAN)
    oracle = _Oracle(_known_scenes(pool, categories, seed=3))
    scores = ev.evaluate(oracle, categories, TINY, seed=3, pool=pool)
    assert [score.category for score in scores] == list(categories)
    for score in scores:
        assert score.images == TINY
        assert score.recall == score.precision == score.label_accuracy == score.read_right == 1.0
        assert score.image_exact == 1.0 and score.uncertain == 0
    hard, scan = scores
    assert hard.baseline_accuracy is None
    assert oracle.inks == ["auto"] * (1 + 2 * TINY)  # still mode's polarity, warm-up included
    light = _Oracle(_known_scenes(pool, categories, seed=3))
    ev.evaluate(light, categories, TINY, seed=3, pool=pool, ink="light")
    assert light.inks == ["light"] * (1 + 2 * TINY)
    zeros = sum(scene.labels[0] == 0 for scene in ev.build_scenes(scenes.SCAN, TINY, 3, pool))
    assert scan.baseline_right == zeros


def test_misreads_and_duplicates_are_counted(pool: DigitPool) -> None:
    categories = (scenes.CLEAN,)
    known = _known_scenes(pool, categories, seed=4)
    digits = sum(len(scene.labels) for scene in known)
    score, = ev.evaluate(_Oracle(known, mislabel_first=True, duplicate_first=True), categories, TINY, seed=4,
                         pool=pool)
    assert score.digits == digits
    assert score.predictions == digits + TINY
    assert score.matched == digits
    assert score.labelled_right == digits - TINY
    assert score.read_right == pytest.approx((digits - TINY) / digits)
    assert score.precision == pytest.approx(digits / (digits + TINY))
    assert score.image_exact == 0.0


def test_reads_are_counted_by_the_pen_each_digit_was_drawn_with(pool: DigitPool) -> None:
    categories = (scenes.CLEAN, scenes.PRINTED)
    known = _known_scenes(pool, categories, seed=5)
    clean, printed = ev.evaluate(_Oracle(known, mislabel_first=True), categories, TINY, seed=5, pool=pool)
    for score, category in ((clean, scenes.CLEAN), (printed, scenes.PRINTED)):
        category_scenes = [scene for scene in known if scene.category == category]
        expected: dict[str, list[int]] = {}
        for scene in category_scenes:
            for index, pen in enumerate(scene.pens):
                digits, right = expected.get(pen, [0, 0])
                expected[pen] = [digits + 1, right + (index > 0)]  # the oracle misreads the first digit
        assert {pen: list(counts) for pen, counts in score.by_pen.items()} == expected
        assert sum(digits for digits, _ in score.by_pen.values()) == score.digits
        assert sum(right for _, right in score.by_pen.values()) == score.labelled_right
    assert set(printed.by_pen) == {scenes.PRINTED_PEN}
    table = ev.by_pen_table([clean, printed])
    assert table[-2].startswith(f"| {scenes.CLEAN} |") and table[-1].startswith(f"| {scenes.PRINTED} |")


def test_the_same_images_whatever_the_set_size(pool: DigitPool) -> None:
    small = ev.build_scenes(scenes.PAPER_PHOTO, 2, 7, pool)
    large = ev.build_scenes(scenes.PAPER_PHOTO, 4, 7, pool)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(small, large))


def test_the_real_recognizer_runs_on_a_tiny_set(pool: DigitPool) -> None:
    from recognizer.recognize import Recognizer

    try:
        recognizer = Recognizer.load()
    except CheckpointError:
        recognizer = Recognizer(DigitMLP())  # no usable shipped model: the plumbing is still tested
    scores = ev.evaluate(recognizer, scenes.CATEGORIES, TINY, seed=0, pool=pool)
    assert [score.category for score in scores] == list(scenes.CATEGORIES)
    for score in scores:
        assert score.images == TINY and score.digits >= TINY
        assert 0 <= score.matched <= min(score.digits, score.predictions)
        assert 0 <= score.labelled_right <= score.matched
        for rate in (score.recall, score.precision, score.label_accuracy, score.read_right, score.image_exact):
            assert 0.0 <= rate <= 1.0
        assert (score.baseline_accuracy is not None) == (score.category in scenes.SINGLE_DIGIT_CATEGORIES)
        assert score.milliseconds_per_image > 0


def test_markdown_table_has_a_row_per_category() -> None:
    score = ev.CategoryScore(scenes.SCAN, images=4, digits=4, predictions=5, matched=4, labelled_right=3,
                             uncertain=1, exact_images=3, baseline_right=1, milliseconds_per_image=2.0)
    result = ev.EvalResult("m.pt", {"test_accuracy": 0.98}, 0, 4, (score,), 1.0)
    table = ev.markdown_table(result)
    row = next(line for line in table.splitlines() if line.startswith(f"| {scenes.SCAN} "))
    assert "**75.0%**" in row and "80.0%" in row and "25.0%" in row and "MISSED" in row
    assert "98.5%" not in table and "98.0%" in table


def test_command_line_writes_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model.pt"
    save_checkpoint(model, DigitMLP(hidden=(32,)), {"test_accuracy": 0.5})
    out_json, out_md = tmp_path / "eval.json", tmp_path / "eval.md"
    code = ev.main(["--model", str(model), "--per-category", "2", "--categories", scenes.SCAN, scenes.PRINTED,
                    "--json", str(out_json), "--markdown", str(out_md)])
    assert code == EXIT_OK
    printed = capsys.readouterr().out
    assert printed == out_md.read_text()
    data = json.loads(out_json.read_text())
    assert [row["category"] for row in data["scores"]] == [scenes.SCAN, scenes.PRINTED]
    assert data["scores"][0]["images"] == 2 and "read_right" in data["scores"][0]


def test_command_line_can_draw_the_scenes_from_the_validation_digits(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    save_checkpoint(model, DigitMLP(hidden=(32,)), {"recipe": {"val_size": 40, "seed": 3}})
    out_json = tmp_path / "eval.json"
    args = ["--model", str(model), "--per-category", "3", "--categories", scenes.SCAN, "--json", str(out_json)]
    assert ev.main(args + ["--digits", "validation"]) == EXIT_OK
    data = json.loads(out_json.read_text())
    assert data["digits"] == "MNIST validation (40 held out by train.py, seed 3)"
    validation = DigitPool.mnist_validation(40, 3)
    assert len(validation.images) == 40
    # The images are the held-out training digits, not test digits.
    test_scans = ev.build_scenes(scenes.SCAN, 3, 0, DigitPool.mnist_test())
    validation_scans = ev.build_scenes(scenes.SCAN, 3, 0, validation)
    assert not any(np.array_equal(a.image, b.image) for a, b in zip(test_scans, validation_scans))


def test_validation_digits_need_a_checkpoint_that_records_its_split(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    save_checkpoint(model, DigitMLP(hidden=(32,)), {"test_accuracy": 0.5})
    assert ev.main(["--model", str(model), "--per-category", "1", "--digits", "validation"]) == EXIT_FAILURE


def test_an_unwritable_report_path_is_refused_before_scoring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    folder = tmp_path / "folder.json"
    folder.mkdir()
    assert ev.main(["--per-category", "1", "--markdown", str(a_file / "x.md")]) == EXIT_FAILURE
    assert ev.main(["--per-category", "1", "--json", str(folder)]) == EXIT_FAILURE
    assert capsys.readouterr().out == ""                     # nothing was scored


def test_command_line_reports_a_missing_model(tmp_path: Path) -> None:
    assert ev.main(["--model", str(tmp_path / "absent.pt"), "--per-category", "1"]) == EXIT_FAILURE


# ---------------------------------------------------------------------------------------
# The shipped samples
# ---------------------------------------------------------------------------------------
def test_labels_json_matches_the_sample_pngs() -> None:
    labels = json.loads((DIGITS_DIR / "labels.json").read_text())
    pngs = {path.name for path in DIGITS_DIR.glob("*.png")}
    assert len(labels) >= 20
    assert set(labels) == pngs
    for name, numbers in labels.items():
        assert re.fullmatch(r"digit\d+\.png", name)
        assert numbers and all(isinstance(n, str) and n.isdigit() for n in numbers), name


def test_every_category_is_described_in_the_help() -> None:
    assert set(ev.CATEGORY_HELP) == set(scenes.CATEGORIES)
    assert set(ev.READ_RIGHT_TARGETS) <= set(scenes.CATEGORIES)


def test_live_evaluation_scores_tracked_labels_on_shaking_clips(pool: DigitPool) -> None:
    from recognizer.recognize import Recognizer

    score = ev.evaluate_live(Recognizer.load(), clips=1, frames=20, pool=pool)
    assert score.clips == 1 and score.frames_per_clip == 20
    assert score.digit_frames > 0
    assert 0.9 <= score.shown_right_share <= 1.0
    assert len(score.label_changes) == 1
    assert "shown right" in ev.live_markdown(score)
