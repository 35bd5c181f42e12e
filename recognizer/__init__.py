"""live-digits recognizer: find handwritten digits in images and read them with a small MLP."""
from __future__ import annotations

__all__ = ["Digit", "Recognition", "Recognizer", "StageTimes"]


def __getattr__(name: str) -> object:
    # Lazy so that `import recognizer.data` (training) does not pull in OpenCV and the segmenter.
    if name in __all__:
        from recognizer import recognize
        return getattr(recognize, name)
    raise AttributeError(f"module 'recognizer' has no attribute {name!r}")
