"""Live mode end to end: real video files, the real model, a real OpenCV window under Xvfb."""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognizer.capture import Frame, open_source
from recognizer.live import MAX_THRESHOLD, THRESHOLD_STEP, InterruptRequest, LiveLoop, LiveOptions
from recognizer.recognize import UNCERTAIN_MARK, Recognizer, use_pipeline_threads
from recognizer.scenes import HARD, DigitPool, ShakyClip, make_shaky_clip
from recognizer.track import DigitTracker
from recognizer.evaluate import box_iou

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CLI = PROJECT_ROOT / "live_digits.py"
CLIP_FRAMES = 60
CLIP_FPS = 30
SETTLE_FRAMES = 5          # the tracker needs a couple of frames before a digit is shown
MATCH_IOU = 0.5
WINDOW_WAIT_S = 30


def write_video(path: Path, frames: tuple[np.ndarray, ...], fps: float = CLIP_FPS) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def clip(mnist_test) -> ShakyClip:
    return make_shaky_clip(np.random.default_rng(11), DigitPool(*mnist_test), CLIP_FRAMES, HARD,
                           lines=[["2024"], ["57", "3"]])


@pytest.fixture(scope="module")
def clip_video(clip, tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("clip") / "clip.avi", clip.frames)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CLI), *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr


def test_headless_video_labels_tracks_and_no_flicker(clip, clip_video, tmp_path):
    jsonl = tmp_path / "frames.jsonl"
    result = run_cli("--source", str(clip_video), "--headless", "--jsonl", str(jsonl))
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    records = read_jsonl(jsonl)
    assert [r["frame"] for r in records] == list(range(CLIP_FRAMES))  # every frame, in order
    shown_right = in_view = 0
    tracks_of_digit: dict[int, set[int]] = {}
    labels_of_track: dict[int, list[int]] = {}
    for record, truth in zip(records, clip.boxes):
        for digit in record["digits"]:
            labels_of_track.setdefault(digit["track"], []).append(digit["label"])
        if record["frame"] < SETTLE_FRAMES:
            continue
        for index, box in enumerate(truth):
            if box is None:
                continue
            in_view += 1
            best = max(record["digits"], key=lambda d: box_iou(box, d["box"]), default=None)
            if best is not None and box_iou(box, best["box"]) >= MATCH_IOU:
                tracks_of_digit.setdefault(index, set()).add(best["track"])
                shown_right += best["label"] == clip.labels[index]
    assert in_view > 0
    assert shown_right / in_view >= 0.9
    # One track per digit held in view (a shaking hand does not create new tracks)...
    assert all(len(tracks) == 1 for tracks in tracks_of_digit.values()), tracks_of_digit
    # ...and a shown label that does not flicker.
    changes = sum(sum(a != b for a, b in zip(labels, labels[1:])) for labels in labels_of_track.values())
    assert changes <= 1, labels_of_track


def test_a_network_stream_is_read_live_like_a_camera(tmp_path):
    # A phone's webcam app or an IP camera: a real MJPEG stream on localhost, read through
    # OpenCV's FFmpeg by the real CLI, with the labels checked against the sample's truth.
    from streams import MjpegServer

    sample = "digit20.png"
    truth = json.loads((PROJECT_ROOT / "digits" / "labels.json").read_text())[sample]
    page = cv2.imread(str(PROJECT_ROOT / "digits" / sample))
    server = MjpegServer(lambda number: page)
    jsonl = tmp_path / "stream.jsonl"
    try:
        result = run_cli("--source", server.url, "--headless", "--max-frames", "20", "--jsonl", str(jsonl))
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    assert f"stream {server.url}" in result.stderr
    records = read_jsonl(jsonl)
    assert len(records) == 20
    assert [record["numbers"] for record in records[SETTLE_FRAMES:]] == [truth] * (20 - SETTLE_FRAMES)


def test_numbers_are_read_in_order(clip, clip_video, tmp_path):
    jsonl = tmp_path / "frames.jsonl"
    assert run_cli("--source", str(clip_video), "--headless", "--jsonl", str(jsonl)).returncode == 0
    last = read_jsonl(jsonl)[-1]
    assert last["numbers"] == list(clip.numbers)


def test_record_has_every_frame_and_max_frames_bounds_the_run(clip_video, tmp_path):
    video = tmp_path / "annotated.avi"
    result = run_cli("--source", str(clip_video), "--headless", "--record", str(video), "--max-frames", "25")
    assert result.returncode == 0, result.stderr
    capture = cv2.VideoCapture(str(video))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 25
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_loop_replays_a_video(clip_video, tmp_path):
    jsonl = tmp_path / "frames.jsonl"
    result = run_cli("--source", str(clip_video), "--headless", "--loop", "--max-frames", str(CLIP_FRAMES + 10),
                     "--jsonl", str(jsonl))
    assert result.returncode == 0, result.stderr
    assert [r["frame"] for r in read_jsonl(jsonl)] == list(range(CLIP_FRAMES + 10))


def test_image_folder_is_played_as_frames_each_read_on_its_own(tmp_path):
    # Separate photos are not a video: every image shows its digits from its own frame on,
    # exactly as still mode reads it, with nothing carried over from the image before.
    result = run_cli("--source", str(PROJECT_ROOT / "digits"), "--headless", "--jsonl", str(tmp_path / "f.jsonl"))
    assert result.returncode == 0, result.stderr
    records = read_jsonl(tmp_path / "f.jsonl")
    still = run_cli("--still", "--json", "--no-sheet", str(PROJECT_ROOT / "digits"))
    images = json.loads(still.stdout)["images"]
    assert len(records) == len(images) == len(list((PROJECT_ROOT / "digits").glob("*.png")))
    assert [r["numbers"] for r in records] == [image["numbers"] for image in images]
    assert [[d["box"] for d in r["digits"]] for r in records] == [[d["box"] for d in image["digits"]]
                                                                  for image in images]
    assert [r["file"] for r in records] == [image["file"] for image in images]  # which image each line is


def test_one_image_as_a_live_source_shows_its_digits_at_once(tmp_path):
    result = run_cli("--source", str(PROJECT_ROOT / "digits" / "digit17.png"), "--headless",
                     "--jsonl", str(tmp_path / "f.jsonl"))
    assert result.returncode == 0, result.stderr
    assert [r["numbers"] for r in read_jsonl(tmp_path / "f.jsonl")] == [["31", "415"]]


def test_light_ink_video_needs_ink_light_and_the_threshold_view_follows_it(clip, tmp_path):
    # Chalk on a board: the clip with its tones inverted. A camera or video keeps one
    # polarity (dark unless told), so the board is read only with --ink light.
    video = write_video(tmp_path / "board.avi", tuple(cv2.bitwise_not(frame) for frame in clip.frames))
    for ink, expected in (("light", list(clip.numbers)), (None, [])):
        jsonl = tmp_path / f"{ink}.jsonl"
        result = run_cli("--source", str(video), "--headless", "--jsonl", str(jsonl), *(["--ink", ink] if ink else []))
        assert result.returncode == 0, result.stderr
        assert read_jsonl(jsonl)[-1]["numbers"] == expected
    loop = LiveLoop(Recognizer.load(), DigitTracker(), LiveOptions(show=False, ink="light"))
    with open_source(str(video)) as source:
        for _ in range(SETTLE_FRAMES):
            live = loop.process(source.read())
    loop.handle_key(ord("t"), live, loop.render(live, fps=30.0))
    ink_view = loop.render(live, fps=30.0)
    # The threshold view shows the ink the segmenter read: the light strokes, white on black
    # (read as dark ink, the board around the strokes would be white instead: about 70%).
    for digit in live.shown.digits:
        x, y, w, h = digit.box
        assert ink_view[y:y + h, x:x + w].max() == 255 and np.mean(ink_view[y:y + h, x:x + w] == 255) < 0.5


def test_an_image_folder_of_light_digits_is_read_like_still_mode(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for name in ("digit17.png", "digit19.png"):
        cv2.imwrite(str(folder / name), cv2.bitwise_not(cv2.imread(str(PROJECT_ROOT / "digits" / name))))
    result = run_cli("--source", str(folder), "--headless", "--jsonl", str(tmp_path / "f.jsonl"))
    assert result.returncode == 0, result.stderr
    still = json.loads(run_cli("--still", "--json", "--no-sheet", str(folder)).stdout)["images"]
    shown = [r["numbers"] for r in read_jsonl(tmp_path / "f.jsonl")]
    assert shown == [image["numbers"] for image in still] and shown[0] == ["31", "415"]


@pytest.mark.parametrize("args", [["--fps", "inf"], ["--fps", "0"], ["--fps", "nan"], ["--fps", "-3"]],
                         ids=["inf", "zero", "nan", "negative"])
def test_a_frame_rate_must_be_finite_and_positive(clip_video, tmp_path, args):
    result = run_cli("--source", str(clip_video), "--headless", "--record", str(tmp_path / "r.avi"), *args,
                     timeout=30)
    assert result.returncode == 2 and "--fps" in result.stderr
    assert_no_traceback(result)
    assert not (tmp_path / "r.avi").exists()


@pytest.mark.parametrize("args, named", [(["--still", "--record", "x.avi"], "--record"),
                                         (["--still", "--source", "3", "--loop"], "--source, --loop"),
                                         (["--headless", "--json"], "--json"),
                                         (["--headless", "--sheet", "s.png", "--show"], "--show, --sheet"),
                                         (["--headless", "--save", "out"], "--save")])
def test_an_option_of_the_other_mode_is_an_error_not_ignored(args, named):
    result = run_cli(*args)
    assert result.returncode == 2
    assert_no_traceback(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr


def test_an_output_that_is_a_folder_is_refused_before_any_frame(clip_video, tmp_path):
    folder = tmp_path / "taken.avi"
    folder.mkdir()
    jsonl = tmp_path / "frames.jsonl"
    result = run_cli("--source", str(clip_video), "--headless", "--record", str(folder), "--jsonl", str(jsonl))
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "taken.avi" in result.stderr and "frame 0" not in result.stderr
    assert list(tmp_path.iterdir()) == [folder] and not list(folder.iterdir())


def test_one_output_failing_to_save_does_not_lose_the_other(clip_video, tmp_path, monkeypatch):
    from recognizer import outputs

    def broken_close(self):
        raise OSError(f"could not save {self.path} (disk full)")

    monkeypatch.setattr(outputs.VideoRecorder, "close", broken_close)
    jsonl = tmp_path / "frames.jsonl"
    options = LiveOptions(show=False, record=tmp_path / "video.avi", jsonl=jsonl, max_frames=4)
    with open_source(str(clip_video)) as source, pytest.raises(OSError, match="disk full"):
        LiveLoop(Recognizer.load(), DigitTracker(), options).run(source)
    assert [r["frame"] for r in read_jsonl(jsonl)] == [0, 1, 2, 3]


def test_a_log_failing_mid_run_and_a_recording_failing_to_close_are_both_reported(clip_video, tmp_path,
                                                                                 monkeypatch, caplog):
    from recognizer import outputs

    real_write = outputs.JsonlWriter.write

    def write_then_fail(self, record):
        if self.lines == 2:
            raise OSError(f"cannot write {self.path} (No space left on device)")
        real_write(self, record)

    def broken_close(self):
        raise OSError(f"cannot save recording {self.path}: the video file is incomplete")

    monkeypatch.setattr(outputs.JsonlWriter, "write", write_then_fail)
    monkeypatch.setattr(outputs.VideoRecorder, "close", broken_close)
    options = LiveOptions(show=False, record=tmp_path / "video.avi", jsonl=tmp_path / "frames.jsonl", max_frames=6)
    with open_source(str(clip_video)) as source, pytest.raises(OSError) as raised:
        LiveLoop(Recognizer.load(), DigitTracker(), options).run(source)
    reported = str(raised.value) + " ".join(record.getMessage() for record in caplog.records
                                            if record.levelname == "ERROR")
    assert "frames.jsonl (No space left" in reported and "video.avi: the video file is incomplete" in reported


def test_missing_camera_is_one_line_and_exit_2():
    result = run_cli("--source", "7", "--headless")
    assert result.returncode == 2
    assert_no_traceback(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "camera 7" in lines[0] and "--source" in lines[0], result.stderr


@pytest.mark.parametrize("content", [b"", b"this is not a video at all" * 100], ids=["empty", "text"])
def test_unreadable_video_is_one_line_and_exit_2(tmp_path, content):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(content)
    result = run_cli("--source", str(bad), "--headless")
    assert result.returncode == 2
    assert_no_traceback(result)
    assert len(result.stderr.strip().splitlines()) == 1 and "clip.mp4" in result.stderr


def test_no_display_without_headless_is_a_clear_message(clip_video):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = run_cli("--source", str(clip_video), env=env)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "--headless" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_display_that_does_not_answer_is_a_clear_message_and_no_file_is_begun(clip_video, tmp_path):
    # DISPLAY left over from a closed ssh -X session: OpenCV's Qt would abort the process.
    env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
    env["DISPLAY"] = ":4711"
    result = run_cli("--source", str(clip_video), "--jsonl", str(tmp_path / "f.jsonl"), env=env)
    assert result.returncode == 2
    assert_no_traceback(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DISPLAY=:4711 does not answer" in lines[0] and "--headless" in lines[0], result.stderr
    assert not list(tmp_path.iterdir())


def test_record_and_jsonl_naming_one_file_is_refused(clip_video, tmp_path):
    result = run_cli("--source", str(clip_video), "--headless", "--record", str(tmp_path / "out.avi"),
                     "--jsonl", str(tmp_path / "out.avi"))
    assert result.returncode == 2
    assert_no_traceback(result)
    assert len(result.stderr.strip().splitlines()) == 1 and "same file" in result.stderr
    assert not list(tmp_path.iterdir())


def test_a_wrong_source_is_reported_before_the_model_or_torch_is_loaded(tmp_path):
    # torch and the model take seconds to load; a mistyped --source must not wait for them.
    result = run_cli("--source", str(tmp_path / "missing.mp4"), "--headless", "--model", str(tmp_path / "none.pt"))
    assert result.returncode == 2
    assert_no_traceback(result)
    assert len(result.stderr.strip().splitlines()) == 1 and "missing.mp4" in result.stderr
    timed = subprocess.run([sys.executable, "-X", "importtime", str(CLI), "--source", str(tmp_path / "missing.mp4"),
                            "--headless", "--record", str(tmp_path / "out.mp4")], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, timeout=120)
    imported = {line.split("|")[-1].strip() for line in timed.stderr.splitlines() if line.startswith("import time:")}
    assert timed.returncode == 2 and "cv2" in imported and "torch" not in imported


def test_ctrl_c_keeps_recording_and_log_valid(clip_video, tmp_path):
    jsonl, video = tmp_path / "frames.jsonl", tmp_path / "annotated.avi"
    process = subprocess.Popen([sys.executable, str(CLI), "--source", str(clip_video), "--loop", "--headless",
                                "--jsonl", str(jsonl), "--record", str(video)],
                               cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = tmp_path / f".{jsonl.name}.partial"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not partial.exists() or partial.stat().st_size < 2000):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    records = read_jsonl(jsonl)                       # complete JSON on every line
    assert len(records) > 0
    capture = cv2.VideoCapture(str(video))
    assert capture.read()[0], "the recording must be playable"
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_ctrl_c_stops_the_loop_after_its_frame_and_a_second_one_at_once(clip_video, tmp_path):
    # The first Ctrl-C only sets a flag, so it cannot be lost inside a finaliser (where a
    # KeyboardInterrupt is printed and ignored, and a looping video would run on).
    before = signal.getsignal(signal.SIGINT)
    jsonl = tmp_path / "frames.jsonl"
    loop = LiveLoop(Recognizer.load(), DigitTracker(), LiveOptions(show=False, jsonl=jsonl))
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    with open_source(str(clip_video), loop=True) as source:
        timer.start()
        try:
            assert loop.run(source) == 130
        finally:
            timer.cancel()
    assert signal.getsignal(signal.SIGINT) is before
    assert 0 < loop.processed == len(read_jsonl(jsonl))
    with InterruptRequest() as interrupt:
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupt.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def test_memory_does_not_grow_over_5000_frames(clip, tmp_path):
    small = tuple(cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA) for frame in clip.frames[:30])
    video = write_video(tmp_path / "small.avi", small)
    use_pipeline_threads()   # as the app does
    loop = LiveLoop(Recognizer.load(), DigitTracker(), LiveOptions(show=False))
    with open_source(str(video), loop=True) as source:
        for count in range(5000):
            live = loop.process(source.read())
            loop.render(live, fps=30.0)
            if count == 500:
                baseline = rss_mb()
    growth = rss_mb() - baseline
    assert len(loop.tracker) < 20
    assert growth < 15, f"resident memory grew by {growth:.1f} MB over 4,500 frames"


def test_threshold_keys_while_paused_reread_the_frame_on_screen(clip_video, tmp_path):
    loop = LiveLoop(Recognizer.load(), DigitTracker(), LiveOptions(show=False, snapshots=tmp_path))
    with open_source(str(clip_video)) as source:
        for _ in range(SETTLE_FRAMES):
            live = loop.process(source.read())
    assert live.shown.numbers and UNCERTAIN_MARK not in "".join(live.shown.numbers)
    canvas = loop.render(live, fps=30.0)
    loop.handle_key(ord(" "), live, canvas)
    assert loop.view.paused
    for _ in range(round((MAX_THRESHOLD - loop.recognizer.confidence_threshold) / THRESHOLD_STEP) + 1):
        loop.handle_key(ord("+"), live, canvas)   # above every confidence: every digit becomes "?"
    changed = loop.render(live, fps=30.0)
    assert not np.array_equal(changed, canvas)
    folder = loop.snapshot(live, changed)
    numbers = json.loads((folder / "predictions.json").read_text())["numbers"]
    assert numbers == [UNCERTAIN_MARK * len(number) for number in live.shown.numbers]


def test_a_snapshot_saves_no_black_input_for_a_digit_held_through_a_missed_detection(tmp_path):
    loop = LiveLoop(Recognizer.load(), DigitTracker(), LiveOptions(show=False, snapshots=tmp_path))
    page = cv2.imread(str(PROJECT_ROOT / "digits" / "digit17.png"))
    for index in range(2):
        loop.process(Frame(page, index, index / CLIP_FPS, 0.0))
    held = loop.process(Frame(np.full_like(page, 255), 2, 2 / CLIP_FPS, 0.0))   # the page is gone
    assert held.shown.numbers == ("31", "415")                  # still shown for a frame or two
    folder = loop.snapshot(held, loop.render(held, fps=30.0))
    digits = json.loads((folder / "predictions.json").read_text())["digits"]
    assert len(digits) == 5 and not any(digit["detected"] for digit in digits)
    assert not list(folder.glob("input_*.png"))


# -- a person at the keyboard: a real OpenCV window under Xvfb, keys sent with xdotool ------------
@pytest.fixture(scope="module")
def virtual_display():
    xvfb, xdotool = shutil.which("Xvfb"), shutil.which("xdotool")
    assert xvfb and xdotool, "the GUI tests need Xvfb and xdotool (apt-get install xvfb xdotool; make test does)"
    display = f":{90 + os.getpid() % 100}"
    server = subprocess.Popen([xvfb, display, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    assert server.poll() is None, "Xvfb did not start"
    yield display
    server.terminate()
    server.wait(timeout=10)


def xdotool(display: str, *args: str) -> str:
    return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True,
                          text=True, timeout=WINDOW_WAIT_S, check=True).stdout.strip()


def test_keys_pressed_in_a_real_window_take_a_snapshot_and_quit(virtual_display, clip_video, tmp_path):
    snapshots = tmp_path / "snaps"
    env = {**os.environ, "DISPLAY": virtual_display}
    process = subprocess.Popen([sys.executable, str(CLI), "--source", str(clip_video), "--loop",
                                "--snapshots", str(snapshots)],
                               cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        window = xdotool(virtual_display, "search", "--sync", "--name", "^live-digits").splitlines()[0]
        time.sleep(1.0)   # let the tracker settle so the snapshot has digits
        for key in ("h", "c", "t", "t", "space", "space", "plus", "s"):
            xdotool(virtual_display, "key", "--window", window, key)
            time.sleep(0.3)
        deadline = time.monotonic() + WINDOW_WAIT_S
        while time.monotonic() < deadline and not (snapshots.exists() and any(snapshots.iterdir())):
            time.sleep(0.1)
        xdotool(virtual_display, "key", "--window", window, "q")
        stdout, stderr = process.communicate(timeout=WINDOW_WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "confidence threshold 0.65" in stderr
    folders = list(snapshots.iterdir())
    assert len(folders) == 1 and not folders[0].name.startswith(".")
    assert f"snapshot saved to {folders[0]}" in stdout
    predictions = json.loads((folders[0] / "predictions.json").read_text())
    assert predictions["digits"], "the snapshot should hold the digits in view"
    for digit in predictions["digits"]:
        assert set(digit) == {"label", "confidence", "box", "track", "detected"}
    inputs = sorted(folders[0].glob("input_*.png"))
    assert len(inputs) == sum(digit["detected"] for digit in predictions["digits"]) > 0
    assert cv2.imread(str(inputs[0]), cv2.IMREAD_GRAYSCALE).shape == (28, 28)
    raw = cv2.imread(str(folders[0] / "frame.png"))
    annotated = cv2.imread(str(folders[0] / "annotated.png"))
    assert raw.shape == (480, 640, 3)
    assert annotated.shape[0] > raw.shape[0], "the input strip (key c) should be part of the annotated frame"


@pytest.mark.parametrize("args, expected", [
    (["--still", "--source", "0"], "--source applies to live mode only"),
    (["--json", "--record", "x.mp4"], "--json applies to --still only"),
    (["rtsp://admin:s3cret@cam.local/x"], "image paths are for --still; for live mode use --source rtsp://***@cam.local/x"),
], ids=["live-option-in-still-mode", "still-option-in-live-mode", "url-without-source"])
def test_options_of_the_other_mode_are_one_line_without_secrets(args, expected):
    result = run_cli(*args)
    assert result.returncode == 2
    assert_no_traceback(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(expected) and "s3cret" not in result.stderr, result.stderr


def frames_in(video: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            return frames
        frames.append(image)


def test_timed_frames_are_recorded_in_real_time(tmp_path):
    from recognizer.outputs import VideoRecorder

    recorder = VideoRecorder(tmp_path / "timed.avi", fps=20)
    shades = iter(range(0, 250, 40))
    for captured_at in (10.0, 10.1, 10.15, 10.16, 10.5):  # seconds, as a live source stamps them
        recorder.write(np.full((48, 64, 3), next(shades), np.uint8), captured_at)
    recorder.restart_clock()  # a pause: the next frame follows directly
    recorder.write(np.full((48, 64, 3), next(shades), np.uint8), 99.0)
    recorder.close()
    # 10.1 s is slot 2 (one frame skipped, so this one twice), 10.16 s is still slot 3 (left
    # out), 10.5 s is slot 10 (six slots to fill), and the frame after the pause comes next.
    shown = [int(round(image.mean() / 40)) for image in frames_in(recorder.path)]
    assert shown == [0, 1, 1, 2, 4, 4, 4, 4, 4, 4, 4, 5]
    assert recorder.frames == len(shown)


def test_a_live_recording_plays_in_real_time_whatever_rate_the_source_states(clip, tmp_path):
    from recognizer.capture import SimulatedCamera

    true_fps, stated_fps, frames = 15, 45, 12  # a stream that claims three times its rate
    jsonl, video = tmp_path / "frames.jsonl", tmp_path / "live.avi"
    options = LiveOptions(show=False, record=video, jsonl=jsonl, max_frames=frames)
    with SimulatedCamera(clip.frames, fps=true_fps, stated_fps=stated_fps) as camera:
        assert LiveLoop(Recognizer.load(), DigitTracker(), options).run(camera) == 0
    times = [record["time"] for record in read_jsonl(jsonl)]
    assert len(times) == frames
    recorded = len(frames_in(video))
    # The video's length at the stated rate is the time the frames took to come in; recorded
    # one frame per processed frame, it would play three times too fast.
    assert abs(recorded - (round((times[-1] - times[0]) * stated_fps) + 1)) <= 1
    assert recorded > 2 * frames


@pytest.mark.parametrize("flag", ["--record", "--jsonl"])
def test_an_output_that_would_replace_the_source_is_refused(clip_video, tmp_path, flag):
    video = tmp_path / "clip.avi"
    video.write_bytes(clip_video.read_bytes())
    images = tmp_path / "pages"
    images.mkdir()
    cv2.imwrite(str(images / "page.png"), np.full((120, 160, 3), 255, np.uint8))
    for source, output in ((video, video), (images, images / "page.png")):
        before = output.read_bytes()
        result = run_cli("--source", str(source), "--headless", flag, str(output))
        assert result.returncode == 2, result.stderr
        assert_no_traceback(result)
        # (A recording named like an image is refused by its extension even before that.)
        assert len(result.stderr.strip().splitlines()) == 1 and output.name in result.stderr, result.stderr
        assert output.read_bytes() == before
