"""The digit classifier: a fully connected network on 28x28 MNIST-format images."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

IMAGE_SIDE = 28
NUM_CLASSES = 10


class DigitMLP(nn.Module):
    """784 -> hidden... -> 10 MLP that owns its input normalisation.

    ``forward`` takes pixel values in [0, 1] (white digit on black, MNIST format).
    The dataset mean and std live in buffers, so they travel inside the checkpoint and no
    caller can feed a differently scaled input by accident.
    """

    def __init__(self, hidden: Sequence[int] = (1024, 1024), dropout: float = 0.2,
                 mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        self.hidden = tuple(int(width) for width in hidden)
        self.dropout = float(dropout)
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))
        layers: list[nn.Module] = [nn.Flatten()]
        width_in = IMAGE_SIDE * IMAGE_SIDE
        for width in self.hidden:
            layers += [nn.Linear(width_in, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
                       nn.Dropout(self.dropout)]
            width_in = width
        layers.append(nn.Linear(width_in, NUM_CLASSES))
        self.layers = nn.Sequential(*layers)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of N x 28 x 28 images with values in [0, 1]."""
        return self.layers((pixels - self.mean) / self.std)

    def config(self) -> dict[str, object]:
        """Keyword arguments that rebuild this architecture (stored in the checkpoint)."""
        return {"hidden": list(self.hidden), "dropout": self.dropout,
                "mean": float(self.mean), "std": float(self.std)}
