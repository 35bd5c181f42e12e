"""Measure the whole recogniser (finding, cropping, reading) on synthetic paper photos.

MNIST accuracy says little about the product: what matters is whether digits on real
paper in real light are found and read. This builds a deterministic evaluation set from
MNIST *test* digits with ``recognizer.scenes`` (generated at run time, nothing stored),
runs ``Recognizer.recognize`` on every image, matches predicted boxes to the truth and
reports, per category:

* recall / precision of detection (a prediction matches a digit at IoU >= 0.5),
* label accuracy on matched digits,
* **read right** = digits found *and* labelled right / all digits (the headline),
* images exact = the image's numbers read exactly (no miss, no extra, no "?"),
* for single-digit categories, the original script's approach (whole image resized to
  28x28, inverted, fed to the same model) as a baseline,
* read right per pen: whether a digit keeps the MNIST writer's stroke or was redrawn with a
  pen, a marker or a thin line (``Scene.pens``), in a second table.

Usage: ``python -m recognizer.evaluate [--model PATH] [--per-category N] [--seed S] [--digits validation]
[--markdown out.md] [--json out.json] [--failures DIR]``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from recognizer import scenes
from recognizer.arguments import EXIT_FAILURE, EXIT_OK, positive_int
from recognizer.atomic import atomic_path, atomic_write_text, checked_target
from recognizer.images import write_image
from recognizer.model import IMAGE_SIDE
from recognizer.normalize import to_gray
from recognizer.scenes import Box, DigitPool, Scene
from recognizer.segment import INK_CHOICES

if TYPE_CHECKING:  # annotations only: scoring takes any DigitReader; main() and evaluate_live import the real one
    from recognizer.recognize import Recognizer

log = logging.getLogger("recognizer.evaluate")

MIN_MATCH_IOU = 0.5
# A "1" can be 2 px wide, where one pixel of disagreement halves the IoU; for matching,
# boxes narrower than this share of their height are widened about their centre to it.
MIN_MATCH_WIDTH_FRACTION = 0.4
DEFAULT_PER_CATEGORY = 150
DEFAULT_SEED = 0
DEFAULT_MAX_FAILURES_SAVED = 12   # per category: enough to see the pattern, few enough to look at
DEFAULT_INK = "auto"              # images are read as still mode reads them (segment.INK_CHOICES)

# What the product must reach (read right, and precision where false alarms matter).
READ_RIGHT_TARGETS: dict[str, float] = {
    scenes.CLEAN: 0.99, scenes.HARD: 0.95, scenes.THIN_PEN: 0.95, scenes.SCAN: 0.95, scenes.PAPER_PHOTO: 0.95,
}
PRECISION_TARGETS: dict[str, float] = {scenes.HARD: 0.97}
# Columns of the by-pen table (see ``Scene.pens``).
PEN_ORDER = ("natural", "pen", "marker", "thin", scenes.PRINTED_PEN)

TRUTH_COLOUR = (0, 170, 0)
RIGHT_COLOUR = (230, 120, 0)
WRONG_LABEL_COLOUR = (0, 140, 255)
FALSE_POSITIVE_COLOUR = (0, 0, 230)
WARM_UP_IMAGE_SHAPE = (48, 64, 3)
FAILURE_VIEW_MIN_SIDE = 240       # small scans are enlarged so the overlay text stays readable
FAILURE_FONT_SCALE = 0.4          # Hershey simplex: small enough not to cover neighbouring digits
FAILURE_TEXT_GAP_PX = 3           # between a box's top edge and its label's baseline
FAILURE_TEXT_MIN_BASELINE_PX = 12  # a label of a box at the top edge is pushed down into the image


class ReadDigit(Protocol):
    """One digit as a recogniser reports it (``recognizer.recognize.Digit`` satisfies it)."""

    @property
    def label(self) -> int: ...

    @property
    def confidence(self) -> float: ...

    @property
    def box(self) -> Box: ...


class Reading(Protocol):
    """What ``evaluate`` reads of one image's recognition (``recognizer.recognize.Recognition`` satisfies it)."""

    @property
    def digits(self) -> Sequence[ReadDigit]: ...

    @property
    def numbers(self) -> Sequence[str]: ...


class DigitReader(Protocol):
    """What ``evaluate`` needs from a recogniser (``recognizer.Recognizer`` satisfies it)."""

    def recognize(self, image: np.ndarray, ink: str = ...) -> Reading: ...

    def classify(self, batch: np.ndarray) -> np.ndarray: ...


# ---------------------------------------------------------------------------------------
# Matching predictions to the truth
# ---------------------------------------------------------------------------------------
def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes; 0 when either is empty."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter_w = min(ax + aw, bx + bw) - max(ax, bx)
    inter_h = min(ay + ah, by + bh) - max(ay, by)
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    intersection = inter_w * inter_h
    union = aw * ah + bw * bh - intersection
    return intersection / union if union > 0 else 0.0


@dataclass(frozen=True)
class BoxMatching:
    pairs: tuple[tuple[int, int], ...]       # (truth index, prediction index)
    missed: tuple[int, ...]                  # truth indices with no prediction
    false_positives: tuple[int, ...]         # prediction indices matching no truth (duplicates included)


def _widened_for_matching(box: Box) -> tuple[float, float, float, float]:
    x, y, w, h = box
    width = max(float(w), MIN_MATCH_WIDTH_FRACTION * h)
    return x + w / 2 - width / 2, float(y), width, float(h)


def match_boxes(truth: Sequence[Box], predicted: Sequence[Box], min_iou: float = MIN_MATCH_IOU) -> BoxMatching:
    """Greedy one-to-one matching, best IoU first (thin boxes widened, see MIN_MATCH_WIDTH_FRACTION).

    Greedy is what detection benchmarks (PASCAL VOC, COCO) use, and with boxes of separate
    digits rarely overlapping it agrees with an optimal assignment. A second box on an
    already matched digit is a false positive, as a user would see a duplicate.
    """
    truth_boxes = [_widened_for_matching(box) for box in truth]
    predicted_boxes = [_widened_for_matching(box) for box in predicted]
    candidates = sorted(((box_iou(t, p), ti, pi) for ti, t in enumerate(truth_boxes)
                         for pi, p in enumerate(predicted_boxes)),
                        key=lambda c: (-c[0], c[1], c[2]))
    used_truth: set[int] = set()
    used_predicted: set[int] = set()
    pairs = []
    for iou, ti, pi in candidates:
        if iou < min_iou:
            break
        if ti in used_truth or pi in used_predicted:
            continue
        used_truth.add(ti)
        used_predicted.add(pi)
        pairs.append((ti, pi))
    return BoxMatching(tuple(sorted(pairs)), tuple(i for i in range(len(truth)) if i not in used_truth),
                       tuple(i for i in range(len(predicted)) if i not in used_predicted))


# ---------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageOutcome:
    digits: int
    predictions: int
    matched: int
    labelled_right: int
    uncertain: int                # matched digits whose confidence is below the recogniser's threshold
    exact: bool                   # the image's numbers read exactly as written
    baseline_right: bool | None   # the original script's answer (single-digit categories only)
    milliseconds: float
    # Per truth digit: the pen it was drawn with (``Scene.pens``) and whether it was read right.
    reads_by_pen: tuple[tuple[str, bool], ...] = ()


def _ratio(numerator: int, denominator: int) -> float:
    # An empty denominator means nothing could go wrong: perfect, not undefined, for table purposes.
    return numerator / denominator if denominator else 1.0


@dataclass(frozen=True)
class CategoryScore:
    category: str
    images: int
    digits: int
    predictions: int
    matched: int
    labelled_right: int
    uncertain: int
    exact_images: int
    baseline_right: int | None     # None where the baseline does not apply (several digits per image)
    milliseconds_per_image: float
    by_pen: dict[str, tuple[int, int]] = field(default_factory=dict)  # pen -> (digits, read right)

    @property
    def recall(self) -> float:
        return _ratio(self.matched, self.digits)

    @property
    def precision(self) -> float:
        return _ratio(self.matched, self.predictions)

    @property
    def label_accuracy(self) -> float:
        return _ratio(self.labelled_right, self.matched)

    @property
    def read_right(self) -> float:
        return _ratio(self.labelled_right, self.digits)

    @property
    def uncertain_share(self) -> float:
        """Matched digits the recogniser shows as "?" (confidence below its threshold)."""
        return _ratio(self.uncertain, self.matched)

    @property
    def image_exact(self) -> float:
        return _ratio(self.exact_images, self.images)

    @property
    def baseline_accuracy(self) -> float | None:
        return None if self.baseline_right is None else _ratio(self.baseline_right, self.images)

    @property
    def meets_target(self) -> bool | None:
        read_target = READ_RIGHT_TARGETS.get(self.category)
        precision_target = PRECISION_TARGETS.get(self.category)
        if read_target is None and precision_target is None:
            return None
        return ((read_target is None or self.read_right >= read_target)
                and (precision_target is None or self.precision >= precision_target))

    def as_dict(self) -> dict[str, object]:
        derived = {name: getattr(self, name) for name in
                   ("recall", "precision", "label_accuracy", "read_right", "uncertain_share", "image_exact",
                    "baseline_accuracy", "meets_target")}
        return {**asdict(self), **derived}

    @classmethod
    def from_outcomes(cls, category: str, outcomes: Sequence[ImageOutcome]) -> "CategoryScore":
        baselines = [o.baseline_right for o in outcomes if o.baseline_right is not None]
        by_pen: dict[str, tuple[int, int]] = {}
        for outcome in outcomes:
            for pen, right in outcome.reads_by_pen:
                digits, read_right = by_pen.get(pen, (0, 0))
                by_pen[pen] = (digits + 1, read_right + int(right))
        return cls(category=category, images=len(outcomes), digits=sum(o.digits for o in outcomes),
                   predictions=sum(o.predictions for o in outcomes), matched=sum(o.matched for o in outcomes),
                   labelled_right=sum(o.labelled_right for o in outcomes),
                   uncertain=sum(o.uncertain for o in outcomes), exact_images=sum(o.exact for o in outcomes),
                   baseline_right=sum(baselines) if baselines else None,
                   milliseconds_per_image=float(np.mean([o.milliseconds for o in outcomes])) if outcomes else 0.0,
                   by_pen=dict(sorted(by_pen.items(), key=lambda item: PEN_ORDER.index(item[0])
                                      if item[0] in PEN_ORDER else len(PEN_ORDER))))


@dataclass(frozen=True)
class EvalResult:
    model: str
    model_meta: dict[str, object]
    seed: int
    per_category: int
    scores: tuple[CategoryScore, ...]
    seconds: float
    digits: str = "MNIST test"   # which MNIST digits the scenes were drawn from
    ink: str = DEFAULT_INK       # the polarity the images were read with

    def as_dict(self) -> dict[str, object]:
        return {"model": self.model, "model_meta": self.model_meta, "seed": self.seed, "digits": self.digits,
                "ink": self.ink, "per_category": self.per_category, "seconds": self.seconds,
                "scores": [score.as_dict() for score in self.scores]}


# ---------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------
def build_scenes(category: str, count: int, seed: int, pool: DigitPool) -> list[Scene]:
    """The first ``count`` images of a category; image i is the same for any ``count``."""
    return [scenes.make_scene(category, scenes.scene_rng(seed, category, index), pool) for index in range(count)]


def naive_model_input(image: np.ndarray) -> np.ndarray:
    """The naive way to feed the model a picture: gray, resized straight to 28x28, inverted.

    What the original script fed the model (the whole image: the baseline here), and what
    the naive webcam loop of ``recognizer.bench`` feeds it (each crop). INTER_AREA is the
    kindest resize for shrinking (thin strokes survive), so the baseline is not made to look
    worse than it is.
    """
    return cv2.bitwise_not(cv2.resize(to_gray(image), (IMAGE_SIDE, IMAGE_SIDE), interpolation=cv2.INTER_AREA))


def score_image(scene: Scene, recognition: Reading, confidence_threshold: float | None
                ) -> tuple[BoxMatching, tuple[bool, ...], int]:
    """(matching, whether each truth digit was found and labelled right, matched digits below the
    confidence threshold)."""
    predicted = recognition.digits
    matching = match_boxes(scene.boxes, [digit.box for digit in predicted])
    read_right = [False] * len(scene.boxes)
    for ti, pi in matching.pairs:
        read_right[ti] = predicted[pi].label == scene.labels[ti]
    uncertain = 0 if confidence_threshold is None else \
        sum(predicted[pi].confidence < confidence_threshold for _, pi in matching.pairs)
    return matching, tuple(read_right), int(uncertain)


def _save_failure(folder: Path, name: str, scene: Scene, recognition: Reading, matching: BoxMatching) -> None:
    """The image with truth (green), right reads (blue), wrong labels (orange), false positives (red)."""
    view = scene.image.copy()
    scale = max(1.0, FAILURE_VIEW_MIN_SIDE / min(view.shape[:2]))
    if scale > 1:
        view = cv2.resize(view, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)

    def scaled(box: Box) -> tuple[tuple[int, int], tuple[int, int]]:
        x, y, w, h = (round(v * scale) for v in box)
        return (x - 1, y - 1), (x + w, y + h)

    matched_prediction = {pi: ti for ti, pi in matching.pairs}
    for box in scene.boxes:
        cv2.rectangle(view, *scaled(box), TRUTH_COLOUR, 1)
    for index, digit in enumerate(recognition.digits):
        truth = matched_prediction.get(index)
        colour = FALSE_POSITIVE_COLOUR if truth is None else \
            RIGHT_COLOUR if scene.labels[truth] == digit.label else WRONG_LABEL_COLOUR
        top_left, bottom_right = scaled(digit.box)
        cv2.rectangle(view, top_left, bottom_right, colour, 1)
        baseline = max(FAILURE_TEXT_MIN_BASELINE_PX, top_left[1] - FAILURE_TEXT_GAP_PX)
        cv2.putText(view, f"{digit.label} {digit.confidence:.2f}", (top_left[0], baseline),
                    cv2.FONT_HERSHEY_SIMPLEX, FAILURE_FONT_SCALE, colour, 1, cv2.LINE_AA)
    for suffix, picture in (("", view), ("_raw", scene.image)):
        with atomic_path(folder / f"{name}{suffix}.png") as tmp:
            write_image(tmp, picture)


def evaluate(recognizer: DigitReader, categories: Sequence[str] = scenes.CATEGORIES,
             per_category: int = DEFAULT_PER_CATEGORY, seed: int = DEFAULT_SEED, pool: DigitPool | None = None,
             failures_dir: str | Path | None = None,
             max_failures_saved: int = DEFAULT_MAX_FAILURES_SAVED, ink: str = DEFAULT_INK) -> list[CategoryScore]:
    """Score ``recognizer`` on ``per_category`` generated images of each category.

    Every image is read with ``ink`` (still mode's default, "auto", unless told otherwise).
    """
    pool = pool if pool is not None else DigitPool.mnist_test()
    threshold = getattr(recognizer, "confidence_threshold", None)
    # The first call pays one-off costs (thread pools, lazy imports) that would otherwise
    # be charged to the first category's milliseconds per image.
    recognizer.recognize(np.full(WARM_UP_IMAGE_SHAPE, 255, np.uint8), ink)
    scores = []
    for category in categories:
        started = time.perf_counter()
        category_scenes = build_scenes(category, per_category, seed, pool)
        generated = time.perf_counter()
        single_digit = category in scenes.SINGLE_DIGIT_CATEGORIES
        baseline_labels: list[bool | None] = [None] * len(category_scenes)
        if single_digit and category_scenes:
            batch = np.stack([naive_model_input(scene.image) for scene in category_scenes])
            answers = recognizer.classify(batch).argmax(axis=1)
            baseline_labels = [bool(answer == scene.labels[0]) for answer, scene in zip(answers, category_scenes)]
        outcomes = []
        saved = 0
        for index, scene in enumerate(category_scenes):
            start = time.perf_counter()
            recognition = recognizer.recognize(scene.image, ink)
            milliseconds = (time.perf_counter() - start) * 1e3
            matching, read_right, uncertain = score_image(scene, recognition, threshold)
            right = sum(read_right)
            exact = tuple(recognition.numbers) == scene.numbers
            outcomes.append(ImageOutcome(len(scene.boxes), len(recognition.digits), len(matching.pairs), right,
                                         uncertain, exact, baseline_labels[index], milliseconds,
                                         tuple(zip(scene.pens, read_right))))
            if failures_dir is not None and saved < max_failures_saved and \
                    (not exact or right < len(scene.boxes) or matching.false_positives):
                _save_failure(Path(failures_dir), f"{category}_{index:03d}", scene, recognition, matching)
                saved += 1
        score = CategoryScore.from_outcomes(category, outcomes)
        log.info("%-12s %d images: generated in %.1f s, recognised in %.1f s; read right %.1f%%",
                 category, len(category_scenes), generated - started, time.perf_counter() - generated,
                 100 * score.read_right)
        scores.append(score)
    return scores


# ---------------------------------------------------------------------------------------
# Live mode: a shaking camera over a page
# ---------------------------------------------------------------------------------------
LIVE_CLIPS = 24                   # enough digits (about 130) that one hard digit moves the figure by under a point
LIVE_CLIP_FPS = 30.0              # the frame rate the clips stand for: a typical webcam's
LIVE_CLIP_FRAMES = 150            # five seconds at LIVE_CLIP_FPS
LIVE_SETTLE_FRAMES = 5            # the first frames are not scored: a new digit needs a frame or two
LIVE_SHOWN_RIGHT_TARGET = 0.97
LIVE_MAX_FALSE_CHANGES = 2        # per clip: shown-label changes with no change on the paper


@dataclass(frozen=True)
class LiveScore:
    clips: int
    frames_per_clip: int
    digit_frames: int             # (digit, frame) pairs in view after the settling frames
    shown_right: int              # ... shown at the right place with the right label
    label_changes: tuple[int, ...]  # per clip: changes of a track's shown label (the paper never changes)
    fragmented_digits: int        # digits that were given more than one track id
    milliseconds_per_frame: float

    @property
    def shown_right_share(self) -> float:
        return _ratio(self.shown_right, self.digit_frames)

    @property
    def meets_target(self) -> bool:
        return self.shown_right_share >= LIVE_SHOWN_RIGHT_TARGET and max(self.label_changes) <= LIVE_MAX_FALSE_CHANGES


def evaluate_live(recognizer: Recognizer, clips: int = LIVE_CLIPS, frames: int = LIVE_CLIP_FRAMES,
                  seed: int = DEFAULT_SEED, pool: DigitPool | None = None) -> LiveScore:
    """Run live mode's per-frame path (recognise, track, order) over shaking-camera clips."""
    from recognizer.capture import Frame
    from recognizer.live import LiveLoop, LiveOptions
    from recognizer.track import DigitTracker

    pool = pool if pool is not None else DigitPool.mnist_test()
    digit_frames = shown_right = fragmented = 0
    changes: list[int] = []
    seconds = 0.0
    for clip_index in range(clips):
        clip = scenes.make_shaky_clip(scenes.scene_rng(seed, "live", clip_index), pool, frames, scenes.HARD)
        loop = LiveLoop(recognizer, DigitTracker(), LiveOptions(show=False))
        tracks_of_digit: dict[int, set[int]] = {}
        labels_of_track: dict[int, list[int]] = {}
        for index, (image, truth) in enumerate(zip(clip.frames, clip.boxes)):
            # As a video file's frames: the timestamp is the position in the clip, and
            # captured_at is on the clock Frame.age() reads.
            frame = Frame(image, index, index / LIVE_CLIP_FPS, time.monotonic())
            started = time.perf_counter()
            live = loop.process(frame)
            seconds += time.perf_counter() - started
            for digit, track in zip(live.shown.digits, live.tracks):
                labels_of_track.setdefault(track, []).append(digit.label)
            if index < LIVE_SETTLE_FRAMES:
                continue
            shown_boxes = [digit.box for digit in live.shown.digits]
            matching = match_boxes([box for box in truth if box is not None], shown_boxes)
            visible = [i for i, box in enumerate(truth) if box is not None]
            digit_frames += len(visible)
            for truth_index, shown_index in matching.pairs:
                digit = visible[truth_index]
                tracks_of_digit.setdefault(digit, set()).add(live.tracks[shown_index])
                shown_right += live.shown.digits[shown_index].label == clip.labels[digit]
        changes.append(sum(sum(a != b for a, b in zip(labels, labels[1:])) for labels in labels_of_track.values()))
        fragmented += sum(len(tracks) > 1 for tracks in tracks_of_digit.values())
    return LiveScore(clips, frames, digit_frames, shown_right, tuple(changes), fragmented,
                     1e3 * seconds / max(1, clips * frames))


def live_markdown(score: LiveScore) -> str:
    target = "met" if score.meets_target else "MISSED"
    return "\n".join([
        "| clips | frames each | digit-frames scored | **shown right** | false label changes per clip (max) "
        "| digits split into 2+ tracks | ms/frame | target |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| {score.clips} | {score.frames_per_clip} | {score.digit_frames} | **{_percent(score.shown_right_share)}** "
        f"| {max(score.label_changes)} (all: {', '.join(map(str, score.label_changes))}) | {score.fragmented_digits} "
        f"| {score.milliseconds_per_frame:.1f} | {target}: shown right >= {100 * LIVE_SHOWN_RIGHT_TARGET:.0f}%, "
        f"<= {LIVE_MAX_FALSE_CHANGES} false changes |",
        "",
        "Each clip: one hard-category page (ruled or grid paper, shadows, noise, blur, JPEG) seen by a "
        f"shaking hand-held camera at {LIVE_CLIP_FPS:g} fps. Scored from frame {LIVE_SETTLE_FRAMES} on: a digit "
        "in view counts when a shown box overlaps it (IoU >= 0.5) with the right smoothed label. The paper never "
        "changes, so every change of a track's shown label is a false one.",
    ]) + "\n"


# ---------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------
def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _target_text(score: CategoryScore) -> str:
    read_target = READ_RIGHT_TARGETS.get(score.category)
    precision_target = PRECISION_TARGETS.get(score.category)
    if read_target is None and precision_target is None:
        return "-"
    parts = [f"read >= {100 * read_target:.0f}%"] if read_target is not None else []
    if precision_target is not None:
        parts.append(f"precision >= {100 * precision_target:.0f}%")
    return ("met: " if score.meets_target else "MISSED: ") + ", ".join(parts)


def _model_summary(meta: dict[str, object]) -> str:
    """What the checkpoint says about itself: its MNIST accuracy, and when and how it was trained."""
    facts = []
    for key, name in (("test_accuracy", "MNIST test accuracy"), ("val_accuracy", "validation accuracy")):
        value = meta.get(key)
        if isinstance(value, (int, float)):
            facts.append(f"{name} {_percent(float(value))}")
            break  # the test figure when there is one; validation only for a model still in training
    for key, name in (("epochs_run", "epochs"), ("command", "trained with"), ("date", "saved")):
        if meta.get(key) not in (None, ""):
            facts.append(f"{name} {meta[key]}")
    return f" ({'; '.join(facts)})" if facts else ""


def markdown_table(result: EvalResult) -> str:
    model_line = f"Model `{result.model}`" + _model_summary(result.model_meta)
    lines = [
        model_line + f"; {result.digits} digits, seed {result.seed}, {result.per_category} images per "
                     f"category read with --ink {result.ink}, {result.seconds:.0f} s.",
        "",
        "| category | images | digits | recall | precision | label acc. | **read right** | shown as ? "
        "| images exact | original script | ms/image | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in result.scores:
        lines.append(f"| {s.category} | {s.images} | {s.digits} | {_percent(s.recall)} | {_percent(s.precision)} "
                     f"| {_percent(s.label_accuracy)} | **{_percent(s.read_right)}** | {_percent(s.uncertain_share)} "
                     f"| {_percent(s.image_exact)} "
                     f"| {_percent(s.baseline_accuracy)} | {s.milliseconds_per_image:.1f} | {_target_text(s)} |")
    lines += [
        "",
        f"A prediction matches a digit when their boxes overlap with IoU >= {MIN_MATCH_IOU} (boxes "
        f"narrower than {MIN_MATCH_WIDTH_FRACTION} x their height, such as a 1, are widened to that first). "
        "Read right = digits found and labelled right / all digits. Shown as ? = found digits "
        "whose confidence is below the recogniser's threshold. Images exact = every number "
        "of the image read exactly (nothing missed, extra or uncertain). Original script = whole "
        "image resized to 28x28, inverted, same model (single-digit categories only).",
    ]
    return "\n".join(lines + by_pen_table(result.scores)) + "\n"


def by_pen_table(scores: Sequence[CategoryScore]) -> list[str]:
    """Markdown lines: read right per category and pen (how the digits were drawn), with digit counts."""
    pens = [pen for pen in PEN_ORDER if any(pen in score.by_pen for score in scores)]
    if not pens:
        return []
    pen_px, marker_px, thin_px = scenes.PEN_STROKE_PX, scenes.MARKER_STROKE_PX, scenes.THIN_STROKE_PX
    lines = ["", "Read right by how the digits were drawn (digits in brackets): natural = the MNIST "
                 f"writer's own stroke; pen, marker = its centre line redrawn with a {pen_px[0]:g}-{pen_px[1]:g} px "
                 f"pen or a {marker_px[0]:g}-{marker_px[1]:g} px marker (every digit too big for its own stroke "
                 f"is redrawn with a marker); thin = a {thin_px[0]:g}-{thin_px[1]:g} px paint-program line; "
                 "print = a font.", "",
             "| category | " + " | ".join(pens) + " |", "|---|" + "---:|" * len(pens)]
    for score in scores:
        cells = []
        for pen in pens:
            digits, read_right = score.by_pen.get(pen, (0, 0))
            cells.append(f"{_percent(read_right / digits)} ({digits})" if digits else "-")
        lines.append(f"| {score.category} | " + " | ".join(cells) + " |")
    return lines


CATEGORY_HELP = {
    scenes.CLEAN: "1-8 digits as numbers on plain paper, even light, no camera faults",
    scenes.HARD: "1-8 digits on ruled/grid paper with shadows, blur, noise, JPEG, tilt, thumb, desk edge",
    scenes.THIN_PEN: "one digit drawn with a 1-2 px paint-program brush",
    scenes.PRINTED: "1-4 digits in Hershey fonts, black on white",
    scenes.SCAN: "one small (40-120 px) cropped scan of a handwritten digit",
    scenes.PAPER_PHOTO: "one handwritten digit photographed on tinted paper under uneven light",
    scenes.LIGHT_ON_DARK: "a clean scene with its tones inverted: light digits on a dark ground",
    scenes.MNIST_IMAGE: "an MNIST digit as its own 28x28 image, light on dark",
    scenes.HANDHELD: "a hard scene on a page held at a slant (keystone, desk around it), with motion blur",
}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    categories = "\n".join(f"  {name:<12} {text}" for name, text in CATEGORY_HELP.items())
    targets = ", ".join(f"{name} {100 * value:.0f}%" for name, value in READ_RIGHT_TARGETS.items())
    parser = argparse.ArgumentParser(
        prog="python -m recognizer.evaluate",
        description="Evaluate the digit recogniser on generated photos of digits on paper. The set is "
                    "built from MNIST test digits (or, with --digits validation, the held-out training "
                    "digits) and rebuilt deterministically from the seed, so nothing is stored. Prints "
                    "a markdown table on stdout; progress goes to stderr.",
        epilog=f"categories:\n{categories}\n\ntargets (read right): {targets}; hard precision "
               f"{100 * PRECISION_TARGETS[scenes.HARD]:.0f}%",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, metavar="PATH",
                        help="checkpoint to evaluate (default: the shipped models/mlp.pt)")
    parser.add_argument("--per-category", type=positive_int, default=DEFAULT_PER_CATEGORY, metavar="N",
                        help=f"images generated per category (default: {DEFAULT_PER_CATEGORY})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S",
                        help=f"seed of the evaluation set (default: {DEFAULT_SEED})")
    parser.add_argument("--categories", nargs="+", choices=scenes.CATEGORIES, default=list(scenes.CATEGORIES),
                        metavar="CATEGORY", help="categories to evaluate (default: all, see below)")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table to FILE")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write all counts and rates as JSON to FILE")
    parser.add_argument("--failures", type=Path, metavar="DIR",
                        help="save images with a miss, a misread or a false alarm to DIR, with truth "
                             "(green), right reads (blue), misreads (orange) and false alarms (red) drawn")
    parser.add_argument("--max-failures", type=int, default=DEFAULT_MAX_FAILURES_SAVED, metavar="K",
                        help=f"at most K failure images per category (default: {DEFAULT_MAX_FAILURES_SAVED})")
    parser.add_argument("--digits", choices=("test", "validation"), default="test",
                        help="draw the scenes from MNIST test digits (default: the figures to report) or "
                             "from the validation digits the model's train.py run held out (to tune "
                             "pipeline settings without looking at the test digits)")
    parser.add_argument("--ink", choices=INK_CHOICES, default=DEFAULT_INK,
                        help="ink polarity the images are read with, as live_digits.py --ink "
                             f"(default: {DEFAULT_INK}, as still mode; live clips are read as dark ink, as "
                             "live mode reads a camera)")
    parser.add_argument("--live", action="store_true",
                        help="also score live mode (tracking, smoothed labels) on shaking-camera clips")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from recognizer.checkpoint import CheckpointError
    from recognizer.data import MnistUnavailable
    from recognizer.recognize import Recognizer, use_pipeline_threads

    for option, path in (("--markdown", args.markdown), ("--json", args.json)):
        if path is not None:
            try:
                checked_target(path)  # found now, not after minutes of scoring
            except OSError as error:
                log.error("%s: %s", option, error)
                return EXIT_FAILURE
    use_pipeline_threads()
    try:
        recognizer = Recognizer.load(args.model)
    except CheckpointError as error:
        log.error("%s", error)
        return EXIT_FAILURE
    try:
        if args.digits == "validation":
            recipe = recognizer.meta.get("recipe") or {}
            if not isinstance(recipe, dict) or recipe.get("val_size") is None or recipe.get("seed") is None:
                log.error("%s does not record its validation split (recipe val_size and seed); "
                          "use --digits test", recognizer.name)
                return EXIT_FAILURE
            pool = DigitPool.mnist_validation(int(recipe["val_size"]), int(recipe["seed"]))
            digits = f"MNIST validation ({recipe['val_size']} held out by train.py, seed {recipe['seed']})"
        else:
            pool, digits = DigitPool.mnist_test(), "MNIST test"
    except MnistUnavailable as error:
        log.error("%s", error)
        return EXIT_FAILURE
    started = time.perf_counter()
    scores = evaluate(recognizer, args.categories, args.per_category, args.seed, pool,
                      failures_dir=args.failures, max_failures_saved=args.max_failures, ink=args.ink)
    result = EvalResult(model=recognizer.name, model_meta=recognizer.meta, seed=args.seed,
                        per_category=args.per_category, scores=tuple(scores),
                        seconds=time.perf_counter() - started, digits=digits, ink=args.ink)
    table = markdown_table(result)
    if args.live:
        table += "\nLive mode:\n\n" + live_markdown(evaluate_live(recognizer, seed=args.seed, pool=pool))
    sys.stdout.write(table)
    code = EXIT_OK
    for path, text in ((args.markdown, table), (args.json, json.dumps(result.as_dict(), indent=2, default=str) + "\n")):
        if path:
            try:  # each on its own: one that cannot be written does not cost the other
                atomic_write_text(path, text)
                log.info("wrote %s", path)
            except OSError as error:
                log.error("could not write %s: %s", path, error)
                code = EXIT_FAILURE
    if args.failures:
        log.info("failure images in %s", args.failures)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
