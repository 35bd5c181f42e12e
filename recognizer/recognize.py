"""The public API: image in, digits (label, confidence, box) in reading order out."""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import torch

from recognizer.checkpoint import load_checkpoint
from recognizer.layout import Box, layout
from recognizer.inference import inference_model
from recognizer.model import IMAGE_SIDE, NUM_CLASSES, DigitMLP
from recognizer.normalize import normalize_digits, to_gray
from recognizer.segment import find_digits_of_ink

DEFAULT_CONFIDENCE_THRESHOLD = 0.6
PIXEL_MAX = 255.0  # uint8 model inputs are divided by this to give the network's [0, 1] pixels
UNCERTAIN_MARK = "?"
# Thread counts, chosen for a 2-core machine that also captures and displays video.
# Torch: one intra-op thread. A frame's batch through this MLP takes a fraction of a
# millisecond on one core; a thread pool's hand-offs cost more than they save, and its
# spinning threads fight OpenCV and the capture loop for the second core (measured here
# with another process busy: 0.8 ms per batch of 8 on one thread, 39 ms on two).
INFERENCE_THREADS = 1
# OpenCV: one thread too. The per-frame work is many small calls on a half-size copy and on
# digit-sized boxes, too small to split: `python -m recognizer.bench --opencv-threads N`
# measured 640x480 with 10 digits at the same median with 1 and 2 threads (3.9-4.0 vs
# 4.1-4.2 ms) but 25% more CPU time with 2, and the capture thread needs that core.
OPENCV_THREADS = 1


def use_pipeline_threads() -> None:
    """Set torch's and OpenCV's thread counts for a recognising process (apps call this once at start)."""
    torch.set_num_threads(INFERENCE_THREADS)
    cv2.setNumThreads(OPENCV_THREADS)


@dataclass(frozen=True)
class Digit:
    label: int
    confidence: float
    box: Box


@dataclass(frozen=True)
class StageTimes:
    """Milliseconds spent per stage of ``Recognizer.recognize``."""
    segment_ms: float
    crops_ms: float
    inference_ms: float

    def __str__(self) -> str:
        return f"segment {self.segment_ms:.1f} ms, crops {self.crops_ms:.1f} ms, inference {self.inference_ms:.1f} ms"


@dataclass(frozen=True, eq=False)
class Recognition:
    digits: tuple[Digit, ...]            # reading order: lines top to bottom, left to right
    numbers: tuple[str, ...]             # adjacent digits on one line; UNCERTAIN_MARK below threshold
    groups: tuple[tuple[int, ...], ...]  # indices into ``digits`` for each entry of ``numbers``
    inputs: np.ndarray                   # N x 28 x 28 uint8: exactly what the model saw
    probabilities: np.ndarray            # N x 10
    times: StageTimes
    light_ink: bool = False              # read as light ink on a dark ground (with none found: tried first)


def recognition_to_json(recognition: Recognition) -> dict[str, Any]:
    """The ``digits`` and ``numbers`` of the JSON schema: still mode, snapshots and live JSONL lines."""
    return {
        "digits": [{"label": int(digit.label), "confidence": float(digit.confidence),
                    "box": [int(value) for value in digit.box]} for digit in recognition.digits],
        "numbers": [str(number) for number in recognition.numbers],
    }


class Recognizer:
    def __init__(self, model: torch.nn.Module, meta: dict | None = None,
                 confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD, name: str = "model",
                 quantize: bool = True) -> None:
        """``model`` is a trained ``DigitMLP`` or any module with its calling convention.

        A ``DigitMLP`` is kept as ``network`` and run as ``inference_model(model, quantize)``:
        folded into plain Linear layers and, with ``quantize`` (the default), with int8
        weights - about 4x faster per frame, and the shipped model's MNIST test accuracy is
        unchanged. Any other module is run as given. ``model`` is what runs:
        N x 28 x 28 (or N x 784) pixels in [0, 1] -> N x 10 logits.
        """
        self.network = model.eval()
        self.model = inference_model(self.network, quantize) if isinstance(model, DigitMLP) else self.network
        self.meta = dict(meta or {})
        self.confidence_threshold = confidence_threshold
        self.name = name

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None,
             confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD, quantize: bool = True) -> "Recognizer":
        """Load a checkpoint; ``None`` means the model shipped in ``models/``."""
        loaded = load_checkpoint(path)
        return cls(loaded.model, loaded.meta, confidence_threshold, name=str(loaded.path), quantize=quantize)

    @torch.inference_mode()
    def classify(self, batch: np.ndarray) -> np.ndarray:
        """N x 28 x 28 uint8 MNIST-format images (white on black) -> N x 10 probabilities.

        Other dtypes raise ValueError rather than being cast.
        """
        batch = np.asarray(batch)
        if batch.ndim != 3 or batch.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise ValueError(f"expected N x {IMAGE_SIDE} x {IMAGE_SIDE} images, got shape {batch.shape}")
        if batch.dtype != np.uint8:
            # Casting would wrap 300 to 44 and turn [0, 1] floats into black images.
            raise ValueError(f"expected uint8 pixels (0-255), got {batch.dtype}")
        if len(batch) == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        # One numpy pass straight to contiguous float32 (bit-identical to torch's
        # .float().div_(255), and a few microseconds faster for a frame's batch).
        pixels = torch.from_numpy(np.divide(batch, PIXEL_MAX, dtype=np.float32))
        return torch.softmax(self.model(pixels), dim=1).numpy()

    def recognize(self, image: np.ndarray, ink: str = "dark") -> Recognition:
        """Find, normalise and classify every digit of a BGR or gray image in one forward pass.

        ``ink`` is one of ``segment.INK_CHOICES``: "dark" ink on light paper (a camera's
        default), "light" ink on a dark ground (chalk, a black paint canvas, MNIST's own
        images), or "auto", judged per image (still mode's; see ``segment.find_digits_of_ink``).
        """
        start = time.perf_counter()
        image = np.asarray(image)
        if image.dtype != np.uint8:
            raise ValueError(f"expected a uint8 image (0-255), got {image.dtype}")
        if image.size == 0:
            raise ValueError(f"empty image (shape {image.shape})")
        gray = to_gray(image)
        regions, light_ink = find_digits_of_ink(gray, ink)
        order, groups = layout([region.box for region in regions])
        regions = [regions[i] for i in order]
        segmented = time.perf_counter()
        inputs = normalize_digits([region.crop(gray) for region in regions], [region.mask for region in regions])
        cropped = time.perf_counter()
        probabilities = self.classify(inputs)
        inferred = time.perf_counter()
        # Labels and confidences of the whole batch at once: per-row numpy calls cost more.
        digits = tuple(Digit(label, confidence, region.box) for label, confidence, region in
                       zip(probabilities.argmax(axis=1).tolist(), probabilities.max(axis=1).tolist(), regions))
        numbers = self.numbers_of(digits, groups)
        times = StageTimes((segmented - start) * 1e3, (cropped - segmented) * 1e3, (inferred - cropped) * 1e3)
        return Recognition(digits, numbers, tuple(tuple(g) for g in groups), inputs, probabilities, times,
                           light_ink)

    def reread(self, recognition: Recognition) -> Recognition:
        """``recognition`` with its numbers written at the current confidence threshold."""
        return replace(recognition, numbers=self.numbers_of(recognition.digits, recognition.groups))

    def text_of(self, digit: Digit) -> str:
        return str(digit.label) if digit.confidence >= self.confidence_threshold else UNCERTAIN_MARK

    def numbers_of(self, digits: Sequence[Digit], groups: Sequence[Sequence[int]]) -> tuple[str, ...]:
        """The text of each group of digits at the current confidence threshold."""
        return tuple("".join(self.text_of(digits[i]) for i in group) for group in groups)
