"""Still mode end to end: ``live_digits.py --still`` run as a subprocess, as a user would.

Tests about reading digits use the real model in models/mlp.pt. Tests about the output
format and error handling use a small random-weight checkpoint, so they check the program
and not the training run.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognizer.checkpoint import DEFAULT_MODEL_PATH, save_checkpoint
from recognizer.draw import draw_recognition
from recognizer.model import DigitMLP
from recognizer.recognize import DEFAULT_CONFIDENCE_THRESHOLD, Digit, Recognition, StageTimes, recognition_to_json
from drawn import WHITE, digits_on_paper

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CLI = PROJECT_ROOT / "live_digits.py"
CLI_TIMEOUT_S = 120
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HANDWRITTEN_DIGIT_HEIGHT_PX = 60
HANDWRITTEN_GAP_PX = 14
HANDWRITTEN_MARGIN_PX = 40
IMAGE_KEYS = {"file", "width", "height", "digits", "numbers", "error"}
DIGIT_KEYS = {"label", "confidence", "box"}
COLOUR_SPREAD = 60   # channel spread (of 255) that no gray paper or JPEG noise reaches


def run_cli(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CLI), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S)


def assert_clean_stderr(completed: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in completed.stderr, completed.stderr


@pytest.fixture(scope="module")
def random_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "random.pt"
    save_checkpoint(path, DigitMLP(hidden=(16,)), {"purpose": "schema and error tests only"})
    return path


@pytest.fixture(scope="module")
def real_model() -> Path:
    # Not a skip: the accuracy tests must run wherever the suite runs, and a missing
    # model is a failure to ship, not a reason to pass quietly.
    assert DEFAULT_MODEL_PATH.is_file(), f"{DEFAULT_MODEL_PATH} missing: train it with python train.py"
    return DEFAULT_MODEL_PATH


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory: pytest.TempPathFactory, random_model: Path
              ) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One --json run over good and bad files, a folder and single files (run once, many checks)."""
    work = tmp_path_factory.mktemp("mixed")
    folder = work / "scans"
    folder.mkdir()
    for name in ("digit10.png", "digit2.png", "digit1.png"):
        cv2.imwrite(str(folder / name), digits_on_paper(name[len("digit"):-len(".png")]))
    (folder / "readme.txt").write_text("not picked up from a folder: not an image extension")
    bad = work / "bad"
    bad.mkdir()
    ok, png = cv2.imencode(".png", digits_on_paper("5"))
    (bad / "empty.png").write_bytes(b"")
    (bad / "truncated.png").write_bytes(png.tobytes()[: len(png) // 2])
    (bad / "notes.png").write_text("a text file with an image name\n")
    cv2.imwrite(str(work / "single.png"), digits_on_paper("4"))
    args = ["scans", "bad/empty.png", "single.png", "bad/truncated.png", "bad/notes.png", "bad/missing.png"]
    completed = run_cli("--still", "--json", "--no-sheet", "--model", str(random_model), *args, cwd=work)
    return completed, work


# -- JSON output ------------------------------------------------------------------------------

def test_json_is_one_object_with_the_exact_schema(mixed_run, random_model: Path) -> None:
    completed, _ = mixed_run
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)  # fails if anything but one JSON document is on stdout
    assert set(report) == {"model", "images"}
    assert report["model"] == str(random_model)
    for entry in report["images"]:
        assert set(entry) == IMAGE_KEYS
        assert isinstance(entry["file"], str)
        assert type(entry["width"]) is int and type(entry["height"]) is int
        assert isinstance(entry["numbers"], list) and all(isinstance(n, str) for n in entry["numbers"])
        assert entry["error"] is None or isinstance(entry["error"], str)
        for digit in entry["digits"]:
            assert set(digit) == DIGIT_KEYS
            assert type(digit["label"]) is int and 0 <= digit["label"] <= 9
            assert type(digit["confidence"]) is float and 0.0 <= digit["confidence"] <= 1.0
            assert len(digit["box"]) == 4 and all(type(v) is int for v in digit["box"])
        if entry["error"] is None:
            assert entry["width"] > 0 and entry["height"] > 0
        else:
            assert (entry["width"], entry["height"], entry["digits"], entry["numbers"]) == (0, 0, [], [])


def test_folder_members_in_natural_order_and_named_as_given(mixed_run) -> None:
    completed, _ = mixed_run
    files = [entry["file"] for entry in json.loads(completed.stdout)["images"]]
    assert files == [os.path.join("scans", "digit1.png"), os.path.join("scans", "digit2.png"),
                     os.path.join("scans", "digit10.png"), "bad/empty.png", "single.png",
                     "bad/truncated.png", "bad/notes.png", "bad/missing.png"]


def test_bad_files_give_error_entries_and_the_run_goes_on(mixed_run) -> None:
    completed, _ = mixed_run
    entries = {entry["file"]: entry for entry in json.loads(completed.stdout)["images"]}
    expected_reasons = {"bad/empty.png": "empty", "bad/truncated.png": "truncated",
                        "bad/notes.png": "not an image", "bad/missing.png": "no such file"}
    for file, words in expected_reasons.items():
        assert words in entries[file]["error"], entries[file]
    assert entries["single.png"]["error"] is None  # read after a bad file
    assert_clean_stderr(completed)
    for file in expected_reasons:
        assert file in completed.stderr  # each failure is also logged


def test_all_bad_files_exit_2_with_one_line_each(tmp_path: Path, random_model: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("text")
    completed = run_cli("--still", "--no-sheet", "--model", str(random_model),
                        "empty.png", "notes.png", "missing.png", cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stdout.splitlines() == ["empty.png: error: empty file (0 bytes)",
                                             "notes.png: error: not an image file (unrecognised content)",
                                             "missing.png: error: no such file or folder"]
    assert_clean_stderr(completed)


# -- human output and contact sheet ---------------------------------------------------------------

def test_human_lines_and_contact_sheet(tmp_path: Path, random_model: Path) -> None:
    cv2.imwrite(str(tmp_path / "three.png"), digits_on_paper("3"))
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((120, 160), WHITE, np.uint8))
    (tmp_path / "broken.png").write_bytes(b"")
    sheet = tmp_path / "out" / "sheet.png"
    completed = run_cli("--still", "--model", str(random_model), "--sheet", str(sheet),
                        "three.png", "blank.png", "broken.png", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 3
    assert re.fullmatch(r"three\.png +\S.* +\((min )?[01]\.\d\d(, mean [01]\.\d\d)?\)", lines[0]), lines[0]
    assert lines[1].split(None, 1) == ["blank.png", "(no digits found)"]
    assert lines[2] == "broken.png: error: empty file (0 bytes)"
    assert_clean_stderr(completed)
    data = sheet.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and min(picture.shape[:2]) > 100
    assert not [p for p in sheet.parent.iterdir() if p != sheet]  # no temporary files left behind


def _colourful(image: np.ndarray) -> np.ndarray:
    """Pixels whose channels differ: the paper of these test images is gray, boxes and labels are not."""
    return image.max(axis=2).astype(int) - image.min(axis=2) > COLOUR_SPREAD


def test_save_writes_each_annotated_image_under_its_own_name(tmp_path: Path, random_model: Path) -> None:
    (tmp_path / "b").mkdir()
    cv2.imwrite(str(tmp_path / "three.png"), digits_on_paper("3"))
    cv2.imwrite(str(tmp_path / "b" / "three.jpg"), digits_on_paper("71"))
    blank = np.full((120, 160), WHITE, np.uint8)
    cv2.imwrite(str(tmp_path / "blank.png"), blank)
    (tmp_path / "broken.png").write_bytes(b"")
    completed = run_cli("--still", "--no-sheet", "--model", str(random_model), "--save", "out",
                        "three.png", "b/three.jpg", "blank.png", "broken.png", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert_clean_stderr(completed)
    out = tmp_path / "out"
    # One file per image read (none for the broken one), the second "three" numbered, and
    # no temporary file left behind.
    assert sorted(path.name for path in out.iterdir()) == ["blank.png", "three.png", "three_2.png"]
    for saved_name, source in (("three.png", "three.png"), ("three_2.png", "b/three.jpg")):
        saved = cv2.imread(str(out / saved_name), cv2.IMREAD_COLOR)
        original = cv2.imread(str(tmp_path / source), cv2.IMREAD_COLOR)
        assert saved.shape == original.shape                 # full size, not a thumbnail
        assert not _colourful(original).any() and _colourful(saved).any()  # boxes and labels drawn
    # Nothing found, nothing drawn: the image itself.
    assert np.array_equal(cv2.imread(str(out / "blank.png"), cv2.IMREAD_GRAYSCALE), blank)


def test_save_into_the_inputs_own_folder_never_replaces_an_input(tmp_path: Path, random_model: Path) -> None:
    cv2.imwrite(str(tmp_path / "three.png"), digits_on_paper("3"))
    original = (tmp_path / "three.png").read_bytes()
    for _ in range(2):  # a second run refreshes its own output, still beside the input
        completed = run_cli("--still", "--no-sheet", "--model", str(random_model), "--save", ".", "three.png",
                            cwd=tmp_path)
        assert completed.returncode == 0, completed.stderr
        assert (tmp_path / "three.png").read_bytes() == original
        assert sorted(path.name for path in tmp_path.iterdir()) == ["three.png", "three_2.png"]


def test_save_to_a_file_is_one_line_exit_2(tmp_path: Path, random_model: Path) -> None:
    cv2.imwrite(str(tmp_path / "three.png"), digits_on_paper("3"))
    (tmp_path / "taken").write_text("a file where the folder should go\n")
    completed = run_cli("--still", "--no-sheet", "--model", str(random_model), "--save", "taken", "three.png",
                        cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "taken" in lines[0] and "is a file" in lines[0], completed.stderr


def test_show_without_display_warns_and_does_not_crash(tmp_path: Path, random_model: Path) -> None:
    cv2.imwrite(str(tmp_path / "one.png"), digits_on_paper("1"))
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    completed = subprocess.run([sys.executable, str(CLI), "--still", "--show", "--no-sheet",
                                "--model", str(random_model), "one.png"],
                               cwd=tmp_path, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, env=env)
    assert completed.returncode == 0, completed.stderr
    assert "warning:" in completed.stderr and "display" in completed.stderr
    assert_clean_stderr(completed)


# -- reading with the real model -----------------------------------------------------------------

def handwritten_number(text: str, mnist: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Real handwriting: MNIST test digits cropped to their ink and written side by side,
    black on white, like a number on paper (gray uint8)."""
    images, labels = mnist
    pieces = []
    for character in text:
        sample = images[np.flatnonzero(labels == int(character))[0]]  # first of its label: fixed
        x, y, w, h = cv2.boundingRect(sample)
        ink = sample[y:y + h, x:x + w]
        scale = HANDWRITTEN_DIGIT_HEIGHT_PX / h
        ink = cv2.resize(ink, (max(1, round(w * scale)), HANDWRITTEN_DIGIT_HEIGHT_PX),
                         interpolation=cv2.INTER_CUBIC)
        pieces.append(np.pad(ink, ((0, 0), (0, HANDWRITTEN_GAP_PX))))
    row = WHITE - np.hstack(pieces)
    return np.pad(row, HANDWRITTEN_MARGIN_PX, constant_values=WHITE)


def test_reads_numbers_in_reading_order(tmp_path: Path, real_model: Path,
                                        mnist_test: tuple[np.ndarray, np.ndarray]) -> None:
    cv2.imwrite(str(tmp_path / "handwritten.png"), handwritten_number("123", mnist_test))
    cv2.imwrite(str(tmp_path / "font.png"), digits_on_paper("1234567890"))
    completed = run_cli("--still", "--json", "--no-sheet", "handwritten.png", "font.png", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["model"] == str(real_model)
    handwritten, font = report["images"]
    assert handwritten["numbers"] == ["123"]
    assert [digit["label"] for digit in handwritten["digits"]] == [1, 2, 3]
    assert all(digit["confidence"] >= DEFAULT_CONFIDENCE_THRESHOLD for digit in handwritten["digits"])
    # Font glyphs are not handwriting (a serifed 1, a hooked 6), so only the reading order is
    # asserted for them: ten boxes, left to right.
    boxes_x = [digit["box"][0] for digit in font["digits"]]
    assert len(boxes_x) == 10 and boxes_x == sorted(boxes_x)


def test_light_digits_on_a_dark_ground_are_read_by_default(tmp_path: Path, real_model: Path,
                                                          mnist_test: tuple[np.ndarray, np.ndarray]) -> None:
    # A white-on-black picture (a paint program's black canvas) and MNIST's own 28x28 images,
    # whose digits may touch the image's edge, as well as ink on paper in the same run.
    images, labels = mnist_test
    cv2.imwrite(str(tmp_path / "board.png"), cv2.bitwise_not(handwritten_number("123", mnist_test)))
    cv2.imwrite(str(tmp_path / "paper.png"), handwritten_number("45", mnist_test))
    first_mnist = 5
    for index in range(first_mnist):
        cv2.imwrite(str(tmp_path / f"mnist{index}.png"), images[index])
    names = ["board.png", "paper.png"] + [f"mnist{index}.png" for index in range(first_mnist)]
    completed = run_cli("--still", "--json", "--no-sheet", *names, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    read = [image["numbers"] for image in json.loads(completed.stdout)["images"]]
    assert read == [["123"], ["45"]] + [[str(label)] for label in labels[:first_mnist]]
    # --ink dark reads the board as dark ink on light paper: nothing there.
    forced = run_cli("--still", "--json", "--no-sheet", "--ink", "dark", "board.png", "paper.png", cwd=tmp_path)
    assert [image["numbers"] for image in json.loads(forced.stdout)["images"]] == [[], ["45"]]


# -- model and mode errors ------------------------------------------------------------------------

@pytest.mark.parametrize("model_content", [None, b"not a checkpoint at all"])
def test_missing_or_corrupt_model_is_one_line_exit_2(tmp_path: Path, model_content: bytes | None) -> None:
    model = tmp_path / "model.pt"
    if model_content is not None:
        model.write_bytes(model_content)
    cv2.imwrite(str(tmp_path / "one.png"), digits_on_paper("1"))
    completed = run_cli("--still", "--no-sheet", "--model", str(model), "one.png", cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(model) in lines[0], completed.stderr


def test_image_paths_without_still_is_one_line_exit_2() -> None:
    completed = run_cli(str(PROJECT_ROOT / "digits" / "digit1.png"), "--headless")
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "--still" in lines[0] and "--source" in lines[0]


def test_help_and_bad_arguments() -> None:
    help_run = run_cli("--help")
    assert help_run.returncode == 0 and "--still" in help_run.stdout and "--json" in help_run.stdout
    bad_conf = run_cli("--still", "--conf", "1.5")
    assert bad_conf.returncode == 2 and "--conf" in bad_conf.stderr
    assert_clean_stderr(bad_conf)


def test_the_contact_sheet_format_follows_its_extension(tmp_path: Path, random_model: Path) -> None:
    sheet = tmp_path / "sheet.jpg"
    completed = run_cli("--still", "--model", str(random_model), "--sheet", str(sheet),
                        str(PROJECT_ROOT / "digits" / "digit1.png"))
    assert completed.returncode == 0, completed.stderr
    assert sheet.read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG, not PNG data under a .jpg name
    unknown = run_cli("--still", "--model", str(random_model), "--sheet", str(tmp_path / "sheet.xyz"),
                      str(PROJECT_ROOT / "digits" / "digit1.png"))
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert "sheet.xyz" in unknown.stderr and not (tmp_path / "sheet.xyz").exists()


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
def test_a_contact_sheet_that_cannot_be_written_stops_the_run_before_reading(random_model: Path) -> None:
    # Found before the first image, not after a long folder: /proc takes no new files.
    completed = run_cli("--still", "--model", str(random_model), "--sheet", "/proc/sheet.png",
                        str(PROJECT_ROOT / "digits" / "digit1.png"))
    assert completed.returncode == 2 and completed.stdout == ""
    assert_clean_stderr(completed)
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot create a file in /proc" in lines[0], completed.stderr


def test_cli_default_confidence_matches_the_recognizer() -> None:
    import live_digits  # the CLI keeps its own copy so that --help need not import torch
    assert live_digits.DEFAULT_CONFIDENCE == DEFAULT_CONFIDENCE_THRESHOLD


def test_cli_ink_choices_match_the_segmenter() -> None:
    import live_digits
    from recognizer.segment import INK_CHOICES
    assert set(live_digits.INK_CHOICES) == set(INK_CHOICES)


# -- building blocks (in process) ------------------------------------------------------------------

def _fake_recognition() -> Recognition:
    digits = (Digit(1, 0.99, (10, 20, 15, 30)), Digit(7, 0.30, (30, 20, 15, 30)))
    return Recognition(digits=digits, numbers=("1?",), groups=((0, 1),),
                       inputs=np.zeros((2, 28, 28), np.uint8), probabilities=np.full((2, 10), 0.1),
                       times=StageTimes(0.0, 0.0, 0.0))


def test_recognition_to_json_is_plain_python() -> None:
    converted = recognition_to_json(_fake_recognition())
    assert json.loads(json.dumps(converted)) == {
        "digits": [{"label": 1, "confidence": 0.99, "box": [10, 20, 15, 30]},
                   {"label": 7, "confidence": 0.30, "box": [30, 20, 15, 30]}],
        "numbers": ["1?"]}


def test_draw_recognition_returns_an_annotated_copy() -> None:
    image = np.full((80, 120), WHITE, np.uint8)
    drawn = draw_recognition(image, _fake_recognition(), lambda d: str(d.label) if d.confidence > 0.5 else "?")
    assert drawn.shape == (80, 120, 3) and drawn.dtype == np.uint8
    assert (image == WHITE).all()            # the input is untouched
    assert (drawn != WHITE).any(axis=2).sum() > 100  # boxes and labels were drawn


def test_save_into_a_folder_given_as_input_is_refused(tmp_path: Path, random_model: Path) -> None:
    # Annotated copies saved beside a folder's images would be read as inputs by the next
    # run over that folder, and saved again under new names: the folder would keep growing.
    cv2.imwrite(str(tmp_path / "three.png"), digits_on_paper("3"))
    completed = run_cli("--still", "--no-sheet", "--model", str(random_model), "--save", ".", ".", cwd=tmp_path)
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "--save" in lines[0] and "input" in lines[0], completed.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["three.png"]


def test_a_sheet_that_would_replace_an_input_is_refused(tmp_path: Path, random_model: Path) -> None:
    cv2.imwrite(str(tmp_path / "three.png"), digits_on_paper("3"))
    original = (tmp_path / "three.png").read_bytes()
    completed = run_cli("--still", "--model", str(random_model), "--sheet", "three.png", "three.png", cwd=tmp_path)
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "--sheet" in lines[0], completed.stderr
    assert (tmp_path / "three.png").read_bytes() == original


def test_results_printed_to_a_full_disk_are_one_line_exit_1(tmp_path: Path, random_model: Path) -> None:
    cv2.imwrite(str(tmp_path / "three.png"), digits_on_paper("3"))
    with open("/dev/full", "w") as full:
        completed = subprocess.run([sys.executable, str(CLI), "--still", "--no-sheet", "--model", str(random_model),
                                    "three.png"], cwd=tmp_path, stdout=full, stderr=subprocess.PIPE, text=True,
                                   timeout=CLI_TIMEOUT_S)
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left" in lines[0], completed.stderr


def test_ctrl_c_reports_the_images_read_so_far(tmp_path: Path, random_model: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    count = 100
    # Big pages, so that reading all of them takes seconds and the interrupt lands half-way.
    cv2.imwrite(str(folder / "a0.png"), cv2.resize(digits_on_paper("3"), (2000, 1500)))
    for index in range(1, count):
        (folder / f"a{index}.png").write_bytes((folder / "a0.png").read_bytes())
    # -v logs a line per image recognised (stderr); once the second is logged, the first
    # result is certainly kept.
    process = subprocess.Popen([sys.executable, str(CLI), "--still", "-v", "--json", "--model", str(random_model),
                                "--sheet", str(tmp_path / "sheet.png"), str(folder)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:
        if "a1.png:" in line:
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=CLI_TIMEOUT_S)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    images = json.loads(stdout)["images"]
    assert 1 <= len(images) < count
    assert [image["file"] for image in images] == [str(folder / f"a{index}.png") for index in range(len(images))]
    assert (tmp_path / "sheet.png").read_bytes().startswith(PNG_SIGNATURE)


def test_a_quoted_glob_pattern_is_expanded_in_natural_order(tmp_path: Path, random_model: Path) -> None:
    # Windows' shell passes patterns through unexpanded, as does a quoted pattern anywhere.
    for name in ("a1.png", "a10.png", "a2.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), digits_on_paper("3"))
    completed = run_cli("--still", "--json", "--no-sheet", "--model", str(random_model), "a*.png", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert [image["file"] for image in json.loads(completed.stdout)["images"]] == ["a1.png", "a2.png", "a10.png"]
    nothing = run_cli("--still", "--no-sheet", "--model", str(random_model), "z*.png", cwd=tmp_path)
    assert nothing.returncode == 2 and "z*.png" in nothing.stdout + nothing.stderr


def test_a_file_name_that_is_not_utf8_still_gives_strict_json(tmp_path: Path, random_model: Path) -> None:
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: legal on Linux, not UTF-8
    cv2.imencode(".png", digits_on_paper("3"))[1].tofile(str(tmp_path / name))
    completed = subprocess.run([sys.executable, str(CLI), "--still", "--json", "--no-sheet", "--model",
                                str(random_model), "."], cwd=tmp_path, capture_output=True, timeout=CLI_TIMEOUT_S)
    assert completed.returncode == 0, completed.stderr
    text = completed.stdout.decode("utf-8")  # strict: no surrogates, nothing undecodable
    assert "\\udc" not in text
    [image] = json.loads(text)["images"]
    assert image["file"] == os.path.join(".", "caf\ufffd.png") and image["error"] is None
