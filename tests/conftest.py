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


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)
    yield
