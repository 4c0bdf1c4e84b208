"""Outlier channels of trained ViTs, injected into a random-weight SAM ViT checkpoint.

Trained transformers have a few LayerNorm output channels tens of times larger than the rest (large
gamma and beta there); random weights have gamma = 1, beta = 0 everywhere. `inject_outliers` scales a
few gamma/beta channels of norm1/norm2 in several image-encoder blocks by 20-50x and compensates the
next Linear (attn.qkv after norm1, mlp.lin1 after norm2): its input column c is divided by the same
factor, and the offset that the new beta adds is taken off its bias. The network computes the same
function in exact arithmetic, so fp32 outputs match the original checkpoint up to rounding, while the
activations the int8 MatMuls see have the outlier channels that break per-tensor quantisation.
"""

import numpy as np

BLOCKS = (0, 2, 5, 8, 11)   # image-encoder blocks that get outliers (ViT-B has 12: 2, 5, 8, 11 are global)
GLOBAL = (2, 5, 8, 11)      # the others attend in windows over zero-padded tokens (sam-vit-b's global_attn_indexes)
CHANNELS = 4                # outlier channels per LayerNorm
FACTOR = (20.0, 50.0)       # how much larger those channels become


def inject_outliers(state_dict: dict, seed: int = 22) -> dict:
    """A copy of a SAM ViT state dict (torch tensors) with outlier LayerNorm channels in BLOCKS."""
    import torch

    rng = np.random.default_rng(seed)
    out = {k: v.clone() for k, v in state_dict.items()}
    for b in BLOCKS:
        for norm, linear in (("norm1", "attn.qkv"), ("norm2", "mlp.lin1")):
            gamma, beta = out[f"image_encoder.blocks.{b}.{norm}.weight"], out[f"image_encoder.blocks.{b}.{norm}.bias"]
            weight, bias = out[f"image_encoder.blocks.{b}.{linear}.weight"], out[f"image_encoder.blocks.{b}.{linear}.bias"]
            channels = torch.from_numpy(rng.choice(gamma.numel(), CHANNELS, replace=False))
            factor = torch.from_numpy(rng.uniform(*FACTOR, CHANNELS)).float()
            # a trained-looking beta in those channels too (random LayerNorms start at 0); not before a windowed
            # attention, whose zero padding would see the offset that the bias takes back on real tokens only
            offset = torch.from_numpy(rng.uniform(0.5, 1.5, CHANNELS)).float() * factor
            if norm == "norm1" and b not in GLOBAL:
                offset = torch.zeros(CHANNELS)
            bias -= (weight[:, channels] / factor) @ offset  # y = W x + b stays the same with x_c += offset_c
            gamma[channels] *= factor
            beta[channels] = beta[channels] * factor + offset
            weight[:, channels] /= factor
    return out


def outlier_ratio(state_dict: dict) -> float:
    """Largest |gamma| + |beta| over the median channel, across the image encoder's LayerNorms."""
    ratios = []
    for key, gamma in state_dict.items():
        if key.startswith("image_encoder.blocks.") and key.endswith(("norm1.weight", "norm2.weight")):
            mag = (gamma.abs() + state_dict[key[:-len("weight")] + "bias"].abs()).numpy()
            ratios.append(mag.max() / np.median(mag))
    return float(max(ratios))
