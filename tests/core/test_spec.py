"""One spec (``core.spec.HetSynSpec``): every option once, validated there, reachable from
every face or excluded with a reason; the hosts' name translations as pure functions."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hetsyn_plugins.core import HetSynLIF, HetSynReadout
from hetsyn_plugins.core.spec import FIELDS, SPIKING_ONLY, HetSynSpec
from hetsyn_plugins.core.timescales import Decay

snn = pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly.activation_based")

from hetsyn_plugins.adapters.snntorch import HetSynLeaky, HetSynLI  # noqa: E402
from hetsyn_plugins.adapters.snntorch import _options as snn_options  # noqa: E402
from hetsyn_plugins.adapters.spikingjelly import HetSynNode  # noqa: E402
from hetsyn_plugins.adapters.spikingjelly import _options as sj_options  # noqa: E402

IN, OUT = 4, 3


def _spike(u):
    return (u > 0).to(u.dtype)


_spike.elementwise = True

# a value of every option other than its default, and what it needs beside it
VALUES = {
    "heterogeneity": ("neuron", {}),
    "recurrent": (True, {}),
    "self_connections": (False, {"recurrent": True}),
    "tau_syn": (7.0, {}),
    "tau_reset": (9.0, {}),
    "learn_reset_decay": (False, {}),
    "tau_rec": (11.0, {"recurrent": True}),
    "tau_bias": (13.0, {}),
    "adaptation": (True, {}),
    "tau_adapt": (150.0, {"adaptation": True}),
    "adapt_strength": (0.3, {"adaptation": True}),
    "threshold": (1.5, {}),
    "learn_threshold": (True, {}),
    "reset": ("none", {}),
    "reset_amount": (0.5, {}),
    "reset_timing": ("at_spike", {}),
    "detach_reset": (True, {}),
    "bias": (False, {}),
    "learn_decays": (False, {}),
    "decay_parametrization": ("clamp", {}),
    "spike_fn": (_spike, {}),
    "dt": (0.5, {}),
    "kernel": ("reference", {}),
    "stateful": (True, {}),
    "decay_input": (True, {}),
    "branches": (3, {"heterogeneity": "branch", "branches": 2}),
    "branch_assignment": ("random", {"heterogeneity": "branch", "branches": 2}),
    "membrane_decay": (0.8, {}),
    "learn_membrane_decay": (False, {"membrane_decay": 0.9}),
}
# SpikingJelly's node takes reset_amount only with its soft reset (the core's "subtract"), and
# has decay_input=True by default (LIFNode's)
HOST_NEEDS = {("neuron.HetSynNode", "reset_amount"): {"v_reset": None}}
# where a face's default differs from the core's (snnTorch detaches its delayed reset)
HOST_VALUES = {
    ("neuron.HetSynNode", "decay_input"): False,
    ("snn.HetSynLeaky", "detach_reset"): False,
}


def _effective(value):
    """What a value stands for: a face's own spike function (snnTorch's ``_spike``, a bound
    method) for the host surrogate it applies."""
    return getattr(getattr(value, "__self__", None), "spike_grad", value)


def _differs(a, b) -> bool:
    """Whether ``a`` (given) differs from ``b`` (the face's default) by value: tensors by
    contents, functions by name (two default surrogates are distinct objects), initializers
    by their repr, which states their values."""
    a, b = _effective(a), _effective(b)
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        both = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
        return not (both and torch.equal(a, b))
    if type(a) is not type(b):
        return True
    if callable(a) and hasattr(a, "__qualname__"):
        return a.__qualname__ != b.__qualname__
    return a != b if not hasattr(a, "__dict__") else repr(a) != repr(b)


def _beta(kw: dict) -> dict:
    """snnTorch's faces take beta, or tau_syn instead."""
    return kw if "tau_syn" in kw else {"beta": 0.9, **kw}


FACES = {
    "HetSynLIF": (lambda **kw: HetSynLIF(IN, OUT, **kw), {}, {"readout": "HetSynReadout"}),
    "HetSynReadout": (
        lambda **kw: HetSynReadout(IN, OUT, **kw), {},
        {"readout": "fixed", **dict.fromkeys(SPIKING_ONLY, "no spike")},
    ),
    "snn.HetSynLeaky": (
        lambda **kw: HetSynLeaky(IN, OUT, **_beta(kw)).layer,
        {"learn_decays": ("learn_beta", True), "reset": ("reset_mechanism", "zero"),
         "reset_timing": ("reset_delay", False), "spike_fn": ("spike_grad", _spike)},
        snn_options.LEAKY_EXCLUDED,
    ),
    "snn.HetSynLI": (
        lambda **kw: HetSynLI(IN, OUT, **_beta(kw)).layer,
        {"learn_decays": ("learn_beta", True)},
        snn_options.LI_EXCLUDED,
    ),
    "neuron.HetSynNode": (
        lambda **kw: HetSynNode(IN, OUT, **kw).layer,
        {"tau_syn": ("tau", 5.0), "threshold": ("v_threshold", 2.0), "reset": ("v_reset", None),
         "spike_fn": ("surrogate_function", _spike)},
        sj_options.NODE_EXCLUDED,
    ),
}  # fmt: skip


@pytest.mark.parametrize("face", FACES)
def test_every_option_is_reachable_from_every_face_or_excluded_with_a_reason(face):
    """Walks the spec's fields: each one changes the face's layer's spec when given (under the
    spec's own name or the host's), or the face lists it as excluded, with the reason."""
    make, translated, excluded = FACES[face]
    reached = []
    for field in FIELDS[2:]:
        if field in excluded:
            assert isinstance(excluded[field], str) and excluded[field]
            continue
        name, value = translated.get(field, (field, VALUES[field][0]))
        needs = dict(VALUES.get(field, (None, {}))[1])
        needs.update(HOST_NEEDS.get((face, field), {}))
        value = HOST_VALUES.get((face, field), value)
        base = make(**needs).spec
        got = make(**{**needs, name: value}).spec
        assert _differs(getattr(got, field), getattr(base, field)), (face, field, name)
        reached.append(field)
    assert len(reached) + len([f for f in FIELDS[2:] if f in excluded]) == len(FIELDS) - 2
    assert len(reached) >= 8  # the walk saw the options


@pytest.mark.parametrize("face", ["snn.HetSynLeaky", "snn.HetSynLI", "neuron.HetSynNode"])
def test_a_spec_name_the_host_spells_otherwise_names_the_hosts(face):
    make, translated, excluded = FACES[face]
    for field, (host_name, _) in translated.items():
        with pytest.raises(TypeError, match=repr(host_name)):
            make(**{field: VALUES[field][0]})
    for field in excluded:
        with pytest.raises(TypeError, match=f"does not take {field!r}"):
            make(**{field: VALUES.get(field, (True, {}))[0]})


def test_unknown_option_names_itself():
    for make in (lambda: HetSynLIF(3, 2, tau_sin=5.0), lambda: HetSynLeaky(3, 2, 0.9, tau_sin=5.0),
                 lambda: HetSynNode(3, 2, tau_sin=5.0)):  # fmt: skip
        with pytest.raises(TypeError, match="tau_sin"):
            make()


def test_spec_validates_once_for_every_layer():
    spec = HetSynSpec(3, 2, recurrent=True, tau_rec=5.0)
    assert HetSynLIF.from_spec(spec).spec.tau_rec == 5.0
    assert spec.replace(kernel="reference").kernel == "reference"
    with pytest.raises(ValueError, match="kernel"):
        spec.replace(kernel="fast")
    with pytest.raises(ValueError, match="readout .* takes none of recurrent"):
        HetSynSpec(3, 2, readout=True, recurrent=True)
    with pytest.raises(ValueError, match="tau_rec must be None when heterogeneity='none'"):
        HetSynSpec(3, 2, heterogeneity="none", recurrent=True, tau_rec=5.0)
    with pytest.raises(ValueError, match="threshold"):
        HetSynSpec(3, 2, threshold=torch.ones(3))
    with pytest.raises(ValueError, match="out_features must be a positive integer; got 2.5"):
        HetSynSpec(3, 2.5)
    assert [f.name for f in dataclasses.fields(HetSynSpec)] == list(FIELDS)


def test_layer_kernel_and_stateful_are_the_specs():
    layer = HetSynLIF(3, 2)
    layer.kernel = "reference"
    layer.stateful = True
    assert layer.spec.kernel == "reference" and layer.spec.stateful
    with pytest.raises(ValueError, match="kernel"):
        layer.kernel = "fastest"


# --------------------------------------------------------------------------- translations


def test_per_neuron_beta_is_per_neuron_in_a_per_synapse_layer():
    beta = torch.tensor([0.5, 0.7, 0.9])
    given = {"tau_reset": None, "tau_rec": Decay(0.8), "tau_bias": None}
    b, filled = snn_options.per_neuron_beta(beta, 3, "synapse", given)
    assert b.shape == (3, 1) and torch.equal(b[:, 0], beta)
    assert torch.equal(filled["tau_reset"].value, beta)
    assert filled["tau_rec"] is given["tau_rec"]  # given: kept
    assert torch.equal(filled["tau_bias"].value, beta)
    for kept in ((beta, 3, "neuron"), (0.9, 3, "synapse"), (torch.rand(4), 3, "synapse")):
        assert snn_options.per_neuron_beta(*kept, given) == (kept[0], given)


def test_decays_need_exactly_one_of_beta_and_tau():
    assert isinstance(snn_options.decays(0.9, None), Decay)
    assert snn_options.decays(None, 5.0) == 5.0
    for both in ((None, None), (0.9, 5.0)):
        with pytest.raises(ValueError, match="give exactly one of beta"):
            snn_options.decays(*both)


@pytest.mark.parametrize(
    "reset_mechanism, reset_delay, detach_reset, timing, detach",
    [
        ("subtract", True, None, "next_step", True),
        ("subtract", False, None, "at_spike", False),
        ("subtract", False, True, "at_spike", True),
        ("zero", True, None, None, True),
    ],
)
def test_leaky_options_translate_snntorchs_reset(
    reset_mechanism, reset_delay, detach_reset, timing, detach
):
    got = snn_options.leaky_options(
        3, beta=0.9, threshold=1.0, spike_fn=_spike, learn_beta=True, learn_threshold=False,
        reset_mechanism=reset_mechanism, reset_delay=reset_delay, detach_reset=detach_reset,
        options={"recurrent": True},
    )  # fmt: skip
    assert got["reset"] == reset_mechanism and got["reset_timing"] == timing
    assert got["detach_reset"] is detach and got["learn_decays"] is True
    assert got["recurrent"] is True and isinstance(got["tau_syn"], Decay)
    HetSynSpec(4, 3, **got)  # a valid spec


def test_node_options_translate_spikingjellys_names():
    got = sj_options.node_options(
        4.0, v_threshold=1.0, v_reset=-0.5, surrogate_function=_spike, detach_reset=False,
        decay_input=True, options={"tau_rec": 3.0, "recurrent": True},
    )  # fmt: skip
    assert got["reset"] == "zero" and got["reset_timing"] == "at_spike"
    assert got["threshold"] == 1.5  # measured from the rest potential -0.5
    spec = HetSynSpec(4, 3, **got)
    layer = HetSynLIF.from_spec(spec, dtype=torch.float64)
    # SpikingJelly's decays: 1 - 1/tau, for every time scale given in its sense
    torch.testing.assert_close(layer.syn_decay, torch.full((3, 4), 0.75, dtype=torch.float64))
    torch.testing.assert_close(
        layer.recurrent_decay, torch.full((3, 3), 1 - 1 / 3, dtype=torch.float64)
    )
    soft = sj_options.node_options(
        4.0, v_threshold=1.0, v_reset=None, surrogate_function=_spike, detach_reset=False,
        decay_input=False, options={},
    )  # fmt: skip
    assert soft["reset"] == "subtract" and soft["threshold"] == 1.0
