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
import socket
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


def display_problem() -> str | None:
    """Why no window can be opened here, or None when one can.

    On Linux and other Unixes a window needs an X11 or Wayland display. DISPLAY alone is
    not enough: after a closed ``ssh -X`` session it still names a server that is gone, and
    OpenCV's Qt then aborts the process (no exception to catch), so the server is asked.
    """
    if sys.platform in ("win32", "darwin") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    display = os.environ.get("DISPLAY")
    if not display:
        return "no display found (DISPLAY is not set)"
    if not _x_server_answers(display):
        return f"no display found (DISPLAY={display} does not answer)"
    return None


def display_available() -> bool:
    """Whether a window can be opened (see ``display_problem``)."""
    return display_problem() is None


X11_TCP_PORT_BASE = 6000          # display N listens on TCP port 6000 + N
X11_SOCKET_PATH = "/tmp/.X11-unix/X{}"
X11_CONNECT_TIMEOUT_S = 1.0


def _x_server_answers(display: str) -> bool:
    """Whether an X server accepts a connection for ``display`` ("[host]:N[.screen]")."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".", 1)[0]
    if not number.isdigit():
        return False
    if host in ("", "unix"):
        # Linux servers also listen on an abstract socket (leading NUL) of the same name.
        addresses = [X11_SOCKET_PATH.format(number)]
        if sys.platform.startswith("linux"):
            addresses.insert(0, "\0" + addresses[0])
        return any(_connects(socket.AF_UNIX, address) for address in addresses)
    return _connects(socket.AF_INET, (host, X11_TCP_PORT_BASE + int(number)))


def _connects(family: int, address: str | tuple[str, int]) -> bool:
    try:
        if family == socket.AF_INET:
            socket.create_connection(address, timeout=X11_CONNECT_TIMEOUT_S).close()  # type: ignore[arg-type]
            return True
        with socket.socket(family, socket.SOCK_STREAM) as connection:
            connection.settimeout(X11_CONNECT_TIMEOUT_S)
            connection.connect(address)
        return True
    except OSError:
        return False
