"""Reading image files robustly, expanding command-line paths into image files, writing images.

Every image comes back as 8-bit BGR, whatever was on disk (gray, RGB, RGBA, palette,
16-bit), so the recognizer and the drawing code only ever see one format. Every way a
file can fail to be an image becomes one ``ImageReadError`` with a one-line reason.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from recognizer.atomic import WriteError
from recognizer.errors import one_line

log = logging.getLogger(__name__)

GLOB_CHARACTERS = frozenset("*?[")

# Extensions that list_images picks up inside a folder (lower case). Files given by name
# are always kept, whatever their extension, so that a mistake shows up as an error.
IMAGE_EXTENSIONS = frozenset({
    ".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".gif",
    ".pbm", ".pgm", ".ppm", ".pnm",
})
# Refuse to load absurdly large files into memory: no photo of paper comes near this.
MAX_FILE_BYTES = 1 << 30
MAX_8BIT = 255
MAX_16BIT = 65535
ALPHA_CHANNEL = 3
OPAQUE_ALPHA = 128        # pixels at least this opaque are what was drawn
STROKES_MAX_SHARE = 0.5   # strokes on a transparent canvas cover at most this share of it (a photo, more)
LIGHT_STROKE_TONE = 160   # strokes lighter than this on average are light: the paper under them goes black

# Leading bytes of the formats we expect, only to word the error for a file that fails to
# decode: "truncated or corrupt PNG" is more useful than "not an image" for a real PNG.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"BM", "BMP"),
    (b"GIF8", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
_WEBP_RIFF, _WEBP_TAG, _WEBP_TAG_OFFSET = b"RIFF", b"WEBP", 8
_NATURAL_SORT_CHUNKS = re.compile(r"(\d+)")


class ImageReadError(ValueError):
    """A path that could not be read as an image; ``reason`` is one line without the path."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read any PNG/JPEG/BMP/... file as an H x W x 3 uint8 BGR array.

    Transparent pixels become white paper, 16-bit images are scaled to 8 bits, gray and
    palette images are expanded to BGR, and JPEG EXIF orientation is honoured.
    """
    data = _read_bytes(path)
    image_format = _detect_format(data)
    # JPEG is the format phone photos arrive in, so its EXIF rotation matters, and it has
    # no alpha. IMREAD_UNCHANGED (needed to keep alpha and 16 bits for the other formats)
    # ignores EXIF rotation, so JPEG is decoded with flags that apply it.
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if image_format == "JPEG" else cv2.IMREAD_UNCHANGED
    try:
        # imdecode of the bytes rather than imread: imread cannot open non-ASCII paths on
        # Windows, and reading the bytes ourselves gives precise OS error messages.
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as error:
        raise ImageReadError(path, f"cannot decode image ({one_line(error) or 'unknown error'})") from None
    if image is None or image.size == 0:
        if image_format is None:
            raise ImageReadError(path, "not an image file (unrecognised content)")
        raise ImageReadError(path, f"truncated or corrupt {image_format} file")
    return _to_bgr8(path, image)


def list_images(paths: Iterable[str]) -> list[str]:
    """Expand folders into the image files inside them; keep every other path as given.

    Folder members are naturally sorted (digit2 before digit10) and returned as
    ``os.path.join(folder_as_given, name)``. Files, non-image names and missing paths are
    kept unchanged so that each produces a result or an error entry instead of vanishing.
    A folder without image files is kept too, so it is reported rather than skipped.
    """
    expanded: list[str] = []
    for given in paths:
        if not os.path.isdir(given):
            expanded.append(given)
            continue
        members = _image_files_in(given)
        if not members:
            expanded.append(given)  # reported once, as that entry's error
            continue
        expanded.extend(os.path.join(given, name) for name in members)
    return expanded


def natural_sort_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders embedded numbers by value: digit2 < digit10."""
    # Each chunk is tagged so that numbers and text never get compared with each other.
    return tuple((0, int(chunk)) if chunk.isdigit() else (1, chunk.casefold())
                 for chunk in _NATURAL_SORT_CHUNKS.split(name))


def is_image_name(path: str) -> bool:
    """Whether ``path`` is named like an image file this project reads (not a hidden file)."""
    # Hidden files are skipped: macOS leaves "._name.png" resource forks beside copied
    # images, and they are not images.
    name = os.path.basename(path)
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def is_glob_pattern(path: str) -> bool:
    """Whether ``path`` is a glob pattern to expand: no such file or folder, and a wildcard in it."""
    return not os.path.exists(path) and bool(GLOB_CHARACTERS & set(path))


def natural_order(names: Iterable[str]) -> list[str]:
    """``names`` sorted by ``natural_sort_key`` (ties, such as a.PNG and a.png, by the name itself)."""
    return sorted(names, key=lambda name: (natural_sort_key(name), name))


def _image_files_in(folder: str) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries if is_image_name(entry.name) and entry.is_file()]
    except OSError as error:
        log.warning("cannot list folder %s: %s", folder, error.strerror or error)
        return []
    return natural_order(names)


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            # list_images keeps image-less folders so that they are reported, not dropped.
            reason = ("is a folder, not an image file" if _image_files_in(os.fspath(path))
                      else "folder contains no image files")
            raise ImageReadError(path, reason)
        # A FIFO or device would block or never end; only regular files are images.
        if not stat.S_ISREG(info.st_mode):
            raise ImageReadError(path, "not a regular file")
        if info.st_size == 0:
            raise ImageReadError(path, "empty file (0 bytes)")
        if info.st_size > MAX_FILE_BYTES:
            raise ImageReadError(path, f"file too large ({info.st_size} bytes, limit {MAX_FILE_BYTES})")
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ImageReadError(path, "no such file or folder") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except OSError as error:
        raise ImageReadError(path, f"cannot read file ({error.strerror or error})") from None
    if not data:  # the file shrank between stat and read
        raise ImageReadError(path, "empty file (0 bytes)")
    return data


def _detect_format(data: bytes) -> str | None:
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    if data.startswith(_WEBP_RIFF) and data[_WEBP_TAG_OFFSET:_WEBP_TAG_OFFSET + len(_WEBP_TAG)] == _WEBP_TAG:
        return "WebP"
    return None


def _to_bgr8(path: str | os.PathLike[str], image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels not in (1, 3, 4):
        raise ImageReadError(path, f"unsupported image with {channels} channels")
    image = _to_8bit(image)
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return _composite_on_paper(image)
    return image


def _to_8bit(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return cv2.convertScaleAbs(image, alpha=MAX_8BIT / MAX_16BIT)
    # Float or signed images (TIFF, EXR) have no fixed white level: stretch what is there.
    return cv2.normalize(image, None, 0, MAX_8BIT, cv2.NORM_MINMAX, cv2.CV_8U)


def _composite_on_paper(bgra: np.ndarray) -> np.ndarray:
    """Blend a BGRA image onto paper: a transparent background is blank paper, not ink.

    The paper is white, unless strokes on a transparent canvas are light (white strokes
    would vanish on white): then it is black, and the strokes stay visible.
    """
    bgr = np.ascontiguousarray(bgra[:, :, :ALPHA_CHANNEL])
    opaque = cv2.compare(bgra[:, :, ALPHA_CHANNEL], OPAQUE_ALPHA, cv2.CMP_GE)
    drawn = cv2.countNonZero(opaque)
    light_strokes = 0 < drawn <= STROKES_MAX_SHARE * opaque.size and \
        cv2.mean(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), opaque)[0] > LIGHT_STROKE_TONE
    alpha = bgra[:, :, ALPHA_CHANNEL].astype(np.float32) / MAX_8BIT
    paper = np.full_like(bgr, 0 if light_strokes else MAX_8BIT)
    return cv2.blendLinear(bgr, paper, alpha, 1.0 - alpha)


def write_image(path: str | os.PathLike[str], image: np.ndarray, params: Iterable[int] = ()) -> None:
    """Write ``image`` to ``path`` in the format its extension names (``params``: cv2.IMWRITE_*).

    Encoded in memory with cv2.imencode and written by Python, not by cv2.imwrite: OpenCV
    crashes on a path that is not valid UTF-8 (a Linux file name may be any bytes), and
    its failed writes give no reason, only libpng's own line on stderr. Not atomic: a
    caller replacing a user's file writes through ``atomic.atomic_path``, which renames the
    result into place and reports any failure against the real name. A failure raises
    WriteError (an OSError, one line naming ``path`` and the reason) and leaves no file.
    """
    extension = os.path.splitext(os.fspath(path))[1]
    # haveImageWriter takes a file name; it only ever sees an ASCII one, for the reason above.
    if not (extension.isascii() and cv2.haveImageWriter(f"image{extension}")):
        shown = f"the extension {extension!r}" if extension else "a name without an extension"
        raise WriteError(path, f"no image format for {shown}")
    try:
        encoded, data = cv2.imencode(extension, image, list(params))
    except cv2.error as error:
        raise WriteError(path, f"cannot encode the image ({one_line(error)})") from None
    if not encoded:
        raise WriteError(path, f"cannot encode the image as {extension}")
    try:
        with open(path, "wb") as handle:
            handle.write(data.tobytes())
    except OSError as error:
        # The file holds part of an image, or nothing: no use to anyone.
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise WriteError.from_error(path, error) from None


def path_is_utf8(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is valid UTF-8, which OpenCV's video reader and writer need.

    A Linux file name may be any bytes; Python shows those that are not UTF-8 as lone
    surrogates, and cv2.VideoCapture and cv2.VideoWriter crash the process (segmentation
    fault) on such a string. Check with this before handing them a path.
    """
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeError:
        return False
    return True


@contextlib.contextmanager
def opencv_quiet() -> Iterator[None]:
    """Silence OpenCV's own log while opening devices and files: failures are ours to report.

    (FFmpeg's messages, e.g. "moov atom not found", bypass this; the environment variable
    OPENCV_FFMPEG_LOGLEVEL=-8 set before the first video is opened silences those.)
    """
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)
