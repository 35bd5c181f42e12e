"""What gets saved, and what happens when it cannot be: the recording, the JSONL frame log,
snapshots, annotated images and the contact sheet.

A full disk is made real and deterministic with a file size limit (RLIMIT_FSIZE) on a
subprocess: every write past the limit fails, as on a full disk, only with EFBIG ("File too
large") instead of ENOSPC. The subprocess ignores SIGXFSZ, which would otherwise kill it.
"""
from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognizer.outputs import RECORD_FOURCC, VideoRecorder, checked_recording_target
from recognizer.sheet import SheetEntry, drawable, save_contact_sheet
from drawn import digits_on_paper

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CLI = PROJECT_ROOT / "live_digits.py"
TIMEOUT_S = 120
TOO_LARGE = os.strerror(errno.EFBIG)  # what a write past RLIMIT_FSIZE fails with
OLD_CONTENT = b"an earlier recording"
FRAME_SIZE = (160, 120)              # width, height of the unit tests' video frames
FRAMES = 30
SMALL_LIMIT_BYTES = 4096             # smaller than any finished video or image written here
NOT_UTF8_NAME = b"r\xe9c"            # Latin-1 "rec": a valid Linux file name, not UTF-8
# A file name may be any bytes on Linux; macOS and Windows only take valid Unicode names.
NOT_UTF8_NAMES_POSSIBLE = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                             reason="file names that are not UTF-8 need Linux")


def run_apart(arguments: list[str], cwd: Path, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``arguments`` in a subprocess (a crash fails one test, not the run); with
    ``limit_bytes``, no file may grow past it: a full disk."""
    def limit_file_size() -> None:
        if limit_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, hard))

    environment = {**os.environ,
                   "PYTHONDONTWRITEBYTECODE": "1",  # no module cache written, past the limit
                   "PYTHONIOENCODING": "utf-8:backslashreplace",  # file names that are not UTF-8 printed
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(arguments, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S,
                          preexec_fn=limit_file_size, env=environment)


def run_on_a_full_disk(arguments: list[str], limit_bytes: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_apart(arguments, cwd, limit_bytes)


def python_on_a_full_disk(script: str, limit_bytes: int, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_apart([sys.executable, "-c", textwrap.dedent(script), *args], cwd, limit_bytes)


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A BGR image that does not compress: its file is as large as its pixels."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def frame_count(video: Path) -> int:
    capture = cv2.VideoCapture(str(video))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


# -- the recording -------------------------------------------------------------------------

RECORD_ON_A_FULL_DISK = """
    import sys
    import numpy as np
    from recognizer.outputs import VideoRecorder
    recorder = VideoRecorder(sys.argv[1], fps=10)
    rng = np.random.default_rng(0)
    for _ in range(int(sys.argv[2])):
        recorder.write(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    try:
        recorder.close()
    except OSError as error:
        print(error)
    print("saved" if recorder.saved else "not saved")
"""


@pytest.mark.parametrize("extension", [".mp4", ".avi", ".mkv"])
def test_a_recording_cut_short_by_a_full_disk_is_refused_and_the_earlier_file_kept(tmp_path, extension):
    # VideoWriter reports no error: without the check the cut file (an MP4 without its index,
    # an AVI without its frames) was saved and reported as a recording.
    target = tmp_path / f"annotated{extension}"
    target.write_bytes(OLD_CONTENT)
    result = python_on_a_full_disk(RECORD_ON_A_FULL_DISK, SMALL_LIMIT_BYTES, tmp_path, str(target), str(FRAMES))
    assert result.returncode == 0, result.stderr
    message, outcome = result.stdout.splitlines()
    # Why it is incomplete depends on where the writes stopped: no index to open it by, or
    # fewer frames than were written.
    assert message.startswith(f"cannot save recording {target}: the video file is incomplete (")
    assert message.endswith("; disk full?)") and outcome == "not saved", result.stdout
    assert target.read_bytes() == OLD_CONTENT
    assert [path.name for path in tmp_path.iterdir()] == [target.name]  # no temporary file left


@pytest.mark.parametrize("extension", list(RECORD_FOURCC))
def test_a_complete_recording_passes_the_check_in_every_format(tmp_path, extension):
    for count in (1, 7):  # one frame: the first is the last
        recorder = VideoRecorder(tmp_path / f"video_{count}{extension}", fps=12.5)
        for index in range(count):
            recorder.write(noise(FRAME_SIZE[1], FRAME_SIZE[0], seed=index))
        recorder.close()
        assert recorder.saved and frame_count(recorder.path) == count
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"video_1{extension}", f"video_7{extension}"]


@pytest.mark.parametrize(("name", "problem"), [
    ("rec.txt", ".txt is not a video format the recorder writes"),
    ("rec", "no extension to pick the video format from"),
])
def test_a_recording_without_a_video_extension_is_refused_before_any_work(tmp_path, name, problem):
    target = tmp_path / "new" / name
    with pytest.raises(OSError) as raised:
        checked_recording_target(target)
    assert str(raised.value) == (f"cannot record to {target}: {problem} "
                                 f"(use one of {', '.join(RECORD_FOURCC)})")
    assert not (tmp_path / "new").exists()   # refused before anything was made
    with pytest.raises(OSError, match="cannot record to"):
        VideoRecorder(target, fps=10)


def test_the_recording_check_accepts_a_video_name_and_makes_its_folder(tmp_path):
    target = tmp_path / "new" / "Clip.MP4"
    assert checked_recording_target(target) == target
    assert (tmp_path / "new").is_dir() and not list((tmp_path / "new").iterdir())
    taken = tmp_path / "taken.avi"
    taken.mkdir()
    with pytest.raises(OSError, match="is a folder"):
        checked_recording_target(taken)


@NOT_UTF8_NAMES_POSSIBLE
def test_a_recording_whose_name_is_not_utf8_is_refused_not_a_crash(tmp_path):
    # OpenCV's VideoWriter crashed (segmentation fault) on such a name; run apart, so that a
    # crash fails this test only.
    script = """
        import os, sys
        import numpy as np
        from recognizer.outputs import VideoRecorder
        try:
            VideoRecorder(os.fsdecode(os.fsencode(sys.argv[1]) + b"/" + bytes.fromhex(sys.argv[2]) + b".mp4"), fps=10)
        except OSError as error:
            print(error)
    """
    result = run_apart([sys.executable, "-c", textwrap.dedent(script), str(tmp_path), NOT_UTF8_NAME.hex()], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"cannot record to {tmp_path}/r\\udce9c.mp4: its name is not valid UTF-8, "
                                     f"which OpenCV cannot write to; choose another name"), result.stdout
    assert not list(tmp_path.iterdir())


def test_a_full_disk_during_a_live_recording_is_one_line_exit_2(tmp_path):
    source = tmp_path / "clip.avi"
    frame = cv2.cvtColor(digits_on_paper("37"), cv2.COLOR_GRAY2BGR)
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 10, (frame.shape[1], frame.shape[0]))
    for _ in range(5):
        writer.write(frame)
    writer.release()
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "annotated.mp4"
    target.write_bytes(OLD_CONTENT)
    result = run_on_a_full_disk([sys.executable, str(CLI), "--source", str(source), "--headless",
                                 "--record", "out/annotated.mp4"], SMALL_LIMIT_BYTES, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "recording saved" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(
        "error: cannot save recording out/annotated.mp4: the video file is incomplete ("), result.stderr
    assert target.read_bytes() == OLD_CONTENT and [p.name for p in target.parent.iterdir()] == [target.name]


# -- the JSONL frame log -----------------------------------------------------------------------

JSONL_ON_A_FULL_DISK = """
    import sys
    from recognizer.outputs import JsonlWriter
    writer = JsonlWriter(sys.argv[1])
    try:
        for index in range(int(sys.argv[2])):
            writer.write({"frame": index, "numbers": ["2024", "57"], "pad": "x" * 100})
        writer.close()
    except OSError as error:
        print(type(error).__name__, error)
    print("saved" if writer.saved else "not saved")
"""


@pytest.mark.parametrize("records", [1000, 20], ids=["fails-while-writing", "fails-on-close"])
def test_a_jsonl_log_on_a_full_disk_is_one_line_naming_it_and_leaves_no_partial_file(tmp_path, records):
    # 20 records fit Python's write buffer, so the full disk shows only when closing.
    target = tmp_path / "frames.jsonl"
    target.write_bytes(OLD_CONTENT)
    result = python_on_a_full_disk(JSONL_ON_A_FULL_DISK, 1024, tmp_path, str(target), str(records))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"WriteError cannot write {target} ({TOO_LARGE})", "not saved"]
    assert target.read_bytes() == OLD_CONTENT
    assert [path.name for path in tmp_path.iterdir()] == [target.name]   # no .frames.jsonl.partial


def test_a_jsonl_log_that_fits_is_saved_whole(tmp_path):
    target = tmp_path / "frames.jsonl"
    result = python_on_a_full_disk(JSONL_ON_A_FULL_DISK, 1 << 20, tmp_path, str(target), "20")
    assert result.stdout.splitlines() == ["saved"], result.stderr
    assert len(target.read_text().splitlines()) == 20 and [p.name for p in tmp_path.iterdir()] == [target.name]


# -- snapshots and annotated images ----------------------------------------------------------

def test_a_snapshot_on_a_full_disk_names_the_snapshot_and_leaves_nothing(tmp_path):
    script = """
        import sys
        import numpy as np
        from recognizer.outputs import save_snapshot
        from recognizer.recognize import Recognition, StageTimes
        nothing = Recognition((), (), (), np.zeros((0, 28, 28), np.uint8), np.zeros((0, 10), np.float32),
                              StageTimes(0.0, 0.0, 0.0))
        frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
        try:
            save_snapshot(sys.argv[1], frame, frame, nothing, (), {})
        except OSError as error:
            print(error)
    """
    result = python_on_a_full_disk(script, SMALL_LIMIT_BYTES, tmp_path, "snapshots")
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()
    assert message.startswith("cannot write snapshots/") and message.endswith(f" ({TOO_LARGE})"), message
    assert ".partial" not in message and "frame.png" not in message
    assert not list((tmp_path / "snapshots").iterdir())


def test_an_annotated_image_on_a_full_disk_is_one_line_naming_it(tmp_path):
    # Before: a stray "libpng error: Write Error" line, then the hidden temporary file's name
    # and no reason.
    cv2.imwrite(str(tmp_path / "noisy.png"), noise(300, 300))
    result = run_on_a_full_disk([sys.executable, str(CLI), "--still", "--no-sheet", "--save", "out", "noisy.png"],
                                64 * 1024, tmp_path)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("saved ")]
    assert lines == [f"error: noisy.png: cannot save the annotated image: cannot write out/noisy.png ({TOO_LARGE})"]
    assert not list((tmp_path / "out").iterdir())


# -- the contact sheet -----------------------------------------------------------------------

def text_of(digit) -> str:
    return str(digit.label)


def test_a_file_name_that_is_not_utf8_is_drawn_on_the_sheet(tmp_path):
    # matplotlib cannot lay out the lone surrogates Python gives such bytes: a 40-line TypeError.
    name = os.fsdecode(b"scans/caf\xe9.png")
    assert drawable(name) == "scans/caf\ufffd.png"
    sheet = tmp_path / "sheet.png"
    save_contact_sheet([SheetEntry(name, error=f"{name}: truncated or corrupt PNG file")], sheet, text_of,
                       title=f"read {name}")
    assert sheet.read_bytes().startswith(b"\x89PNG") and [p.name for p in tmp_path.iterdir()] == ["sheet.png"]


def test_a_glyph_missing_from_the_font_is_not_warned_about(tmp_path):
    # DejaVu Sans, matplotlib's font, has no CJK characters: they are drawn as boxes, and
    # matplotlib printed a UserWarning per character to the user's terminal.
    sheet = tmp_path / "sheet.pdf"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_contact_sheet([SheetEntry("数字.png", error="no digits")], sheet, text_of)
        warnings.warn("a warning of another kind still gets through", UserWarning)
    assert [str(warning.message) for warning in caught] == ["a warning of another kind still gets through"]
    assert sheet.read_bytes().startswith(b"%PDF")
