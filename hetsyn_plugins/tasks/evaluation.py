"""The paper's evaluations on top of :func:`~hetsyn_plugins.tasks.training.train`: models side by
side over seeds, robustness to input noise and time warp, accuracy vs hidden size, and the
time-constant ablation.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace
from typing import Optional

import torch
from torch import nn

from ..analysis import learned_taus, long_tau_fraction, reset_long_taus
from ..core.validation import check_positive
from .base import Task
from .perturbations import make_perturbation
from .training import TrainResult, evaluate, train


def summarize(values: Sequence[float]) -> dict:
    """Mean, sample standard deviation (0 for one value), min, max and n of ``values``."""
    values = [float(v) for v in values]
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def compare_models(
    task: Task,
    models: Sequence[str],
    seeds: Sequence[int] = (0,),
    **train_options,
) -> dict[str, list[TrainResult]]:
    """Train every model with every seed on ``task``: ``{model: [result per seed]}``."""
    return {m: [train(task, m, seed=s, **train_options) for s in seeds] for m in models}


def robustness(
    net: nn.Module,
    task: Task,
    kind: str,
    levels: Sequence[float],
    *,
    repeats: int = 1,
    batch_size: int = 256,
) -> list[float]:
    """The test metric at every perturbation level (see
    :mod:`hetsyn_plugins.tasks.perturbations`), averaged over ``repeats`` noise draws."""
    if kind == "warp" and task.metric_name != "accuracy":
        raise ValueError(
            f"kind='warp' needs a classification task (the target has a fixed length); "
            f"got task {task.name!r}"
        )
    out = []
    for level in levels:
        transform = make_perturbation(kind, level)
        scores = [
            evaluate(
                net,
                task,
                batch_size=batch_size,
                transform=transform,
                generator=torch.Generator().manual_seed(r),
            )[1]
            for r in range(repeats)
        ]
        out.append(statistics.fmean(scores))
    return out


def hidden_size_sweep(
    task: Task,
    models: Sequence[str],
    sizes: Sequence,
    seeds: Sequence[int] = (0,),
    **train_options,
) -> dict[str, dict[int, dict]]:
    """Test metric vs hidden size: ``{model: {size: summarize(metric over seeds)}}``.

    ``task`` must have a ``hidden`` option; a size is what that option takes (an int for DMS,
    pattern generation and digits, a tuple of layer sizes for SHD)."""
    if not hasattr(task, "hidden"):
        raise ValueError(f"task {task.name!r} has no 'hidden' option to sweep")
    table: dict[str, dict[int, dict]] = {}
    for model in models:
        table[model] = {}
        for size in sizes:
            sized = replace(task, hidden=size)
            results = [train(sized, model, seed=s, **train_options) for s in seeds]
            table[model][size] = summarize([r.test_metric for r in results])
    return table


def tau_ablation(
    net: nn.Module,
    task: Task,
    threshold_ms: float,
    to_ms: Optional[float] = None,
    *,
    dt_ms: Optional[float] = None,
) -> dict:
    """The "reset long-tau synapses" ablation: the test metric before and after every hidden
    synaptic time constant above ``threshold_ms`` is set to ``to_ms`` (default: a tenth of the
    threshold), with the fraction of long time constants per pathway."""
    check_positive("threshold_ms", threshold_ms)
    dt_ms = dt_ms if dt_ms is not None else getattr(task, "dt_ms", 1.0)
    to_ms = to_ms if to_ms is not None else threshold_ms / 10
    taus = learned_taus(net, dt_ms)
    ablated, counts = reset_long_taus(net, threshold_ms, to_ms, dt_ms=dt_ms)
    return {
        "threshold_ms": threshold_ms,
        "to_ms": to_ms,
        "long_fraction": long_tau_fraction(taus, threshold_ms),
        "reset_counts": counts,
        "metric_before": evaluate(net, task)[1],
        "metric_after": evaluate(ablated, task)[1],
        "metric_name": task.metric_name,
    }
