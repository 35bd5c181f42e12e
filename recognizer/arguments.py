"""What the command lines share (live_digits.py, train.py, the tools): argparse types, exit
codes, and whether a window can open.

Each type raises ArgumentTypeError, which argparse turns into its one-line usage error
(exit 2, like EXIT_FAILURE). Standard library only, so a command line can check its
arguments before heavy imports.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

EXIT_OK = 0
EXIT_FAILURE = 2        # nothing could be done: bad arguments, no model, no data, no readable input
EXIT_INTERRUPTED = 130  # the shell convention for "ended by Ctrl-C" (128 + SIGINT)


def positive_int(text: str) -> int:
    """A whole number above 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _finite_float(text: str) -> float:
    """A number that is not inf or nan."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (a rate, a learning rate)."""
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number, 0 or more."""
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    value = _finite_float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


def probability(text: str) -> float:
    """A number in [0, 1]."""
    value = _finite_float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text!r}")
    return value


def display_available() -> bool:
    """Whether a window can be opened (Linux and other Unixes need X11 or Wayland)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
