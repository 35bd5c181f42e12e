"""Fast inference for a trained ``DigitMLP``: the same function, folded and in int8.

``inference_model`` folds BatchNorm and the input normalisation into the Linear layers
(``DigitMLP.folded_layers``) and by default runs them with int8 weights (``Int8MLP``),
falling back to float32 (``FoldedMLP``) where this PyTorch build has no int8 CPU kernels.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from recognizer.errors import one_line
from recognizer.model import DigitMLP, FoldedLayer

log = logging.getLogger(__name__)

# Symmetric int8 weights: each output row's largest |weight| maps to the middle of the
# int8 range [-128, 127], exactly as PyTorch's per-channel symmetric weight observer does.
INT8_HALF_RANGE = (127 - (-128)) / 2
# fbgemm's int8 kernels (PyTorch's "x86" and "fbgemm" engines) add pairs of u8 x s8 products
# in int16 on CPUs without VNNI, which can saturate; quantising activations to 7 bits avoids
# it, as PyTorch's dynamic int8 Linear does, and on this model costs no accuracy. Other
# engines (qnnpack on ARM) have no such limit and warn that they ignore the setting.
ENGINES_NEEDING_REDUCED_RANGE = frozenset({"x86", "fbgemm"})


class FoldedMLP(nn.Module):
    """Linear-ReLU-...-Linear in float32: a ``DigitMLP``'s eval-mode function, folded.

    Same calling convention as ``DigitMLP``: N x 28 x 28 (or N x 784) pixels in [0, 1] -> logits.
    """

    def __init__(self, layers: Sequence[FoldedLayer]) -> None:
        super().__init__()
        # Plain tensors, not Parameters: nothing here is trained, and without requires_grad
        # autograd records nothing even outside torch.inference_mode.
        self.weights = [weight for weight, _ in layers]
        self.biases = [bias for _, bias in layers]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        hidden = pixels.reshape(len(pixels), -1)
        last = len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            hidden = torch.addmm(bias, hidden, weight.t())
            if index < last:
                hidden = hidden.relu_()
        return hidden


class Int8MLP(nn.Module):
    """Linear-ReLU-...-Linear with int8 weights and dynamically quantised activations.

    Weights are quantised per output row (symmetric int8) once; each call quantises the
    activations of the batch in hand, multiplies in int8 (VNNI on AVX-512 CPUs) and returns
    float32 logits. The weights are a quarter of float32's (1.9 MB for 784-1024-1024-10 vs
    7.4 MB). A batch of 10, run twice in a row or once right after touching 64 MB of other
    memory: ~0.16 and ~0.3-0.4 ms against ~0.8 and ~1.2 ms in float32 on an AVX-512 machine
    with VNNI; 0.41 and 0.83 ms against 1.34 and 1.92 ms on an AVX2-only one (no VNNI).
    This is PyTorch's dynamic quantisation
    (``quantize_dynamic`` with per-channel weights gives bit-identical logits), called through its operators
    directly because its module wrappers cost ~25 us per batch.
    Same calling convention as ``DigitMLP``: N x 28 x 28 (or N x 784) pixels in [0, 1] -> logits.
    """

    def __init__(self, layers: Sequence[FoldedLayer]) -> None:
        super().__init__()
        # Weights are packed for the quantised engine selected now (torch.backends.quantized.engine).
        self.packed = [torch.ops.quantized.linear_prepack(_int8_rows(weight), bias) for weight, bias in layers]
        self.reduce_range = torch.backends.quantized.engine in ENGINES_NEEDING_REDUCED_RANGE

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        hidden = pixels.reshape(len(pixels), -1)
        for packed in self.packed[:-1]:
            hidden = torch.ops.quantized.linear_relu_dynamic(hidden, packed, self.reduce_range)
        return torch.ops.quantized.linear_dynamic(hidden, self.packed[-1], self.reduce_range)


def _int8_rows(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` as a per-row symmetric int8 quantised tensor (zero point 0)."""
    # float32 arithmetic, then float64, as PyTorch's observer computes its scales.
    scales = (weight.abs().amax(dim=1) / INT8_HALF_RANGE).clamp_min(torch.finfo(torch.float32).eps).double()
    zero_points = torch.zeros(len(weight), dtype=torch.long)
    with warnings.catch_warnings():
        # torch 2.14 marks quantised tensor creation as deprecated (a UserWarning on every
        # call) in favour of torchao, which this project does not depend on. The pinned
        # torch still supports it fully, and the warning would be printed by every app at
        # start-up; silence exactly that message, here only.
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
                                category=UserWarning)
        return torch.quantize_per_channel(weight, scales, zero_points, axis=0, dtype=torch.qint8)


def inference_model(network: DigitMLP, quantize: bool = True) -> nn.Module:
    """A fast module computing ``network``'s eval-mode logits: ``Int8MLP``, or ``FoldedMLP`` (float32).

    Falls back to float32 (with a warning) where this PyTorch build has no int8 CPU kernels.
    """
    layers = network.folded_layers()
    if quantize:
        try:
            return Int8MLP(layers).eval()
        except RuntimeError as error:  # no quantised engine in this build or on this CPU
            log.warning("int8 inference unavailable (%s); using float32", one_line(error))
    return FoldedMLP(layers).eval()
