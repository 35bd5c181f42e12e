"""Live mode: read frames, recognise and track digits, draw them, handle keys, save results.

Per frame: ``Recognizer.recognize`` (threshold and components, crops, one batched forward
pass), ``DigitTracker.update`` (stable ids and smoothed labels), reading order, drawing,
then the optional window, recording and JSONL line. The loop itself holds only the view
toggles; everything it shows or saves for a frame is in one ``LiveFrame``.
"""
from __future__ import annotations

import logging
import signal
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from recognizer.arguments import EXIT_INTERRUPTED, EXIT_OK
from recognizer.capture import Frame, FrameSource
from recognizer.draw import draw_recognition, draw_text_panel, input_strip
from recognizer.layout import layout
from recognizer.model import IMAGE_SIDE, NUM_CLASSES
from recognizer.normalize import to_gray
from recognizer.outputs import JsonlWriter, VideoRecorder, save_snapshot
from recognizer.recognize import Digit, Recognition, Recognizer, recognition_to_json
from recognizer.segment import threshold_view
from recognizer.track import DigitTracker

log = logging.getLogger(__name__)

WINDOW_TITLE = "live-digits"
ESCAPE = 27
KEY_WAIT_MS = 1                  # poll keys every frame without slowing the loop
PAUSED_KEY_WAIT_MS = 30          # while paused nothing changes; don't spin a core
KEY_CODE_MASK = 0xFF             # waitKey's key code is its low byte
NO_KEY = 0xFF                    # waitKey's -1 (no key pressed) after the mask
MIN_FRAME_SECONDS = 1e-6         # two frames in one clock tick must not divide by zero
THRESHOLD_STEP = 0.05
MIN_THRESHOLD, MAX_THRESHOLD = 0.05, 0.99
STAGE_WINDOW = 1000             # frames kept for the per-stage medians
FPS_SMOOTHING = 0.1              # EMA weight of the newest frame in the shown frames per second
HELP_LINES = [
    "live-digits keys",
    "q / Esc\tquit",
    "s\tsnapshot: frame, annotated frame, 28x28 inputs, predictions.json",
    "space\tpause / resume",
    "t\tthreshold view (the ink mask)",
    "c\tstrip of the 28x28 model inputs",
    "+ / -\tconfidence threshold up / down",
    "h\tthis help",
]


@dataclass(frozen=True)
class LiveOptions:
    show: bool = True                    # False: headless, no window at all
    record: Path | None = None           # annotated video
    jsonl: Path | None = None            # one JSON object per processed frame
    max_frames: int | None = None
    snapshots: Path = Path("snapshots")
    ink: str = "dark"                    # segment.INK_CHOICES: a camera reads one polarity throughout


@dataclass
class ViewState:
    """The toggles the keys change."""
    paused: bool = False
    threshold_view: bool = False
    input_strip: bool = False
    help: bool = False


@dataclass(frozen=True, eq=False)
class LiveFrame:
    """One processed frame: the digits as shown (smoothed, reading order) and their tracks."""
    frame: Frame
    shown: Recognition
    tracks: tuple[int, ...]
    track_ms: float


class StageLog:
    """Per-stage milliseconds of the most recent frames, for the HUD and the closing summary.

    Bounded, so a run of days does not grow: the summary is over the last STAGE_WINDOW frames.
    """
    NAMES = ("segment", "crops", "inference", "track", "draw")

    def __init__(self) -> None:
        self.values: dict[str, deque[float]] = {name: deque(maxlen=STAGE_WINDOW) for name in self.NAMES}

    def add(self, name: str, milliseconds: float) -> None:
        self.values[name].append(milliseconds)

    def last(self, name: str) -> float:
        return self.values[name][-1] if self.values[name] else 0.0

    def summary(self) -> str:
        return ", ".join(f"{name} {statistics.median(values):.1f} ms" for name, values in self.values.items()
                         if values)


class InterruptRequest:
    """Ctrl-C as a request to stop after the current frame, while the context is entered.

    Python's default turns SIGINT into a KeyboardInterrupt wherever the main thread happens
    to be, and one raised inside a finaliser (a half-used generator being closed, say) is
    printed and ignored: a looping video would then run on. A flag checked once a frame
    cannot be lost. A second Ctrl-C raises KeyboardInterrupt at once, for a frame that hangs.
    Outside the main thread, where signal handlers cannot be set, Python's default stays.
    """

    def __init__(self) -> None:
        self.requested = False
        self._installed = False
        self._previous: object = signal.SIG_DFL

    def __enter__(self) -> "InterruptRequest":
        try:
            self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
            self._installed = True
        except ValueError:  # not the main thread
            pass
        return self

    def _on_interrupt(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            # None: the previous handler was not set from Python; the default is the best guess.
            signal.signal(signal.SIGINT, signal.default_int_handler if self._previous is None else self._previous)
            self._installed = False


class LiveLoop:
    def __init__(self, recognizer: Recognizer, tracker: DigitTracker, options: LiveOptions) -> None:
        self.recognizer = recognizer
        self.tracker = tracker
        self.options = options
        self.view = ViewState()
        self.stages = StageLog()
        # Off for separate images (``FrameSource.frames_related``): each is read on its own,
        # shown from its first frame, with nothing carried over from the image before.
        self.tracking = True
        self.processed = 0  # frames processed by ``run``

    # -- one frame ------------------------------------------------------------------------
    def process(self, frame: Frame) -> LiveFrame:
        raw = self.recognizer.recognize(frame.image, self.options.ink)
        for name, value in (("segment", raw.times.segment_ms), ("crops", raw.times.crops_ms),
                            ("inference", raw.times.inference_ms)):
            self.stages.add(name, value)
        if not self.tracking:
            # Digits are numbered by their place in reading order, as still mode lists them.
            return LiveFrame(frame, raw, tuple(range(len(raw.digits))), 0.0)
        started = time.perf_counter()
        tracked = self.tracker.update([digit.box for digit in raw.digits], raw.probabilities)
        order, groups = layout([digit.box for digit in tracked])
        tracked = [tracked[i] for i in order]
        digits = tuple(Digit(t.label, t.confidence, t.box) for t in tracked)
        blank = np.zeros((IMAGE_SIDE, IMAGE_SIDE), np.uint8)
        # A digit kept on screen through a missed detection has no crop this frame.
        inputs = np.stack([raw.inputs[t.detection] if t.detection is not None else blank for t in tracked]) \
            if tracked else raw.inputs[:0]
        probabilities = np.array([t.probabilities for t in tracked], np.float32).reshape(len(tracked), NUM_CLASSES)
        numbers = self.recognizer.numbers_of(digits, groups)
        shown = Recognition(digits, numbers, tuple(tuple(group) for group in groups), inputs, probabilities,
                            raw.times, raw.light_ink)
        track_ms = (time.perf_counter() - started) * 1e3
        self.stages.add("track", track_ms)
        return LiveFrame(frame, shown, tuple(t.track for t in tracked), track_ms)

    def render(self, live: LiveFrame, fps: float) -> np.ndarray:
        started = time.perf_counter()
        image = live.frame.image
        if self.view.threshold_view:
            image = cv2.cvtColor(threshold_view(to_gray(image), live.shown.light_ink), cv2.COLOR_GRAY2BGR)
        # Re-read at the current threshold: + and - while paused change what a frame shows.
        shown = self.recognizer.reread(live.shown)
        canvas = draw_recognition(image, shown, self.recognizer.text_of)
        status = "PAUSED  " if self.view.paused else ""
        draw_text_panel(canvas, [
            f"{fps:5.1f} fps | {shown.times}, draw {self.stages.last('draw'):.1f} ms",
            f"{status}{len(shown.digits)} digits  {' '.join(shown.numbers)}  "
            f"conf >= {self.recognizer.confidence_threshold:.2f}  [h] help",
        ])
        if self.view.help:
            draw_text_panel(canvas, HELP_LINES, centred=True)
        if self.view.input_strip:
            texts = [self.recognizer.text_of(digit) for digit in shown.digits]
            canvas = np.vstack([canvas, input_strip(shown.inputs, texts, canvas.shape[1])])
        self.stages.add("draw", (time.perf_counter() - started) * 1e3)
        return canvas

    # -- keys ----------------------------------------------------------------------------
    def handle_key(self, key: int, live: LiveFrame, canvas: np.ndarray) -> bool:
        """Apply one key press; return False when the user asked to quit."""
        actions: dict[int, Callable[[], None]] = {
            ord("s"): lambda: self.snapshot(live, canvas),
            ord(" "): lambda: self._toggle("paused"),
            ord("t"): lambda: self._toggle("threshold_view"),
            ord("c"): lambda: self._toggle("input_strip"),
            ord("h"): lambda: self._toggle("help"),
            ord("+"): lambda: self._change_threshold(+THRESHOLD_STEP),
            ord("="): lambda: self._change_threshold(+THRESHOLD_STEP),  # + without shift
            ord("-"): lambda: self._change_threshold(-THRESHOLD_STEP),
        }
        if key in (ord("q"), ESCAPE):
            return False
        if key in actions:
            actions[key]()
        return True

    def _toggle(self, name: str) -> None:
        setattr(self.view, name, not getattr(self.view, name))

    def _change_threshold(self, step: float) -> None:
        threshold = round(self.recognizer.confidence_threshold + step, 2)
        self.recognizer.confidence_threshold = min(MAX_THRESHOLD, max(MIN_THRESHOLD, threshold))
        log.info("confidence threshold %.2f", self.recognizer.confidence_threshold)

    def snapshot(self, live: LiveFrame, canvas: np.ndarray) -> Path | None:
        extra = {"model": self.recognizer.name, "frame": live.frame.index, "time": live.frame.timestamp,
                 "width": live.frame.image.shape[1], "height": live.frame.image.shape[0]}
        try:
            folder = save_snapshot(self.options.snapshots, live.frame.image, canvas,
                                   self.recognizer.reread(live.shown), live.tracks, extra)
        except OSError as error:
            log.error("snapshot failed: %s", error)
            return None
        print(f"snapshot saved to {folder}", flush=True)
        return folder

    # -- the loop ------------------------------------------------------------------------
    def run(self, source: FrameSource) -> int:
        options = self.options
        self.tracking = source.frames_related
        if not self.tracking:
            log.info("%s: separate images, each read on its own (no tracking)", source.description)
        if options.show:  # first: a window that cannot open must not leave a half-begun file
            cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_AUTOSIZE)
        # Both check their paths now; the recorder opens its file only with the first frame.
        recorder = VideoRecorder(options.record, source.fps) if options.record else None
        jsonl = JsonlWriter(options.jsonl) if options.jsonl else None
        self.processed = 0
        interrupt = InterruptRequest()
        failures: list[OSError] = []
        try:
            with interrupt:
                self._loop(source, recorder, jsonl, interrupt)
        except KeyboardInterrupt:  # a second Ctrl-C, or one outside the main thread
            interrupt.requested = True
        except OSError as error:  # an output failing mid-run (a full disk): the others are still finished
            failures.append(error)
        finally:
            # Each output is finished on its own: one that cannot be saved must not cost the other.
            for writer in (recorder, jsonl):
                if writer:
                    try:
                        writer.close()
                    except OSError as error:
                        failures.append(error)
            if options.show:
                cv2.destroyAllWindows()
        if interrupt.requested:
            log.warning("interrupted")
        log.info("%d frames processed; median per frame (last %d): %s", self.processed, STAGE_WINDOW,
                 self.stages.summary() or "-")
        if recorder and recorder.saved:
            log.info("recording saved to %s (%d frames)", recorder.path, recorder.frames)
        if jsonl and jsonl.saved:
            log.info("frame log saved to %s (%d lines)", jsonl.path, jsonl.lines)
        for error in failures[:-1]:
            log.error("%s", error)
        if failures:
            raise failures[-1]  # the caller reports it and exits with a failure
        return EXIT_INTERRUPTED if interrupt.requested else EXIT_OK

    def _loop(self, source: FrameSource, recorder: VideoRecorder | None, jsonl: JsonlWriter | None,
              interrupt: InterruptRequest) -> None:
        """Process, show and save frames until the source ends, a key or the window says stop, or Ctrl-C."""
        options = self.options
        fps = 0.0
        last_time = time.perf_counter()
        live: LiveFrame | None = None
        while not interrupt.requested and (options.max_frames is None or self.processed < options.max_frames):
            if live is None or not self.view.paused:
                frame = source.read()
                if frame is None:
                    break
                live = self.process(frame)
                self.processed += 1
                now = time.perf_counter()
                instant_fps = 1.0 / max(now - last_time, MIN_FRAME_SECONDS)
                fps = instant_fps if self.processed == 1 else fps + FPS_SMOOTHING * (instant_fps - fps)
                last_time = now
                if jsonl:
                    jsonl.write(frame_record(live))
            canvas = self.render(live, fps)
            if recorder and self.view.paused:
                recorder.restart_clock()  # a pause is left out of the video, not filled with its frame
            elif recorder:
                recorder.write(canvas, live.frame.timestamp if source.is_live else None)
            if options.show:
                cv2.imshow(WINDOW_TITLE, canvas)
                key = cv2.waitKey(PAUSED_KEY_WAIT_MS if self.view.paused else KEY_WAIT_MS) & KEY_CODE_MASK
                if cv2.getWindowProperty(WINDOW_TITLE, cv2.WND_PROP_VISIBLE) < 1:
                    break  # the user closed the window
                if key != NO_KEY and not self.handle_key(key, live, canvas):
                    break
            if not self.view.paused:
                # Headless runs print a per-frame line, as detector command lines do; with a
                # window the same line is on screen and only logged with -v.
                log.log(logging.INFO if not options.show else logging.DEBUG, "frame %d: %d digits %s | %s",
                        live.frame.index, len(live.shown.digits), " ".join(live.shown.numbers) or "-",
                        self._frame_speed(live))

    def _frame_speed(self, live: LiveFrame) -> str:
        return f"{live.shown.times}, track {live.track_ms:.2f} ms, draw {self.stages.last('draw'):.1f} ms"


def frame_record(live: LiveFrame) -> dict[str, object]:
    """The JSONL line of one frame: still mode's digit schema plus the track id.

    Frames of an image folder also name their file: a file that cannot be read leaves a gap
    in the frame numbers, so the index alone would not say which image a line is about.
    """
    shown = recognition_to_json(live.shown)
    for digit, track in zip(shown["digits"], live.tracks):
        digit["track"] = int(track)
    file = {} if live.frame.path is None else {"file": live.frame.path}
    return {"frame": live.frame.index, **file, "time": round(live.frame.timestamp, 6), **shown}

