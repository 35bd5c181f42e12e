"""The contact sheet: one figure showing every image with its boxes and, beneath it, the
28x28 inputs the model saw with the predicted label and confidence.

It answers "why did it read that?" at a glance: a wrong label next to a badly cropped or
badly centred input is a segmentation problem, next to a clean input a model problem.
"""
from __future__ import annotations

import logging
import math
import os
import re
import textwrap
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import cv2
import numpy as np

from recognizer.arguments import display_available
from recognizer.atomic import atomic_path
from recognizer.recognize import UNCERTAIN_MARK, Digit, Recognition

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

# File formats the sheet can be written in, by file name extension (matplotlib's names).
SHEET_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".pdf": "pdf", ".svg": "svg"}
MAX_COLUMNS = 3                  # images per row of the sheet
MAX_ENTRIES = 60                 # more would make a figure too tall to look at or render
THUMBNAIL_SIDE_PX = 640          # images are shrunk to this longer side before plotting
CELL_WIDTH_IN = 3.6
IMAGE_HEIGHT_IN = 2.6            # height of the image panel of a cell
INPUTS_PER_ROW = 8               # 28x28 inputs side by side under an image
INPUT_TILE_PX = 28
INPUT_GAP_PX = 4                 # mid-gray gap between tiles, so black inputs stay separate
INPUT_LABEL_BAND_PX = 14         # room under each tile for "label confidence"
INPUT_GAP_VALUE = 96             # gray level of the gaps (the inputs are white on black)
LABEL_BAND_VALUE = 255           # white band, so coloured label text stays readable
BACKGROUND_VALUE = 255           # the figure's white
ERROR_HEIGHT_IN = 0.9            # inputs panel height of a cell that has no inputs
TITLE_HEIGHT_IN = 0.5
DPI = 100
TITLE_FONT_SIZE = 8
LABEL_FONT_SIZE = 6.5
ERROR_FONT_SIZE = 8
ERROR_WRAP_CHARS = 44
TITLE_MAX_CHARS = 48             # longer file names are shortened from the left
CERTAIN_COLOR = "tab:green"
UNCERTAIN_COLOR = "tab:red"
ERROR_COLOR = "tab:red"
# Python shows the bytes of a file name that are not UTF-8 as lone surrogates, which
# matplotlib cannot lay out (TypeError); they are drawn as the replacement character.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT_CHARACTER = "\ufffd"
# matplotlib warns, once per character, when its font has no glyph for it (a CJK file
# name in DejaVu Sans); the character is drawn as a box, which is cosmetic.
MISSING_GLYPH_WARNING = r"Glyph \d+ .*missing from"


@dataclass(frozen=True, eq=False)
class SheetEntry:
    """One image of the sheet: its annotated picture and recognition, or why it failed."""
    file: str
    annotated_bgr: np.ndarray | None = None
    recognition: Recognition | None = None
    error: str | None = None


def thumbnail(image_bgr: np.ndarray, longer_side: int = THUMBNAIL_SIDE_PX) -> np.ndarray:
    """Shrink ``image_bgr`` so that its longer side is at most ``longer_side`` pixels.

    Callers keep thumbnails, not full photos, for the sheet: a folder of phone pictures
    would otherwise hold gigabytes until the end of the run.
    """
    height, width = image_bgr.shape[:2]
    scale = longer_side / max(height, width)
    if scale >= 1:
        return image_bgr
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)


def render_contact_sheet(entries: Sequence[SheetEntry], text_of: Callable[[Digit], str],
                         title: str = "", figure: Figure | None = None) -> Figure:
    """Lay ``entries`` out on ``figure`` (a new Agg-backed Figure when None) and return it.

    At most MAX_ENTRIES entries: callers keep no more than that (each holds a thumbnail).
    """
    # Imported here, not at the top: matplotlib adds half a second to every start-up, and
    # runs with --no-sheet never need it.
    from matplotlib.figure import Figure

    if len(entries) > MAX_ENTRIES:
        raise ValueError(f"a contact sheet shows at most {MAX_ENTRIES} images, got {len(entries)}")
    columns = max(1, min(MAX_COLUMNS, len(entries)))
    rows = [entries[start:start + columns] for start in range(0, len(entries), columns)]
    # Every row of the sheet is as tall as its cell with the most inputs, so that the
    # tiles, and the labels under them, have the same size everywhere.
    input_heights = [max(_inputs_height_in(entry) for entry in row) for row in rows]
    width_in = columns * CELL_WIDTH_IN
    height_in = TITLE_HEIGHT_IN + sum(IMAGE_HEIGHT_IN + inputs for inputs in input_heights)
    title = drawable(title)
    if figure is None:
        figure = Figure(figsize=(width_in, height_in), dpi=DPI)
    else:
        figure.set_size_inches(width_in, height_in)
    # Constrained layout makes room for the titles (file name and numbers) of every cell.
    figure.set_layout_engine("constrained")
    figure.suptitle(title, fontsize=TITLE_FONT_SIZE)
    grid = figure.add_gridspec(
        2 * len(rows), columns,
        height_ratios=[size for inputs in input_heights for size in (IMAGE_HEIGHT_IN, inputs)])
    for row_index, row in enumerate(rows):
        for column, entry in enumerate(row):
            image_axes = figure.add_subplot(grid[2 * row_index, column])
            inputs_axes = figure.add_subplot(grid[2 * row_index + 1, column])
            _plot_entry(entry, image_axes, inputs_axes, text_of)
    return figure


def save_contact_sheet(entries: Sequence[SheetEntry], path: str | os.PathLike[str] | None,
                       text_of: Callable[[Digit], str], title: str = "", show: bool = False) -> None:
    """Render the sheet, write it atomically to ``path`` (if given), show it if asked.

    The format follows the extension (see ``sheet_format``). Showing needs a display;
    without one a warning is logged and nothing else happens.
    """
    interactive = show and display_available()
    if show and not interactive:
        log.warning("--show: no display available (DISPLAY/WAYLAND_DISPLAY unset), not showing the sheet")
    pyplot = _import_pyplot() if interactive else None
    if pyplot is None and path is None:
        return
    # pyplot is only used when showing: a plain Figure keeps no global state and always
    # renders with Agg, whatever backend the environment would pick.
    with _missing_glyphs_ignored():
        figure = render_contact_sheet(entries, text_of, title, pyplot.figure() if pyplot else None)
        if path is not None:
            with atomic_path(path) as tmp:
                figure.savefig(tmp, format=sheet_format(path), dpi=DPI)
            log.info("contact sheet written to %s", path)
        if pyplot is not None:
            pyplot.show()
            pyplot.close(figure)


def drawable(text: str) -> str:
    """``text`` as matplotlib can draw it and strict JSON can hold it: the bytes of a file name
    that are not UTF-8 (lone surrogates in Python) as U+FFFD."""
    return LONE_SURROGATE.sub(REPLACEMENT_CHARACTER, text)


@contextmanager
def _missing_glyphs_ignored() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=MISSING_GLYPH_WARNING, category=UserWarning)
        yield


def sheet_format(path: str | os.PathLike[str]) -> str:
    """The file format for a sheet written to ``path``; ValueError for an unknown extension."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in SHEET_FORMATS:
        raise ValueError(f"a contact sheet is written as {', '.join(SHEET_FORMATS)}; "
                         f"cannot tell the format of {os.fspath(path)!r}")
    return SHEET_FORMATS[suffix]


def _import_pyplot() -> ModuleType | None:
    import matplotlib
    import matplotlib.pyplot as pyplot
    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "pdf", "ps", "svg", "cairo", "pgf", "template"):
        log.warning("--show: matplotlib has no GUI backend here (%s), not showing the sheet", backend)
        return None
    return pyplot


def _inputs_height_in(entry: SheetEntry) -> float:
    count = 0 if entry.recognition is None else len(entry.recognition.inputs)
    if count == 0:
        return ERROR_HEIGHT_IN
    tile_rows = math.ceil(count / INPUTS_PER_ROW)
    pitch_in = CELL_WIDTH_IN / INPUTS_PER_ROW
    row_px = INPUT_TILE_PX + INPUT_GAP_PX + INPUT_LABEL_BAND_PX
    return tile_rows * pitch_in * row_px / (INPUT_TILE_PX + INPUT_GAP_PX)


def _plot_entry(entry: SheetEntry, image_axes: Axes, inputs_axes: Axes,
                text_of: Callable[[Digit], str]) -> None:
    for axes in (image_axes, inputs_axes):
        axes.set_axis_off()
    file = drawable(entry.file)
    name = file if len(file) <= TITLE_MAX_CHARS else "…" + file[-(TITLE_MAX_CHARS - 1):]
    if entry.error is not None or entry.annotated_bgr is None or entry.recognition is None:
        image_axes.set_title(name, fontsize=TITLE_FONT_SIZE)
        message = textwrap.fill(drawable(f"error: {entry.error or 'no result'}"), ERROR_WRAP_CHARS)
        image_axes.text(0.5, 0.5, message, ha="center", va="center", color=ERROR_COLOR,
                        fontsize=ERROR_FONT_SIZE, transform=image_axes.transAxes)
        return
    recognition = entry.recognition
    numbers = " ".join(recognition.numbers) if recognition.numbers else "no digits found"
    image_axes.set_title(f"{name}\n{numbers}", fontsize=TITLE_FONT_SIZE)
    image_axes.imshow(cv2.cvtColor(entry.annotated_bgr, cv2.COLOR_BGR2RGB))
    if len(recognition.inputs) == 0:
        return
    inputs_axes.imshow(_mosaic(recognition.inputs), cmap="gray", vmin=0, vmax=255,
                       interpolation="nearest")
    # Fixing the limits to a full row keeps a lone input at the same size as in a full row.
    pitch_x = INPUT_TILE_PX + INPUT_GAP_PX
    pitch_y = pitch_x + INPUT_LABEL_BAND_PX
    tile_rows = math.ceil(len(recognition.inputs) / INPUTS_PER_ROW)
    inputs_axes.set_xlim(-0.5, INPUTS_PER_ROW * pitch_x - 0.5)
    inputs_axes.set_ylim(tile_rows * pitch_y - 0.5, -0.5)
    for index, digit in enumerate(recognition.digits):
        row, column = divmod(index, INPUTS_PER_ROW)
        uncertain = text_of(digit) == UNCERTAIN_MARK
        inputs_axes.text(column * pitch_x + INPUT_TILE_PX / 2, row * pitch_y + INPUT_TILE_PX + 1,
                         f"{digit.label} {digit.confidence:.2f}", ha="center", va="top",
                         fontsize=LABEL_FONT_SIZE, color=UNCERTAIN_COLOR if uncertain else CERTAIN_COLOR)


def _mosaic(inputs: np.ndarray) -> np.ndarray:
    """Tile N x 28 x 28 inputs into rows of INPUTS_PER_ROW with gaps and label bands."""
    count = len(inputs)
    tile_rows = math.ceil(count / INPUTS_PER_ROW)
    padded = np.zeros((tile_rows * INPUTS_PER_ROW, INPUT_TILE_PX, INPUT_TILE_PX), np.uint8)
    padded[:count] = inputs
    # Under every tile a white band for its label, then gaps below and to the right.
    padded = np.pad(padded, ((0, 0), (0, INPUT_LABEL_BAND_PX), (0, 0)), constant_values=LABEL_BAND_VALUE)
    padded = np.pad(padded, ((0, 0), (0, INPUT_GAP_PX), (0, INPUT_GAP_PX)), constant_values=INPUT_GAP_VALUE)
    padded[count:] = BACKGROUND_VALUE  # the unused end of the last row stays blank
    tile_h, tile_w = padded.shape[1:]
    return (padded.reshape(tile_rows, INPUTS_PER_ROW, tile_h, tile_w)
            .transpose(0, 2, 1, 3).reshape(tile_rows * tile_h, INPUTS_PER_ROW * tile_w))
