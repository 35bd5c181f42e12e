"""Batch data augmentation that makes a fully connected net robust to real digit crops.

A fully connected net has no built-in tolerance to shifts or deformations, so it must see
them in training (Simard et al. 2003 reached 99.3% on MNIST with an MLP this way). Every
transform here works on a whole batch at once with tensor ops (one ``grid_sample`` for
the geometry, a few pooling and convolution calls for the rest), so an epoch stays fast on
a CPU. Magnitudes are kept small so that a digit stays MNIST-like: roughly a 20 px box,
centred by mass, white strokes on black, a little anti-aliasing at the edges.

The real crops come from a normaliser that binarises ink, downscales with area averaging
and adjusts stroke width, so besides the geometry we also vary stroke thickness and
occasionally binarise-then-soften, blur, or add a little noise.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from recognizer.model import IMAGE_SIDE

# The elastic field is divided by its own std; this floor only guards against dividing by
# zero (a random field is never flat in practice).
MIN_FIELD_STD = 1e-6


@dataclass(frozen=True)
class AugmentConfig:
    """Magnitudes of the random transforms (each drawn independently per image)."""
    rotate_degrees: float = 12.0           # rotation in [-r, r]
    scale: tuple[float, float] = (0.85, 1.12)  # isotropic zoom of the digit
    aspect: float = 0.08                   # extra x/y scale difference in [-a, a]
    shear: float = 0.2                     # horizontal shear factor in [-s, s] (slanted writing)
    translate_pixels: float = 1.5          # shift in [-t, t] px: crops are centred by mass
    elastic_probability: float = 0.7
    elastic_pixels: float = 1.6            # std of the elastic displacement, in pixels
    elastic_sigma: float = 4.0             # smoothness of the displacement field, in pixels
    stroke_probability: float = 0.5        # thicken or thin the stroke
    stroke_range: tuple[float, float] = (-0.6, 0.8)  # <0 erode, >0 dilate (fraction of 1 px)
    binarize_probability: float = 0.15     # hard threshold then soften (like the normaliser)
    binarize_threshold: tuple[float, float] = (0.3, 0.6)  # threshold drawn from this range
    blur_probability: float = 0.2
    blur_sigma: tuple[float, float] = (0.4, 0.9)
    noise_probability: float = 0.15
    noise_std: float = 0.06

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _uniform(n: int, low: float, high: float, generator: torch.Generator, device: torch.device
             ) -> torch.Tensor:
    return torch.empty(n, device=device).uniform_(low, high, generator=generator)


def _chance(n: int, probability: float, generator: torch.Generator, device: torch.device
            ) -> torch.Tensor:
    return torch.rand(n, device=device, generator=generator) < probability


def _gaussian_kernels(sigmas: torch.Tensor, radius: int) -> torch.Tensor:
    """One normalised 1-D Gaussian per sigma: shape len(sigmas) x (2 * radius + 1)."""
    offsets = torch.arange(-radius, radius + 1, device=sigmas.device, dtype=torch.float32)
    kernels = torch.exp(-offsets.square() / (2 * sigmas[:, None].square()))
    return kernels / kernels.sum(dim=1, keepdim=True)


def _blur_each(x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur of every N x C x H x W image with its own sigma (one grouped conv)."""
    n, c, h, w = x.shape
    radius = max(1, math.ceil(3 * float(sigmas.max())))
    kernels = _gaussian_kernels(sigmas, radius).repeat_interleave(c, dim=0)  # (N*C) x K
    flat = x.reshape(1, n * c, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"),
                    kernels[:, None, None, :], groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"),
                    kernels[:, None, :, None], groups=n * c)
    return flat.reshape(n, c, h, w)


def _warp(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Random affine transform plus elastic distortion, sampled in a single grid_sample."""
    n, device = x.shape[0], x.device
    angle = torch.deg2rad(_uniform(n, -cfg.rotate_degrees, cfg.rotate_degrees, generator, device))
    zoom = _uniform(n, *cfg.scale, generator, device)
    aspect = _uniform(n, -cfg.aspect, cfg.aspect, generator, device)
    shear = _uniform(n, -cfg.shear, cfg.shear, generator, device)
    shift = _uniform(2 * n, -cfg.translate_pixels, cfg.translate_pixels, generator, device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output coordinates to where they sample the input:
    # theta = diag(1/zoom_x, 1/zoom_y) @ shear @ rotation, so a zoom > 1 enlarges the digit.
    sx, sy = 1 / (zoom * (1 + aspect)), 1 / (zoom * (1 - aspect))
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = sx * (cos - shear * sin)
    theta[:, 0, 1] = sx * (sin + shear * cos)
    theta[:, 1, 0] = -sy * sin
    theta[:, 1, 1] = sy * cos
    theta[:, :, 2] = shift.view(n, 2) * (2 / IMAGE_SIDE)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)

    if cfg.elastic_probability > 0 and cfg.elastic_pixels > 0:
        field = torch.rand(n, 2, IMAGE_SIDE, IMAGE_SIDE, device=device, generator=generator) * 2 - 1
        field = _blur_each(field, torch.full((n,), cfg.elastic_sigma, device=device))
        field = field / field.flatten(1).std(dim=1).clamp_min(MIN_FIELD_STD)[:, None, None, None]
        strength = _uniform(n, 0, 1, generator, device) * cfg.elastic_pixels
        strength = strength * _chance(n, cfg.elastic_probability, generator, device)
        grid = grid + (field * strength[:, None, None, None]).permute(0, 2, 3, 1) * (2 / IMAGE_SIDE)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _stroke(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Thicken (max-pool) or thin (min-pool) strokes by a random fraction of a pixel."""
    n, device = x.shape[0], x.device
    amount = _uniform(n, *cfg.stroke_range, generator, device)
    amount = (amount * _chance(n, cfg.stroke_probability, generator, device))[:, None, None, None]
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    target = torch.where(amount > 0, dilated, eroded)
    return x + amount.abs() * (target - x)


def augment_batch(images: torch.Tensor, generator: torch.Generator,
                  config: AugmentConfig | None = None) -> torch.Tensor:
    """Randomly deform a batch of N x 28 x 28 float images in [0, 1]; same shape and range out.

    All randomness comes from ``generator`` (on the images' device), so a seeded generator
    gives the same augmented batch every time.
    """
    cfg = config or AugmentConfig()
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"expected N x {IMAGE_SIDE} x {IMAGE_SIDE} images, got {tuple(images.shape)}")
    n, device = images.shape[0], images.device
    if n == 0:
        return images.clone()
    x = _warp(images.unsqueeze(1).float(), cfg, generator)
    x = _stroke(x, cfg, generator)

    # Binarise then soften: a hard ink mask with anti-aliased edges, as the normaliser makes.
    binarize = _chance(n, cfg.binarize_probability, generator, device)[:, None, None, None]
    threshold = _uniform(n, *cfg.binarize_threshold, generator, device)[:, None, None, None]
    x = torch.where(binarize, (x > threshold).float(), x)
    blur = _chance(n, cfg.blur_probability, generator, device)[:, None, None, None] | binarize
    sigma = _uniform(n, *cfg.blur_sigma, generator, device)
    x = torch.where(blur, _blur_each(x, sigma), x)

    noisy = _chance(n, cfg.noise_probability, generator, device)[:, None, None, None]
    noise = torch.randn(x.shape, device=device, generator=generator) * cfg.noise_std
    x = torch.where(noisy, x + noise, x)
    return x.clamp_(0.0, 1.0).squeeze(1)
