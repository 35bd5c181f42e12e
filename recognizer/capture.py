"""Frame sources for the live loop: cameras, video files, image folders and glob patterns.

``open_source`` turns the ``--source`` string of the command line into a ``FrameSource``,
in the spirit of Ultralytics' ``--source``:

* ``"0"``, ``"1"``, ... : a camera index. Live: a capture thread keeps only the newest
  frame, so what the consumer gets never lags behind the scene (frames the consumer is too
  slow for are dropped, which shows as gaps in ``Frame.index``).
* a stream URL (``rtsp://``, ``http://``, ... : an IP camera or a phone's webcam app): live
  like a camera, read through FFmpeg; user names and passwords in the URL are never logged.
* a video file (mp4, avi, mov, mkv, webm, ...): every frame, in order, none dropped.
* an image file, an image folder, or a glob pattern (``"scans/*.png"``): the images as
  frames, in natural order (digit2 before digit10); an unreadable image is skipped with a
  one-line warning.

Everything that makes a source unusable at open time raises ``SourceError`` with a one-line
message meant for the user (the CLI prints it and exits), never a traceback.

Frame numbering (``Frame.index``, the 0-based index of the frame in the source):

* camera: how many frames the camera had delivered before this one, so frames dropped by
  the latest-frame-wins buffer leave gaps;
* video file: the decoded frame number; with ``loop=True`` it keeps increasing across
  passes (pass 2 of a 100-frame clip starts at 100), so each frame of a run has its own
  number;
* images: the position of the file in the sorted list (plus ``pass * number of files``
  when looping); a skipped unreadable file leaves a gap, so the index still names the file.

A source is read by one consumer thread; ``read()`` and ``close()`` are not meant to be
called from several threads at once.
"""
from __future__ import annotations

import glob
import logging
import math
import os
import re
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import cv2
import numpy as np

from recognizer.images import (IMAGE_EXTENSIONS, ImageReadError, is_glob_pattern, is_image_name, natural_order,
                               opencv_quiet, path_is_utf8, read_image)

log = logging.getLogger(__name__)

# A camera whose reads keep failing (unplugged, driver hiccup) is retried this long, then
# the source ends. Long enough for a USB re-enumeration, short enough not to look frozen.
CAMERA_RETRY_S = 3.0
VGA_WIDTH, VGA_HEIGHT = 640, 480  # cameras asked for more than this are asked for MJPG too
VGA_PIXELS = VGA_WIDTH * VGA_HEIGHT
# During that window the device is reopened at most this often (a replugged USB camera
# needs a fresh open; a read that merely failed once does not).
CAMERA_REOPEN_INTERVAL_S = 1.0
# Pause between failed reads so a dead device does not spin a core.
FAILED_READ_PAUSE_S = 0.02
# A camera that opens but has not produced its first frame after this long is unusable
# (typically in use by another program). Cameras take up to ~2 s to warm up.
FIRST_FRAME_TIMEOUT_S = 5.0
# close() waits this long for the capture thread; a thread stuck inside the driver is a
# daemon and releases the device itself when the driver returns.
THREAD_JOIN_TIMEOUT_S = 2.0
# Indices tried, when the requested camera does not open, to tell the user which do.
CAMERA_PROBE_INDICES = range(5)
# Frame rates outside this range reported by a file or a camera are treated as unknown.
MAX_PLAUSIBLE_FPS = 1000.0
DEFAULT_CAMERA_FPS = 30.0
DEFAULT_VIDEO_FPS = 30.0
# Nominal rate of an image folder: what timestamps and realtime pacing use (``fps=``
# overrides it, e.g. fps=1 for a one-image-per-second slideshow).
DEFAULT_IMAGE_FPS = 30.0
# V4L2 directly on Linux: with CAP_ANY a failed open also goes through FFmpeg and the
# Orbbec backend, which is slower and prints more.
LINUX_CAMERA_BACKEND = cv2.CAP_V4L2
# Network streams (an IP camera, a phone's webcam app): FFmpeg reads these URL schemes.
STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp"})
# A network hiccup lasts longer than a USB re-enumeration; the stream is reopened meanwhile.
STREAM_RETRY_S = 10.0
# FFmpeg waits 30 s by default for a host that does not answer; a user at a prompt should not.
STREAM_OPEN_TIMEOUT_MS = 10_000
STREAM_READ_TIMEOUT_MS = 5_000


class SourceError(Exception):
    """A source that cannot be used; the message is one line, ready to show to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame of a source.

    ``timestamp``: for live sources the ``time.monotonic()`` at which the frame was captured;
    for files and images ``index / fps``, the frame's position in the source in seconds.
    ``captured_at``: ``time.monotonic()`` when the frame was captured (live) or handed out
    (files, after any realtime pacing), for every source, so ``age()`` measures latency.
    ``path``: the image file the frame was read from (image sources only).
    """
    image: np.ndarray  # H x W x 3 uint8 BGR; a fresh array the consumer may draw on
    index: int
    timestamp: float
    captured_at: float
    path: str | None = None

    def age(self) -> float:
        """Seconds since the frame was captured (or handed out, for files)."""
        return time.monotonic() - self.captured_at


class FrameSource(ABC):
    """Something that produces frames until it ends. Use as a context manager, or iterate."""

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame, or None once the source has ended (and after close())."""

    @abstractmethod
    def close(self) -> None:
        """Release the device or file; safe to call more than once."""

    @property
    @abstractmethod
    def is_live(self) -> bool:
        """True for cameras: frames come in real time and slow consumers skip frames."""

    @property
    def frames_related(self) -> bool:
        """True when consecutive frames show one scene (a camera, a video), so digits can be
        tracked from frame to frame; False for separate images (a folder of photos)."""
        return True

    @property
    def files(self) -> tuple[str, ...]:
        """The files this source reads (none for cameras and streams): what no output may replace."""
        return ()

    # Every source sets these two in its constructor.
    _fps: float
    _description: str

    @property
    def fps(self) -> float:
        """Nominal frame rate (what the camera or file reports, or a default)."""
        return self._fps

    @property
    def description(self) -> str:
        """Short human description, e.g. "camera 0 (640x480, 30 fps)"."""
        return self._description

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


def open_source(source: str, *, width: int | None = None, height: int | None = None,
                fps: float | None = None, loop: bool = False, realtime: bool = False,
                retry_seconds: float | None = None) -> FrameSource:
    """Open ``source`` (camera index, stream URL, video file, image file, image folder or glob pattern).

    Cameras: ``width``, ``height`` and ``fps`` are requests to the driver (it may pick the
    nearest mode it supports; the result is logged); ``loop`` and ``realtime`` do not apply.
    A camera whose reads fail for ``retry_seconds`` (default CAMERA_RETRY_S) ends (read()
    returns None). Streams are live like cameras (default STREAM_RETRY_S); they take no
    requests. Files, folders, globs: ``fps`` overrides the nominal rate; ``realtime`` paces
    read() to it (never dropping a frame: a slower consumer just plays slower); ``loop``
    starts over at the end; ``width``/``height`` do not apply.
    Raises SourceError (one-line message) when the source cannot be used.
    """
    _check_positive(width=width, height=height, fps=fps, retry_seconds=retry_seconds)
    text = source.strip()
    if not text:
        raise SourceError("empty source: pass a camera index, a stream URL, a video file, an image folder "
                          "or a glob pattern")
    if text.isdigit():
        return open_camera(int(text), width=width, height=height, fps=fps,
                           retry_seconds=retry_seconds or CAMERA_RETRY_S)
    if width is not None or height is not None:
        log.warning("a frame size request applies to cameras only; ignored for %s", shown_source(text))
    if is_stream_url(text):
        if fps is not None or loop or realtime:
            log.warning("--fps, --loop and --realtime do not apply to a live stream; ignored")
        return open_stream(text, retry_seconds=retry_seconds or STREAM_RETRY_S)
    scheme, separator, _ = text.partition("://")
    if separator and scheme.isalpha():
        raise SourceError(f"{shown_source(text)}: not a stream this app reads (streams: "
                          f"{', '.join(name + '://' for name in sorted(STREAM_SCHEMES))})")
    path = os.path.expanduser(text)
    if os.path.isdir(path):
        images = _images_matching(os.path.join(glob.escape(path), "*"))
        return ImageSequenceSource(images, f"{len(images)} images in {text}", loop=loop,
                                   realtime=realtime, fps=fps, empty_message=f"no images in folder {text}")
    if is_glob_pattern(path):
        images = _images_matching(path)
        return ImageSequenceSource(images, f"{len(images)} images matching {text}", loop=loop,
                                   realtime=realtime, fps=fps, empty_message=f"no images match {text}")
    if os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS:
        return ImageSequenceSource([path], f"image {text}", loop=loop, realtime=realtime, fps=fps)
    return VideoFileSource(path, loop=loop, realtime=realtime, fps=fps)


# -- live sources: a capture thread and a latest-frame-wins buffer ----------------------------

class FrameDevice(Protocol):
    """What a live source reads from; only ever called from the capture thread."""

    def read(self) -> np.ndarray | None:
        """Block until the next frame; None when the read failed."""

    def reopen(self) -> bool:
        """Try to reopen after repeated failures; True if it reopened."""

    def release(self) -> None:
        """Free the device."""


class LiveSource(FrameSource):
    """A source read on its own thread; read() always returns the newest frame.

    The capture thread reads the device as fast as it delivers and keeps only the latest
    frame; read() blocks until a frame newer than the one it last returned arrives, so the
    consumer never works on a stale frame, and the frames it was too slow for are dropped.
    When reads fail, or no new frame arrives, for ``retry_seconds``, the source ends with a
    warning. The device is owned by the capture thread, which releases it on exit.
    """

    def __init__(self, device: FrameDevice, *, fps: float, description: str,
                 retry_seconds: float = CAMERA_RETRY_S,
                 first_frame_timeout_s: float = FIRST_FRAME_TIMEOUT_S) -> None:
        self._device = device
        self._fps = fps
        self._description = description
        self._retry_seconds = retry_seconds
        self._condition = threading.Condition()
        self._stop = threading.Event()
        self._latest: Frame | None = None
        self._frames_captured = 0
        self._last_index_returned = -1
        self._ended = False
        self._closed = False
        self._thread = threading.Thread(target=self._capture_loop, name=f"capture: {description}",
                                        daemon=True)
        self._thread.start()
        with self._condition:
            self._condition.wait_for(lambda: self._latest is not None or self._ended,
                                     timeout=first_frame_timeout_s)
            got_frame = self._latest is not None
        if not got_frame:
            self.close()
            raise SourceError(f"{description} opened but delivered no frame within "
                              f"{first_frame_timeout_s:g} s (in use by another program?)")

    @property
    def is_live(self) -> bool:
        return True

    @property
    def running(self) -> bool:
        """True while the capture thread is alive."""
        return self._thread.is_alive()

    def read(self) -> Frame | None:
        with self._condition:
            if self._closed:
                return None
            self._condition.wait_for(
                lambda: self._ended or self._closed or self._has_new_frame(), timeout=self._retry_seconds)
            if self._closed:
                return None
            # A frame that arrived before the end is still handed out.
            if self._has_new_frame():
                assert self._latest is not None
                self._last_index_returned = self._latest.index
                return self._latest
            if not self._ended:  # the device is stuck inside a read: give up on it
                self._end_locked(f"no frame for {self._retry_seconds:g} s")
            return None

    def close(self) -> None:
        self._stop.set()
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(THREAD_JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            log.warning("%s: capture thread still blocked after %g s; it will release the device "
                        "when the driver returns", self._description, THREAD_JOIN_TIMEOUT_S)

    def _has_new_frame(self) -> bool:
        return self._latest is not None and self._latest.index > self._last_index_returned

    def _capture_loop(self) -> None:
        failing_since: float | None = None
        last_reopen = 0.0
        try:
            while not self._stop.is_set():
                image = self._device.read()
                now = time.monotonic()
                if image is not None and image.size:
                    failing_since = None
                    self._publish(image, now)
                    continue
                if self._stop.is_set():
                    break
                if failing_since is None:
                    failing_since = last_reopen = now
                    log.debug("%s: read failed; retrying for %g s", self._description, self._retry_seconds)
                elif now - failing_since >= self._retry_seconds:
                    with self._condition:
                        self._end_locked(f"no frame for {self._retry_seconds:g} s")
                    break
                elif now - last_reopen >= CAMERA_REOPEN_INTERVAL_S:
                    last_reopen = now
                    log.debug("%s: reopening: %s", self._description,
                              "ok" if self._device.reopen() else "failed")
                self._stop.wait(FAILED_READ_PAUSE_S)
        except Exception as error:  # noqa: BLE001 - any device failure ends the source, with a reason
            log.debug("%s: capture thread failed", self._description, exc_info=True)
            with self._condition:
                self._end_locked(f"capture failed ({type(error).__name__}: {error})")
        finally:
            self._device.release()
            with self._condition:
                self._ended = True
                self._condition.notify_all()

    def _publish(self, image: np.ndarray, captured_at: float) -> None:
        with self._condition:
            if self._ended:
                return  # a stuck driver came back after the source gave up on it: ended stays ended
            self._latest = Frame(image, self._frames_captured, captured_at, captured_at)
            self._frames_captured += 1
            self._condition.notify_all()

    def _end_locked(self, reason: str) -> None:
        """End the source (caller holds the condition); warn once, unless nothing ever came."""
        if self._ended:
            return
        self._ended = True
        self._stop.set()
        self._condition.notify_all()
        if self._closed:
            return
        # Before the first frame the constructor raises SourceError instead: no second message.
        report = log.warning if self._latest is not None else log.debug
        report("%s stopped delivering frames: %s; ending", self._description, reason)


class _CaptureDevice:
    """A cv2.VideoCapture (a camera or a stream), opened afresh by ``open_again`` after a dropout."""

    def __init__(self, capture: cv2.VideoCapture, open_again: Callable[[], cv2.VideoCapture]) -> None:
        self._capture = capture
        self._open_again = open_again

    def read(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        return image if ok else None

    def reopen(self) -> bool:
        self._capture.release()
        with opencv_quiet():
            self._capture = self._open_again()
        return self._capture.isOpened()

    def release(self) -> None:
        self._capture.release()


def open_camera(index: int, *, width: int | None = None, height: int | None = None,
                fps: float | None = None, retry_seconds: float = CAMERA_RETRY_S,
                first_frame_timeout_s: float = FIRST_FRAME_TIMEOUT_S) -> LiveSource:
    """Open camera ``index`` as a live source; SourceError names the cameras that do open."""
    backend = _camera_backend()
    with opencv_quiet():
        capture = cv2.VideoCapture(index, backend)
    if not capture.isOpened():
        capture.release()
        raise SourceError(_camera_not_opened_message(index, backend))
    # Only the newest frame matters; the V4L2 and DirectShow drivers honour this, others ignore it.
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    requests = {prop: float(value) for prop, value in ((cv2.CAP_PROP_FOURCC, _fourcc_for(width, height)),
                                                       (cv2.CAP_PROP_FRAME_WIDTH, width),
                                                       (cv2.CAP_PROP_FRAME_HEIGHT, height),
                                                       (cv2.CAP_PROP_FPS, fps)) if value is not None}
    _apply_requests(capture, requests)
    actual_width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    actual_height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    actual_fps = _plausible_fps(capture.get(cv2.CAP_PROP_FPS)) or fps or DEFAULT_CAMERA_FPS
    _warn_unmet_requests(index, (width, height, fps), (actual_width, actual_height, actual_fps))
    description = f"camera {index} ({actual_width}x{actual_height}, {actual_fps:g} fps)"
    log.debug("opened %s with the %s backend", description, capture.getBackendName())

    def open_again() -> cv2.VideoCapture:
        again = cv2.VideoCapture(index, backend)
        if again.isOpened():
            _apply_requests(again, requests)
        return again

    return LiveSource(_CaptureDevice(capture, open_again), fps=actual_fps, description=description,
                      retry_seconds=retry_seconds, first_frame_timeout_s=first_frame_timeout_s)


def is_stream_url(text: str) -> bool:
    """Whether ``text`` names a network stream (``rtsp://...``, ``http://...``) rather than a path."""
    scheme, separator, _ = text.partition("://")
    return bool(separator) and scheme.lower() in STREAM_SCHEMES


def shown_source(text: str) -> str:
    """``text`` fit for a log or a message: a URL's user name, password and credential-like query values become ***.

    Plain text, not urllib: a password may hold "/", "?", "#" or "@", which a URL parser
    would take for the end of the host and then print in full. Everything up to the last
    "@" goes, which may hide a little more than the credentials, never less.
    """
    scheme, separator, rest = text.partition("://")
    if not separator:
        return text
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return f"{scheme}://{_CREDENTIAL_QUERY.sub(lambda match: match.group(1) + '***', rest)}"


# IP cameras often take their login in the query string (?user=admin&pwd=...).
_CREDENTIAL_QUERY = re.compile(r"([?&;](?:user(?:name)?|login|pass(?:word)?|pwd|token|auth|key|secret)=)[^&;#]*",
                               re.IGNORECASE)


def open_stream(url: str, *, retry_seconds: float = STREAM_RETRY_S,
                first_frame_timeout_s: float = FIRST_FRAME_TIMEOUT_S) -> LiveSource:
    """Open a network stream as a live source: a capture thread, newest frame wins, reopened after a dropout."""
    shown = shown_source(url)
    if not path_is_utf8(url):  # OpenCV would crash on it, as on such a file name
        raise SourceError(f"{shown}: cannot open this stream: its address is not valid UTF-8")
    timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                STREAM_READ_TIMEOUT_MS]

    def open_url() -> cv2.VideoCapture:
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, timeouts)
        if capture.isOpened():
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # only the newest frame matters
        return capture

    with opencv_quiet():
        capture = open_url()
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"{shown}: the stream could not be opened (wrong address, the server not answering "
                          f"within {STREAM_OPEN_TIMEOUT_MS / 1000:g} s, or not a video stream)")
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = _plausible_fps(capture.get(cv2.CAP_PROP_FPS)) or DEFAULT_CAMERA_FPS
    return LiveSource(_CaptureDevice(capture, open_url), fps=fps,
                      description=f"stream {shown} ({width}x{height}, {fps:g} fps)",
                      retry_seconds=retry_seconds, first_frame_timeout_s=first_frame_timeout_s)


class _SimulatedDevice:
    """Produces ``frames(n)`` for n = 0, 1, ... at ``fps``, on the capture thread's clock."""

    def __init__(self, frames: Callable[[int], np.ndarray | None], fps: float) -> None:
        self._frames = frames
        self._period = 1.0 / fps
        self._count = 0
        self._next_due: float | None = None

    def read(self) -> np.ndarray | None:
        now = time.monotonic()
        if self._next_due is None:
            self._next_due = now
        elif self._next_due > now:
            time.sleep(self._next_due - now)
        self._next_due += self._period
        image = self._frames(self._count)
        self._count += 1
        return None if image is None else image.copy()  # a fresh array, like cv2 read()

    def reopen(self) -> bool:
        return False

    def release(self) -> None:
        pass


class SimulatedCamera(LiveSource):
    """A fake camera for tests and benchmarks, running the real camera's threaded code path.

    ``frames`` is a list of images, played in a cycle, or a callable ``f(n) -> image``
    called for the n-th frame produced; returning None simulates a failed read (after
    ``retry_seconds`` of those the source ends, like an unplugged camera), and blocking
    simulates a driver that hangs. Frames are produced at ``fps`` whether or not anyone
    reads them; ``Frame.timestamp`` is when each was produced. ``stated_fps`` is the rate
    the source claims, when it is not the true one (FFmpeg says 25 for most MJPEG streams).
    """

    def __init__(self, frames: Sequence[np.ndarray] | Callable[[int], np.ndarray | None],
                 fps: float = DEFAULT_CAMERA_FPS, *, retry_seconds: float = CAMERA_RETRY_S,
                 first_frame_timeout_s: float = FIRST_FRAME_TIMEOUT_S,
                 description: str = "simulated camera", stated_fps: float | None = None) -> None:
        _check_positive(fps=fps, retry_seconds=retry_seconds, stated_fps=stated_fps)
        if callable(frames):
            produce = frames
        else:
            images = list(frames)
            if not images:
                raise ValueError("SimulatedCamera needs at least one image")
            produce = lambda count: images[count % len(images)]  # noqa: E731
        stated_fps = fps if stated_fps is None else stated_fps
        super().__init__(_SimulatedDevice(produce, fps), fps=stated_fps,
                         description=f"{description} ({stated_fps:g} fps)", retry_seconds=retry_seconds,
                         first_frame_timeout_s=first_frame_timeout_s)


# -- files: read on the caller's thread, every frame in order ---------------------------------

class _Pacer:
    """Sleeps so that successive calls are ``1/fps`` apart, without drift or catch-up bursts."""

    def __init__(self, fps: float) -> None:
        self._period = 1.0 / fps
        self._next_due: float | None = None

    def wait(self) -> None:
        now = time.monotonic()
        # First frame, or more than a frame late (the consumer was slow): restart the clock
        # here rather than rushing the following frames out to catch up.
        if self._next_due is None or now - self._next_due > self._period:
            self._next_due = now
        elif self._next_due > now:
            time.sleep(self._next_due - now)
        self._next_due += self._period


class _RecordedSource(FrameSource):
    """A source that is not live: a video file or image files."""

    @property
    def is_live(self) -> bool:
        return False


class VideoFileSource(_RecordedSource):
    """Every frame of a video file, in order. With ``loop`` the file restarts at its end."""

    def __init__(self, path: str, *, loop: bool = False, realtime: bool = False,
                 fps: float | None = None) -> None:
        self._path = path
        self._loop = loop
        self._capture = self._open()
        self._fps = fps or _plausible_fps(self._capture.get(cv2.CAP_PROP_FPS)) or DEFAULT_VIDEO_FPS
        self._pacer = _Pacer(self._fps) if realtime else None
        width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        frame_count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        length = f", {frame_count} frames" if frame_count > 0 else ""
        self._description = f"video {path} ({width}x{height}, {self._fps:g} fps{length})"
        # A file that opens but decodes to nothing (audio only, garbage that FFmpeg accepted)
        # is found now, while an error can still be reported as one.
        self._pending: np.ndarray | None = self._read_image()
        if self._pending is None:
            self._capture.release()
            raise SourceError(f"{path}: not a readable video (no frame could be decoded)")
        self._next_index = 0
        self._frames_this_pass = 0
        self._closed = False

    @property
    def files(self) -> tuple[str, ...]:
        return (self._path,)

    def read(self) -> Frame | None:
        if self._closed:
            return None
        image = self._pending if self._pending is not None else self._read_image()
        self._pending = None
        if image is None and self._loop and self._frames_this_pass > 0:
            image = self._rewind()
        if image is None:
            self.close()
            return None
        index = self._next_index
        self._next_index += 1
        self._frames_this_pass += 1
        if self._pacer is not None:
            self._pacer.wait()
        return Frame(image, index, index / self._fps, time.monotonic())

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._capture.release()

    def _rewind(self) -> np.ndarray | None:
        """Reopen the file (more reliable than seeking, whatever the codec); its first frame."""
        self._capture.release()
        self._frames_this_pass = 0
        try:
            self._capture = self._open()
        except SourceError as error:  # the file went away or changed during the run
            self._closed = True
            log.warning("cannot loop: %s; ending", error)
            return None
        image = self._read_image()
        if image is None:
            log.warning("%s: no frame after rewinding; ending", self._path)
        return image

    def _open(self) -> cv2.VideoCapture:
        _check_readable_file(self._path)
        if not path_is_utf8(self._path):
            raise SourceError(f"{self._path}: cannot open this video: its name is not valid UTF-8, which "
                              f"OpenCV cannot take; rename it")
        with opencv_quiet():
            capture = cv2.VideoCapture(self._path)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self._path}: not a readable video (no backend could open it)")
        return capture

    def _read_image(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        return image if ok and image is not None and image.size else None


# -- images: a folder, a glob pattern or one file ----------------------------------------------

class ImageSequenceSource(_RecordedSource):
    """Image files played as frames in the given order; unreadable files are skipped.

    Each image is its own scene: nothing is tracked from one image to the next.
    """

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(self._paths)

    @property
    def frames_related(self) -> bool:
        return False

    def __init__(self, paths: Sequence[str], description: str, *, loop: bool = False,
                 realtime: bool = False, fps: float | None = None,
                 empty_message: str | None = None) -> None:
        if not paths:
            raise SourceError(empty_message or f"no images in {description}")
        self._paths = list(paths)
        self._description = description
        self._loop = loop
        self._fps = fps or DEFAULT_IMAGE_FPS
        self._pacer = _Pacer(self._fps) if realtime else None
        self._unreadable: set[int] = set()
        self._position = 0  # position in the endless sequence: pass * len(paths) + file number
        self._closed = False
        if len(self._paths) == 1:
            # One file: its problem is the error itself, not a warning followed by an error.
            try:
                self._pending: tuple[int, np.ndarray] | None = (0, read_image(self._paths[0]))
            except ImageReadError as error:
                raise SourceError(str(error)) from None
            self._position = 1
        else:
            self._pending = self._next_readable()
            if self._pending is None:
                raise SourceError(f"no readable images in {description}")

    def read(self) -> Frame | None:
        if self._closed:
            return None
        found = self._pending if self._pending is not None else self._next_readable()
        self._pending = None
        if found is None:
            self._closed = True
            return None
        index, image = found
        if self._pacer is not None:
            self._pacer.wait()
        return Frame(image, index, index / self._fps, time.monotonic(),
                     path=self._paths[index % len(self._paths)])

    def close(self) -> None:
        self._closed = True
        self._pending = None

    def _next_readable(self) -> tuple[int, np.ndarray] | None:
        count = len(self._paths)
        while len(self._unreadable) < count:
            if self._position >= count and not self._loop:
                return None
            index, self._position = self._position, self._position + 1
            number = index % count
            if number in self._unreadable:
                continue
            try:
                return index, read_image(self._paths[number])
            except ImageReadError as error:
                # Warned once: on later loop passes the file is skipped silently.
                log.warning("skipping %s", error)
                self._unreadable.add(number)
        return None


def _images_matching(pattern: str) -> list[str]:
    """Image files matching a glob pattern, in natural order (hidden files left out)."""
    return natural_order(name for name in glob.glob(pattern, recursive=True)
                         if is_image_name(name) and os.path.isfile(name))


# -- helpers ------------------------------------------------------------------------------------

def _camera_backend() -> int:
    return LINUX_CAMERA_BACKEND if sys.platform.startswith("linux") else cv2.CAP_ANY


def _camera_not_opened_message(index: int, backend: int) -> str:
    started = time.monotonic()
    others = [candidate for candidate in CAMERA_PROBE_INDICES
              if candidate != index and _camera_opens(candidate, backend)]
    log.debug("probed cameras %s in %.2f s: %s open", list(CAMERA_PROBE_INDICES),
              time.monotonic() - started, others or "none")
    device = f"/dev/video{index}"
    why = f" ({device} exists: busy, or no permission?)" if (
        sys.platform.startswith("linux") and os.path.exists(device)) else ""
    if others:
        listed = ", ".join(str(candidate) for candidate in others)
        return (f"camera {index} could not be opened{why}; cameras that open: {listed} "
                f"(use --source N), or pass a video file or image folder")
    tried = f"{CAMERA_PROBE_INDICES.start}-{CAMERA_PROBE_INDICES.stop - 1}"
    return (f"camera {index} could not be opened{why}; no camera opens on this machine "
            f"(tried {tried}); plug one in and pick it with --source N, or pass --source a video file, "
            f"an image folder or a glob pattern")


def _camera_opens(index: int, backend: int) -> bool:
    with opencv_quiet():
        capture = cv2.VideoCapture(index, backend)
        try:
            return bool(capture.isOpened())
        finally:
            capture.release()


def _fourcc_for(width: int | None, height: int | None) -> int | None:
    """The pixel format to ask a camera for at this size: MJPG above VGA, else the driver's own.

    Over USB 2 most webcams send uncompressed frames above 640x480 at only 5-10 fps; MJPG
    gives the full frame rate. The format is asked for before the size, as V4L2 needs.
    """
    if (width or 0) * (height or 0) > VGA_PIXELS or (width or 0) > VGA_WIDTH or (height or 0) > VGA_HEIGHT:
        return cv2.VideoWriter_fourcc(*"MJPG")
    return None


def _apply_requests(capture: cv2.VideoCapture, requests: dict[int, float]) -> None:
    for prop, value in requests.items():
        capture.set(prop, value)


def _warn_unmet_requests(index: int, asked: tuple[int | None, int | None, float | None],
                         got: tuple[int, int, float]) -> None:
    asked_width, asked_height, asked_fps = asked
    width, height, fps = got
    if (asked_width not in (None, width) or asked_height not in (None, height)
            or (asked_fps is not None and not math.isclose(asked_fps, fps, rel_tol=0.05))):
        wanted = []
        if asked_width is not None or asked_height is not None:
            wanted.append(f"{asked_width or 'any'}x{asked_height or 'any'}")
        if asked_fps is not None:
            wanted.append(f"{asked_fps:g} fps")
        # Drivers pick the nearest mode they support; the run goes on with what it gives.
        log.warning("camera %d gives %dx%d, %g fps (asked for %s)", index, width, height, fps,
                    ", ".join(wanted))


def _plausible_fps(value: float) -> float | None:
    return value if math.isfinite(value) and 0.0 < value <= MAX_PLAUSIBLE_FPS else None


def _check_readable_file(path: str) -> None:
    if not os.path.exists(path):
        raise SourceError(f"{path}: no such file or folder (and not a camera index or glob pattern)")
    if not os.path.isfile(path):
        raise SourceError(f"{path}: not a regular file")
    if os.path.getsize(path) == 0:
        raise SourceError(f"{path}: not a readable video (empty file, 0 bytes)")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{path}: permission denied")


def _check_positive(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
