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
