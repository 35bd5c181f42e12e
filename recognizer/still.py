"""Still mode: recognise digits in image files, report per image, draw a contact sheet.

Results go to stdout (one line per image, or one JSON object with ``json_output``);
everything else is logged to stderr, so stdout can be piped or parsed. With a save folder,
each image is also written there with its boxes and labels drawn.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from recognizer.arguments import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK
from recognizer.atomic import atomic_path, checked_folder, checked_target
from recognizer.draw import draw_recognition
from recognizer.errors import described
from recognizer.images import (ImageReadError, is_glob_pattern, is_image_name, list_images, natural_order, read_image,
                               write_image)
from recognizer.recognize import Recognition, Recognizer, recognition_to_json
from recognizer.sheet import MAX_ENTRIES as MAX_SHEET_ENTRIES
from recognizer.sheet import SheetEntry, drawable, save_contact_sheet, thumbnail

log = logging.getLogger(__name__)

EXIT_NOTHING_READ = EXIT_FAILURE
EXIT_WRITE_FAILED = 1   # the contact sheet or an annotated image could not be written
MAX_FILE_COLUMN = 40   # human output pads file names to align columns, up to this width
COLUMN_GAP = "  "
JSON_INDENT = 2


@dataclass(frozen=True)
class StillOptions:
    json_output: bool = False
    sheet_path: str | os.PathLike[str] | None = None  # None: no contact sheet file
    show: bool = False                                 # show the contact sheet in a window
    save_dir: str | os.PathLike[str] | None = None     # None: annotated images are not written
    ink: str = "auto"                                  # segment.INK_CHOICES; auto: judged per image


@dataclass(frozen=True, eq=False)
class ImageResult:
    """The outcome for one path: a recognition, or the one-line reason it failed."""
    file: str
    width: int = 0
    height: int = 0
    recognition: Recognition | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def result_to_json(result: ImageResult) -> dict[str, Any]:
    recognized = recognition_to_json(result.recognition) if result.recognition is not None \
        else {"digits": [], "numbers": []}
    # A name's bytes that are not UTF-8 are lone surrogates in Python, which strict JSON
    # parsers reject: they are written as U+FFFD, as the contact sheet draws them.
    return {"file": drawable(result.file), "width": result.width, "height": result.height, **recognized,
            "error": result.error}


def expand_patterns(paths: Sequence[str]) -> list[str]:
    """Glob patterns among ``paths`` replaced by what they match, in natural order.

    Shells expand patterns before the program sees them, but Windows' does not, and a quoted
    pattern reaches the program as it is. A pattern matching nothing is kept, to be reported.
    """
    expanded: list[str] = []
    for path in paths:
        if is_glob_pattern(path):
            expanded.extend(natural_order(glob.glob(os.path.expanduser(path), recursive=True)) or [path])
        else:
            expanded.append(path)
    return expanded


def still_report_json(results: Sequence[ImageResult], recognizer: Recognizer) -> dict[str, Any]:
    return {"model": recognizer.name, "images": [result_to_json(result) for result in results]}


def human_line(result: ImageResult, file_width: int = 0) -> str:
    """``file  numbers  (confidence)``, or ``file: error: reason`` for a failed image."""
    if result.error is not None or result.recognition is None:
        return f"{result.file}: error: {result.error}"
    file_column = result.file.ljust(file_width)
    confidences = [digit.confidence for digit in result.recognition.digits]
    if not confidences:
        return f"{file_column}{COLUMN_GAP}(no digits found)"
    numbers = " ".join(result.recognition.numbers)
    if len(confidences) == 1:
        confidence = f"({confidences[0]:.2f})"
    else:
        confidence = f"(min {min(confidences):.2f}, mean {statistics.fmean(confidences):.2f})"
    return f"{file_column}{COLUMN_GAP}{numbers}{COLUMN_GAP}{confidence}"


class AnnotatedImageWriter:
    """Each annotated image as ``<folder>/<input's stem>.png``, written atomically.

    Names are unique within a run (a second ``three`` becomes ``three_2.png``), and a name
    that would replace one of the run's input files gets a number too: an input is never
    overwritten, even when the folder is theirs. A file of the same name left by an
    earlier run is replaced, as a re-run is expected to refresh its outputs.
    """

    SUFFIX = ".png"  # lossless, whatever the input was: the drawn labels stay sharp

    def __init__(self, folder: str | os.PathLike[str], inputs: Sequence[str]) -> None:
        self.folder = checked_folder(folder)
        self._inputs = {os.path.realpath(path) for path in inputs}
        self._used: set[str] = set()
        self.saved = 0

    def path_for(self, file: str) -> Path:
        stem = Path(file).stem or "image"
        name, count = stem + self.SUFFIX, 1
        while name in self._used or os.path.realpath(self.folder / name) in self._inputs:
            count += 1
            name = f"{stem}_{count}{self.SUFFIX}"
        self._used.add(name)
        return self.folder / name

    def write(self, file: str, annotated: np.ndarray) -> Path:
        path = self.path_for(file)
        with atomic_path(path) as temporary:
            write_image(temporary, annotated)
        self.saved += 1
        return path


def recognize_file(path: str, recognizer: Recognizer, ink: str = "auto") -> tuple[ImageResult, np.ndarray | None]:
    """Read and recognise one file; returns the result and the image (None on failure)."""
    try:
        image = read_image(path)
    except ImageReadError as error:
        return ImageResult(path, error=error.reason), None
    height, width = image.shape[:2]
    try:
        recognition = recognizer.recognize(image, ink)
    except Exception as error:  # noqa: BLE001 - one odd image must not end a run over a folder
        log.debug("recognition of %s failed", path, exc_info=True)
        reason = f"recognition failed ({described(error)})"
        return ImageResult(path, width, height, error=reason), None
    log.debug("%s: %dx%d, %d digits (%s ink); %s", path, width, height, len(recognition.digits),
              "light" if recognition.light_ink else "dark", recognition.times)
    return ImageResult(path, width, height, recognition), image


def _output_clash(paths: Sequence[str], files: Sequence[str], options: StillOptions) -> str | None:
    """Why an output would destroy an input or be read as one by the next run, else None."""
    input_files = {os.path.realpath(file) for file in files}
    input_folders = {os.path.realpath(path) for path in paths if os.path.isdir(path)}
    sheet = options.sheet_path
    if sheet is not None and (os.path.realpath(sheet) in input_files
                              or os.path.realpath(os.path.dirname(os.path.abspath(sheet))) in input_folders
                              and is_image_name(os.fspath(sheet))):
        return f"--sheet {sheet} would replace an input image or be read as one next time; choose another path"
    if options.save_dir is not None and os.path.realpath(options.save_dir) in input_folders:
        return (f"--save {options.save_dir} is a folder of input images: the next run would read the "
                "annotated copies as inputs; choose another folder")
    return None


def run_still(paths: Sequence[str], recognizer: Recognizer, options: StillOptions,
              stdout: TextIO | None = None) -> int:
    """Recognise every image in ``paths`` (folders expanded); returns the exit code.

    0 when at least one image was read and recognised, 2 when none was (or the save folder
    or the contact sheet's folder is unusable, found before any image is read), 1 when the
    contact sheet or an annotated image could not be written. A bad file never stops the run.
    Ctrl-C stops the reading; the images read so far are still reported (exit code 130).
    """
    stdout = stdout if stdout is not None else sys.stdout
    paths = expand_patterns(paths)
    files = list_images(paths)
    clash = _output_clash(paths, files, options)
    if clash:
        log.error("%s", clash)
        return EXIT_NOTHING_READ
    if options.sheet_path is not None:
        try:
            checked_target(options.sheet_path)
        except OSError as error:
            log.error("cannot write the contact sheet: %s", error)
            return EXIT_NOTHING_READ
    try:
        saver = AnnotatedImageWriter(options.save_dir, files) if options.save_dir is not None else None
    except OSError as error:
        log.error("cannot save annotated images: %s", error)
        return EXIT_NOTHING_READ
    want_sheet = options.sheet_path is not None or options.show
    reading = _Reading()
    try:
        _read_images(files, recognizer, options, saver, want_sheet, stdout, reading)
    except KeyboardInterrupt:
        # Ctrl-C ends the reading, not the run: what was read is still reported below.
        log.warning("interrupted after %d of %d images; reporting those", len(reading.results), len(files))
        reading.interrupted = True
    results, sheet_entries, write_failed = reading.results, reading.sheet_entries, reading.write_failed
    if saver is not None:
        log.info("saved %d annotated image%s in %s", saver.saved, "" if saver.saved == 1 else "s", saver.folder)

    if options.json_output:
        json.dump(still_report_json(results, recognizer), stdout, indent=JSON_INDENT, allow_nan=False)
        stdout.write("\n")
        stdout.flush()

    failed = sum(not result.ok for result in results)
    if not files:
        log.error("no images given")
    elif failed:
        log.warning("%d of %d images failed", failed, len(results))

    exit_code = EXIT_OK if failed < len(results) else EXIT_NOTHING_READ
    if write_failed and exit_code == EXIT_OK:
        exit_code = EXIT_WRITE_FAILED
    if want_sheet and sheet_entries:
        if len(results) > len(sheet_entries):
            log.warning("contact sheet shows the first %d of %d images", len(sheet_entries), len(results))
        title = f"{recognizer.name}  (confidence threshold {recognizer.confidence_threshold:.2f})"
        try:
            save_contact_sheet(sheet_entries, options.sheet_path, recognizer.text_of, title, options.show)
        except (OSError, ValueError) as error:
            log.error("cannot write contact sheet %s: %s", options.sheet_path, error)
            if exit_code == EXIT_OK:
                exit_code = EXIT_WRITE_FAILED
    return EXIT_INTERRUPTED if reading.interrupted else exit_code


@dataclass
class _Reading:
    """What ``_read_images`` has done so far (kept when Ctrl-C stops it half-way)."""
    results: list[ImageResult] = field(default_factory=list)
    sheet_entries: list[SheetEntry] = field(default_factory=list)
    write_failed: bool = False
    interrupted: bool = False


def _read_images(files: Sequence[str], recognizer: Recognizer, options: StillOptions,
                 saver: AnnotatedImageWriter | None, want_sheet: bool, stdout: TextIO, reading: _Reading) -> None:
    """Recognise each file in turn: its result line, its annotated copy, its sheet entry."""
    file_width = min(MAX_FILE_COLUMN, max((len(file) for file in files), default=0))
    for file in files:
        result, image = recognize_file(file, recognizer, options.ink)
        reading.results.append(result)
        if options.json_output:
            if result.error is not None:
                log.warning("%s: %s", result.file, result.error)
        else:
            print(human_line(result, file_width), file=stdout, flush=True)
        # Only as many entries as the sheet can show are kept: each holds a thumbnail.
        on_sheet = want_sheet and len(reading.sheet_entries) < MAX_SHEET_ENTRIES
        annotated = None if image is None or not (on_sheet or saver) else \
            draw_recognition(image, result.recognition, recognizer.text_of)
        if saver is not None and annotated is not None:
            try:
                saver.write(file, annotated)
            except OSError as error:
                log.error("%s: cannot save the annotated image: %s", file, error)
                reading.write_failed = True
        if on_sheet:
            reading.sheet_entries.append(SheetEntry(result.file, None if annotated is None else thumbnail(annotated),
                                                    result.recognition, result.error))
