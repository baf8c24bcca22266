"""Shared helpers of the test suite."""

from __future__ import annotations

import pytest
import torch


def smooth_spike(u: torch.Tensor) -> torch.Tensor:
    """A differentiable stand-in for the spike, so that gradcheck can compare numerical and
    analytical derivatives of everything else in the update rule."""
    return torch.sigmoid(4.0 * u)


def bernoulli(shape, p=0.3, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full(shape, p, dtype=dtype), generator=g)


def assert_all_close(got, expected, rtol: float, atol: float) -> None:
    """Each tensor of ``got`` close to its twin in ``expected``; None where, and only where,
    the twin is None (a state field or a gradient the path does not have)."""
    for a, b in zip(got, expected, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)
    yield
