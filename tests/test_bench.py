"""The benchmark's correctness (no timing assertions: the machine is shared and noisy)."""
from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest
import torch

from recognizer import bench
from recognizer.arguments import EXIT_FAILURE, EXIT_OK
from recognizer.bench import Setting
from recognizer.recognize import Recognizer, use_pipeline_threads
from recognizer.scenes import NO_INK, DigitPool

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class CountingModel(torch.nn.Module):
    """Wraps a model and counts forward calls."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0
        self.batch_sizes: list[int] = []

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.batch_sizes.append(len(pixels))
        return self.inner(pixels)


@pytest.fixture(scope="module")
def pool(mnist_test) -> DigitPool:
    return DigitPool(*mnist_test)


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    use_pipeline_threads()
    return Recognizer.load()


@pytest.fixture(scope="module")
def ten_digit_frame(pool):
    return bench.make_frames(pool, Setting(640, 480, 10), 1, seed=3)[0]


def test_quick_benchmark_writes_markdown_png_and_json(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger=bench.log.name)
    out = tmp_path / "bench"
    code = bench.main(["--quick", "--sizes", "320x240", "--digits", "1", "3", "--frames", "30",
                       "--camera-fps", "30", "--camera-seconds", "0.3", "--out", str(out)])
    assert code == EXIT_OK
    assert sorted(p.name for p in out.iterdir()) == ["bench.json", "bench.md", "bench.png"]  # no temp files left
    assert (out / "bench.png").read_bytes()[:8] == PNG_SIGNATURE

    report = json.loads((out / "bench.json").read_text())
    machine = report["machine"]
    for key in ("cpu_model", "cores", "opencv", "torch", "numpy", "torch_threads", "load_average_start"):
        assert key in machine
    assert machine["torch_threads"] == 1          # use_pipeline_threads() ran first, as in the app
    assert machine["opencv_threads"] == 1
    config = report["config"]
    assert [s["setting"]["digits"] for s in report["settings"]] == [1, 3]
    for result in report["settings"]:
        expected = config["frames_per_setting"] * config["repeats"]
        assert result["samples"] == expected
        for stage in ("segment", "crops", "inference", "draw", "total", "cpu", "track", "crops+inference"):
            summary = result["ours"][stage]
            assert summary["n"] == expected
            assert 0 <= summary["median"] <= summary["p95"] <= summary["max"]
        assert result["floor"]["n"] == result["naive"]["n"] == result["naive_demo"]["n"] == expected
        assert set(result["ratios"]) == {"ours_over_floor", "naive_over_ours_classify", "naive_demo_over_ours"}
        assert result["ratios"]["ours_over_floor"] > 0
        assert result["peak_rss_mb"] > 0 and result["alloc_peak_mb"] > 0
        assert result["truth_digits"] == result["setting"]["digits"]
    stability = report["stability"]
    assert stability["frames"] == 30 and stability["samples"][-1][0] == 30
    assert 0 < stability["stage_log_entries"] <= 5 * 30   # LiveLoop.stages: at most 5 floats per frame
    assert [c["fps"] for c in report["camera"]] == [30.0]
    camera = report["camera"][0]
    assert camera["displayed"] >= 1 and camera["age"]["n"] == camera["displayed"]
    assert camera["interval_ms"] == pytest.approx(1000 / 30)

    markdown = (out / "bench.md").read_text()
    assert "| 320x240, 1 digit |" in markdown and "| 320x240, 3 digits |" in markdown
    assert "Load average" in markdown and machine["cpu_model"] in markdown
    assert "Frame age" in markdown and "Memory over a long run" in markdown
    assert capsys.readouterr().out == markdown   # stdout is the report and nothing else
    assert "ours/floor" in caplog.text            # the ratios' one-line summary goes to the log


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_json_report_is_strict_json_and_a_bad_out_keeps_the_printed_report(tmp_path, capsys):
    args = ["--quick", "--sizes", "320x240", "--digits", "1", "--frames", "0", "--camera-seconds", "0",
            "--no-alloc"]
    assert bench.main(args + ["--out", str(tmp_path / "ok")]) == EXIT_OK
    report = _strict_json((tmp_path / "ok" / "bench.json").read_text())   # --no-alloc: no NaN
    assert report["settings"][0]["alloc_peak_mb"] is None
    capsys.readouterr()
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "bench.json").mkdir()                       # the report file cannot be written
    assert bench.main(args + ["--out", str(blocked)]) == EXIT_FAILURE
    assert capsys.readouterr().out.startswith("# live-digits benchmark")   # the measurements are still shown
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert bench.main(args + ["--out", str(a_file)]) == EXIT_FAILURE


def test_floor_pass_finds_external_contours_only():
    image = np.full((240, 320, 3), 235, np.uint8)
    for x in (40, 140, 240):
        cv2.rectangle(image, (x, 80), (x + 30, 150), (20, 20, 20), 4)   # hollow: the hole is not external
    contours = bench.floor_pass(image)
    assert isinstance(contours, tuple) and len(contours) == 3
    for contour in contours:
        assert contour.dtype == np.int32 and contour.ndim == 3 and contour.shape[1:] == (1, 2)
    assert len(bench.floor_pass(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))) == 3  # gray input too
    assert bench.floor_pass(np.full((64, 64, 3), 235, np.uint8)) == ()


def test_naive_loop_calls_the_model_once_per_crop_and_ours_once_per_frame(recognizer, ten_digit_frame):
    counting = CountingModel(recognizer.model)
    ours = Recognizer(counting, recognizer.meta)
    recognition = ours.recognize(ten_digit_frame.image)
    assert counting.calls == 1 and counting.batch_sizes == [len(recognition.digits)]
    assert len(recognition.digits) >= 8

    counting.calls, counting.batch_sizes = 0, []
    boxes = [digit.box for digit in recognition.digits]
    gray = cv2.cvtColor(ten_digit_frame.image, cv2.COLOR_BGR2GRAY)
    results = bench.naive_loop(gray, boxes, counting)
    assert counting.calls == len(boxes) and counting.batch_sizes == [1] * len(boxes)
    assert len(results) == len(boxes)
    assert all(0 <= label <= 9 and 0.0 <= confidence <= 1.0 for label, confidence in results)

    counting.calls = 0
    assert bench.naive_loop(gray, [], counting) == [] and counting.calls == 0
    crop = bench.naive_crop_input(gray, boxes[0])
    assert crop.shape == (28, 28) and crop.dtype == np.uint8

    counting.calls = 0
    sample, timed, canvas = bench.ours_pass(ours, ten_digit_frame.image)
    assert counting.calls == 1
    assert sample.found == len(timed.digits) and canvas.shape == ten_digit_frame.image.shape
    assert sample.total >= sample.draw >= 0


@pytest.mark.parametrize("digits", [1, 10, 30])
def test_frames_hold_exactly_the_digits_asked_for(pool, digits):
    setting = Setting(640, 480, digits)
    frames = bench.make_frames(pool, setting, 2, seed=1)
    assert len(frames) == 2 and not np.array_equal(frames[0].image, frames[1].image)
    for scene in frames:
        assert scene.image.shape == (480, 640, 3)
        assert len(scene.labels) == len(scene.boxes) == digits
        assert sum(len(number) for number in scene.numbers) == digits
        for x, y, w, h in scene.boxes:     # every digit lies wholly inside the frame
            assert x > 0 and y > 0 and x + w < 640 and y + h < 480
        owners = set(np.unique(scene.ink_owner).tolist()) - {NO_INK}
        assert owners == set(range(digits))  # every digit has ink of its own in the frame


def test_frames_are_reproducible_from_the_seed(pool):
    first = bench.make_frames(pool, Setting(320, 240, 3), 1, seed=5)[0]
    again = bench.make_frames(pool, Setting(320, 240, 3), 1, seed=5)[0]
    assert np.array_equal(first.image, again.image) and first.labels == again.labels


def test_digit_lines_split_counts_into_short_lines():
    rng = np.random.default_rng(0)
    for count in (1, 8, 9, 10, 30):
        lines = bench.digit_lines(rng, count)
        per_line = [sum(len(number) for number in line) for line in lines]
        assert sum(per_line) == count and max(per_line) <= bench.MAX_DIGITS_PER_LINE
        assert all(1 <= len(number) <= 4 and number.isdigit() for line in lines for number in line)
    with pytest.raises(ValueError):
        bench.digit_lines(rng, 0)


def test_arguments_quick_defaults_and_errors(capsys):
    quick = bench._parse_args(["--quick"])
    assert (quick.frames_per_setting, quick.repeats, quick.frames) == (
        bench.QUICK_FRAMES_PER_SETTING, bench.QUICK_REPEATS, bench.QUICK_STABILITY_FRAMES)
    full = bench._parse_args([])
    assert full.frames == 10_000 and full.sizes == [(640, 480), (1280, 720)] and full.digits == [1, 10, 30]
    assert bench._parse_args(["--quick", "--frames", "5"]).frames == 5   # explicit beats --quick
    for bad in (["--sizes", "640"], ["--digits", "0"], ["--repeats", "0"], ["--camera-fps", "0"]):
        with pytest.raises(SystemExit):
            bench._parse_args(bad)
    assert "--quick" in _help_text(capsys)


def test_summary_statistics():
    summary = bench.summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert summary["median"] == 3.0 and summary["n"] == 5 and summary["max"] == 100.0
    assert 4.0 < summary["p95"] < 100.0
    assert bench.summarize([])["n"] == 0


def _help_text(capsys) -> str:
    with pytest.raises(SystemExit):
        bench._parse_args(["--help"])
    return capsys.readouterr().out
