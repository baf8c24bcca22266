"""Bad input raises a clear error that names the argument, the expected and the received value."""

from __future__ import annotations

import pytest
import torch

from hetsyn_plugins.core import HetSynLIF, HetSynReadout
from hetsyn_plugins.core.timescales import Decay, Normal, Uniform, tau_to_decay


def test_wrong_feature_size():
    layer = HetSynLIF(5, 3)
    with pytest.raises(
        ValueError,
        match=r"input must have shape \(T, B, in\) with in_features=5; got shape \(4, 2, 6\)",
    ):
        layer(torch.zeros(4, 2, 6))
    with pytest.raises(
        ValueError, match=r"input must have shape \(B, in\) with in_features=5; got shape \(2, 6\)"
    ):
        layer.step(torch.zeros(2, 6))


def test_wrong_number_of_dimensions():
    with pytest.raises(ValueError, match=r"\(T, B, in\).*got shape \(2, 5\)"):
        HetSynLIF(5, 3)(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"\(T, B, in\).*got shape \(2, 5\)"):
        HetSynReadout(5, 3)(torch.zeros(2, 5))


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.uint8])
def test_non_float_input(dtype):
    with pytest.raises(TypeError, match=f"input must have a floating-point dtype.*got {dtype}"):
        HetSynLIF(5, 3)(torch.zeros(4, 2, 5, dtype=dtype))


def test_non_tensor_input():
    with pytest.raises(TypeError, match="input must be a torch.Tensor; got list"):
        HetSynLIF(5, 3)([[0.0] * 5])


@pytest.mark.parametrize("bad", [0.0, -3.0, float("nan"), float("inf")])
@pytest.mark.parametrize("name", ["tau_syn", "tau_reset", "tau_adapt"])
def test_non_positive_tau(name, bad):
    kwargs = {name: bad, "adaptation": True}
    with pytest.raises(ValueError, match=f"{name}.*must be finite and > 0"):
        HetSynLIF(5, 3, **kwargs)


def test_tau_tensor_with_one_bad_entry():
    tau = torch.full((3, 5), 10.0)
    tau[1, 2] = -1.0
    with pytest.raises(
        ValueError,
        match=r"tau_syn must be finite and > 0 everywhere; got 1 bad entries of 15 \(for example -1.0\)",
    ):
        HetSynLIF(5, 3, tau_syn=tau)


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.2])
def test_decay_outside_open_unit_interval(bad):
    with pytest.raises(
        ValueError, match=f"decay must lie in the open interval \\(0, 1\\).*got {bad}"
    ):
        HetSynLIF(5, 3, tau_syn=Decay(bad))


def test_unknown_options():
    with pytest.raises(
        ValueError, match="heterogeneity must be one of 'synapse', 'input', 'branch', 'neuron', 'none'; got 'layer'"
    ):
        HetSynLIF(5, 3, heterogeneity="layer")
    with pytest.raises(
        ValueError, match="reset must be one of 'subtract', 'zero', 'none'; got 'hard'"
    ):
        HetSynLIF(5, 3, reset="hard")
    with pytest.raises(ValueError, match="kernel must be one of .*; got 'cuda'"):
        HetSynLIF(5, 3, kernel="cuda")
    with pytest.raises(
        ValueError, match="decay_parametrization must be one of 'logit', 'clamp'; got 'tanh'"
    ):
        HetSynLIF(5, 3, decay_parametrization="tanh")
    with pytest.raises(ValueError, match="reset_timing must be one of"):
        HetSynLIF(5, 3, reset_timing="later")


def test_bad_sizes():
    with pytest.raises(ValueError, match="in_features must be a positive integer; got 0"):
        HetSynLIF(0, 3)
    with pytest.raises(ValueError, match="out_features must be a positive integer; got 2.5"):
        HetSynLIF(3, 2.5)


def test_tied_time_constants_in_shared_models():
    # tau_reset unties the reset (a current of its own); the other decays stay tied
    assert HetSynLIF(5, 3, heterogeneity="neuron", tau_reset=5.0).untied_reset
    with pytest.raises(ValueError, match="tau_rec must be None when heterogeneity='none'"):
        HetSynLIF(5, 3, heterogeneity="none", recurrent=True, tau_rec=5.0)


def test_options_that_need_another_option():
    with pytest.raises(ValueError, match="tau_rec needs recurrent=True"):
        HetSynLIF(5, 3, tau_rec=5.0)
    with pytest.raises(ValueError, match="adapt_strength needs adaptation=True"):
        HetSynLIF(5, 3, adapt_strength=0.1)
    with pytest.raises(ValueError, match="reset_amount applies to reset='subtract' only"):
        HetSynLIF(5, 3, reset="zero", reset_amount=0.5)
    with pytest.raises(ValueError, match="tau_bias needs bias=True"):
        HetSynLIF(5, 3, bias=False, tau_bias=3.0)


def test_shapes_that_do_not_broadcast():
    with pytest.raises(
        ValueError, match=r"tau_syn must be broadcastable to shape \(3, 5\); got shape \(4,\)"
    ):
        HetSynLIF(5, 3, tau_syn=torch.ones(4))
    with pytest.raises(
        ValueError, match=r"threshold must be broadcastable to shape \(3,\); got shape \(2,\)"
    ):
        HetSynLIF(5, 3, threshold=torch.ones(2))
    with pytest.raises(
        ValueError, match=r"tau_syn must be broadcastable to shape \(\); got shape \(3,\)"
    ):
        HetSynLIF(5, 3, heterogeneity="none", tau_syn=torch.ones(3))
    with pytest.raises(
        ValueError, match="tau_reset must be given when tau_syn holds one value per synapse"
    ):
        HetSynLIF(5, 3, tau_syn=torch.ones(3, 5) * 4)


def test_bad_timescale_type_and_initializer_arguments():
    with pytest.raises(
        TypeError, match="tau_syn must be a float, a tensor of time constants or an initializer"
    ):
        HetSynLIF(5, 3, tau_syn="20ms")
    with pytest.raises(ValueError, match="high must be greater than low=5.0; got 2.0"):
        Uniform(5.0, 2.0)
    with pytest.raises(ValueError, match="std must be finite and > 0"):
        Normal(20.0, -1.0)
    with pytest.raises(ValueError, match="tau must be finite and > 0"):
        tau_to_decay(-2.0)


def test_spike_fn_must_be_callable():
    with pytest.raises(TypeError, match="spike_fn must be callable; got str"):
        HetSynLIF(5, 3, spike_fn="atan")


def test_empty_sequence():
    with pytest.raises(ValueError, match=r"at least one step and one sample.*got shape \(0, 2, 5\)"):
        HetSynLIF(5, 3)(torch.zeros(0, 2, 5))


@pytest.mark.parametrize(
    "name", ["recurrent", "adaptation", "detach_reset", "bias", "learn_decays", "stateful",
             "learn_threshold"],
)  # fmt: skip
@pytest.mark.parametrize("bad", ["False", "true", 2, None, 0.0])
def test_flags_must_be_booleans(name, bad):
    """A string "False" would read as True: every flag names itself and what it got."""
    with pytest.raises(TypeError, match=f"{name} must be True or False; got {bad!r}"):
        HetSynLIF(3, 2, **{name: bad})


def test_flags_take_bools_and_zero_one():
    import numpy as np

    assert HetSynLIF(3, 2, recurrent=np.bool_(True)).recurrent is True
    assert HetSynLIF(3, 2, recurrent=0).recurrent is False


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"threshold": float("nan")}, ValueError, "threshold must be finite and > 0"),
        ({"threshold": float("inf")}, ValueError, "threshold must be finite and > 0"),
        ({"threshold": 0.0}, ValueError, "threshold must be finite and > 0"),
        ({"threshold": torch.tensor([1.0, -1.0])}, ValueError, "threshold must be finite and > 0"),
        ({"threshold": "1"}, TypeError, "threshold must be a number or a tensor of numbers"),
        ({"reset_amount": float("nan")}, ValueError, "reset_amount must be finite"),
        (
            {"adaptation": True, "adapt_strength": float("inf")},
            ValueError,
            "adapt_strength must be finite",
        ),
    ],
)
def test_neuron_constants_are_checked(options, error, match):
    with pytest.raises(error, match=match):
        HetSynLIF(3, 2, **options)


def test_decay_that_rounds_to_one_in_the_layer_dtype():
    """A float32 decay that rounds to exactly 1.0 (tau = 1e9 steps) is refused at
    construction (the FFT filter gave NaN); float64 holds it."""
    with pytest.raises(ValueError, match=r"decays of tau_syn in the layer's dtype torch.float32 "
                       r"must lie in the open interval \(0, 1\).*1\.0"):  # fmt: skip
        HetSynLIF(3, 2, tau_syn=1e9)
    layer = HetSynLIF(3, 2, tau_syn=1e9, dtype=torch.float64, kernel="fft")
    assert torch.isfinite(layer(torch.ones(20, 1, 3, dtype=torch.float64))).all()


@pytest.mark.parametrize("kernel", ["reference", "scan", "fft"])
@pytest.mark.parametrize("heterogeneity", ["synapse", "neuron"])
@pytest.mark.parametrize("cls", [HetSynLIF, HetSynReadout])
def test_mixed_dtypes(cls, heterogeneity, kernel):
    """Half / bfloat16 input into a float32 layer runs in float32 (the input cast exactly:
    the same result as the float32 input, on every kernel and per step); float64 input into a
    float32 layer raises, naming both dtypes."""
    torch.manual_seed(0)
    layer = cls(6, 4, heterogeneity=heterogeneity, kernel=kernel)
    x = (torch.rand(12, 3, 6) < 0.4).float()
    expected, expected_step = layer.run(x), layer.step(x[0])
    for dtype in (torch.float16, torch.bfloat16):
        out = layer.run(x.to(dtype))
        assert out.membrane.dtype == torch.float32
        assert torch.equal(out.membrane, expected.membrane)
        assert torch.equal(layer.step(x[0].to(dtype)).membrane, expected_step.membrane)
    with pytest.raises(TypeError, match=r"input has dtype torch.float64, which this layer's "
                       r"dtype torch.float32 cannot hold exactly"):  # fmt: skip
        layer.run(x.double())
    with pytest.raises(TypeError, match="torch.float64"):
        layer.step(x[0].double())
