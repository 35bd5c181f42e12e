"""The digit classifier: a fully connected network on 28x28 MNIST-format images.

``DigitMLP`` is what is trained and what the checkpoint stores; ``recognizer.inference``
turns it into the faster module that recognising runs.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

IMAGE_SIDE = 28
NUM_CLASSES = 10

FoldedLayer = tuple[torch.Tensor, torch.Tensor]  # (weight: out x in, bias: out), float32


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

    @torch.no_grad()
    def folded_layers(self) -> list[FoldedLayer]:
        """(weight, bias) of each Linear with the eval-mode function folded in.

        The input normalisation (x - mean) / std goes into the first Linear and each
        BatchNorm's running statistics and affine parameters into the Linear before it, so
        Linear-ReLU-...-Linear on raw [0, 1] pixels gives this model's eval-mode logits.
        The arithmetic is done in float64 so that folding adds no rounding of its own.
        """
        folded: list[FoldedLayer] = []
        mean, std = self.mean.double(), self.std.double()
        for module in self.layers:
            if isinstance(module, nn.Linear):
                weight, bias = module.weight.double(), module.bias.double()
                if not folded:  # W (x - mean) / std + b = (W / std) x + (b - W 1 mean / std)
                    weight, bias = weight / std, bias - weight.sum(dim=1) * mean / std
                folded.append((weight, bias))
            elif isinstance(module, nn.BatchNorm1d):
                weight, bias = folded[-1]
                scale = module.weight.double() / torch.sqrt(module.running_var.double() + module.eps)
                folded[-1] = (weight * scale[:, None], (bias - module.running_mean.double()) * scale
                              + module.bias.double())
            elif not isinstance(module, (nn.Flatten, nn.ReLU, nn.Dropout)):
                raise TypeError(f"cannot fold a {type(module).__name__} layer")
        return [(weight.float().contiguous(), bias.float().contiguous()) for weight, bias in folded]
