"""Shared fixtures: real MNIST test digits (loaded offline) and the shipped model."""
from __future__ import annotations

import numpy as np
import pytest

from recognizer.data import load_mnist


@pytest.fixture(scope="session")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_mnist(train=False)
    return images.numpy(), labels.numpy()
