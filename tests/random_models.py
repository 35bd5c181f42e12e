"""Randomly initialised models for tests that need a network, not a trained one."""
from __future__ import annotations

import torch

from recognizer.model import DigitMLP


def random_mlp(hidden: tuple[int, ...] = (96, 64), seed: int = 0, mean: float = 0.125, std: float = 0.3) -> DigitMLP:
    """A random ``DigitMLP`` in eval mode with non-trivial normalisation and BatchNorm statistics."""
    torch.manual_seed(seed)
    model = DigitMLP(hidden=hidden, dropout=0.1, mean=mean, std=std)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return model.eval()
