"""The paper's experiments as tasks: data, a model factory, a loss and a metric for each.

=========  =================================================================================
name       task
=========  =================================================================================
dms        delayed match-to-sample (working memory), :class:`DelayedMatchToSample`
pattern    pattern generation (regression onto a sum of cosines), :class:`PatternGeneration`
shd        Spiking Heidelberg Digits (700 channels, 20 classes), :class:`SpikingHeidelbergDigits`
ssc        Spiking Speech Commands (700 channels, 35 classes), :class:`SpikingSpeechCommands`
smnist     sequential MNIST (784 steps, one pixel each), :class:`SequentialMNIST`
psmnist    permuted sequential MNIST, :class:`PermutedSequentialMNIST`
digits     scikit-learn's 8x8 digits shown row by row as spikes, :class:`SequentialDigits`
=========  =================================================================================

``make_task(name, **options)`` builds one by name; :data:`TASKS` lists them.
"""

from __future__ import annotations

import collections.abc
import types
import typing

from ..core.validation import check_choice
from .base import ClassificationTask, Task
from .digits import SequentialDigits
from .dms import DelayedMatchToSample
from .network import NetworkOutput, SpikingNetwork
from .pattern import PatternGeneration
from .mnist import PermutedSequentialMNIST, SequentialMNIST
from .shd import SpikingHeidelbergDigits, SpikingSpeechCommands

TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (
        DelayedMatchToSample,
        PatternGeneration,
        SpikingHeidelbergDigits,
        SpikingSpeechCommands,
        SequentialMNIST,
        PermutedSequentialMNIST,
        SequentialDigits,
    )
}


def make_task(name: str, **options) -> Task:
    """The task called ``name`` (a key of :data:`TASKS`) with ``options`` as its fields."""
    check_choice("task", name, TASKS)
    cls = TASKS[name]
    hints = typing.get_type_hints(cls)
    for key, value in options.items():
        if key in hints and not _matches(value, hints[key]):
            raise TypeError(
                f"task {name!r} option {key} must be {_describe(hints[key])}; got {value!r} "
                f"({type(value).__name__})"
            )
    try:
        return cls(**options)
    except TypeError as err:
        raise TypeError(f"bad option for task {name!r}: {err}") from None


def _matches(value, hint) -> bool:
    """Whether ``value`` fits the annotation ``hint`` of a task field (numbers, strings,
    flags, None, tuples or lists of those; anything else is left to the task)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list, collections.abc.Sequence):
        if not isinstance(value, (tuple, list)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(_matches, value, args))
        return not args or all(_matches(v, args[0]) for v in value)
    return True


def _describe(hint) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "None")


__all__ = [
    "ClassificationTask",
    "DelayedMatchToSample",
    "NetworkOutput",
    "PermutedSequentialMNIST",
    "PatternGeneration",
    "SequentialDigits",
    "SequentialMNIST",
    "SpikingHeidelbergDigits",
    "SpikingNetwork",
    "SpikingSpeechCommands",
    "TASKS",
    "Task",
    "make_task",
]
