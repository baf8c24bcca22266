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
    try:
        return cls(**options)
    except TypeError as err:
        raise TypeError(f"bad option for task {name!r}: {err}") from None


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
