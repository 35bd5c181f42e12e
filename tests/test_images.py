"""Reading every kind of image file, and expanding paths into image files.

Most tests call ``recognizer.images`` directly (fast); one runs the real CLI on the
formats that need conversion, to prove they reach the recognizer as readable paper.
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from recognizer.images import ImageReadError, list_images, natural_sort_key, read_image, write_image
from drawn import WHITE, digits_on_paper

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CLI = PROJECT_ROOT / "live_digits.py"
CLI_TIMEOUT_S = 120
# A file name may be any bytes on Linux; macOS and Windows only take valid Unicode names.
NOT_UTF8_NAMES_POSSIBLE = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                             reason="file names that are not UTF-8 need Linux")


def transparent_rgba(gray_digits: np.ndarray) -> np.ndarray:
    """BGRA with black ink opaque and the paper fully transparent (colour black underneath).

    The hidden colour under transparent pixels is black on purpose: a reader that drops the
    alpha channel instead of compositing onto white sees an all-black image.
    """
    alpha = WHITE - gray_digits
    return np.dstack([np.zeros_like(gray_digits)] * 3 + [alpha])


# -- read_image: formats ------------------------------------------------------------------

def test_gray_png_becomes_bgr(tmp_path: Path) -> None:
    gray = digits_on_paper("7")
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    image = read_image(tmp_path / "gray.png")
    assert image.dtype == np.uint8 and image.shape == (*gray.shape, 3)
    np.testing.assert_array_equal(image[:, :, 1], gray)


def test_rgba_transparency_is_white_paper(tmp_path: Path) -> None:
    gray = digits_on_paper("4")
    cv2.imwrite(str(tmp_path / "rgba.png"), transparent_rgba(gray))
    image = read_image(tmp_path / "rgba.png")
    assert image.shape == (*gray.shape, 3)
    np.testing.assert_allclose(image[:, :, 0], gray, atol=1)  # ink stays ink, the rest is white


def test_white_strokes_on_a_transparent_canvas_go_onto_black(tmp_path: Path) -> None:
    # A drawing app's export: white strokes, the rest transparent. On white paper they would
    # vanish; on black they stay, and still mode reads them as light ink.
    gray = digits_on_paper("4")
    bgra = np.dstack([np.full_like(gray, WHITE)] * 3 + [WHITE - gray])
    cv2.imwrite(str(tmp_path / "white.png"), bgra)
    np.testing.assert_allclose(read_image(tmp_path / "white.png")[:, :, 0], WHITE - gray, atol=1)
    completed = subprocess.run([sys.executable, str(CLI), "--still", "--no-sheet", "--json", "white.png"],
                               cwd=tmp_path, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert json.loads(completed.stdout)["images"][0]["numbers"] == ["4"], completed.stderr


def test_gray_with_alpha_is_composited(tmp_path: Path) -> None:
    gray = digits_on_paper("2")
    Image.fromarray(np.dstack([np.zeros_like(gray), WHITE - gray]), "LA").save(tmp_path / "la.png")
    np.testing.assert_allclose(read_image(tmp_path / "la.png")[:, :, 2], gray, atol=1)


def test_16_bit_png_is_scaled_to_8_bit(tmp_path: Path) -> None:
    gray = digits_on_paper("9")
    cv2.imwrite(str(tmp_path / "deep.png"), gray.astype(np.uint16) * 257)
    image = read_image(tmp_path / "deep.png")
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image[:, :, 0], gray)


def test_16_bit_color_png(tmp_path: Path) -> None:
    bgr = cv2.cvtColor(digits_on_paper("5"), cv2.COLOR_GRAY2BGR)
    cv2.imwrite(str(tmp_path / "deep_color.png"), bgr.astype(np.uint16) * 257)
    np.testing.assert_array_equal(read_image(tmp_path / "deep_color.png"), bgr)


@pytest.mark.parametrize("transparency", [None, 0])
def test_palette_png(tmp_path: Path, transparency: int | None) -> None:
    gray = digits_on_paper("3")
    palette = Image.fromarray(gray).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    options = {} if transparency is None else {"transparency": transparency}
    palette.save(tmp_path / "palette.png", **options)
    image = read_image(tmp_path / "palette.png")
    assert image.shape == (*gray.shape, 3) and image.dtype == np.uint8
    assert image.min() < 64 and image.max() == WHITE  # ink and paper both survive


@pytest.mark.parametrize("extension", [".jpg", ".bmp", ".tif", ".webp"])
def test_other_formats(tmp_path: Path, extension: str) -> None:
    bgr = cv2.cvtColor(digits_on_paper("8"), cv2.COLOR_GRAY2BGR)
    cv2.imwrite(str(tmp_path / f"digit{extension}"), bgr)
    image = read_image(tmp_path / f"digit{extension}")
    assert image.shape == bgr.shape and image.dtype == np.uint8


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Phones store photos sideways plus an EXIF "rotate 90" tag; the paper must come upright.
    wide = np.full((40, 100, 3), WHITE, np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 clockwise to display
    Image.fromarray(wide).save(tmp_path / "rotated.jpg", exif=exif.tobytes())
    assert read_image(tmp_path / "rotated.jpg").shape == (100, 40, 3)


def test_non_ascii_path(tmp_path: Path) -> None:
    path = tmp_path / "zahl_ü_数字.png"
    cv2.imencode(".png", digits_on_paper("1"))[1].tofile(str(path))
    assert read_image(str(path)).shape[2] == 3


# -- read_image: failures -------------------------------------------------------------------

def _write_bad_files(folder: Path) -> dict[str, str]:
    """Create one file per failure kind; returns file name -> expected words in the reason."""
    ok, png = cv2.imencode(".png", digits_on_paper("6"))
    (folder / "empty.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes(png.tobytes()[: len(png) // 2])
    (folder / "notes.png").write_text("this is a text file, not a picture\n")
    return {"empty.png": "empty", "truncated.png": "truncated", "notes.png": "not an image",
            "missing.png": "no such file"}


def test_bad_files_raise_one_line_image_read_error(tmp_path: Path) -> None:
    for name, expected in _write_bad_files(tmp_path).items():
        with pytest.raises(ImageReadError) as raised:
            read_image(tmp_path / name)
        error = raised.value
        assert isinstance(error, ValueError)
        assert expected in error.reason, (name, error.reason)
        assert "\n" not in str(error) and str(tmp_path / name) in str(error)


def test_folder_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="no image files"):
        read_image(tmp_path)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    cv2.imwrite(str(path), digits_on_paper("1"))
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(ImageReadError, match="permission denied"):
            read_image(path)
        return
    # Root reads any file: drop the effective user id for the read (the real id stays root,
    # so it can be restored).
    nobody = 65534
    os.seteuid(nobody)
    try:
        with pytest.raises(ImageReadError, match="permission denied"):
            read_image(path)
    finally:
        os.seteuid(0)


# -- list_images ---------------------------------------------------------------------------

def test_natural_sort_key() -> None:
    names = ["digit10.png", "Digit2.png", "digit1.png", "digit2b.png", "a.png"]
    assert sorted(names, key=natural_sort_key) == ["a.png", "digit1.png", "Digit2.png", "digit2b.png",
                                                    "digit10.png"]


def test_list_images_expands_folders_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ["digit10.png", "digit2.PNG", "digit1.jpg", "readme.txt", ".digit0.png"]:
        (folder / name).write_bytes(b"x")
    (folder / "nested.png").mkdir()  # a folder with an image-like name is not an image
    given = str(folder)
    assert list_images([given]) == [os.path.join(given, name)
                                    for name in ["digit1.jpg", "digit2.PNG", "digit10.png"]]


def test_list_images_keeps_files_and_missing_paths_as_given(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    paths = [str(tmp_path / "notes.txt"), "no/such/file.png", str(tmp_path / "notes.txt")]
    assert list_images(paths) == paths


def test_list_images_keeps_a_folder_without_images(tmp_path: Path) -> None:
    assert list_images([str(tmp_path)]) == [str(tmp_path)]


# -- write_image ------------------------------------------------------------------------------

FULL_DEVICE = Path("/dev/full")  # Linux: every write fails with ENOSPC, a full disk on demand


def test_write_image_writes_the_format_its_extension_names(tmp_path: Path) -> None:
    image = cv2.cvtColor(digits_on_paper("5"), cv2.COLOR_GRAY2BGR)
    write_image(tmp_path / "five.png", image)
    write_image(tmp_path / "five.JPG", image)
    assert (tmp_path / "five.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    np.testing.assert_array_equal(read_image(tmp_path / "five.png"), image)  # PNG: lossless
    assert (tmp_path / "five.JPG").read_bytes().startswith(b"\xff\xd8\xff")


@NOT_UTF8_NAMES_POSSIBLE
def test_write_image_to_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    # cv2.imwrite crashed (segmentation fault) on such a name, leaving an empty file; run
    # apart, so that a crash fails this test only.
    script = """
        import os, sys
        import numpy as np
        from recognizer.images import read_image, write_image
        path = os.fsdecode(os.fsencode(sys.argv[1]) + b"/caf\\xe9.png")
        write_image(path, np.full((20, 30, 3), 200, np.uint8))
        print(read_image(path).shape)
    """
    completed = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(tmp_path)], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "(20, 30, 3)"
    assert os.listdir(os.fsencode(tmp_path)) == [b"caf\xe9.png"]


@pytest.mark.skipif(not FULL_DEVICE.exists(), reason="needs Linux's /dev/full")
def test_write_image_failure_names_the_file_and_the_reason(tmp_path: Path) -> None:
    # Before: libpng's own "Write Error" line on stderr, then "could not write FILE" with no reason.
    target = tmp_path / "full.png"
    target.symlink_to(FULL_DEVICE)
    with pytest.raises(OSError) as raised:
        write_image(target, np.zeros((64, 64, 3), np.uint8))
    assert str(raised.value) == f"cannot write {target} ({os.strerror(errno.ENOSPC)})"
    assert raised.value.errno == errno.ENOSPC


def test_write_image_with_an_extension_of_no_image_format(tmp_path: Path) -> None:
    for name, shown in (("notes.txt", "the extension '.txt'"), ("picture", "a name without an extension")):
        with pytest.raises(OSError) as raised:
            write_image(tmp_path / name, np.zeros((8, 8, 3), np.uint8))
        assert str(raised.value) == f"cannot write {tmp_path / name} (no image format for {shown})"
    assert not list(tmp_path.iterdir())


# -- end to end: converted formats reach the recognizer ----------------------------------

def test_cli_reads_gray_rgba_and_16_bit_pngs(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    gray = digits_on_paper("7")
    cv2.imwrite(str(folder / "gray.png"), gray)
    cv2.imwrite(str(folder / "rgba.png"), transparent_rgba(gray))
    cv2.imwrite(str(folder / "deep.png"), gray.astype(np.uint16) * 257)
    completed = subprocess.run([sys.executable, str(CLI), "--still", "--json", "--no-sheet", "images"],
                               cwd=tmp_path, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    images = json.loads(completed.stdout)["images"]
    assert [entry["file"] for entry in images] == [os.path.join("images", name)
                                                  for name in ("deep.png", "gray.png", "rgba.png")]
    height, width = gray.shape
    for entry in images:
        assert entry["error"] is None
        assert (entry["width"], entry["height"]) == (width, height)
    # Same pixels after conversion, so the same reading: proves alpha became white paper
    # and 16 bits were scaled, not clipped (either would change what the model sees).
    readings = [(entry["numbers"], [digit["box"] for digit in entry["digits"]]) for entry in images]
    assert readings[0] == readings[1] == readings[2]
    assert images[1]["numbers"] == ["7"]
