"""Benchmark the live pipeline on camera-like frames, against a fixed floor and a naive loop.

``python -m recognizer.bench`` builds synthetic webcam frames of digits on paper
(``recognizer.scenes``: 640x480 and 1280x720, with 1, 10 and 30 digits of exact truth)
and, in one run, on the same frames:

* **ours**: ``Recognizer.recognize`` (segment = gray, threshold, line removal, connected
  components and reading order; crops = normalising each digit to 28x28; inference = one
  batched forward pass) plus ``draw.draw_recognition``; median and p95 per stage and in
  total, frames per second, CPU time, the tracker's update as an extra column (not in the
  total), the peak of the allocations one frame makes (tracemalloc, in a separate untimed
  pass) and the process's peak resident memory;
* **floor**: ``cvtColor`` to gray + ``adaptiveThreshold`` (mean, 31 px block, C=10) +
  ``findContours`` (external, simple) and nothing else: a fixed yardstick of what any
  OpenCV webcam demo spends before it has found anything;
* **naive**: the loop most webcam demos use to classify: each box cropped from the gray
  frame, resized straight to 28x28, inverted, and one model call per crop. It is given
  the boxes *our segmenter found on the same frame*, so both classify the same digits
  (the floor's own contours on ruled or grid paper are hundreds of line fragments; their
  count is reported too). It is compared with our crops + inference stages, and
  floor + naive loop (a whole naive demo) with our total.

The three run interleaved frame by frame, in a rotating order, so that a burst of load
from other processes hits all three alike. Then, optionally:

* **stability**: ``LiveLoop.process`` + ``render`` (exactly as the app runs) over
  ``--frames`` frames of a shaking page, resident memory read from /proc/self/statm at
  intervals, growth after warm-up and its slope; ``--tracemalloc`` adds the allocation
  sites that grew;
* **frame age**: a ``SimulatedCamera`` (the real threaded newest-frame capture code)
  producing timestamped frames at 30 and 60 fps, ``LiveLoop.process`` + ``render`` on each
  ``read()`` frame, and ``frame.age()`` right after render: the age of what is displayed,
  next to the target "at most one frame interval + processing time".

Timings are wall clock on whatever else the machine is doing; the report records the
machine (cores, CPU model, library versions, thread counts) and the load average, and the
CPU time column shows how much of the wall time the process actually ran.

Writes ``bench.md``, ``bench.json`` and ``bench.png`` into ``--out`` (default
``runs/bench``, git-ignored), each atomically, and prints the markdown on stdout.
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import math
import os
import platform
import resource
import statistics
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from recognizer import scenes
from recognizer.arguments import EXIT_FAILURE, EXIT_OK, non_negative_float, positive_float
from recognizer.atomic import atomic_path, atomic_write_text, checked_folder
from recognizer.evaluate import match_boxes, naive_model_input
from recognizer.normalize import to_gray
from recognizer.scenes import Box, DigitPool, Scene

if TYPE_CHECKING:  # annotations only: as before, the functions below import these where they use them
    from recognizer.live import StageLog
    from recognizer.recognize import Recognition, Recognizer

log = logging.getLogger("recognizer.bench")

DEFAULT_OUT = Path("runs/bench")
DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720))
DEFAULT_DIGITS: tuple[int, ...] = (1, 10, 30)
DEFAULT_KIND = scenes.HARD
DEFAULT_SEED = 0
# Full run / --quick.
DEFAULT_FRAMES_PER_SETTING, QUICK_FRAMES_PER_SETTING = 6, 2
DEFAULT_REPEATS, QUICK_REPEATS = 20, 2          # timed passes over a setting's frames
DEFAULT_WARMUP, QUICK_WARMUP = 2, 1             # untimed passes first
DEFAULT_STABILITY_FRAMES, QUICK_STABILITY_FRAMES = 10_000, 200
DEFAULT_CAMERA_SECONDS, QUICK_CAMERA_SECONDS = 5.0, 1.0
DEFAULT_CAMERA_FPS: tuple[float, ...] = (30.0, 60.0)
DEFAULT_STABILITY_SIZE = (640, 480)
DEFAULT_STABILITY_DIGITS = 10
DEFAULT_CAMERA_DIGITS = 10
# Frames of the shaking page the stability and camera runs cycle through.
CLIP_FRAMES = 30
# Digits per written line when a frame holds many (more lines are added, not longer ones).
MAX_DIGITS_PER_LINE = 8
MAX_FRAME_ATTEMPTS = 10
# The floor: the classic webcam-demo threshold.
FLOOR_BLOCK_PX = 31
FLOOR_C = 10
# Stability: RSS samples taken over the run, and the share of frames treated as warm-up.
STABILITY_SAMPLES = 100
STABILITY_WARMUP_SHARE = 0.1
STABILITY_MAX_WARMUP_FRAMES = 500
TRACEMALLOC_TOP = 8
CAMERA_WARMUP_FRAMES = 5
# The rate render() writes on the overlay in the stability run, which has no camera to measure
# one from: a typical webcam's (the text drawn, and so the work, is the same for any rate).
STABILITY_SHOWN_FPS = 30.0
MB = 2 ** 20
STAGES = ("segment", "crops", "inference", "draw")


# -- machine -------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith(("model name", "hardware", "processor\t: ")) and ":" in line:
                    value = line.split(":", 1)[1].strip()
                    if value and not value.isdigit():
                        return value
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> list[float]:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def machine_info() -> dict[str, object]:
    """Where the numbers were measured: cores, CPU, libraries, thread counts, load."""
    import matplotlib

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    memory_mb = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    memory_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "host": platform.node(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "memory_mb": memory_mb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "torch": torch.__version__,
        "matplotlib": matplotlib.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "opencv_threads": cv2.getNumThreads(),
        "opencv_optimized": bool(cv2.useOptimized()),
        "load_average_start": load_average(),
    }


# -- memory --------------------------------------------------------------------------------

def rss_mb() -> float:
    """Resident set size now, from /proc/self/statm (falls back to the peak where there is no /proc)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / MB
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """The process's peak resident set size (VmHWM; since the last ``reset_peak_rss``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


# -- statistics ------------------------------------------------------------------------------

def summarize(values: Sequence[float]) -> dict[str, float]:
    """median, p95, mean, min, max and count of a list of milliseconds (or any values)."""
    if not values:
        return {"n": 0, "median": math.nan, "p95": math.nan, "mean": math.nan, "min": math.nan, "max": math.nan}
    array = np.asarray(values, np.float64)
    return {"n": int(array.size), "median": float(np.median(array)), "p95": float(np.percentile(array, 95)),
            "mean": float(array.mean()), "min": float(array.min()), "max": float(array.max())}


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


# -- frames ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    width: int
    height: int
    digits: int

    @property
    def name(self) -> str:
        return f"{self.width}x{self.height}, {self.digits} digit{'s' if self.digits != 1 else ''}"


class FrameBuildError(RuntimeError):
    """The digits asked for do not fit on a frame of the size asked for."""


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}") from None
    if width < 64 or height < 64:
        raise argparse.ArgumentTypeError(f"frame size {text} is too small (at least 64x64)")
    return width, height


def digit_lines(rng: np.random.Generator, count: int) -> list[list[str]]:
    """``count`` random digits as numbers of 1-4 digits, on lines of at most MAX_DIGITS_PER_LINE digits."""
    if count < 1:
        raise ValueError(f"need at least one digit, got {count}")
    line_count = math.ceil(count / MAX_DIGITS_PER_LINE)
    per_line = [count // line_count + (1 if index < count % line_count else 0) for index in range(line_count)]
    lines = []
    for digits in per_line:
        numbers, remaining = [], digits
        while remaining:
            length = int(rng.integers(1, min(scenes.MAX_DIGITS_PER_NUMBER, remaining) + 1))
            numbers.append(scenes.random_digits(rng, length))
            remaining -= length
        lines.append(numbers)
    return lines


def make_frame(rng: np.random.Generator, pool: DigitPool, setting: Setting, kind: str = DEFAULT_KIND) -> Scene:
    """One camera-like frame holding exactly ``setting.digits`` digits, all inside the frame."""
    for attempt in range(MAX_FRAME_ATTEMPTS):
        conditions = scenes.sample_conditions(rng, kind, (setting.width, setting.height))
        lines = digit_lines(rng, setting.digits)
        try:
            # The category names the paper pattern, so the report can say what was timed.
            scene = scenes.compose_camera_scene(rng, pool, lines, conditions,
                                                category=f"{kind}:{conditions.pattern}")
        except RuntimeError as error:  # the layout did not fit beside this thumb / page edge
            log.debug("frame attempt %d for %s: %s", attempt + 1, setting.name, error)
            continue
        if len(scene.labels) == setting.digits and len(scene.boxes) == setting.digits:
            return scene
    raise FrameBuildError(f"could not build a {setting.name} frame in {MAX_FRAME_ATTEMPTS} attempts "
                       f"(the frame is too small for that many digits?)")


def make_frames(pool: DigitPool, setting: Setting, count: int, kind: str = DEFAULT_KIND,
                seed: int = DEFAULT_SEED) -> list[Scene]:
    """``count`` distinct frames of one setting; the same seed gives the same pixels."""
    rng = np.random.default_rng([seed, setting.width, setting.height, setting.digits])
    return [make_frame(rng, pool, setting, kind) for _ in range(count)]


def make_clip(pool: DigitPool, size: tuple[int, int], digits: int, kind: str = DEFAULT_KIND,
              seed: int = DEFAULT_SEED, frame_count: int = CLIP_FRAMES) -> scenes.ShakyClip:
    """A page held up by a shaking hand (what a live camera sees), for the stability and camera runs."""
    rng = np.random.default_rng([seed, size[0], size[1], digits, 1])
    return scenes.make_shaky_clip(rng, pool, frame_count, kind, lines=digit_lines(rng, digits), size=size)


# -- the three pipelines -----------------------------------------------------------------------

def floor_pass(image: np.ndarray) -> tuple[np.ndarray, ...]:
    """The yardstick: gray, adaptive mean threshold (31 px, C=10), external contours. Nothing else."""
    # For a BGR frame to_gray is exactly cvtColor(BGR2GRAY), the floor's definition; a gray
    # image passes through.
    gray = to_gray(image)
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV,
                                   FLOOR_BLOCK_PX, FLOOR_C)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return tuple(contours)


def naive_crop_input(gray: np.ndarray, box: Box) -> np.ndarray:
    """What a typical demo feeds its model: the box resized straight to 28x28, inverted."""
    x, y, w, h = box
    return naive_model_input(gray[y:y + h, x:x + w])


@torch.inference_mode()
def naive_loop(gray: np.ndarray, boxes: Sequence[Box], model: Callable[[torch.Tensor], torch.Tensor]
               ) -> list[tuple[int, float]]:
    """The naive per-crop loop: one model call per box; (label, confidence) per box."""
    results = []
    for box in boxes:
        pixels = torch.from_numpy(naive_crop_input(gray, box)).float().div_(255.0).unsqueeze(0)
        probabilities = torch.softmax(model(pixels), dim=1)[0]
        confidence, label = probabilities.max(dim=0)
        results.append((int(label), float(confidence)))
    return results


@dataclass(frozen=True)
class OursSample:
    segment: float
    crops: float
    inference: float
    draw: float
    total: float
    cpu: float
    found: int


def ours_pass(recognizer: Recognizer, image: np.ndarray) -> tuple[OursSample, Recognition, np.ndarray]:
    """The project's per-frame pipeline, timed: ``recognize`` then ``draw_recognition``."""
    from recognizer.draw import draw_recognition

    cpu_start = time.process_time()
    start = time.perf_counter()
    recognition = recognizer.recognize(image)
    recognized = time.perf_counter()
    canvas = draw_recognition(image, recognition, recognizer.text_of)
    end = time.perf_counter()
    cpu = (time.process_time() - cpu_start) * 1e3
    times = recognition.times
    sample = OursSample(times.segment_ms, times.crops_ms, times.inference_ms, (end - recognized) * 1e3,
                        (end - start) * 1e3, cpu, len(recognition.digits))
    return sample, recognition, canvas


# -- timing one setting --------------------------------------------------------------------------

@dataclass(frozen=True)
class SettingResult:
    setting: Setting
    frames: int
    samples: int
    truth_digits: int
    found_median: float
    recall: float                       # truth digits matched by our boxes (IoU >= 0.5), all frames
    patterns: list[str]
    ours: dict[str, dict[str, float]]   # stage -> summary; plus total, cpu, track
    floor: dict[str, float]
    floor_contours_median: float
    naive: dict[str, float]             # the per-crop loop alone
    naive_demo: dict[str, float]        # floor + naive loop, per frame
    ratios: dict[str, float]
    fps: float                          # 1000 / median total
    throughput_fps: float               # frames / total time
    alloc_peak_mb: float                # largest tracemalloc peak of one frame (numpy + Python)
    peak_rss_mb: float
    peak_rss_reset: bool
    load_average: list[float]

    def as_dict(self) -> dict[str, object]:
        result = dataclasses.asdict(self)
        result["setting"] = {**dataclasses.asdict(self.setting), "name": self.setting.name}
        return result


def _recall(frames: Sequence[Scene], boxes: Sequence[Sequence[Box]]) -> float:
    truth = sum(len(scene.boxes) for scene in frames)
    matched = sum(len(match_boxes(scene.boxes, found).pairs) for scene, found in zip(frames, boxes))
    return _ratio(matched, truth)


# A pipeline run on one frame: (frame index, (pass, frame index) in a timed pass or None in a warm-up pass).
FrameRunner = Callable[[int, "tuple[int, int] | None"], None]


def time_setting(recognizer: Recognizer, frames: Sequence[Scene], setting: Setting, repeats: int, warmup: int,
                 measure_allocations: bool = True) -> SettingResult:
    """Time ours, the floor and the naive loop on the same frames, interleaved; see the module docstring."""
    from recognizer.track import DigitTracker

    images = [scene.image for scene in frames]
    grays = [to_gray(image) for image in images]
    # The naive loop classifies the boxes our segmenter finds on the same frame.
    found_boxes = [[digit.box for digit in recognizer.recognize(image).digits] for image in images]
    model = recognizer.model
    # One tracker per frame: each sees "its" page every time, like a page held still.
    trackers = [DigitTracker() for _ in images]
    ours: list[OursSample] = []
    track_ms: list[float] = []
    floor_contours: list[int] = []
    # By (pass, frame index): a frame's floor and naive loop add up to a whole naive demo's time.
    floor_ms: dict[tuple[int, int], float] = {}
    naive_ms: dict[tuple[int, int], float] = {}

    def run_ours(index: int, key: tuple[int, int] | None) -> None:
        sample, recognition, _ = ours_pass(recognizer, images[index])
        started = time.perf_counter()
        trackers[index].update([digit.box for digit in recognition.digits], recognition.probabilities)
        tracked = (time.perf_counter() - started) * 1e3
        if key is not None:
            ours.append(sample)
            track_ms.append(tracked)

    def run_floor(index: int, key: tuple[int, int] | None) -> None:
        started = time.perf_counter()
        contours = floor_pass(images[index])
        elapsed = (time.perf_counter() - started) * 1e3
        if key is not None:
            floor_ms[key] = elapsed
            floor_contours.append(len(contours))

    def run_naive(index: int, key: tuple[int, int] | None) -> None:
        started = time.perf_counter()
        naive_loop(grays[index], found_boxes[index], model)
        elapsed = (time.perf_counter() - started) * 1e3
        if key is not None:
            naive_ms[key] = elapsed

    runners = (run_floor, run_ours, run_naive)
    _interleaved_passes(runners, len(images), warmup, timed=False)
    gc.collect()
    reset = reset_peak_rss()
    _interleaved_passes(runners, len(images), repeats, timed=True)
    peak_rss = peak_rss_mb()
    load = load_average()
    alloc_peak = _allocation_peak_mb(recognizer, images) if measure_allocations else math.nan

    stage_summary = _our_summaries(ours, track_ms)
    total = stage_summary["total"]
    floor = summarize(list(floor_ms.values()))
    naive = summarize(list(naive_ms.values()))
    demo = summarize([floor_ms[key] + naive_ms[key] for key in floor_ms])
    ratios = {
        "ours_over_floor": _ratio(total["median"], floor["median"]),
        "naive_over_ours_classify": _ratio(naive["median"], stage_summary["crops+inference"]["median"]),
        "naive_demo_over_ours": _ratio(demo["median"], total["median"]),
    }
    return SettingResult(
        setting=setting, frames=len(images), samples=len(ours), truth_digits=setting.digits,
        found_median=float(statistics.median(sample.found for sample in ours)) if ours else math.nan,
        recall=_recall(frames, found_boxes), patterns=[_pattern_of(scene) for scene in frames],
        ours=stage_summary, floor=floor,
        floor_contours_median=float(statistics.median(floor_contours)) if floor_contours else math.nan,
        naive=naive, naive_demo=demo, ratios=ratios, fps=_ratio(1000.0, total["median"]),
        throughput_fps=_ratio(1000.0 * len(ours), sum(sample.total for sample in ours)),
        alloc_peak_mb=alloc_peak, peak_rss_mb=peak_rss, peak_rss_reset=reset, load_average=load)


def _interleaved_passes(runners: tuple[FrameRunner, ...], frame_count: int, passes: int, timed: bool) -> None:
    """``passes`` passes over the frames, every runner on each frame before the next frame.

    Timed passes hand the runners their (pass, frame index) key and rotate the runners' order
    from frame to frame, so that a burst of load from other processes hits all of them alike;
    warm-up passes hand them None, in a fixed order, and nothing is recorded.
    """
    for repeat in range(passes):
        for index in range(frame_count):
            key = (repeat, index) if timed else None
            shift = (repeat * frame_count + index) % len(runners) if timed else 0
            for runner in runners[shift:] + runners[:shift]:
                runner(index, key)


def _allocation_peak_mb(recognizer: Recognizer, images: Sequence[np.ndarray]) -> float:
    """The largest allocation peak of one ``ours_pass`` over ``images``, in MB.

    Untimed: tracemalloc slows Python code down. numpy and OpenCV's arrays are traced;
    torch's own buffers are not.
    """
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    peaks = []
    for image in images:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        ours_pass(recognizer, image)
        peaks.append(tracemalloc.get_traced_memory()[1] - before)
    if not was_tracing:
        tracemalloc.stop()
    return max(peaks) / MB


def _our_summaries(ours: Sequence[OursSample], track_ms: Sequence[float]) -> dict[str, dict[str, float]]:
    """Summaries of our stages, total and CPU time, of the tracker's update, and of crops +
    inference (the part the naive loop does instead)."""
    summaries = {name: summarize([getattr(sample, name) for sample in ours]) for name in (*STAGES, "total", "cpu")}
    summaries["track"] = summarize(track_ms)
    summaries["crops+inference"] = summarize([sample.crops + sample.inference for sample in ours])
    return summaries


def _pattern_of(scene: Scene) -> str:
    return scene.category.rpartition(":")[2]


# -- stability ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StabilityResult:
    frames: int
    size: tuple[int, int]
    digits: int
    seconds: float
    warmup_frames: int
    samples: list[tuple[int, float]]              # (frames processed, RSS MB)
    rss_start_mb: float
    rss_baseline_mb: float                        # after warm-up
    rss_end_mb: float
    rss_max_mb: float
    growth_mb: float                              # end - baseline
    slope_mb_per_1000: float                      # least-squares slope after warm-up
    stage_log_mb: float                           # what LiveLoop.stages holds at the end
    stage_log_entries: int
    tracks_held: int
    tracemalloc_growth: list[dict[str, object]] = field(default_factory=list)
    load_average: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _stage_log_bytes(stages: StageLog) -> tuple[int, int]:
    """(bytes, entries) held by ``LiveLoop.stages`` (a ``recognizer.live.StageLog``)."""
    queues = list(stages.values.values())
    entries = sum(len(values) for values in queues)
    size = sum(sys.getsizeof(values) + sum(sys.getsizeof(item) for item in values) for values in queues)
    return size, entries


def stability_run(recognizer: Recognizer, clip: scenes.ShakyClip, frames: int, trace: bool = False,
                  progress: Callable[[int], None] | None = None) -> StabilityResult:
    """``LiveLoop.process`` + ``render`` over ``frames`` frames, as the app runs; RSS at intervals."""
    from recognizer.live import LiveLoop, LiveOptions
    from recognizer.capture import Frame
    from recognizer.track import DigitTracker

    loop = LiveLoop(recognizer, DigitTracker(), LiveOptions(show=False))
    warmup = min(STABILITY_MAX_WARMUP_FRAMES, max(1, int(frames * STABILITY_WARMUP_SHARE)))
    interval = max(1, frames // STABILITY_SAMPLES)
    height, width = clip.frames[0].shape[:2]
    samples: list[tuple[int, float]] = []
    gc.collect()
    start_rss = rss_mb()
    baseline_snapshot = None
    if trace:
        tracemalloc.start(10)
    started = time.perf_counter()
    baseline = math.nan
    for count in range(frames):
        image = clip.frames[count % len(clip.frames)].copy()  # a fresh array per frame, as a camera gives
        now = time.monotonic()
        live = loop.process(Frame(image, count, now, now))
        loop.render(live, STABILITY_SHOWN_FPS)
        done = count + 1
        if done == warmup:
            baseline = rss_mb()
            if trace:
                baseline_snapshot = tracemalloc.take_snapshot()
        if done % interval == 0 or done == frames:
            samples.append((done, rss_mb()))
            if progress:
                progress(done)
    seconds = time.perf_counter() - started
    growth_sites: list[dict[str, object]] = []
    if trace:
        end_snapshot = tracemalloc.take_snapshot()
        tracemalloc.stop()
        if baseline_snapshot is not None:
            for stat in end_snapshot.compare_to(baseline_snapshot, "lineno")[:TRACEMALLOC_TOP]:
                frame = stat.traceback[0]
                growth_sites.append({"site": f"{frame.filename}:{frame.lineno}", "growth_kb": stat.size_diff / 1024,
                                     "count_growth": stat.count_diff})
    end_rss = rss_mb()
    after = [(n, value) for n, value in samples if n >= warmup]
    slope = math.nan
    if len(after) >= 2:
        xs = np.array([n for n, _ in after], np.float64)
        ys = np.array([value for _, value in after], np.float64)
        slope = float(np.polyfit(xs, ys, 1)[0] * 1000) if np.ptp(xs) > 0 else math.nan
    if math.isnan(baseline):
        baseline = start_rss
    log_bytes, log_entries = _stage_log_bytes(loop.stages)
    return StabilityResult(
        frames=frames, size=(width, height), digits=len(clip.labels), seconds=seconds, warmup_frames=warmup,
        samples=samples, rss_start_mb=start_rss, rss_baseline_mb=baseline, rss_end_mb=end_rss,
        rss_max_mb=max([value for _, value in samples], default=end_rss), growth_mb=end_rss - baseline,
        slope_mb_per_1000=slope, stage_log_mb=log_bytes / MB, stage_log_entries=log_entries,
        tracks_held=len(loop.tracker), tracemalloc_growth=growth_sites, load_average=load_average())


# -- frame age on a live camera ------------------------------------------------------------------

@dataclass(frozen=True)
class CameraResult:
    fps: float
    size: tuple[int, int]
    digits: int
    seconds: float
    displayed: int
    produced: int                    # frames the camera made while we ran
    dropped: int                     # frames never processed (the newest-frame buffer skipped them)
    display_fps: float
    interval_ms: float
    age: dict[str, float]            # frame.age() right after render, ms
    wait: dict[str, float]           # frame.age() right after read(): time spent waiting in the buffer
    processing: dict[str, float]     # process + render, ms
    target_ms: float                 # interval + median processing
    within_target: float             # share of frames with age <= interval + that frame's processing
    load_average: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def camera_run(recognizer: Recognizer, clip: scenes.ShakyClip, fps: float, seconds: float) -> CameraResult:
    """A SimulatedCamera at ``fps``; the real ``LiveLoop.process`` + ``render`` on each ``read()``."""
    from recognizer.capture import SimulatedCamera
    from recognizer.live import LiveLoop, LiveOptions
    from recognizer.track import DigitTracker

    loop = LiveLoop(recognizer, DigitTracker(), LiveOptions(show=False))
    ages, waits, processing, indices = [], [], [], []
    shown_fps = 0.0
    height, width = clip.frames[0].shape[:2]
    with SimulatedCamera(list(clip.frames), fps=fps) as camera:
        count = 0
        started = last = None
        while True:
            frame = camera.read()
            if frame is None:
                break
            wait = frame.age()
            begin = time.perf_counter()
            live = loop.process(frame)
            loop.render(live, shown_fps)
            age = frame.age()
            end = time.perf_counter()
            count += 1
            if last is not None:
                shown_fps = 1.0 / max(end - last, 1e-6)
            last = end
            if count <= CAMERA_WARMUP_FRAMES:
                continue
            if started is None:
                started, first_index = end, frame.index
            ages.append(age * 1e3)
            waits.append(wait * 1e3)
            processing.append((end - begin) * 1e3)
            indices.append(frame.index)
            if end - started >= seconds:
                break
    interval = 1000.0 / fps
    elapsed = (last - started) if started is not None and last is not None else 0.0
    produced = (indices[-1] - first_index + 1) if indices else 0
    within = [age <= interval + spent for age, spent in zip(ages, processing)]
    processing_summary = summarize(processing)
    return CameraResult(
        fps=fps, size=(width, height), digits=len(clip.labels), seconds=elapsed, displayed=len(ages),
        produced=produced, dropped=max(0, produced - len(ages)),
        display_fps=_ratio(len(ages) - 1, elapsed), interval_ms=interval, age=summarize(ages), wait=summarize(waits),
        processing=processing_summary, target_ms=interval + processing_summary["median"],
        within_target=_ratio(sum(within), len(within)), load_average=load_average())


# -- reports ----------------------------------------------------------------------------------

def _ms(summary: dict[str, float], digits: int = 1) -> str:
    if not summary or summary.get("n", 0) == 0:
        return "-"
    return f"{summary['median']:.{digits}f} / {summary['p95']:.{digits}f}"


def _x(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}x"


def markdown_report(report: dict[str, object]) -> str:
    results: list[dict] = report["settings"]
    lines = [*_header_lines(report), *_our_pipeline_lines(results), *_comparison_lines(results),
             *_stability_lines(report.get("stability")), *_camera_lines(report.get("camera") or []),
             f"Whole run: {report['seconds']:.0f} s. Command: `{report['command']}`."]
    return "\n".join(lines) + "\n"


def _header_lines(report: dict[str, object]) -> list[str]:
    """Title, machine, load and how the frames were made and timed."""
    machine = report["machine"]
    config = report["config"]
    return [
        "# live-digits benchmark",
        "",
        f"Run {report['started']} on **{machine['cpu_model']}**, {machine['cores_usable']} usable cores "
        f"({machine['cores']} online), {machine['memory_mb']} MB RAM; {machine['platform']}.",
        f"Python {machine['python']}, numpy {machine['numpy']}, OpenCV {machine['opencv']} "
        f"({machine['opencv_threads']} threads), torch {machine['torch']} ({machine['torch_threads']} intra-op "
        f"thread(s)), matplotlib {machine['matplotlib']}.",
        f"Load average (1, 5, 15 min): {_load(machine['load_average_start'])} at the start, "
        f"{_load(report['load_average_end'])} at the end. The machine is shared: wall-clock times are noisy, "
        "and the CPU-ms column shows how much of each frame's wall time the process actually ran.",
        "",
        f"Frames: `recognizer.scenes` camera-like {config['kind']} paper, {config['frames_per_setting']} distinct "
        f"frames per setting cycled {config['repeats']} times after {config['warmup']} warm-up pass(es) "
        f"(seed {config['seed']}). Ours, floor and naive run interleaved frame by frame in a rotating order.",
        "",
    ]


def _our_pipeline_lines(results: Sequence[dict]) -> list[str]:
    """Our stages, total, fps, CPU time, tracker and memory per setting."""
    lines = [
        "## Our pipeline per frame (ms, median / p95)",
        "",
        "| setting | digits found (recall) | segment | crops | inference | draw | **total** | fps | CPU ms "
        "| track (extra) | alloc peak / frame | peak RSS | load 1 min |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        ours = result["ours"]
        lines.append(
            f"| {result['setting']['name']} | {result['found_median']:g} of {result['truth_digits']} "
            f"({100 * result['recall']:.0f}%) | {_ms(ours['segment'])} | {_ms(ours['crops'])} "
            f"| {_ms(ours['inference'])} | {_ms(ours['draw'])} | **{_ms(ours['total'])}** | {result['fps']:.0f} "
            f"| {ours['cpu']['median']:.1f} | {_ms(ours['track'], 2)} | {result['alloc_peak_mb']:.1f} MB "
            f"| {result['peak_rss_mb']:.0f} MB | {_load(result['load_average'][:1])} |")
    return lines + [
        "",
        "segment = gray + flattened threshold + line removal + components + reading order "
        "(`times.segment_ms`); crops = 28x28 normalisation; inference = one batched forward pass; "
        "draw = `draw_recognition`; total = all four, measured around them; fps = 1000 / median total. "
        "Track = `DigitTracker.update` with a page held still (not in the total). Alloc peak = the largest "
        "tracemalloc peak of one frame (numpy/OpenCV/Python allocations; torch's own buffers are not "
        "traced), measured in an untimed pass. Peak RSS = the whole process during the setting.",
        "",
    ]


def _comparison_lines(results: Sequence[dict]) -> list[str]:
    """Ours against the floor and the naive loop per setting."""
    lines = [
        "## Against the floor and the naive loop (ms, median / p95)",
        "",
        "| setting | ours total | floor | floor contours | ours / floor | our crops + inference | naive loop "
        "| naive / ours (classify) | floor + naive | (floor + naive) / ours |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        ours, ratios = result["ours"], result["ratios"]
        lines.append(
            f"| {result['setting']['name']} | {_ms(ours['total'])} | {_ms(result['floor'], 2)} "
            f"| {result['floor_contours_median']:g} | {_x(ratios['ours_over_floor'])} "
            f"| {_ms(ours['crops+inference'], 2)} | {_ms(result['naive'], 2)} "
            f"| {_x(ratios['naive_over_ours_classify'])} | {_ms(result['naive_demo'], 2)} "
            f"| {_x(ratios['naive_demo_over_ours'])} |")
    return lines + [
        "",
        f"Floor = `cvtColor` + `adaptiveThreshold` (mean, {FLOOR_BLOCK_PX} px block, C={FLOOR_C}) + "
        "`findContours` (external, simple), nothing else; its contour count shows it is not a digit finder "
        "(ruled and grid lines, noise). Naive loop = for each box *our segmenter found on the same frame*, "
        "crop the gray frame, resize straight to 28x28, invert, and call the model once; it is compared with "
        "our crops + inference (same digits), and floor + naive loop (a whole naive demo) with our total.",
        "",
    ]


def _stability_lines(stability: dict | None) -> list[str]:
    """Resident memory over the long run, and the allocation sites that grew; none without that run."""
    if not stability:
        return []
    width, height = stability["size"]
    lines = [
        "## Memory over a long run",
        "",
        f"`LiveLoop.process` + `render` as the app runs them, {stability['frames']:,} frames of a shaking "
        f"{width}x{height} page with {stability['digits']} digits, in {stability['seconds']:.0f} s; resident "
        f"memory from /proc/self/statm every {max(1, stability['frames'] // STABILITY_SAMPLES)} frames.",
        "",
        "| RSS start | after warm-up | end | max | growth after warm-up | slope | LiveLoop.stages holds |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {stability['rss_start_mb']:.1f} MB | {stability['rss_baseline_mb']:.1f} MB "
        f"(frame {stability['warmup_frames']}) | {stability['rss_end_mb']:.1f} MB "
        f"| {stability['rss_max_mb']:.1f} MB | {stability['growth_mb']:+.1f} MB "
        f"| {stability['slope_mb_per_1000']:+.3f} MB / 1,000 frames "
        f"| {stability['stage_log_mb']:.2f} MB ({stability['stage_log_entries']:,} floats) |",
        "",
    ]
    if stability["tracemalloc_growth"]:
        lines += ["Allocation sites that grew most after warm-up (tracemalloc):", "",
                  "| site | growth | blocks |", "|---|---:|---:|"]
        lines += [f"| `{site['site']}` | {site['growth_kb']:+.1f} kB | {site['count_growth']:+,} |"
                  for site in stability["tracemalloc_growth"]]
        lines.append("")
    return lines


def _camera_lines(cameras: Sequence[dict]) -> list[str]:
    """The age of displayed frames per simulated camera; none without camera runs."""
    if not cameras:
        return []
    lines = [
        "## Frame age on a live camera",
        "",
        "A `SimulatedCamera` (the real capture thread and newest-frame buffer) produces timestamped frames; "
        "`LiveLoop.process` + `render` run on each `read()` frame, and the age of the frame is taken right "
        "after render (`frame.age()`), i.e. when it would be displayed.",
        "",
        "| camera | page | displayed | dropped | display fps | wait in buffer | process + render "
        "| **age at display** | target (interval + processing) | within own target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for camera in cameras:
        width, height = camera["size"]
        lines.append(
            f"| {camera['fps']:g} fps ({camera['interval_ms']:.1f} ms) | {width}x{height}, {camera['digits']} "
            f"digits | {camera['displayed']} | {camera['dropped']} of {camera['produced']} "
            f"| {camera['display_fps']:.1f} | {_ms(camera['wait'])} | {_ms(camera['processing'])} "
            f"| **{_ms(camera['age'])}** | {camera['target_ms']:.1f} | {100 * camera['within_target']:.0f}% |")
    return lines + [
        "",
        "Target: a displayed frame is at most one frame interval plus the processing time old (it waited at "
        "most one interval for the loop to come back, then was processed). \"Within own target\" counts "
        "frames whose age is at most the interval plus that frame's own processing time.",
        "",
    ]


def _load(values: Sequence[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values) if values else "n/a"


def write_chart(report: dict[str, object], path: Path) -> None:
    """Stacked stage bars per setting next to the floor and the naive demo; RSS over frames; frame age."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results: list[dict] = report["settings"]
    stability = report.get("stability")
    cameras = report.get("camera") or []
    panels = 1 + bool(stability) + bool(cameras)
    fig, axes = plt.subplots(panels, 1, figsize=(12, 3.2 + 1.0 * len(results) + 3.2 * (panels - 1)),
                             gridspec_kw={"height_ratios": [max(2, len(results))] + [2] * (panels - 1)})
    axes = np.atleast_1d(axes)
    ax = axes[0]
    colours = {"segment": "#4c72b0", "crops": "#55a868", "inference": "#c44e52", "draw": "#8172b2"}
    labels, positions = [], []
    for row, result in enumerate(results):
        base = row * 4
        left = 0.0
        for stage in STAGES:
            value = result["ours"][stage]["median"]
            ax.barh(base + 2, value, left=left, color=colours[stage], label=stage if row == 0 else None)
            left += value
        ax.barh(base + 1, result["floor"]["median"], color="#999999", label="floor" if row == 0 else None)
        ax.barh(base, result["naive_demo"]["median"], color="#dd8452", label="floor + naive loop" if row == 0 else None)
        ax.text(left, base + 2, f" {result['ours']['total']['median']:.1f} ms ({result['fps']:.0f} fps)",
                va="center", fontsize=8)
        labels.append(result["setting"]["name"])
        positions.append(base + 1)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlabel("median ms per frame")
    machine = report["machine"]
    ax.set_title(f"Median ms per frame: ours (sum of stage medians) vs floor vs naive demo -- "
                 f"{machine['cpu_model']}, {machine['cores_usable']} cores, "
                 f"load {_load(machine['load_average_start'][:1])}", fontsize=9)
    ax.set_xlim(0, ax.get_xlim()[1] * 1.25)   # room for the total's text
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    panel = 1
    if stability:
        ax = axes[panel]
        panel += 1
        frames = [n for n, _ in stability["samples"]]
        ax.plot(frames, [value for _, value in stability["samples"]], color="#4c72b0")
        ax.axvline(stability["warmup_frames"], color="#999999", linestyle=":", label="end of warm-up")
        ax.set_xlabel("frames processed (LiveLoop.process + render)")
        ax.set_ylabel("RSS (MB)")
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        values = [value for _, value in stability["samples"]]
        middle = (max(values) + min(values)) / 2
        half = max(5.0, (max(values) - min(values)) * 0.6)   # a few kB of noise must not look like a leak
        ax.set_ylim(middle - half, middle + half)
        ax.set_title(f"Resident memory: {stability['growth_mb']:+.1f} MB after warm-up over "
                     f"{stability['frames']:,} frames", fontsize=9)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if cameras:
        ax = axes[panel]
        names = [f"{c['fps']:g} fps\n{c['size'][0]}x{c['size'][1]}" for c in cameras]
        xs = np.arange(len(cameras))
        ax.bar(xs - 0.2, [c["age"]["median"] for c in cameras], 0.4, label="age median", color="#4c72b0")
        ax.bar(xs + 0.2, [c["age"]["p95"] for c in cameras], 0.4, label="age p95", color="#c44e52")
        ax.hlines([c["target_ms"] for c in cameras], xs - 0.45, xs + 0.45, color="black", zorder=3,
                  label="target: interval + median processing")
        ax.set_xticks(xs, names)
        ax.set_ylabel("ms")
        ax.set_title("Age of the displayed frame (simulated camera, real live loop)", fontsize=9)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


# -- command line --------------------------------------------------------------------------------

def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m recognizer.bench",
        description=textwrap.fill("Benchmark live-digits' per-frame pipeline on generated camera-like frames, next to a "
                    "fixed floor (threshold + contours only) and the naive one-model-call-per-crop loop; plus "
                    "memory over a long run and the age of displayed frames on a simulated live camera. "
                    "Prints a markdown report on stdout (progress on stderr) and writes bench.md, bench.json "
                    "and bench.png into --out."),
        epilog=textwrap.fill("The default run takes about 2 minutes on 2 cores (about half of it the 10,000-frame memory run); "
               "--quick takes seconds. Timings are wall clock on a possibly busy machine: the report records "
               "the load average and each frame's CPU time."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=list(DEFAULT_SIZES), metavar="WxH",
                        help="frame sizes (default: 640x480 1280x720)")
    parser.add_argument("--digits", nargs="+", type=int, default=list(DEFAULT_DIGITS), metavar="N",
                        help="digits per frame (default: 1 10 30)")
    parser.add_argument("--kind", choices=(scenes.HARD, scenes.CLEAN), default=DEFAULT_KIND,
                        help="paper and camera conditions (hard: ruled/grid paper, shadows, blur, noise, JPEG, "
                             "thumb; clean: plain paper, even light; default: hard)")
    parser.add_argument("--frames-per-setting", type=int, default=None, metavar="K",
                        help=f"distinct frames per size and digit count (default {DEFAULT_FRAMES_PER_SETTING}, "
                             f"--quick {QUICK_FRAMES_PER_SETTING})")
    parser.add_argument("--repeats", type=int, default=None, metavar="R",
                        help=f"timed passes over each setting's frames (default {DEFAULT_REPEATS}, "
                             f"--quick {QUICK_REPEATS})")
    parser.add_argument("--warmup", type=int, default=None, metavar="W",
                        help=f"untimed passes first (default {DEFAULT_WARMUP}, --quick {QUICK_WARMUP})")
    parser.add_argument("--frames", type=int, default=None, metavar="N",
                        help=f"frames of the memory-stability run; 0 skips it (default {DEFAULT_STABILITY_FRAMES:,}, "
                             f"--quick {QUICK_STABILITY_FRAMES})")
    parser.add_argument("--stability-size", type=parse_size, default=DEFAULT_STABILITY_SIZE, metavar="WxH",
                        help="frame size of the stability run (default: 640x480)")
    parser.add_argument("--stability-digits", type=int, default=DEFAULT_STABILITY_DIGITS, metavar="N",
                        help="digits on the page of the stability run (default: 10)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace allocations during the stability run and list the sites that grew "
                             "(slows that run down)")
    parser.add_argument("--camera-fps", nargs="+", type=positive_float, default=list(DEFAULT_CAMERA_FPS), metavar="FPS",
                        help="frame rates of the simulated live camera (default: 30 60)")
    parser.add_argument("--camera-seconds", type=non_negative_float, default=None, metavar="S",
                        help=f"seconds per camera run, per frame rate and size; 0 skips the camera runs "
                             f"(default {DEFAULT_CAMERA_SECONDS:g}, --quick {QUICK_CAMERA_SECONDS:g})")
    parser.add_argument("--camera-digits", type=int, default=DEFAULT_CAMERA_DIGITS, metavar="N",
                        help="digits on the page the simulated camera films, at each of --sizes (default: 10)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer frames, repeats and seconds (for tests and a smoke check)")
    parser.add_argument("--no-alloc", action="store_true",
                        help="skip the untimed tracemalloc pass that measures each frame's allocation peak")
    parser.add_argument("--opencv-threads", type=int, default=None, metavar="N",
                        help="cv2.setNumThreads(N) before timing (default: the app's setting, "
                             "recognizer.recognize.OPENCV_THREADS)")
    parser.add_argument("--model", type=Path, default=None, metavar="PATH",
                        help="checkpoint (default: the shipped models/mlp.pt)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the generated frames (default: 0)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help="folder for bench.md, bench.json and bench.png (default: runs/bench)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    quick = args.quick
    for name, full, short in (("frames_per_setting", DEFAULT_FRAMES_PER_SETTING, QUICK_FRAMES_PER_SETTING),
                              ("repeats", DEFAULT_REPEATS, QUICK_REPEATS), ("warmup", DEFAULT_WARMUP, QUICK_WARMUP),
                              ("frames", DEFAULT_STABILITY_FRAMES, QUICK_STABILITY_FRAMES),
                              ("camera_seconds", DEFAULT_CAMERA_SECONDS, QUICK_CAMERA_SECONDS)):
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    if args.frames_per_setting < 1 or args.repeats < 1:
        parser.error("--frames-per-setting and --repeats must be at least 1")
    if args.warmup < 0 or args.frames < 0:
        parser.error("--warmup and --frames cannot be negative")
    if min(args.digits) < 1 or args.stability_digits < 1 or args.camera_digits < 1:
        parser.error("digit counts must be at least 1")
    if args.opencv_threads is not None and args.opencv_threads < 0:
        parser.error("--opencv-threads cannot be negative")
    return args


def run(args: argparse.Namespace, argv: Sequence[str] | None = None) -> dict[str, object]:
    """The whole benchmark; returns the report (also written to ``args.out``)."""
    from recognizer.recognize import Recognizer, use_pipeline_threads

    use_pipeline_threads()   # as the app does, before anything touches torch
    if args.opencv_threads is not None:
        cv2.setNumThreads(args.opencv_threads)
    started_wall = time.strftime("%Y-%m-%d %H:%M:%S")
    started = time.perf_counter()
    machine = machine_info()
    log.info("machine: %s, %s cores, load %s", machine["cpu_model"], machine["cores_usable"],
             _load(machine["load_average_start"]))
    recognizer = Recognizer.load(args.model)
    pool = DigitPool.mnist_test()
    settings = [Setting(width, height, digits) for width, height in args.sizes for digits in args.digits]
    results: list[SettingResult] = []
    for setting in settings:
        built = time.perf_counter()
        frames = make_frames(pool, setting, args.frames_per_setting, args.kind, args.seed)
        log.info("%s: %d frames built in %.1f s; timing %d x %d frames", setting.name, len(frames),
                 time.perf_counter() - built, args.repeats, len(frames))
        result = time_setting(recognizer, frames, setting, args.repeats, args.warmup,
                              measure_allocations=not args.no_alloc)
        results.append(result)
        log.info("%s: ours %.1f ms (median), floor %.2f ms, naive loop %.2f ms; ours/floor %.1fx, "
                 "naive/ours (classify) %.1fx; load %s", setting.name, result.ours["total"]["median"],
                 result.floor["median"], result.naive["median"], result.ratios["ours_over_floor"],
                 result.ratios["naive_over_ours_classify"], _load(result.load_average))
        del frames
        gc.collect()

    stability = None
    if args.frames > 0:
        clip = make_clip(pool, args.stability_size, args.stability_digits, args.kind, args.seed)
        log.info("stability: %d frames of LiveLoop.process + render at %dx%d", args.frames, *args.stability_size)
        step = max(1, args.frames // 10)
        stability = stability_run(recognizer, clip, args.frames, trace=args.tracemalloc,
                                  progress=lambda done: done % step == 0 and log.info("  %d frames, RSS %.1f MB",
                                                                                      done, rss_mb()))
        log.info("stability: RSS %+.1f MB after warm-up (%.1f -> %.1f MB), slope %+.3f MB / 1,000 frames",
                 stability.growth_mb, stability.rss_baseline_mb, stability.rss_end_mb, stability.slope_mb_per_1000)
        del clip

    cameras: list[CameraResult] = []
    if args.camera_seconds > 0:
        for size in args.sizes:
            clip = make_clip(pool, size, args.camera_digits, args.kind, args.seed)
            for fps in args.camera_fps:
                camera = camera_run(recognizer, clip, fps, args.camera_seconds)
                cameras.append(camera)
                log.info("camera %g fps %dx%d: age %.1f / %.1f ms (median / p95), processing %.1f ms, "
                         "target %.1f ms, %d of %d frames dropped", fps, *size, camera.age["median"],
                         camera.age["p95"], camera.processing["median"], camera.target_ms, camera.dropped,
                         camera.produced)

    report: dict[str, object] = {
        "started": started_wall,
        "command": "python -m recognizer.bench" + ("" if not argv else " " + " ".join(argv)),
        "machine": machine,
        "config": {"sizes": [list(size) for size in args.sizes], "digits": list(args.digits), "kind": args.kind,
                   "frames_per_setting": args.frames_per_setting, "repeats": args.repeats, "warmup": args.warmup,
                   "stability_frames": args.frames, "camera_fps": list(args.camera_fps),
                   "camera_seconds": args.camera_seconds, "seed": args.seed, "model": recognizer.name,
                   "naive_boxes": "ours (the boxes our segmenter found on the same frame)"},
        "settings": [result.as_dict() for result in results],
        "stability": stability.as_dict() if stability else None,
        "camera": [camera.as_dict() for camera in cameras],
        "load_average_end": load_average(),
        "seconds": time.perf_counter() - started,
    }
    return report


def write_outputs(report: dict[str, object], out: Path) -> dict[str, Path]:
    paths = {"markdown": out / "bench.md", "json": out / "bench.json", "chart": out / "bench.png"}
    atomic_write_text(paths["markdown"], markdown_report(report))
    # NaN (a ratio with nothing to divide by, --no-alloc) is not JSON: it is written as null.
    atomic_write_text(paths["json"], json.dumps(_without_nan(report), indent=2, default=_json_default,
                                                allow_nan=False) + "\n")
    write_chart(report, paths["chart"])
    return paths


def _without_nan(value: object) -> object:
    """``value`` with every float NaN (numpy's too) replaced by None, in nested dicts and lists."""
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nan(item) for item in value]
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return None
    return value


def _json_default(value: object) -> object:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from recognizer.checkpoint import CheckpointError
    from recognizer.data import MnistUnavailable

    try:
        checked_folder(args.out)
    except OSError as error:
        log.error("--out %s", error)
        return EXIT_FAILURE
    try:
        report = run(args, sys.argv[1:] if argv is None else argv)
    except (CheckpointError, MnistUnavailable, FrameBuildError) as error:
        log.error("%s", error)
        return EXIT_FAILURE
    sys.stdout.write(markdown_report(report))  # first: the measurements are not lost if writing fails
    try:
        paths = write_outputs(report, args.out)
    except OSError as error:
        log.error("could not write the report files into %s: %s", args.out, error)
        return EXIT_FAILURE
    for result in report["settings"]:
        ratios = result["ratios"]
        log.info("%s: ours/floor %s, naive/ours (crops + inference) %s, (floor + naive)/ours %s",
                 result["setting"]["name"], _x(ratios["ours_over_floor"]), _x(ratios["naive_over_ours_classify"]),
                 _x(ratios["naive_demo_over_ours"]))
    log.info("wrote %s, %s and %s", *paths.values())
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
