"""Argument checks shared by the core and the adapters.

Every check raises an error that names the argument, the expected value and the received
value, so that bad input never surfaces as a bare traceback from deep inside a kernel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor


def check_choice(name: str, value: object, choices: Iterable[object]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {expected}; got {value!r}")


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` as a bool; raise ``TypeError`` for anything but a bool (numpy's too)
    or the int 0 / 1 (a string such as ``"False"`` would otherwise read as True)."""
    if type(value).__name__ in ("bool", "bool_") or (type(value) is int and value in (0, 1)):
        return bool(value)
    raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__})")


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int, or raise if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return value


def check_positive(name: str, value: float | Tensor) -> None:
    """Raise ``ValueError`` unless every entry of ``value`` is finite and > 0."""
    t = torch.as_tensor(value)
    if not torch.is_floating_point(t):
        t = t.double()
    bad = ~(torch.isfinite(t) & (t > 0))
    if bad.any():
        raise ValueError(f"{name} must be finite and > 0 everywhere; got {_describe_bad(t, bad)}")


def check_finite(name: str, value: float | Tensor) -> None:
    """Raise ``ValueError`` unless every entry of ``value`` is finite."""
    t = torch.as_tensor(value)
    if not torch.is_floating_point(t):
        t = t.double()
    bad = ~torch.isfinite(t)
    if bad.any():
        raise ValueError(f"{name} must be finite everywhere; got {_describe_bad(t, bad)}")


def check_number(name: str, value: object) -> None:
    """Raise ``TypeError`` unless ``value`` is a real number or a floating/integer tensor."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(value, torch.Tensor):
        ok = value.is_floating_point() or (value.dtype != torch.bool and not value.is_complex())
    if not ok:
        raise TypeError(
            f"{name} must be a number or a tensor of numbers; got {value!r} "
            f"({type(value).__name__})"
        )


def check_decay(name: str, value: float | Tensor) -> None:
    """Raise ``ValueError`` unless every entry of ``value`` lies in the open interval (0, 1)."""
    t = torch.as_tensor(value)
    if not torch.is_floating_point(t):
        t = t.double()
    bad = ~((t > 0) & (t < 1))
    if bad.any():
        raise ValueError(
            f"{name} must lie in the open interval (0, 1) everywhere; got {_describe_bad(t, bad)}"
        )


def check_broadcastable(name: str, value: Tensor, shape: Sequence[int]) -> Tensor:
    """Return ``value`` expanded to ``shape``, or raise if it does not broadcast."""
    shape = tuple(shape)
    if shape == () and value.numel() == 1:
        return value.reshape(())
    try:
        return torch.broadcast_to(value, shape)
    except RuntimeError:
        raise ValueError(
            f"{name} must be broadcastable to shape {tuple(shape)}; got shape {tuple(value.shape)}"
        ) from None


def check_float_tensor(name: str, x: object) -> Tensor:
    """Raise ``TypeError`` unless ``x`` is a floating-point tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.layout != torch.strided:
        raise TypeError(
            f"{name} must be a dense (strided) tensor; got layout {x.layout} (convert it with "
            f"{name}.to_dense())"
        )
    if x.device.type == "meta":
        raise ValueError(
            f"{name} is on the meta device, which holds no data; run the layer on a real "
            "device (materialize it with .to_empty(device=...) and load its weights)"
        )
    if not torch.is_floating_point(x):
        raise TypeError(
            f"{name} must have a floating-point dtype (spikes as 0./1. floats); got {x.dtype}"
        )
    return x


def check_not_empty(name: str, x: Tensor, layout: str) -> Tensor:
    """Raise ``ValueError`` for an input with a dimension of size zero (no step, no sample):
    a layer needs at least one of each (a reshape deep inside would fail obscurely)."""
    if x.numel() == 0:
        raise ValueError(
            f"{name} must have at least one step, one sample and one feature ({layout}); got "
            f"shape {tuple(x.shape)}"
        )
    return x


def check_input(
    name: str, x: object, *, dims: int, features: int, layout: str, at_least: bool = False
) -> Tensor:
    """Check a layer input: a float tensor with ``dims`` dimensions (at least, with
    ``at_least``) and ``features`` last."""
    x = check_float_tensor(name, x)
    if (x.dim() < dims if at_least else x.dim() != dims) or x.shape[-1] != features:
        raise ValueError(
            f"{name} must have shape {layout} with in_features={features}; "
            f"got shape {tuple(x.shape)}"
        )
    return x


def _describe_bad(t: Tensor, bad: Tensor) -> str:
    if t.numel() == 1:
        return repr(t.item())
    first = t[bad].flatten()[0].item()
    return f"{int(bad.sum())} bad entries of {t.numel()} (for example {first!r})"
