"""What live mode saves: snapshots, the annotated recording and the per-frame JSONL log.

Nothing a user saved may be lost or half-written. A snapshot is written into a hidden
temporary folder that is renamed to its final name only when complete. The recording and
the JSONL log are written under temporary names and renamed when they are closed, which
also happens on Ctrl-C and on errors; a crash that skips the rename leaves the temporary
file, never a truncated file under the name the user asked for. An output that fails to
be written (a full disk) is reported in one line naming it, its temporary file removed,
and whatever file had its name before is kept.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import cv2
import numpy as np

from recognizer.atomic import WriteError, atomic_write_text, checked_target
from recognizer.images import opencv_quiet, path_is_utf8, write_image

if TYPE_CHECKING:
    from recognizer.recognize import Recognition

log = logging.getLogger(__name__)

SNAPSHOT_STAMP = "%Y%m%d-%H%M%S-%f"   # microseconds: two snapshots in one second get two folders
RAW_NAME = "frame.png"
ANNOTATED_NAME = "annotated.png"
INPUT_NAME = "input_{index:02d}_{label}.png"
PREDICTIONS_NAME = "predictions.json"
# The recording's format follows its extension; these are the ones with a codec that every
# OpenCV build with FFmpeg writes.
RECORD_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
RECORD_EXTENSIONS = ", ".join(RECORD_FOURCC)
# A finished recording must report as many frames as were written. FFmpeg's counts were exact
# for every format above (1 to 1,234 frames at 0.5 to 120 fps); one frame of slack guards a
# container that stores a duration rather than a count against rounding. A file cut short by
# a full disk reports none at all (0, or a negative number), as it lacks its index.
FRAME_COUNT_SLACK = 1
FFMPEG_BACKEND = "FFMPEG"  # VideoWriter.getBackendName() when FFmpeg writes the file


def checked_recording_target(path: str | os.PathLike[str]) -> Path:
    """``path`` as a file the annotated video can be recorded to, checked before any work.

    Raises OSError (one line) when its extension is not one of RECORD_FOURCC's (the
    extension picks the format), its name is not valid UTF-8 (OpenCV's writer would crash
    on it), it is a folder, or its folder cannot be made or written (``checked_target``).
    Creates its folder. OSError throughout, as for any output that cannot be written.
    """
    path = Path(path)
    if path.suffix.lower() not in RECORD_FOURCC:
        problem = (f"{path.suffix} is not a video format the recorder writes" if path.suffix
                   else "no extension to pick the video format from")
        raise OSError(f"cannot record to {path}: {problem} (use one of {RECORD_EXTENSIONS})")
    if not path_is_utf8(path):
        raise OSError(f"cannot record to {path}: its name is not valid UTF-8, which OpenCV cannot "
                      f"write to; choose another name")
    return checked_target(path)


def save_snapshot(root: str | os.PathLike[str], frame: np.ndarray, annotated: np.ndarray,
                  recognition: Recognition, tracks: Sequence[int], extra: dict[str, Any]) -> Path:
    """Write one snapshot folder under ``root`` and return its path.

    The folder holds the raw frame, the annotated frame, each 28x28 model input as PNG and
    ``predictions.json`` (still mode's digit schema, plus each digit's track id and whether
    it was detected in this frame). A digit held on screen through a missed detection had
    no input this frame (live mode gives it a black one), so no input file is written for it.
    """
    root = Path(root)
    stamp = datetime.now().strftime(SNAPSHOT_STAMP)
    final = root / stamp
    temporary = root / f".{stamp}.partial"
    try:
        root.mkdir(parents=True, exist_ok=True)
        temporary.mkdir()
    except OSError as error:
        raise WriteError.from_error(final, error) from None
    try:
        write_image(temporary / RAW_NAME, frame)
        write_image(temporary / ANNOTATED_NAME, annotated)
        detected = [bool(pixels.any()) for pixels in recognition.inputs]  # a crop always holds ink
        for index, (digit, pixels) in enumerate(zip(recognition.digits, recognition.inputs)):
            if detected[index]:
                write_image(temporary / INPUT_NAME.format(index=index, label=digit.label), pixels)
        # Imported here: live_digits checks output paths with this module before torch,
        # which recognize brings, has loaded.
        from recognizer.recognize import recognition_to_json
        predictions = {**extra, **recognition_to_json(recognition)}
        for entry, track, found in zip(predictions["digits"], tracks, detected):
            entry["track"] = int(track)
            entry["detected"] = found
        atomic_write_text(temporary / PREDICTIONS_NAME, json.dumps(predictions, indent=2) + "\n")
        os.rename(temporary, final)
    except BaseException as error:
        shutil.rmtree(temporary, ignore_errors=True)
        if isinstance(error, OSError):  # named after the snapshot, not its hidden temporary folder
            raise WriteError.from_error(final, error) from None
        raise
    return final


def _publish(temporary: Path, path: Path) -> None:
    """Give a finished output its name; if that fails, say where the data is."""
    try:
        os.replace(temporary, path)
    except OSError as error:
        raise OSError(f"could not save {path} ({error.strerror or error}); "
                      f"what was written is in {temporary}") from None


class JsonlWriter:
    """One JSON object per line, under a temporary name until ``close``.

    A failed write or close (a full disk) raises WriteError naming the log, and removes the
    temporary file: what it holds is cut off mid-line. The writer is closed after that.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = checked_target(path)
        self._temporary = self.path.with_name(f".{self.path.name}.partial")
        try:
            self._handle: TextIO | None = open(self._temporary, "w", encoding="utf-8")
        except OSError as error:
            raise WriteError.from_error(self.path, error) from None
        self.lines = 0
        self.saved = False

    def write(self, record: dict[str, Any]) -> None:
        if self._handle is None:
            raise ValueError(f"{self.path}: write after close")
        line = json.dumps(record, separators=(",", ":")) + "\n"
        try:
            self._handle.write(line)
        except OSError as error:
            self._abandon(error)
        self.lines += 1

    def close(self) -> None:
        if self._handle is None:
            return
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        except OSError as error:
            self._abandon(error)
        self._handle = None
        _publish(self._temporary, self.path)
        self.saved = True

    def _abandon(self, error: OSError) -> NoReturn:
        """Close and remove the temporary file, and raise ``error`` as one line naming the log."""
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):  # flushing what is left fails again; the file closes anyway
                handle.close()
        self._temporary.unlink(missing_ok=True)
        raise WriteError.from_error(self.path, error) from None


class VideoRecorder:
    """The annotated video, under a temporary name (same extension) until ``close``.

    Frames of another size than the first (an image folder of mixed sizes) are resized,
    because a video has one frame size. Frames written with their capture time (a camera's
    or a stream's) are kept in real time; see ``write``.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"a video needs a finite frame rate above 0, got {fps}")  # VideoWriter hangs on inf
        self.path = checked_recording_target(path)
        self.fps = fps
        self._temporary = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._writer: cv2.VideoWriter | None = None
        self._backend = ""                       # the writer's (FFMPEG...): the file is read back with it
        self._size: tuple[int, int] | None = None
        self._clock_start: float | None = None  # capture time of the frame the clock restarted at
        self._frames_at_start = 0                # frames written before it
        self.frames = 0
        self.saved = False

    def write(self, image: np.ndarray, captured_at: float | None = None) -> None:
        """Append ``image``: once, or with ``captured_at`` (seconds) as often as real time needs.

        A live source's frames are not evenly spaced at its stated rate: the newest frame
        wins, so a slow machine skips some, and a stream's stated rate is often wrong
        (FFmpeg says 25 for most MJPEG streams). Each timed frame therefore fills the video
        up to its own capture time, repeating itself over the frames that were skipped, and
        a frame that comes before its slot is due is left out; the video then plays at the
        speed things happened.
        """
        copies = 1
        if captured_at is not None:
            if self._clock_start is None:
                self._clock_start, self._frames_at_start = captured_at, self.frames
            due = self._frames_at_start + round((captured_at - self._clock_start) * self.fps) + 1
            copies = due - self.frames
        for _ in range(copies):
            self._append(image)

    def restart_clock(self) -> None:
        """The next timed frame follows the last one directly (after a pause: nothing to fill)."""
        self._clock_start = None

    def _append(self, image: np.ndarray) -> None:
        if self._writer is None:
            self._size = (image.shape[1], image.shape[0])
            fourcc = RECORD_FOURCC[self.path.suffix.lower()]
            with opencv_quiet():
                self._writer = cv2.VideoWriter(str(self._temporary), cv2.VideoWriter_fourcc(*fourcc),
                                               self.fps, self._size)
            if not self._writer.isOpened():
                self._writer = None
                self._temporary.unlink(missing_ok=True)
                raise OSError(f"cannot write video {self.path} (codec {fourcc})")
            self._backend = self._writer.getBackendName()
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        """Finish the video and give it its name, once it is proven complete.

        VideoWriter reports no error, ever: on a full disk it goes on "writing" and leaves a
        file that no player opens (an MP4 without its index, "moov atom not found"). So
        the finished file is read back first; if it is incomplete it is removed, whatever
        file had the name before is kept, and OSError says so in one line.
        """
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        problem = self._incompleteness()
        if problem is not None:
            self._temporary.unlink(missing_ok=True)
            raise OSError(f"cannot save recording {self.path}: the video file is incomplete ({problem}; "
                          f"disk full?)")
        _publish(self._temporary, self.path)
        self.saved = True

    def _incompleteness(self) -> str | None:
        """What is wrong with the finished temporary video, or None when it is complete."""
        # Read back with the backend that wrote it: another (OpenCV's own AVI reader) would
        # print its complaints about a damaged file to stderr.
        backend = cv2.CAP_FFMPEG if self._backend == FFMPEG_BACKEND else cv2.CAP_ANY
        with opencv_quiet():
            capture = cv2.VideoCapture(str(self._temporary), backend)
        try:
            if not capture.isOpened():
                return "it cannot be opened"
            # Only FFmpeg's counts were checked to be exact; other backends may not know one.
            reported = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            if self._backend == FFMPEG_BACKEND and reported < self.frames - FRAME_COUNT_SLACK:
                return f"it holds {max(0, round(reported))} of {self.frames} frames"
            if not capture.read()[0]:
                return "its first frame cannot be decoded"
            return None
        finally:
            capture.release()

