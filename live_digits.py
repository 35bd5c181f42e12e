#!/usr/bin/env python3
"""live-digits: box and read every handwritten digit held up to a webcam, or in image files.

Results go to stdout; log messages go to stderr. Run with --help for usage.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from recognizer.arguments import (EXIT_FAILURE, EXIT_INTERRUPTED, display_problem, positive_float, positive_int,
                                  probability)
from recognizer.errors import one_line

if TYPE_CHECKING:
    from recognizer.recognize import Recognizer

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_STILL_FOLDER = PROJECT_ROOT / "digits"
DEFAULT_SHEET_PATH = Path("out") / "contact_sheet.png"
DEFAULT_SOURCE = "0"
DEFAULT_SNAPSHOTS = Path("snapshots")
DEFAULT_CONFIDENCE = 0.6  # keep equal to recognizer.recognize.DEFAULT_CONFIDENCE_THRESHOLD (test checks)
INK_CHOICES = ("auto", "dark", "light")  # keep equal to recognizer.segment.INK_CHOICES' set (test checks)
EXIT_OUTPUT_CLOSED = 1  # stdout was closed by its reader (e.g. piped into head) or cannot be written
FFMPEG_QUIET = -8       # AV_LOG_QUIET

log = logging.getLogger("live_digits")

DESCRIPTION = """\
Find and read handwritten digits.

Live mode (the default) boxes and labels every digit a webcam, a video file or an image
folder shows, with stable labels, a per-stage speed line and keys for snapshots (press h
in the window). Still mode (--still) reads image files and folders: one result line per
image on stdout (or one JSON object with --json) and a contact sheet showing each image,
its boxes and the 28x28 inputs the model saw."""

EPILOG = """\
examples:
  python live_digits.py                             webcam 0, in a window
  python live_digits.py --source 1 --width 1280 --height 720
  python live_digits.py --source clip.mp4 --headless --jsonl out/clip.jsonl --record out/clip.mp4
  python live_digits.py --source scans/ --loop      an image folder played as frames
  python live_digits.py --source http://192.168.1.20:8080/video   a phone as webcam (or rtsp://)
  python live_digits.py --still                     read every image in digits/
  python live_digits.py --still photo.jpg scans/    a file and a folder
  python live_digits.py --still scans/ --json > results.json
  python live_digits.py --still photo.jpg --conf 0.8 --show --no-sheet
  python live_digits.py --still scans/ --save out/annotated   each image with its boxes drawn
  python live_digits.py --source 0 --ink light      chalk on a blackboard

keys (live window):
  q / Esc  quit            s  snapshot into --snapshots     space  pause / resume
  t  threshold view        c  strip of 28x28 model inputs    + / -  confidence threshold
  h  help on screen

output (still mode):
  digits/digit3.png  3  (0.99)                      number(s) and confidence per image
  digits/row.png  12 7  (min 0.81, mean 0.95)       several digits: min and mean confidence
  digits/bad.png: error: truncated or corrupt PNG file
  digits below the --conf threshold are shown as "?".

exit status:
  0  done (still mode: at least one image was read)
  1  the contact sheet or an annotated image could not be written, or stdout was closed by
     its reader (| head)
  2  bad arguments, no model, no readable image, a source that cannot be opened, or an
     output (--save, --sheet, --record, --jsonl) whose folder cannot be made or written
  130  interrupted (Ctrl-C); recordings and logs written so far are kept, and still mode
       reports the images it has read"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="live_digits.py", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_argument_group("mode")
    mode.add_argument("--still", action="store_true",
                      help="read image files instead of a live source")
    source = parser.add_argument_group("input")
    source.add_argument("paths", nargs="*", metavar="PATH",
                        help="image files or folders for --still (folders: their images in natural "
                             f"order; default: {_display_path(DEFAULT_STILL_FOLDER)}/)")
    source.add_argument("--source", default=None,
                        help="live mode: a camera index, a stream URL (rtsp://, http://: an IP camera or "
                             "a phone's webcam app), a video file, an image folder or a glob pattern "
                             f"(default: {DEFAULT_SOURCE})")
    source.add_argument("--width", type=positive_int, metavar="PX", help="camera: requested frame width")
    source.add_argument("--height", type=positive_int, metavar="PX", help="camera: requested frame height")
    source.add_argument("--fps", type=positive_float, metavar="N",
                        help="camera: requested frame rate; video and images: playback rate")
    source.add_argument("--loop", action="store_true", help="replay a video file or image folder at its end")
    source.add_argument("--realtime", action="store_true",
                        help="play a video file or image folder at its frame rate (default: as fast as "
                             "frames are processed, none dropped)")
    source.add_argument("--max-frames", type=positive_int, metavar="N", help="stop after N processed frames")
    source.add_argument("--ink", choices=INK_CHOICES, default=None,
                        help="dark ink on light paper, light ink on a dark ground (chalk, a black paint "
                             "canvas, MNIST's own images), or auto: judged per image (default: auto for "
                             "--still and image folders, dark for a camera or video, where a passing "
                             "shadow must not flip it)")
    model = parser.add_argument_group("model")
    model.add_argument("--model", metavar="PATH", default=None,
                       help="model checkpoint (default: models/mlp.pt in the project)")
    model.add_argument("--conf", metavar="FLOAT", type=probability, default=DEFAULT_CONFIDENCE,
                       help="confidence threshold: digits below it are shown as '?' "
                            f"(default: {DEFAULT_CONFIDENCE})")
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true",
                        help="print one JSON object with every result to stdout instead of lines")
    output.add_argument("--show", action="store_true",
                        help="still mode: show the contact sheet in a window (needs a display)")
    sheet = output.add_mutually_exclusive_group()
    sheet.add_argument("--sheet", metavar="PATH", type=Path, default=None,
                       help="still mode: where to write the contact sheet, .png, .jpg, .pdf or .svg "
                            f"(default: {DEFAULT_SHEET_PATH})")
    sheet.add_argument("--no-sheet", action="store_true", help="do not write a contact sheet")
    output.add_argument("--save", metavar="DIR", type=Path, default=None,
                        help="still mode: also write each image with its boxes and labels drawn, as "
                             "DIR/<name>.png (an input file is never overwritten)")
    output.add_argument("--headless", action="store_true",
                        help="live mode: no window (servers, CI, video files); keys are unavailable")
    output.add_argument("--record", metavar="FILE", type=Path,
                        help="live mode: write the annotated video (.mp4 or .avi)")
    output.add_argument("--jsonl", metavar="FILE", type=Path,
                        help="live mode: write one JSON object per processed frame")
    output.add_argument("--snapshots", metavar="DIR", type=Path, default=None,
                        help=f"live mode: folder for snapshots taken with s (default: {DEFAULT_SNAPSHOTS}/)")
    output.add_argument("-v", "--verbose", action="store_true",
                        help="log details (timings per image, tracebacks) to stderr")
    return parser


class CliFormatter(logging.Formatter):
    """Bare messages for progress, "warning: ..." / "error: ..." prefixes for problems."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {message}"
        return message


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CliFormatter("%(message)s"))
    # Only our loggers are lowered to DEBUG: matplotlib and PIL are chatty at DEBUG.
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    level = logging.DEBUG if verbose else logging.INFO
    for name in ("live_digits", "recognizer"):
        logging.getLogger(name).setLevel(level)
    if not verbose:
        # FFmpeg writes its own complaints about a broken video file ("moov atom not found")
        # straight to stderr; the file is reported in one line already. Read when OpenCV
        # first opens a video, so it must be set before that.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", str(FFMPEG_QUIET))
    import cv2
    # OpenCV prints its own warnings (e.g. "libpng error") for every bad file; the bad
    # file is already reported in one line, so they are only wanted when debugging.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_WARNING if verbose
                                  else cv2.utils.logging.LOG_LEVEL_SILENT)


def run(args: argparse.Namespace) -> int:
    if not args.still and not args.headless:
        problem = display_problem()
        if problem:
            log.error("%s: use --headless, with --record or --jsonl to keep the results, or run on a desktop",
                      problem)
            return EXIT_FAILURE
    return run_still_mode(args) if args.still else run_live_mode(args)


def load_recognizer(args: argparse.Namespace) -> Recognizer | None:
    """The model of ``--model`` with the ``--conf`` threshold; None (reported) when it cannot load."""
    # Heavy imports (torch) only now, so --help and usage errors are instant.
    from recognizer.checkpoint import CheckpointError
    from recognizer.recognize import Recognizer, use_pipeline_threads

    use_pipeline_threads()
    try:
        recognizer = Recognizer.load(args.model, confidence_threshold=args.conf)
    except CheckpointError as error:
        log.error("%s", error)
        return None
    log.debug("model %s, confidence threshold %.2f", recognizer.name, recognizer.confidence_threshold)
    return recognizer


def run_still_mode(args: argparse.Namespace) -> int:
    from recognizer.still import StillOptions, run_still

    if not args.no_sheet:
        from recognizer.sheet import sheet_format
        try:
            sheet_format(args.sheet)
        except ValueError as error:
            log.error("%s", error)
            return EXIT_FAILURE
    recognizer = load_recognizer(args)
    if recognizer is None:
        return EXIT_FAILURE
    paths = args.paths or [_display_path(DEFAULT_STILL_FOLDER)]
    options = StillOptions(json_output=args.json, sheet_path=None if args.no_sheet else args.sheet,
                           show=args.show, save_dir=args.save, ink=args.ink or "auto")
    return run_still(paths, recognizer, options)


def run_live_mode(args: argparse.Namespace) -> int:
    # The outputs and the source are checked before torch loads (with the model), so that a
    # mistake is reported at once.
    from recognizer.atomic import checked_target
    from recognizer.capture import SourceError, open_source
    from recognizer.outputs import checked_recording_target

    if args.record and args.jsonl and os.path.realpath(args.record) == os.path.realpath(args.jsonl):
        log.error("--record and --jsonl name the same file, %s: one would replace the other", args.record)
        return EXIT_FAILURE
    try:  # before the source: opening a stream can take seconds
        if args.record is not None:
            checked_recording_target(args.record)
        if args.jsonl is not None:
            checked_target(args.jsonl)
    except OSError as error:
        log.error("%s", error)
        return EXIT_FAILURE
    try:
        source = open_source(args.source, width=args.width, height=args.height, fps=args.fps, loop=args.loop,
                             realtime=args.realtime)
    except SourceError as error:
        log.error("%s", error)
        return EXIT_FAILURE
    inputs = {os.path.realpath(file) for file in source.files}
    for flag, output in (("--record", args.record), ("--jsonl", args.jsonl)):
        if output is not None and os.path.realpath(output) in inputs:
            source.close()
            log.error("%s %s is a file the source reads; choose another name", flag, output)
            return EXIT_FAILURE
    log.info("reading %s", source.description)
    with source:
        recognizer = load_recognizer(args)
        if recognizer is None:
            return EXIT_FAILURE
        from recognizer.live import LiveLoop, LiveOptions
        from recognizer.track import DigitTracker

        # Separate pictures are read one by one, as still mode reads them; the frames of a
        # camera or video keep one polarity.
        ink = args.ink or ("dark" if source.frames_related else "auto")
        options = LiveOptions(show=not args.headless, record=args.record, jsonl=args.jsonl,
                              max_frames=args.max_frames, snapshots=args.snapshots, ink=ink)
        try:
            return LiveLoop(recognizer, DigitTracker(), options).run(source)
        except OSError as error:  # a recording or log file that cannot be written
            log.error("%s", error)
            return EXIT_FAILURE


# Options that only one mode reads: given in the other mode they would be silently ignored.
LIVE_ONLY_OPTIONS = ("source", "width", "height", "fps", "loop", "realtime", "max_frames", "headless",
                     "record", "jsonl", "snapshots")
STILL_ONLY_OPTIONS = ("json", "show", "sheet", "no_sheet", "save")


def options_in_the_wrong_mode(args: argparse.Namespace) -> str | None:
    """A one-line complaint when the command line mixes the modes, else None."""
    if not args.still and args.paths:
        from recognizer.capture import shown_source  # a URL given without --source may hold a password
        return f"image paths are for --still; for live mode use --source {shown_source(args.paths[0])}"
    misplaced, mode = (LIVE_ONLY_OPTIONS, "live mode") if args.still else (STILL_ONLY_OPTIONS, "--still")
    given = [name for name in misplaced if getattr(args, name) not in (None, False)]
    if not given:
        return None
    options = ", ".join("--" + name.replace("_", "-") for name in given)
    return f"{options} {'applies' if len(given) == 1 else 'apply'} to {mode} only"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        configure_logging(args.verbose)
        complaint = options_in_the_wrong_mode(args)
        if complaint:
            log.error("%s", complaint)
            return EXIT_FAILURE
        # Defaults are filled in only now, so that an option given in the wrong mode can be
        # told from one left at its default.
        args.source = DEFAULT_SOURCE if args.source is None else args.source
        args.sheet = DEFAULT_SHEET_PATH if args.sheet is None else args.sheet
        args.snapshots = DEFAULT_SNAPSHOTS if args.snapshots is None else args.snapshots
        return run(args)
    except KeyboardInterrupt:
        log.warning("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (e.g. piped into head): stop quietly.
        _discard_stdout()
        return EXIT_OUTPUT_CLOSED
    except OSError as error:
        # Whatever the modes do not catch nearer, such as results printed to a full disk
        # (> /dev/full): one line, not a traceback.
        log.debug("unhandled OSError", exc_info=True)
        reason = one_line(error.strerror or error)
        log.error("%s", f"cannot write output: {reason}" if error.filename is None else f"{error.filename}: {reason}")
        _discard_stdout()
        return EXIT_OUTPUT_CLOSED


def _discard_stdout() -> None:
    """Point stdout at devnull, so that the interpreter's final flush does not fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
