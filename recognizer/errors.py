"""Exceptions turned into the one-line messages a user sees (no traceback, no wrapped text)."""
from __future__ import annotations

import re

MAX_MESSAGE_CHARS = 200
# Some libraries colour their messages for a terminal; in a log line the codes are noise.
TERMINAL_COLOUR_CODE = re.compile(r"\x1b\[[0-9;]*m")


def one_line(error: BaseException | str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``error``'s message on one line: colour codes dropped, white space folded, cut to ``limit``."""
    text = " ".join(TERMINAL_COLOUR_CODE.sub("", str(error)).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def described(error: BaseException, limit: int = MAX_MESSAGE_CHARS) -> str:
    """"TypeName: message" on one line, or the type's name alone when the message is empty."""
    text = one_line(error, limit)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
