"""The figures of :mod:`hetsyn_plugins.analysis` leave matplotlib as they found it.

Tutorial 06 once lost every later figure: the module called ``matplotlib.use("Agg")``, which
switched the notebook's inline display off. The figures are now plain ``Figure`` objects,
saved to a file and never registered with pyplot.
"""

from __future__ import annotations

import pytest
import torch

from hetsyn_plugins import analysis

matplotlib = pytest.importorskip("matplotlib")


@pytest.fixture
def svg_backend():
    """A backend other than Agg selected by the caller (as a notebook selects inline)."""
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("svg")
    yield
    plt.switch_backend(before)


def test_figures_keep_the_callers_backend_and_pyplot_state(tmp_path, svg_backend):
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    taus = {"hidden0.feedforward": torch.rand(50) * 100 + 1, "hidden0.reset": torch.rand(5) + 1}
    hist = analysis.plot_tau_histograms(taus, tmp_path / "taus.png", compare=taus, title="t")
    curves = analysis.plot_curves(
        {"a": ([0, 1], [0.5, 0.9])}, tmp_path / "curves.png", xlabel="x", ylabel="y", chance=0.5
    )
    assert hist.stat().st_size > 1000 and curves.stat().st_size > 1000  # PNGs were written
    assert hist.read_bytes()[:4] == b"\x89PNG"
    assert matplotlib.get_backend() == "svg"
    assert plt.get_fignums() == open_before  # nothing left open in pyplot, nothing shown


def test_the_figure_factory_makes_unregistered_figures():
    import matplotlib.pyplot as plt

    fig, axes = analysis._pyplot().subplots(1, 2, figsize=(4, 2), squeeze=False)
    assert axes.shape == (1, 2) and fig.get_size_inches().tolist() == [4.0, 2.0]
    assert fig not in map(plt.figure, plt.get_fignums())


def _net():
    from hetsyn_plugins import HetSynLIF, Uniform

    torch.manual_seed(0)
    return torch.nn.Sequential(HetSynLIF(6, 4, recurrent=True, tau_syn=Uniform(5.0, 50.0)))


def test_the_control_resets_as_many_random_synapses_as_asked():
    net = _net()
    before = analysis.learned_taus(net)
    counts = {"0.feedforward": 7, "0.recurrent": 3}
    ablated = analysis.reset_random_taus(
        net, counts, to_ms=1.5, generator=torch.Generator().manual_seed(1)
    )
    after = analysis.learned_taus(ablated)
    for name, k in counts.items():
        changed = ~torch.isclose(before[name], after[name])
        assert int(changed.sum()) == k
        torch.testing.assert_close(after[name][changed], torch.full((k,), 1.5, dtype=torch.float64))
    assert torch.equal(analysis.learned_taus(net)["0.feedforward"], before["0.feedforward"])
    again = analysis.reset_random_taus(
        net, counts, to_ms=1.5, generator=torch.Generator().manual_seed(2)
    )  # another draw: other synapses
    assert not torch.equal(analysis.learned_taus(again)["0.feedforward"], after["0.feedforward"])


@pytest.mark.parametrize(
    "counts, match",
    [({"0.nothing": 1}, "counts must name pathways"), ({"0.recurrent": 17}, r"\[0, 16\]")],
)
def test_the_control_names_bad_counts(counts, match):
    with pytest.raises(ValueError, match=match):
        analysis.reset_random_taus(_net(), counts, to_ms=2.0)
