"""The paper's experiments as tasks: data, a model factory, a loss and a metric for each.

=========  =================================================================================
name       task
=========  =================================================================================
dms        delayed match-to-sample (working memory), :class:`DelayedMatchToSample`
pattern    pattern generation (regression onto a sum of cosines), :class:`PatternGeneration`
shd        Spiking Heidelberg Digits (700 channels, 20 classes), :class:`SpikingHeidelbergDigits`
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
from .shd import SpikingHeidelbergDigits

TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (DelayedMatchToSample, PatternGeneration, SpikingHeidelbergDigits, SequentialDigits)
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
    "PatternGeneration",
    "SequentialDigits",
    "SpikingHeidelbergDigits",
    "SpikingNetwork",
    "TASKS",
    "Task",
    "make_task",
]
