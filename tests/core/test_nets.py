"""The built-in noise-conditional MLP: any event rank, the 1/σ output scaling, seeded init."""

from __future__ import annotations

import pytest
import torch

from scorekit.builtins.configs import NCSNMLPConfig
from scorekit.nets import NCSNMLP


@pytest.mark.parametrize("event_shape", [(2,), (16,), (1, 4, 4)])
def test_any_event_shape(event_shape: tuple[int, ...]) -> None:
    model = NCSNMLP(NCSNMLPConfig(hidden=16, layers=2))
    model.bind(event_shape)
    x = torch.randn(5, *event_shape)
    out = model(x, torch.full((5,), 0.3))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_output_scales_as_one_over_sigma() -> None:
    """s(x, σ) = f(x, log σ)/σ: for the same f-value, σ·s is what the network computes."""
    model = NCSNMLP(NCSNMLPConfig(hidden=16, layers=1))
    model.bind((3,))
    x, sigma = torch.randn(4, 3), torch.tensor([0.01, 0.1, 1.0, 10.0])
    raw = model.output(
        model.act(
            model.hidden[0](model.act(model.input(x) + model.condition(model.embedding(sigma.log())).chunk(2, 1)[0]))
            + model.condition(model.embedding(sigma.log())).chunk(2, 1)[1]
        )
    )
    torch.testing.assert_close(model(x, sigma) * sigma[:, None], raw)


def test_initialization_is_seeded() -> None:
    def build() -> NCSNMLP:
        torch.manual_seed(0)
        model = NCSNMLP(NCSNMLPConfig())
        model.bind((2,))
        return model

    a, b = build(), build()
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


# -- time-conditioned nets -------------------------------------------------------------------------
def _time_nets() -> list[tuple[torch.nn.Module, tuple[int, ...]]]:
    from scorekit.builtins.configs import TimeMLPConfig, UNetConfig
    from scorekit.nets import TimeMLP, UNet

    torch.manual_seed(0)
    mlp = TimeMLP(TimeMLPConfig(hidden=32, layers=2))
    mlp.bind((3,))
    unet = UNet(UNetConfig(channels=8, channel_mult=[1, 2], groups=4))
    unet.bind((2, 7, 5))
    torch.nn.init.normal_(unet.head[-1].weight, std=0.1)  # the zero-initialized head would hide t
    return [(mlp, (3,)), (unet, (2, 7, 5))]


def test_sinusoidal_embedding_values() -> None:
    from scorekit.nets import SinusoidalEmbedding

    emb = SinusoidalEmbedding(8)(torch.tensor([0.0, 2.0]))
    frequencies = torch.tensor([1.0, 10000 ** (-1 / 3), 10000 ** (-2 / 3), 1e-4])
    assert torch.allclose(emb[0], torch.cat([torch.zeros(4), torch.ones(4)]))
    assert torch.allclose(emb[1], torch.cat([(2 * frequencies).sin(), (2 * frequencies).cos()]), atol=1e-6)


@pytest.mark.parametrize("index", [0, 1])
def test_time_nets_keep_shapes_depend_on_t_and_broadcast_times_exactly(index: int) -> None:
    """Any (C, H, W) for the UNet (7 × 5 is padded and cropped); a broadcast t gives the per-sample result."""
    net, event = _time_nets()[index]
    x = torch.randn(4, *event)
    t_view = torch.tensor(30.0).expand(4)  # as samplers pass a level: one stride-0 value
    out = net(x, t_view)
    assert out.shape == x.shape
    assert torch.allclose(out, net(x, torch.full((4,), 30.0)), atol=1e-5)
    assert (out - net(x, torch.full((4,), 600.0))).abs().max() > 1e-3
    # A different batch member's input does not leak into another's output.
    y = x.clone()
    y[1:] = torch.randn_like(y[1:])
    assert torch.allclose(net(y, t_view)[0], out[0], atol=1e-5)


def test_unet_refuses_vectors() -> None:
    from scorekit.builtins.configs import UNetConfig
    from scorekit.errors import ConfigError
    from scorekit.nets import UNet

    with pytest.raises(ConfigError, match=r"event shape \(C, H, W\).*time_mlp"):
        UNet(UNetConfig()).bind((2,))
    with pytest.raises(ValueError, match="groups"):
        UNetConfig(channels=12, groups=8)
