"""A small time-conditioned UNet for images of any size (Ho et al. 2020, scaled down)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scorekit.builtins.configs import UNetConfig
from scorekit.condition import Condition
from scorekit.errors import ConfigError
from scorekit.interfaces import ScoreModel
from scorekit.nets.embeddings import LabelEmbedding, SinusoidalEmbedding, class_labels, distinct_times

__all__ = ["UNet"]


class _ResBlock(nn.Module):
    """norm → SiLU → conv3×3, plus a projection of the time embedding, norm → SiLU → dropout → conv3×3; residual."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class _Attention(nn.Module):
    """Single-head self-attention over the pixels, residual (the middle block of Ho et al. 2020)."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)
        y = F.scaled_dot_product_attention(q, k, v)  # (b, hw, c)
        return x + self.out(y.transpose(-1, -2).reshape(b, c, h, w))


class UNet(ScoreModel):
    """Encoder–decoder with skip connections for (B, C, H, W), conditioned on t by its embedding.

    Levels follow ``channel_mult``: ``num_res_blocks`` residual blocks per level, a stride-2
    convolution between levels, a middle block (residual, attention, residual), and a decoder
    mirroring the encoder with nearest-neighbour upsampling and skip concatenation. H and W are
    padded with zeros up to a multiple of 2^(levels − 1) and the output is cropped back, so any
    image size works. The output means what ``prediction`` says (ε by default).
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        self.parametrization = config.prediction  # type: ignore[misc]
        self.num_classes = config.classes

    def bind(self, event_shape: tuple[int, ...]) -> None:
        if len(event_shape) != 3:
            raise ConfigError(
                f"the unet model needs image data of event shape (C, H, W), got {tuple(event_shape)}; "
                "use time_mlp for vectors @ $.model.kind"
            )
        super().bind(event_shape)
        config = self.config
        in_channels = event_shape[0]
        emb_dim = 4 * config.channels
        block = lambda c_in, c_out: _ResBlock(c_in, c_out, emb_dim, config.groups, config.dropout)  # noqa: E731
        self.embedding = nn.Sequential(
            SinusoidalEmbedding(config.embedding_dim, config.time_scale),
            nn.Linear(config.embedding_dim, emb_dim),
            nn.SiLU(),
            nn.Linear(emb_dim, emb_dim),
        )
        if config.classes:  # a class's vector is added to the time embedding
            self.label_embedding = LabelEmbedding(config.classes, emb_dim)
        widths = [config.channels * m for m in config.channel_mult]
        self.stem = nn.Conv2d(in_channels, config.channels, 3, padding=1)
        self.down = nn.ModuleList()
        skips, c = [config.channels], config.channels
        for level, width in enumerate(widths):
            for _ in range(config.num_res_blocks):
                self.down.append(block(c, width))
                c = width
                skips.append(c)
            if level < len(widths) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.middle = nn.ModuleList([block(c, c), _Attention(c, config.groups) if config.attention else nn.Identity()])
        self.middle_out = block(c, c)
        self.up = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(config.num_res_blocks + 1):
                self.up.append(block(c + skips.pop(), width))
                c = width
            if level > 0:
                self.up.append(
                    nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1))
                )
        last = nn.Conv2d(c, in_channels, 3, padding=1)
        # A zero last layer starts the net at output 0, a common choice for ε-prediction.
        nn.init.zeros_(last.weight)
        assert last.bias is not None
        nn.init.zeros_(last.bias)
        self.head = nn.Sequential(nn.GroupNorm(config.groups, c), nn.SiLU(), last)
        self._multiple = 2 ** (len(widths) - 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, condition: Condition | None = None) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % self._multiple, -width % self._multiple
        h = F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x
        emb = self.embedding(distinct_times(t))  # (1, ·) for a time broadcast over the batch
        labels = class_labels(self, condition, x.shape[0])
        if labels is not None:
            emb = emb + self.label_embedding(labels)
        h = self.stem(h)
        stack = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, _ResBlock) else layer(h)
            stack.append(h)
        h = self.middle[1](self.middle[0](h, emb))
        h = self.middle_out(h, emb)
        for layer in self.up:
            h = layer(torch.cat([h, stack.pop()], dim=1), emb) if isinstance(layer, _ResBlock) else layer(h)
        return self.head(h)[..., :height, :width]
