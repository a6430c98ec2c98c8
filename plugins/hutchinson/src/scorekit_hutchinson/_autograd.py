"""What both estimators share: a differentiable input, vector–Jacobian products, and the outputs."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["evaluate", "finish", "vjp"]


def evaluate(
    func: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, create_graph: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_in, f(x_in)) with x_in a tensor autograd can differentiate f with respect to; call under enable_grad.

    x_in is ``x`` itself when ``create_graph`` and ``x`` is already in a graph, so the trace stays a
    function of whatever produced ``x``; otherwise a detached copy that requires grad. Either way
    the graph through ``func``'s parameters is kept when ``create_graph``.
    """
    x_in = x if create_graph and x.requires_grad else x.detach().requires_grad_(True)
    fx = func(x_in)
    if fx.shape != x.shape:
        raise ValueError(f"the trace needs f(x) shaped like x {tuple(x.shape)}, got {tuple(fx.shape)}")
    return x_in, fx


def vjp(fx: torch.Tensor, x: torch.Tensor, v: torch.Tensor, *, create_graph: bool, retain_graph: bool) -> torch.Tensor:
    """vₙᵀ(∂f/∂x) for a stack v of shape (n, *fx.shape): n > 1 in one vmapped backward pass.

    A function that does not depend on x has the zero Jacobian.
    """
    batched = v.shape[0] > 1
    grad = None
    if fx.requires_grad:
        (grad,) = torch.autograd.grad(
            fx,
            x,
            v if batched else v[0],
            retain_graph=retain_graph,
            create_graph=create_graph,
            allow_unused=True,
            is_grads_batched=batched,
        )
    if grad is None:
        return torch.zeros((v.shape[0], *x.shape), dtype=x.dtype, device=x.device)
    return grad if batched else grad.unsqueeze(0)


def finish(fx: torch.Tensor, trace: torch.Tensor, *, create_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The graph is kept only for create_graph; otherwise its buffers are already freed, so detach."""
    if create_graph:
        return fx, trace
    return fx.detach(), trace.detach()
