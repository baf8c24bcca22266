"""Analyses of trained networks: learned time constants per pathway, the fraction of long
time constants, the "reset long-tau synapses" ablation and its control (as many random
synapses reset), robustness curves, and their figures (matplotlib, imported only when a
figure is drawn).

Pathways are named ``<layer>.<pathway>``: ``hidden0.feedforward``, ``hidden0.recurrent``,
``hidden0.reset``, ``hidden0.bias``, ``hidden0.adaptation``, ``readout.feedforward`` ...;
in the shared models the one decay of a neuron is ``hidden0.membrane``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor, nn

from .core.timescales import DecayParameter, tau_to_decay
from .core.validation import check_positive

PATHWAY_NAMES = {
    "syn": "feedforward",
    "rec": "recurrent",
    "reset": "reset",
    "bias": "bias",
    "adapt": "adaptation",
    "membrane": "membrane",
}


def _layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """The (name, layer) pairs of a network whose layers hold ``decays`` (a ModuleDict)."""
    found = []
    hidden = getattr(net, "hidden", None)
    if isinstance(hidden, nn.ModuleList):
        found += [(f"hidden{i}", layer) for i, layer in enumerate(hidden)]
    readout = getattr(net, "readout", None)
    if readout is not None:
        found.append(("readout", readout))
    if not found:  # any other model: every module with decays, by its qualified name
        found = [(name or "layer", m) for name, m in net.named_modules() if _has_decays(m)]
    return [(name, layer) for name, layer in found if _has_decays(layer)]


def _has_decays(m: nn.Module) -> bool:
    decays = getattr(m, "decays", None)
    return isinstance(decays, nn.ModuleDict) and any(
        isinstance(d, DecayParameter) for d in decays.values()
    )


def decay_parameters(net: nn.Module) -> dict[str, DecayParameter]:
    """Every decay of ``net`` by pathway name (see the module docstring)."""
    out = {}
    for layer_name, layer in _layers(net):
        for key, decay in layer.decays.items():
            out[f"{layer_name}.{PATHWAY_NAMES.get(key, key)}"] = decay
    return out


@torch.no_grad()
def learned_taus(net: nn.Module, dt_ms: float = 1.0) -> dict[str, Tensor]:
    """The time constants of every pathway in ms (``tau = -dt / ln r``), flattened, float64."""
    check_positive("dt_ms", dt_ms)
    return {
        name: (-dt_ms / torch.log(decay().double())).flatten().cpu()
        for name, decay in decay_parameters(net).items()
    }


def long_tau_fraction(taus: dict[str, Tensor], threshold_ms: float) -> dict[str, float]:
    """Per pathway, the fraction of time constants above ``threshold_ms``."""
    check_positive("threshold_ms", threshold_ms)
    return {name: (t > threshold_ms).double().mean().item() for name, t in taus.items()}


@torch.no_grad()
def reset_long_taus(
    net: nn.Module,
    threshold_ms: float,
    to_ms: float,
    *,
    dt_ms: float = 1.0,
    pathways: Optional[Sequence[str]] = None,
    inplace: bool = False,
) -> tuple[nn.Module, dict[str, int]]:
    """The ablation: every synaptic time constant above ``threshold_ms`` is set to ``to_ms``.

    ``pathways`` restricts it (default: the hidden layers' feedforward and recurrent
    synapses). Returns the changed network (a copy unless ``inplace``) and how many time
    constants were reset per pathway.
    """
    check_positive("threshold_ms", threshold_ms)
    check_positive("to_ms", to_ms)
    net = net if inplace else copy.deepcopy(net)
    params = decay_parameters(net)
    if pathways is None:
        pathways = [
            n
            for n in params
            if n.startswith("hidden") and n.endswith((".feedforward", ".recurrent"))
        ]
    unknown = sorted(set(pathways) - set(params))
    if unknown:
        raise ValueError(f"pathways must be among {sorted(params)}; got unknown {unknown}")
    short = tau_to_decay(to_ms / dt_ms).item()
    counts = {}
    for name in pathways:
        decay = params[name]
        value = decay()
        long = (-dt_ms / torch.log(value.double())) > threshold_ms
        counts[name] = int(long.sum())
        decay.assign_(torch.where(long, torch.full_like(value, short), value))
    return net, counts


@torch.no_grad()
def reset_random_taus(
    net: nn.Module,
    counts: dict[str, int],
    to_ms: float,
    *,
    dt_ms: float = 1.0,
    generator: Optional[torch.Generator] = None,
    inplace: bool = False,
) -> nn.Module:
    """The ablation's control: in each pathway of ``counts``, that many synaptic time
    constants drawn at random (whatever their value) are set to ``to_ms``.

    With the ``counts`` that :func:`reset_long_taus` returns, it resets as many synapses as the
    ablation did, in the same pathways: if that costs as much accuracy, the ablation's drop
    says nothing about the long time constants in particular. Returns the changed network (a
    copy unless ``inplace``).
    """
    check_positive("to_ms", to_ms)
    net = net if inplace else copy.deepcopy(net)
    params = decay_parameters(net)
    unknown = sorted(set(counts) - set(params))
    if unknown:
        raise ValueError(f"counts must name pathways among {sorted(params)}; got {unknown}")
    short = tau_to_decay(to_ms / dt_ms).item()
    for name, k in counts.items():
        value = params[name]()
        if not (isinstance(k, int) and 0 <= k <= value.numel()):
            raise ValueError(
                f"counts[{name!r}] must be an int in [0, {value.numel()}] (the pathway's "
                f"time constants); got {k!r}"
            )
        chosen = torch.zeros(value.numel(), dtype=torch.bool)
        chosen[torch.randperm(value.numel(), generator=generator)[:k]] = True
        chosen = chosen.view(value.shape).to(value.device)
        params[name].assign_(torch.where(chosen, torch.full_like(value, short), value))
    return net


# ---------------------------------------------------------------------- figures


def plot_tau_histograms(
    taus: dict[str, Tensor],
    path: str | Path,
    *,
    title: str = "",
    bins: int = 40,
    compare: Optional[dict[str, Tensor]] = None,
) -> Path:
    """One log-scale histogram per pathway (``compare``, e.g. the initial values, drawn
    behind in grey); saved to ``path`` (PNG, SVG, PDF by suffix). ``bins`` at most: a pathway
    of few values (one per neuron) gets about one bin per four values, at least five."""
    plt = _pyplot()
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter

    names = [n for n in taus if taus[n].numel() > 1] or list(taus)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        values = taus[name].clamp(min=1e-3)
        n_bins = int(min(bins, max(5, values.numel() // 4)))
        edges = torch.logspace(
            torch.log10(values.min() * 0.9), torch.log10(values.max() * 1.1), n_bins + 1
        )
        if compare is not None and name in compare:
            ax.hist(
                compare[name].clamp(min=1e-3).numpy(),
                bins=edges.numpy(),
                color="0.8",
                label="initial",
            )
        ax.hist(values.numpy(), bins=edges.numpy(), color="C0", alpha=0.85, label="learned")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(numticks=4))
        ax.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks overlapped
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts
        ax.set_xlabel("tau (ms)")
        ax.set_title(name, fontsize=9)
    axes[0][0].set_ylabel("count")
    if compare is not None:
        axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_curves(
    curves: dict[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    chance: Optional[float] = None,
) -> Path:
    """Line plot of ``{label: (xs, ys)}`` (e.g. accuracy vs noise level per model)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for label, (xs, ys) in curves.items():
        ax.plot(list(xs), list(ys), marker="o", label=label)
    if chance is not None:
        ax.axhline(chance, color="0.6", ls="--", lw=1, label="chance")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


class _Figures:
    """``subplots`` and ``close`` as pyplot's, for figures that are only saved to a file:
    plain :class:`matplotlib.figure.Figure` objects. They select no backend and are not
    registered with pyplot, so a caller's backend and a notebook's inline display stay as
    they were (``matplotlib.use("Agg")`` here once switched the display off for the rest of a
    notebook)."""

    @staticmethod
    def subplots(*args, figsize=None, layout=None, **kwargs):
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, layout=layout)
        return fig, fig.subplots(*args, **kwargs)

    @staticmethod
    def close(fig) -> None:
        """Nothing to release: pyplot never held the figure."""


def _pyplot() -> _Figures:
    """The figure factory of this module's plots (see :class:`_Figures`)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # pragma: no cover - matplotlib is a dependency of the tasks
        raise ImportError("figures need matplotlib: pip install matplotlib") from None
    return _Figures()


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
