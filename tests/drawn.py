"""Test images drawn with OpenCV fonts, shared by the image-reading and still-mode tests."""
from __future__ import annotations

import cv2
import numpy as np

WHITE = 255
INK = 0
DIGIT_SCALE = 3          # Hershey font scale: digits about 65 px tall
DIGIT_THICKNESS = 8      # about an eighth of the height, like MNIST strokes
DIGIT_SPACING_PX = 90    # far enough apart to be separate digits, close enough for one number


def digits_on_paper(text: str, height: int = 200) -> np.ndarray:
    """Black digits drawn one by one on white (gray uint8), like a number written on paper."""
    width = DIGIT_SPACING_PX * (len(text) + 1)
    image = np.full((height, width), WHITE, np.uint8)
    for index, character in enumerate(text):
        origin = (DIGIT_SPACING_PX // 2 + index * DIGIT_SPACING_PX, height * 2 // 3)
        cv2.putText(image, character, origin, cv2.FONT_HERSHEY_SIMPLEX, DIGIT_SCALE, INK,
                    DIGIT_THICKNESS, cv2.LINE_AA)
    return image
