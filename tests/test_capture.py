"""Frame sources: video files, image folders and globs, cameras, and the live latest-frame path.

Videos are real files written with cv2.VideoWriter under tmp_path. Every frame carries its
own number as a row of black/white blocks (robust to JPEG/MPEG-4 compression), so a test
can check that the content of each delivered frame matches its index. No test needs a
webcam: the real camera code is driven through a stand-in for cv2.VideoCapture, and the
live buffer through SimulatedCamera.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognizer import capture
from recognizer.capture import Frame, SimulatedCamera, SourceError, open_source
from streams import MjpegServer

BITS = 10                  # frame numbers up to 1023
BIT_WIDTH_PX = 16
FRAME_HEIGHT_PX = 48
FRAME_WIDTH_PX = BITS * BIT_WIDTH_PX
VIDEO_FPS = 25.0
LIVE_FPS = 60.0
CONSUMER_WORK_S = 0.05     # a consumer slower than the 60 fps camera: about 3 frames per read
# A frame handed out by the live buffer is at most one camera period old, plus thread
# scheduling on a busy 2-core machine.
MAX_LIVE_AGE_S = 1.0 / LIVE_FPS + 0.03
SHORT_RETRY_S = 0.3
MISSING_CAMERA_MAX_S = 5.0
SUBPROCESS_TIMEOUT_S = 60
# A file name may be any bytes on Linux; macOS and Windows only take valid Unicode names.
NOT_UTF8_NAMES_POSSIBLE = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                             reason="file names that are not UTF-8 need Linux")


# -- frames that carry their own number ----------------------------------------------------

def numbered_frame(number: int, height: int = FRAME_HEIGHT_PX) -> np.ndarray:
    """BGR frame with ``number`` written in binary as black (0) / white (1) blocks."""
    bits = [(number >> bit) & 1 for bit in range(BITS)]
    row = np.repeat(np.array(bits, np.uint8) * 255, BIT_WIDTH_PX)
    return cv2.cvtColor(np.tile(row, (height, 1)), cv2.COLOR_GRAY2BGR)


def frame_number(image: np.ndarray) -> int:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    middle = gray[gray.shape[0] // 2]
    centres = middle[BIT_WIDTH_PX // 2::BIT_WIDTH_PX][:BITS]
    return sum(1 << bit for bit, value in enumerate(centres) if value > 127)


def write_video(path: Path, count: int, fourcc: str = "MJPG", fps: float = VIDEO_FPS) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps,
                             (FRAME_WIDTH_PX, FRAME_HEIGHT_PX))
    assert writer.isOpened(), f"cannot write {fourcc} video {path.name} in this OpenCV build"
    for number in range(count):
        writer.write(numbered_frame(number))
    writer.release()
    return path


def test_frame_numbering_helper_round_trips() -> None:
    assert [frame_number(numbered_frame(n)) for n in (0, 1, 5, 300, 1023)] == [0, 1, 5, 300, 1023]


def assert_one_line(error: pytest.ExceptionInfo[SourceError]) -> str:
    message = str(error.value)
    assert message and "\n" not in message
    return message


# -- video files ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "fourcc"), [("clip.avi", "MJPG"), ("clip.mp4", "mp4v"),
                                              ("clip.mkv", "MJPG")])
def test_video_delivers_every_frame_in_order_then_ends(tmp_path: Path, name: str, fourcc: str) -> None:
    path = write_video(tmp_path / name, 12, fourcc)
    with open_source(str(path)) as source:
        assert not source.is_live and source.fps == pytest.approx(VIDEO_FPS)
        assert name in source.description
        frames = list(source)
        assert source.read() is None  # stays ended
    assert [frame.index for frame in frames] == list(range(12))
    assert [frame_number(frame.image) for frame in frames] == list(range(12))
    assert [frame.timestamp for frame in frames] == pytest.approx([n / VIDEO_FPS for n in range(12)])
    assert all(frame.image.dtype == np.uint8 and frame.image.shape == (FRAME_HEIGHT_PX, FRAME_WIDTH_PX, 3)
               for frame in frames)


def test_video_loop_keeps_counting_across_passes(tmp_path: Path) -> None:
    path = write_video(tmp_path / "five.avi", 5)
    with open_source(str(path), loop=True) as source:
        frames = [source.read() for _ in range(13)]
    assert all(frame is not None for frame in frames)
    assert [frame.index for frame in frames] == list(range(13))                       # type: ignore[union-attr]
    assert [frame_number(frame.image) for frame in frames] == [n % 5 for n in range(13)]  # type: ignore[union-attr]


def test_looping_video_deleted_during_the_run_ends_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_video(tmp_path / "gone.avi", 3)
    with open_source(str(path), loop=True) as source:
        assert source.read() is not None
        path.unlink()  # the open file still plays to its end, then cannot be reopened
        with caplog.at_level(logging.WARNING, logger="recognizer.capture"):
            frames = list(source)
    assert [frame.index for frame in frames] == [1, 2]
    assert any("cannot loop" in record.getMessage() and "gone.avi" in record.getMessage()
               for record in caplog.records)


def test_video_realtime_paces_to_the_file_rate_without_dropping(tmp_path: Path) -> None:
    fps = 20.0
    path = write_video(tmp_path / "paced.avi", 6, fps=fps)
    with open_source(str(path), realtime=True) as source:
        started = time.monotonic()
        frames = list(source)
        elapsed = time.monotonic() - started
    assert [frame_number(frame.image) for frame in frames] == list(range(6))
    assert 5 / fps * 0.9 <= elapsed < 5 / fps + 0.3  # 5 intervals between 6 frames
    with open_source(str(path)) as source:  # without realtime: as fast as it decodes
        started = time.monotonic()
        assert len(list(source)) == 6
        assert time.monotonic() - started < 5 / fps * 0.5


def test_truncated_video_gives_the_frames_before_the_damage(tmp_path: Path) -> None:
    path = write_video(tmp_path / "cut.avi", 30)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with open_source(str(path)) as source:
        frames = list(source)
    assert 0 < len(frames) < 30
    assert [frame_number(frame.image) for frame in frames] == [frame.index for frame in frames] \
        == list(range(len(frames)))


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("random.mp4", os.urandom(20_000), "not a readable video"),
    ("empty.mp4", b"", "empty file"),
    ("notes.avi", b"this is not a video\n", "not a readable video"),
])
def test_unreadable_video_is_a_one_line_source_error(tmp_path: Path, name: str, content: bytes,
                                                     expected: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SourceError) as error:
        open_source(str(tmp_path / name))
    message = assert_one_line(error)
    assert name in message and expected in message


def test_video_without_frames_is_a_one_line_source_error(tmp_path: Path) -> None:
    path = write_video(tmp_path / "no_frames.avi", 0)  # a valid AVI that OpenCV opens
    with pytest.raises(SourceError) as error:
        open_source(str(path))
    assert "no_frames.avi: not a readable video" in assert_one_line(error)


def test_missing_path_is_a_one_line_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as error:
        open_source(str(tmp_path / "nowhere.mp4"))
    assert "nowhere.mp4: no such file" in assert_one_line(error)


@NOT_UTF8_NAMES_POSSIBLE
def test_a_video_or_stream_named_in_bytes_that_are_not_utf8_is_a_one_line_source_error(tmp_path: Path) -> None:
    # OpenCV's VideoCapture crashed (segmentation fault) on such a name; run apart, so that a
    # crash fails this test only.
    folder = os.fsencode(tmp_path)
    write_video(tmp_path / "clip.avi", 3).rename(os.fsdecode(folder + b"/cl\xe9.avi"))
    script = """
        import os, sys
        from recognizer.capture import SourceError, open_source
        for source in (os.fsencode(sys.argv[1]) + b"/cl\\xe9.avi", b"rtsp://camera.local/caf\\xe9"):
            try:
                open_source(os.fsdecode(source))
            except SourceError as error:
                print(error)
    """
    completed = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(tmp_path)],
                               cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True,
                               timeout=SUBPROCESS_TIMEOUT_S,
                               env={**os.environ, "PYTHONIOENCODING": "utf-8:backslashreplace"})
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        (f"{tmp_path}/cl\\udce9.avi: cannot open this video: its name is not valid UTF-8, which OpenCV cannot "
         f"take; rename it"),
        "rtsp://camera.local/caf\\udce9: cannot open this stream: its address is not valid UTF-8"]


# -- image folders, globs, single images ----------------------------------------------------

def write_png(path: Path, number: int, height: int = FRAME_HEIGHT_PX) -> None:
    assert cv2.imwrite(str(path), numbered_frame(number, height))


def test_folder_plays_images_in_natural_order(tmp_path: Path) -> None:
    for number in (10, 2, 1):
        write_png(tmp_path / f"digit{number}.png", number, height=20 + number)  # sizes differ
    (tmp_path / "notes.txt").write_text("not an image")
    write_png(tmp_path / ".hidden.png", 99)
    with open_source(str(tmp_path)) as source:
        assert not source.is_live
        frames = list(source)
    assert [Path(frame.path).name for frame in frames] == ["digit1.png", "digit2.png", "digit10.png"]  # type: ignore[arg-type]
    assert [frame.index for frame in frames] == [0, 1, 2]
    assert [frame_number(frame.image) for frame in frames] == [1, 2, 10]
    assert [frame.image.shape[0] for frame in frames] == [21, 22, 30]


def test_glob_matches_images_in_natural_order(tmp_path: Path) -> None:
    for number in (11, 3, 7):
        write_png(tmp_path / f"scan{number}.png", number)
    write_png(tmp_path / "other5.png", 5)
    with open_source(str(tmp_path / "scan*.png")) as source:
        assert [frame_number(frame.image) for frame in source] == [3, 7, 11]


def test_bad_image_is_skipped_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_png(tmp_path / "a1.png", 1)
    (tmp_path / "a2.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    write_png(tmp_path / "a3.png", 3)
    with caplog.at_level(logging.WARNING, logger="recognizer.capture"):
        with open_source(str(tmp_path), loop=True) as source:
            frames = [source.read() for _ in range(4)]
    # The index is the file's place in the sequence, so the skipped file leaves a gap.
    assert [frame.index for frame in frames] == [0, 2, 3, 5]                   # type: ignore[union-attr]
    assert [frame_number(frame.image) for frame in frames] == [1, 3, 1, 3]     # type: ignore[union-attr]
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "a2.png" in warnings[0] and "\n" not in warnings[0]


def test_single_image_is_one_frame(tmp_path: Path) -> None:
    write_png(tmp_path / "one.png", 42)
    with open_source(str(tmp_path / "one.png")) as source:
        frames = list(source)
    assert [(frame.index, frame_number(frame.image)) for frame in frames] == [(0, 42)]


@pytest.mark.parametrize(("setup", "source", "expected"), [
    (lambda folder: None, "{folder}", "no images in folder"),
    (lambda folder: (folder / "readme.txt").write_text("x"), "{folder}", "no images in folder"),
    (lambda folder: None, "{folder}/*.png", "no images match"),
    (lambda folder: (folder / "bad.png").write_bytes(b"junk"), "{folder}/bad.png", "bad.png: not an image"),
    (lambda folder: [(folder / f"bad{n}.png").write_bytes(b"junk") for n in range(2)], "{folder}",
     "no readable images"),
])
def test_empty_or_unreadable_image_source_is_a_one_line_error(
        tmp_path: Path, setup: Callable[[Path], object], source: str, expected: str) -> None:
    setup(tmp_path)
    with pytest.raises(SourceError) as error:
        open_source(source.format(folder=tmp_path))
    assert expected in assert_one_line(error)


# -- cameras -------------------------------------------------------------------------------

def test_missing_camera_names_the_index_and_returns_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(SourceError) as error:
        open_source("7")
    assert time.monotonic() - started < MISSING_CAMERA_MAX_S
    message = assert_one_line(error)
    assert message.startswith("camera 7 could not be opened")
    # No webcam here at all; on a machine with one, the message lists it instead.
    assert "no camera opens" in message or "cameras that open:" in message


class FakeCameraRig:
    """Stands in for cv2.VideoCapture: cameras that open, deliver numbered frames, unplug.

    Unplugging kills every capture open at that moment for good, like a USB device going
    away; only a capture opened after the camera is plugged back in works again.
    """
    PERIOD_S = 0.01

    def __init__(self, openable: set[int]) -> None:
        self.openable = openable
        self.plugged = True
        self.generation = 0
        self.delivered = 0
        self.captures: list[FakeCapture] = []

    def video_capture(self, index: int, backend: int = cv2.CAP_ANY) -> FakeCapture:
        fake = FakeCapture(self, index)
        self.captures.append(fake)
        return fake

    def unplug(self) -> None:
        self.plugged = False
        self.generation += 1


class FakeCapture:
    def __init__(self, rig: FakeCameraRig, index: int) -> None:
        self.rig = rig
        self.index = index
        self.generation = rig.generation
        self.opened = rig.plugged and index in rig.openable
        self.requests: dict[int, float] = {}

    def isOpened(self) -> bool:  # noqa: N802 - cv2's name
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.requests[prop] = value
        return True

    def get(self, prop: int) -> float:
        defaults = {cv2.CAP_PROP_FRAME_WIDTH: 640.0, cv2.CAP_PROP_FRAME_HEIGHT: 480.0, cv2.CAP_PROP_FPS: 30.0}
        return self.requests.get(prop, defaults.get(prop, 0.0))

    def read(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(self.rig.PERIOD_S)
        if not (self.opened and self.rig.plugged and self.generation == self.rig.generation):
            return False, None
        self.rig.delivered += 1
        return True, numbered_frame(self.rig.delivered - 1)

    def release(self) -> None:
        self.opened = False

    def getBackendName(self) -> str:  # noqa: N802 - cv2's name
        return "FAKE"


@pytest.fixture
def fake_cameras(monkeypatch: pytest.MonkeyPatch) -> FakeCameraRig:
    rig = FakeCameraRig(openable={0, 1})
    monkeypatch.setattr(cv2, "VideoCapture", rig.video_capture)
    monkeypatch.setattr(capture, "CAMERA_REOPEN_INTERVAL_S", 0.05)
    return rig


def test_unopenable_camera_lists_the_cameras_that_open(fake_cameras: FakeCameraRig) -> None:
    with pytest.raises(SourceError) as error:
        open_source("3")
    assert assert_one_line(error).startswith("camera 3 could not be opened; cameras that open: 0, 1 (use --source N)")
    assert not any(fake.opened for fake in fake_cameras.captures)  # every probe released


def test_camera_applies_requests_and_delivers_newest_frames(fake_cameras: FakeCameraRig) -> None:
    with open_source("1", width=320, height=240, fps=15) as source:
        assert source.is_live and source.fps == 15
        assert source.description.startswith("camera 1 (320x240")
        requests = fake_cameras.captures[0].requests
        assert requests[cv2.CAP_PROP_BUFFERSIZE] == 1 and requests[cv2.CAP_PROP_FRAME_WIDTH] == 320
        frames = []
        for _ in range(3):
            frames.append(source.read())
            time.sleep(5 * FakeCameraRig.PERIOD_S)
    assert not any(fake.opened for fake in fake_cameras.captures)  # closing released the device
    assert all(frame is not None and frame_number(frame.image) == frame.index for frame in frames)
    indices = [frame.index for frame in frames]  # type: ignore[union-attr]
    assert indices == sorted(set(indices)) and indices[-1] - indices[0] >= 4  # frames were skipped


def test_camera_is_asked_for_mjpg_before_a_size_above_vga(fake_cameras: FakeCameraRig) -> None:
    with open_source("0", width=1280, height=720):
        requests = fake_cameras.captures[0].requests
        assert requests[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter_fourcc(*"MJPG")
        assert list(requests).index(cv2.CAP_PROP_FOURCC) < list(requests).index(cv2.CAP_PROP_FRAME_WIDTH)
    with open_source("1", width=640, height=480):
        assert cv2.CAP_PROP_FOURCC not in fake_cameras.captures[-1].requests


def test_unplugged_camera_ends_after_the_retry_window(fake_cameras: FakeCameraRig,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    source = open_source("0", retry_seconds=SHORT_RETRY_S)
    assert source.read() is not None
    fake_cameras.unplug()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="recognizer.capture"):
        while source.read() is not None:
            assert time.monotonic() - started < SHORT_RETRY_S + 1.0
    assert SHORT_RETRY_S * 0.9 <= time.monotonic() - started < SHORT_RETRY_S + 1.0
    assert any("stopped delivering frames" in record.getMessage() for record in caplog.records)
    assert len(fake_cameras.captures) > 2  # it tried to reopen the device during the window
    source.close()
    assert not source.running and not any(fake.opened for fake in fake_cameras.captures)


def test_replugged_camera_within_the_window_carries_on(fake_cameras: FakeCameraRig) -> None:
    with open_source("0", retry_seconds=2.0) as source:
        first = source.read()
        fake_cameras.unplug()
        time.sleep(0.2)
        fake_cameras.plugged = True
        later = source.read()
    assert first is not None and later is not None
    assert later.index > first.index and frame_number(later.image) == later.index


# -- the live latest-frame buffer (SimulatedCamera) ------------------------------------------

def test_live_source_hands_out_the_newest_frame() -> None:
    with SimulatedCamera(numbered_frame, fps=LIVE_FPS) as camera:
        assert camera.is_live and camera.fps == LIVE_FPS
        frames: list[Frame] = []
        ages: list[float] = []
        for _ in range(12):
            frame = camera.read()
            assert frame is not None
            ages.append(frame.age())
            frames.append(frame)
            time.sleep(CONSUMER_WORK_S)
    indices = [frame.index for frame in frames]
    steps = np.diff(indices)
    assert all(frame_number(frame.image) == frame.index for frame in frames)
    assert (steps >= 1).all() and np.median(steps) >= 2   # the frames it was too slow for were dropped
    assert max(ages) < MAX_LIVE_AGE_S, ages


def test_close_stops_the_capture_thread() -> None:
    camera = SimulatedCamera([numbered_frame(0)], fps=LIVE_FPS, description="closing camera")
    assert camera.read() is not None and camera.running
    camera.close()
    assert not camera.running
    assert not any(thread.name.startswith("capture: closing camera") for thread in threading.enumerate())
    assert camera.read() is None
    camera.close()  # twice is fine


def test_consumer_may_draw_on_frames() -> None:
    original = numbered_frame(5)
    with SimulatedCamera([original], fps=LIVE_FPS) as camera:
        first = camera.read()
        assert first is not None
        first.image[:] = 0
        second = camera.read()
    assert second is not None and frame_number(second.image) == 5 and frame_number(original) == 5


def test_camera_that_stops_producing_ends_within_the_retry_window(caplog: pytest.LogCaptureFixture) -> None:
    def frames(number: int) -> np.ndarray | None:
        return numbered_frame(number) if number < 5 else None

    camera = SimulatedCamera(frames, fps=LIVE_FPS, retry_seconds=SHORT_RETRY_S)
    with caplog.at_level(logging.WARNING, logger="recognizer.capture"):
        started = time.monotonic()
        last = None
        while (frame := camera.read()) is not None:
            last = frame
        elapsed = time.monotonic() - started
    camera.close()
    assert last is not None and last.index == 4  # the last good frame was still handed out
    assert elapsed < SHORT_RETRY_S + 5 / LIVE_FPS + 0.5
    assert any("stopped delivering frames" in record.getMessage() for record in caplog.records)
    assert not camera.running


def test_camera_that_hangs_ends_within_the_retry_window() -> None:
    unblock = threading.Event()

    def frames(number: int) -> np.ndarray | None:
        if number >= 3:
            unblock.wait(2)  # a driver stuck inside read(); bounded, so a failing test cannot hang
            return None
        return numbered_frame(number)

    camera = SimulatedCamera(frames, fps=LIVE_FPS, retry_seconds=SHORT_RETRY_S)
    try:
        started = time.monotonic()
        while camera.read() is not None:
            pass
        assert time.monotonic() - started < SHORT_RETRY_S + 0.5
    finally:
        unblock.set()
        camera.close()
    assert not camera.running


def test_camera_without_a_first_frame_is_a_source_error() -> None:
    started = time.monotonic()
    with pytest.raises(SourceError) as error:
        SimulatedCamera(lambda number: None, fps=LIVE_FPS, retry_seconds=SHORT_RETRY_S,
                        description="dead camera")
    assert "dead camera" in assert_one_line(error) and "no frame" in str(error.value)
    assert time.monotonic() - started < SHORT_RETRY_S + 0.5
    assert not any(thread.name.startswith("capture: dead camera") for thread in threading.enumerate())



def test_a_camera_that_ended_stays_ended_when_its_driver_comes_back() -> None:
    stalled = threading.Event()

    def frames(number: int) -> np.ndarray:
        if number == 3:
            stalled.set()
            time.sleep(3 * SHORT_RETRY_S)   # stuck longer than the retry window, then recovers
        return numbered_frame(number)

    with SimulatedCamera(frames, fps=60, retry_seconds=SHORT_RETRY_S) as camera:
        while camera.read() is not None:
            pass
        assert stalled.is_set()
        time.sleep(3 * SHORT_RETRY_S)        # the driver has returned a frame by now
        assert camera.read() is None


# -- network streams: a real MJPEG server on localhost, read through OpenCV's FFmpeg ----------

@pytest.fixture
def mjpeg_server() -> MjpegServer:
    server = MjpegServer(numbered_frame)
    yield server
    server.stop()


def test_stream_urls_are_told_from_paths_and_their_passwords_never_shown() -> None:
    assert capture.is_stream_url("rtsp://cam.local:554/live") and capture.is_stream_url("HTTP://10.0.0.2/video")
    assert not capture.is_stream_url("clip.mp4") and not capture.is_stream_url("file:///tmp/clip.mp4")
    assert not capture.is_stream_url("scans/*.png") and not capture.is_stream_url("0")
    assert capture.shown_source("rtsp://bob:s3cret@cam.local:554/live?x=1") == "rtsp://***@cam.local:554/live?x=1"
    assert capture.shown_source("http://10.0.0.2:8080/video") == "http://10.0.0.2:8080/video"
    # A password may hold what a URL parser takes for the end of the host; IPv6 hosts are fine.
    for password in ("pa/ss", "pa?ss", "pa#ss", "pa@ss"):
        assert capture.shown_source(f"rtsp://admin:{password}@10.0.0.2/x") == "rtsp://***@10.0.0.2/x"
    assert capture.shown_source("http://user:pw@[::1") == "http://***@[::1"
    assert capture.shown_source("http://cam/video?user=admin&pwd=hunter2&res=hd") == \
        "http://cam/video?user=***&pwd=***&res=hd"


def test_a_url_of_another_scheme_is_one_line_without_its_password() -> None:
    with pytest.raises(SourceError) as error:
        open_source("mms://bob:s3cret@cam.local/live")
    message = assert_one_line(error)
    assert message.startswith("mms://***@cam.local/live: not a stream") and "rtsp://" in message


def test_stream_is_live_and_hands_out_the_newest_frame(mjpeg_server: MjpegServer) -> None:
    with open_source(mjpeg_server.url) as source:
        assert source.is_live and source.frames_related
        assert source.description.startswith(f"stream {mjpeg_server.url} ({FRAME_WIDTH_PX}x{FRAME_HEIGHT_PX}")
        numbers = []
        for _ in range(4):
            frame = source.read()
            assert frame is not None and frame.image.shape == (FRAME_HEIGHT_PX, FRAME_WIDTH_PX, 3)
            numbers.append(frame_number(frame.image))
            time.sleep(CONSUMER_WORK_S)  # slower than the stream: older frames are skipped
    assert numbers == sorted(set(numbers)) and numbers[-1] - numbers[0] >= 4, numbers


def test_stream_whose_server_goes_away_ends_within_the_retry_window(mjpeg_server: MjpegServer,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    with open_source(mjpeg_server.url, retry_seconds=SHORT_RETRY_S) as source:
        assert source.read() is not None
        mjpeg_server.stop()
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="recognizer.capture"):
            while source.read() is not None:
                assert time.monotonic() - started < capture.STREAM_READ_TIMEOUT_MS / 1000 + 5
    assert "stopped delivering frames" in caplog.text


def test_unreachable_stream_is_a_one_line_source_error_without_waiting() -> None:
    server = MjpegServer(numbered_frame)
    url = server.url
    server.stop()  # nothing listens on that port any more: the connection is refused at once
    started = time.monotonic()
    with pytest.raises(SourceError) as error:
        open_source(url.replace("http://", "http://bob:s3cret@"))
    assert time.monotonic() - started < capture.STREAM_OPEN_TIMEOUT_MS / 1000
    message = assert_one_line(error)
    assert message.startswith("http://***@127.0.0.1:") and "could not be opened" in message
    assert "s3cret" not in message
