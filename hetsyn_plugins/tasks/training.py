"""Training, evaluation and checkpoints for any :class:`~hetsyn_plugins.tasks.base.Task`.

A checkpoint is a folder with ``config.json`` (task, task options, model, model options,
training options, history: human-readable, enough to rebuild everything) and ``state.pt``
(the network's ``state_dict``, the optimizer's, the step, and every random state: the data
generator's, torch's global one, the data generator's state when the epoch began and how many
of its batches were taken). ``train(..., checkpoint=folder, resume=True)`` continues a run
where its checkpoint stopped, exactly: the same final weights as a run never stopped.
Saves are atomic, a Ctrl-C saves after the step in progress, and an existing checkpoint is
never overwritten unless asked (``force=True``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor
from tqdm import tqdm as quiet_tqdm

from ..core import PRESETS, clamp_decays_after_step
from ..core.validation import check_choice
from .base import Task
from .network import SpikingNetwork
from .recipe import Recipe

CONFIG_FILE = "config.json"
STATE_FILE = "state.pt"

Transform = Callable[[Tensor, torch.Generator], Tensor]


class CheckpointError(RuntimeError):
    """A checkpoint folder that is missing, incomplete or does not match its config."""


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained network, its task, the history, the final
    test figures (``test_loss``, ``test_metric``) and the best evaluations
    (:func:`best_evaluations`)."""

    net: SpikingNetwork
    task: Task
    model: str
    history: list[dict] = field(default_factory=list)
    test_loss: float = math.nan
    test_metric: float = math.nan
    seconds: float = 0.0
    steps: int = 0
    best: dict = field(default_factory=dict)


@torch.no_grad()
def evaluate(
    net: SpikingNetwork,
    task: Task,
    *,
    split: str = "test",
    batch_size: int = 256,
    transform: Optional[Transform] = None,
    generator: Optional[torch.Generator] = None,
    device: Optional[torch.device | str] = None,
) -> tuple[float, float]:
    """Mean loss and metric of ``net`` over one pass of ``split``, optionally with the inputs
    changed by ``transform(x, generator)`` (see :mod:`hetsyn_plugins.tasks.perturbations`)."""
    generator = generator or torch.Generator().manual_seed(0)
    device = torch.device(device) if device is not None else _device_of(net)
    was_training = net.training
    net.eval()
    total, loss_sum, metric_sum = 0, 0.0, 0.0
    for x, target in task.batches(split, batch_size, generator):
        if transform is not None:
            x = transform(x, generator)
        x, target = x.to(device), target.to(device)
        out = net(x)
        n = x.shape[1]
        loss_sum += task.loss(out, target).item() * n
        metric_sum += task.metric(out, target) * n
        total += n
    net.train(was_training)
    return loss_sum / total, metric_sum / total


def train(
    task: Task,
    model: str,
    *,
    recipe: Optional[Recipe] = None,
    seed: int = 0,
    device: str = "cpu",
    model_options: Optional[dict] = None,
    time_limit: Optional[float] = None,
    eval_every: int | str = 0,
    checkpoint: Optional[str | Path] = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    **training,
) -> TrainResult:
    """Train ``model`` (one of the four presets) on ``task``.

    Args:
        recipe: the optimizer, learning rates, schedule, batch size and run length
            (:class:`~hetsyn_plugins.tasks.recipe.Recipe`); default: the task's
            (:meth:`~hetsyn_plugins.tasks.base.Task.recipe`).
        **training: fields of the recipe to change (``steps=300``, ``lr=1e-3``,
            ``epochs=10`` ...); ``steps`` alone replaces a recipe's ``epochs``.
        time_limit: stop after this many seconds even if the run is not done.
        eval_every: evaluate on the test split (and the validation split, where the task has
            one) every so many steps, or ``"epoch"``; 0: only at the end.
        checkpoint: folder to save the run to (at every evaluation, at the end, and when the
            run is interrupted by Ctrl-C, after the step in progress). Each save replaces
            the files atomically (written aside, then renamed; ``config.json`` last), so an
            interrupted save leaves the previous checkpoint whole.
        resume: continue from ``checkpoint`` (which must exist and match ``task``/``model``).
        force: overwrite a checkpoint already in ``checkpoint`` (without it, and without
            ``resume``, that is an error: the folder may hold another model's run).

    Returns a :class:`TrainResult`: the final test figures, and with periodic evaluations
    the best test epoch and the test figure at the best validation epoch
    (:attr:`TrainResult.best`).
    """
    check_choice("model", model, PRESETS)
    if "steps" in training and "epochs" not in training:
        training["epochs"] = None  # a length in steps replaces the recipe's in epochs
    recipe = (recipe or task.recipe()).with_options(**training)
    device_ = _resolve_device(device)
    if checkpoint is not None:
        _check_out(Path(checkpoint), resume=resume, force=force)
    model_options = dict(model_options or {})
    _check_data(task)
    per_epoch = task.steps_per_epoch(recipe.batch_size)
    steps = recipe.total_steps(per_epoch)
    eval_every = _eval_interval(eval_every, per_epoch)
    torch.manual_seed(seed)
    net = task.build_model(model, **model_options).to(device_)
    optimizer = recipe.build_optimizer(net)
    clamp_decays_after_step(optimizer, net)  # decays learned directly stay in (0, 1)
    generator = torch.Generator().manual_seed(seed)
    config = _as_json(
        {
            "task": task.name,
            "task_options": task.config(),
            "model": model,
            "model_options": model_options,
            "training": {**dataclasses.asdict(recipe), "seed": seed},
        }
    )
    result = TrainResult(net, task, model)
    # where the data order stands: the generator's state when the epoch began and the batches
    # of it already taken (a resumed run replays that epoch's order and skips them)
    position = {"epoch_generator": generator.get_state(), "consumed": 0}
    if resume:
        if checkpoint is None:
            raise ValueError("resume=True needs checkpoint=<folder of an earlier run>")
        result.steps, result.history, position = _restore(
            Path(checkpoint), config, net, optimizer, generator
        )

    def save() -> None:
        save_checkpoint(checkpoint, net, optimizer, generator, config, result, position)

    start = time.monotonic()
    bar = (_progress_bar() if progress else quiet_tqdm)(
        total=steps,
        initial=result.steps,
        desc=f"{task.name}/{model}",
        disable=not progress,
        leave=False,
    )
    net.train()
    with _deferred_interrupt() as interrupted:
        while result.steps < steps and not _out_of_time(start, time_limit):
            generator.set_state(position["epoch_generator"])
            batches = task.batches("train", recipe.batch_size, generator)
            for k, (x, target) in enumerate(batches):
                if k < position["consumed"]:
                    continue  # taken before the run was resumed
                position["consumed"] = k + 1
                x, target = x.to(device_), target.to(device_)
                recipe.set_lr(optimizer, result.steps + 1, per_epoch)
                loss = task.loss(net(x), target)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                result.steps += 1
                record = {"step": result.steps, "loss": loss.item()}
                result.history.append(record)  # saved with the checkpoint of this step
                bar.update(1)
                bar.set_postfix(loss=f"{record['loss']:.4f}", refresh=False)
                if eval_every and result.steps % eval_every == 0:
                    record.update(_evaluations(net, task))
                    if checkpoint is not None:
                        save()
                if interrupted():
                    bar.close()
                    if checkpoint is not None:
                        save()
                    raise KeyboardInterrupt(
                        f"interrupted after step {result.steps}"
                        + (f"; saved to {str(checkpoint)!r}" if checkpoint is not None else "")
                    )
                if result.steps >= steps or _out_of_time(start, time_limit):
                    break
            else:  # the epoch ended: the next one begins where the generator stands
                position = {"epoch_generator": generator.get_state(), "consumed": 0}
    bar.close()
    result.seconds = time.monotonic() - start
    last = result.history[-1] if result.history else {}
    if last.get("step") != result.steps or "test_metric" not in last:  # not evaluated yet
        last = _evaluations(net, task)
        if result.history:
            result.history[-1].update(last)
    result.test_loss, result.test_metric = last["test_loss"], last["test_metric"]
    result.best = best_evaluations(result.history, task.higher_is_better)
    if checkpoint is not None:
        save()
    return result


def _check_data(task: Task) -> None:
    """Read every split the run will use before the first step (a missing or malformed file
    is noticed now, not after hours of training), and refuse an empty one (an empty training
    split would never end an epoch)."""
    splits = ("train", "test") + (("validation",) if task.has_validation else ())
    for split in splits:
        if task.num_samples(split) == 0:
            raise ValueError(
                f"task {task.name!r}: the {split} split has no samples; a run needs at least "
                "one in each of " + ", ".join(splits)
            )


def _evaluations(net: SpikingNetwork, task: Task) -> dict:
    """Loss and metric on the test split, and on the validation split where there is one."""
    record = {}
    if task.has_validation:
        record["val_loss"], record["val_metric"] = evaluate(net, task, split="validation")
    record["test_loss"], record["test_metric"] = evaluate(net, task)
    return record


def best_evaluations(history: list[dict], higher_is_better: bool) -> dict:
    """From a run's history: the best test evaluation (``"best_test"``: step and metric) and,
    where a validation split was evaluated, the test metric at the best validation step
    (``"at_best_validation"``: step, validation and test metric; ties go to the earlier
    step). Empty when nothing was evaluated."""
    sign = 1 if higher_is_better else -1
    evaluated = [r for r in history if "test_metric" in r]
    if not evaluated:
        return {}
    best = max(evaluated, key=lambda r: (sign * r["test_metric"], -r["step"]))
    out = {"best_test": {"step": best["step"], "test_metric": best["test_metric"]}}
    validated = [r for r in evaluated if "val_metric" in r]
    if validated:
        best = max(validated, key=lambda r: (sign * r["val_metric"], -r["step"]))
        out["at_best_validation"] = {
            "step": best["step"],
            "val_metric": best["val_metric"],
            "test_metric": best["test_metric"],
        }
    return out


def _eval_interval(eval_every: int | str, per_epoch: int) -> int:
    if eval_every == "epoch":
        return per_epoch
    if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 0:
        raise ValueError(f"eval_every must be an integer >= 0 or 'epoch'; got {eval_every!r}")
    return eval_every


# ---------------------------------------------------------------------- checkpoints


def save_checkpoint(
    folder: str | Path,
    net: SpikingNetwork,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    config: dict,
    result: TrainResult,
    position: Optional[dict] = None,
) -> Path:
    """Write ``config.json`` and ``state.pt`` into ``folder`` (created if needed): with the
    network, the optimizer and the step, every random state a resumed run needs to continue
    exactly (the data generator's, torch's global one for dropout, and ``position``: the data
    generator's state when the epoch began and the batches of it taken)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        **config,
        "step": result.steps,
        "test_loss": None if math.isnan(result.test_loss) else result.test_loss,
        "test_metric": None if math.isnan(result.test_metric) else result.test_metric,
        "metric_name": result.task.metric_name,
        "best": result.best,
        "history": result.history,
    }
    state = {
        "net": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "step": result.steps,
    }
    if position is not None:
        state["epoch_generator"] = position["epoch_generator"]
        state["consumed"] = position["consumed"]
    # written aside and renamed (atomic), the config last: an interrupted save leaves the
    # previous checkpoint whole
    tmp = folder / (STATE_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, folder / STATE_FILE)
    tmp = folder / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, folder / CONFIG_FILE)
    return folder


def read_config(folder: str | Path) -> dict:
    """The ``config.json`` of a checkpoint, or a :class:`CheckpointError` saying what is wrong."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder {str(folder)!r} does not exist")
    if not path.is_file() or not (folder / STATE_FILE).is_file():
        raise CheckpointError(
            f"{str(folder)!r} is not a checkpoint: it must hold {CONFIG_FILE} and {STATE_FILE}"
        )
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{str(path)!r} is not valid JSON: {err}") from None
    missing = [k for k in ("task", "task_options", "model", "model_options") if k not in config]
    if missing:
        raise CheckpointError(f"{str(path)!r} lacks the keys {missing}")
    return config


def load_checkpoint(folder: str | Path, device: str = "cpu") -> tuple[SpikingNetwork, Task, dict]:
    """Rebuild the task and the trained network of a checkpoint: ``(net, task, config)``."""
    from . import make_task

    config = read_config(folder)
    try:
        task = make_task(config["task"], **config["task_options"])
        net = task.build_model(config["model"], **config["model_options"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"the config of {str(folder)!r} does not build a model: {err}"
        ) from None
    state = _load_state(Path(folder))
    try:
        net.load_state_dict(state["net"])
    except RuntimeError as err:
        raise CheckpointError(
            f"the weights in {str(folder)!r} do not fit its config: {err}"
        ) from None
    return net.to(_resolve_device(device)), task, config


def _load_state(folder: Path) -> dict:
    try:
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which one
        raise CheckpointError(f"cannot read {str(folder / STATE_FILE)!r}: {err}") from None
    if not isinstance(state, dict) or "net" not in state:
        raise CheckpointError(f"{str(folder / STATE_FILE)!r} holds no network state")
    return state


def _restore(folder, config, net, optimizer, generator) -> tuple[int, list[dict], dict]:
    saved = read_config(folder)
    for key in ("task", "task_options", "model", "model_options"):
        if saved[key] != config[key]:
            raise CheckpointError(
                f"cannot resume from {str(folder)!r}: its {key} is {saved[key]!r}, "
                f"this run's is {config[key]!r}"
            )
    state = _load_state(folder)
    missing = [k for k in ("optimizer", "generator", "step") if k not in state]
    if missing:
        raise CheckpointError(
            f"cannot resume from {str(folder)!r}: {STATE_FILE} lacks {missing} (it holds a "
            "network only; train anew with force=True / --force to overwrite it)"
        )
    try:
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
    except (RuntimeError, ValueError, TypeError) as err:
        raise CheckpointError(f"cannot resume from {str(folder)!r}: {err}") from None
    # an older checkpoint without the data position continues from its generator's state
    position = {
        "epoch_generator": state.get("epoch_generator", state["generator"]),
        "consumed": int(state.get("consumed", 0)),
    }
    return int(state["step"]), list(saved.get("history", [])), position


def _check_out(folder: Path, *, resume: bool, force: bool) -> None:
    """Before any training: ``folder`` can take the checkpoint, and does not hold another
    run's unless resuming it or ``force``."""
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"checkpoint must be a folder; {str(folder)!r} is a file")
    has_run = (folder / CONFIG_FILE).exists() or (folder / STATE_FILE).exists()
    if has_run and not (resume or force):
        raise CheckpointError(
            f"{str(folder)!r} already holds a checkpoint: resume it (resume=True, --resume), "
            "overwrite it (force=True, --force), or choose another folder"
        )
    if resume and not folder.exists():
        return  # nothing to create: resuming reads the checkpoint and says what is missing
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CheckpointError(
            f"cannot create the checkpoint folder {str(folder)!r}: {err}"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CheckpointError(f"the checkpoint folder {str(folder)!r} is not writable")


@contextlib.contextmanager
def _deferred_interrupt():
    """Ctrl-C (SIGINT) during training ends the step in progress first: the context yields a
    function telling whether one came; a second Ctrl-C interrupts at once. Outside the main
    thread (no signal handlers there) nothing changes."""
    flag = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def handler(signum, frame):
        flag.append(signum)
        signal.signal(signal.SIGINT, previous)  # a second Ctrl-C: at once

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(flag)
    finally:
        signal.signal(signal.SIGINT, previous)


# ---------------------------------------------------------------------- helpers


def _as_json(config: dict) -> dict:
    """``config`` as it reads back from JSON (tuples become lists), so configs compare."""
    try:
        return json.loads(json.dumps(config))
    except TypeError as err:
        raise ValueError(f"task and model options must be JSON-serialisable: {err}") from None


def _progress_bar():
    """tqdm's bar for where it runs (a notebook widget in Jupyter), imported only when a bar
    is shown: importing ``tqdm.auto`` in a notebook without ipywidgets warns."""
    from tqdm.auto import tqdm

    return tqdm


def _out_of_time(start: float, limit: Optional[float]) -> bool:
    return limit is not None and time.monotonic() - start >= limit


def _device_of(net: torch.nn.Module) -> torch.device:
    return next(net.parameters()).device


def _resolve_device(device: str | torch.device) -> torch.device:
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be a torch device such as 'cpu', 'cuda' or 'cuda:1'; got {device!r}"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device must be available on this machine; got {str(device)!r} (no CUDA)")
    return device
