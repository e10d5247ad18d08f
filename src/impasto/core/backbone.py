"""VGG feature extractors with named layers, cut after the deepest layer a loss needs.

The layouts are written out here (no torchvision): a VGG is blocks of 3×3 convolutions, each followed by a
ReLU, with a 2×2 pooling after every block. Layers are named as in the papers: ``conv3_2`` is the second
convolution of the third block, ``relu3_2`` its ReLU, ``pool3`` the pooling that ends the block.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import torch
from torch import nn

from impasto.choices import LAYOUTS, layer_names
from impasto.core.registry import Preprocessing

__all__ = [
    "BLOCK_CHANNELS",
    "INPUT",
    "LAYOUTS",
    "FeatureExtractor",
    "Preprocessing",
    "conv_shapes",
    "layer_names",
]

# A name the extractor answers besides the network's layers: the image as the network sees it (its
# channels in the weights' order, the mean taken off), for losses on the pixels' colours.
INPUT = "input"

Pooling = Literal["max", "avg"]

# Output channels per block (the same for both depths).
BLOCK_CHANNELS = (64, 128, 256, 512, 512)


def conv_shapes(architecture: str) -> list[tuple[int, int]]:
    """(in_channels, out_channels) of each convolution of ``architecture``, in order."""
    shapes = []
    channels = 3
    for convs, out in zip(LAYOUTS[architecture], BLOCK_CHANNELS, strict=True):
        for _ in range(convs):
            shapes.append((channels, out))
            channels = out
    return shapes


ConvParams = Sequence[tuple[torch.Tensor, torch.Tensor]]  # (weight (O, I, 3, 3), bias (O,)) per conv


class FeatureExtractor(nn.Module):
    """A frozen VGG in eval mode that maps RGB images in [0, 1] to the activations of named layers.

    Call it with ``x`` of shape (B, 3, H, W); it returns ``{name: tensor (B, C, H', W')}`` for each name in
    ``layers`` (:data:`INPUT`: the preprocessed image, (B, 3, H, W)). The network is cut after the
    deepest of them, so nothing deeper is ever computed.
    """

    channels: torch.Tensor
    input_scale: torch.Tensor
    input_shift: torch.Tensor

    def __init__(
        self,
        architecture: str,
        params: ConvParams,
        preprocessing: Preprocessing,
        layers: Iterable[str],
        pooling: Pooling = "max",
    ) -> None:
        super().__init__()
        if architecture not in LAYOUTS:
            raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(LAYOUTS)}")
        shapes = conv_shapes(architecture)
        if len(params) != len(shapes):
            raise ValueError(f"{architecture} has {len(shapes)} convolutions, got {len(params)} weights")
        self.architecture = architecture
        self.layers = tuple(dict.fromkeys(layers))  # unique, in the order given
        all_names = layer_names(architecture)
        unknown = [name for name in self.layers if name not in (*all_names, INPUT)]
        if unknown or not self.layers:
            raise ValueError(f"unknown layers for {architecture}: {unknown or '(none asked for)'}")
        deepest = max((all_names.index(name) for name in self.layers if name != INPUT), default=-1)

        channels = (2, 1, 0) if preprocessing.channel_order == "BGR" else (0, 1, 2)
        self.register_buffer("channels", torch.tensor(channels), persistent=False)
        mean = torch.tensor(preprocessing.mean).view(1, 3, 1, 1)
        std = torch.tensor(preprocessing.std).view(1, 3, 1, 1)
        # (x * scale - mean) / std == x * (scale / std) - mean / std: one multiply-add.
        self.register_buffer("input_scale", preprocessing.scale / std, persistent=False)
        self.register_buffer("input_shift", mean / std, persistent=False)

        self.net = nn.Sequential()
        conv_index = 0
        for name in all_names[: deepest + 1]:
            module: nn.Module
            if name.startswith("conv"):
                c_in, c_out = shapes[conv_index]
                weight, bias = params[conv_index]
                if tuple(weight.shape) != (c_out, c_in, 3, 3) or tuple(bias.shape) != (c_out,):
                    raise ValueError(
                        f"{name}: expected weight (O, I, 3, 3) = {(c_out, c_in, 3, 3)} and bias "
                        f"({c_out},), got {tuple(weight.shape)} and {tuple(bias.shape)}"
                    )
                conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1)
                conv.weight = nn.Parameter(weight.detach().clone().float())
                conv.bias = nn.Parameter(bias.detach().clone().float())
                module, conv_index = conv, conv_index + 1
            elif name.startswith("relu"):
                # Not in place: the conv output it would overwrite may itself be a requested layer.
                module = nn.ReLU()
            elif pooling == "max":
                module = nn.MaxPool2d(2)
            else:
                # Gatys et al. replace max by average pooling for smoother gradients; weights trained
                # with max pooling still give good features (offered as an option, not the default).
                module = nn.AvgPool2d(2)
            self.net.add_module(name, module)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Always stays in eval mode: the extractor is frozen."""
        return super().train(False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1], (B, 3, H, W) → the input the weights expect, same shape."""
        return x.index_select(1, self.channels) * self.input_scale - self.input_shift

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected an RGB batch of shape (B, 3, H, W), got {tuple(x.shape)}")
        wanted = set(self.layers)
        features: dict[str, torch.Tensor] = {}
        x = self.preprocess(x)
        if INPUT in wanted:
            features[INPUT] = x
        for name, module in self.net.named_children():
            x = module(x)
            if name in wanted:
                features[name] = x
        return features
