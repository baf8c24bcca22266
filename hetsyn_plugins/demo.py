"""The first version of the main job: a toy delayed-cue task trained on the CPU in a minute.

The task: one of two cues (a burst on its own group of input channels) is shown at the start,
followed by a delay of background noise; at the end the network must say which cue it saw.
Bridging the delay needs memory longer than the neurons' own time constants, which is what
per-synapse time constants can learn. The network is ``HetSynLIF -> HetSynReadout``; the
readout is fast and fixed, so the memory has to live in the spiking layer, and the decision is
the readout averaged over the last steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .core import PRESETS, HetSynLIF, HetSynReadout


@dataclass
class DelayedCueTask:
    """Generator of the delayed-cue data set (spikes as 0./1. floats, time first)."""

    channels_per_group: int = 8
    cue_steps: int = 10
    delay_steps: int = 100
    decision_steps: int = 5
    cue_rate: float = 0.4
    noise_rate: float = 0.05

    @property
    def in_features(self) -> int:
        return 3 * self.channels_per_group  # left cue, right cue, noise

    @property
    def steps(self) -> int:
        return self.cue_steps + self.delay_steps + self.decision_steps

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``(x, label)``: spikes (T, B, in) and the cue shown (B,), 0 or 1."""
        g = self.channels_per_group
        label = torch.randint(0, 2, (batch,), generator=generator)
        rate = torch.full((self.steps, batch, self.in_features), self.noise_rate)
        cue = torch.zeros(batch, self.in_features, dtype=torch.bool)
        cue[label == 0, :g] = True
        cue[label == 1, g : 2 * g] = True
        rate[: self.cue_steps] = torch.where(cue, self.cue_rate, self.noise_rate)
        x = torch.bernoulli(rate, generator=generator)
        return x, label


class DelayedCueNet(nn.Module):
    """``HetSynLIF(in, hidden) -> HetSynReadout(hidden, 2)``, decision over the last steps."""

    def __init__(self, model: str, in_features: int, hidden: int, decision_steps: int):
        super().__init__()
        options = dict(PRESETS[model])
        self.hidden = HetSynLIF(in_features, hidden, **options)
        # A fast, fixed readout: the memory of the cue has to live in the spiking layer.
        self.readout = HetSynReadout(
            hidden, 2, heterogeneity="none", tau_syn=2.0, learn_decays=False
        )
        self.decision_steps = decision_steps

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(self.hidden(x))[-self.decision_steps :].mean(0)


def train(
    model: str = "HetSynLIF",
    *,
    hidden: int = 8,
    seconds: float = 60.0,
    batch: int = 64,
    lr: float = 1e-2,
    seed: int = 0,
    task: DelayedCueTask | None = None,
    progress: bool = True,
) -> dict:
    """Train one model on the delayed-cue task for about ``seconds``; return its results."""
    task = task or DelayedCueTask()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = DelayedCueNet(model, task.in_features, hidden, task.decision_steps)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    x_test, y_test = task.sample(512, torch.Generator().manual_seed(seed + 10_000))
    start, steps, loss = time.monotonic(), 0, float("nan")
    bar = tqdm(total=int(seconds), desc=f"{model:<10}", unit="s", disable=not progress)
    while time.monotonic() - start < seconds:
        x, y = task.sample(batch, gen)
        loss_t = loss_fn(net(x), y)
        opt.zero_grad()
        loss_t.backward()
        opt.step()
        steps, loss = steps + 1, loss_t.item()
        bar.set_postfix(loss=f"{loss:.3f}", steps=steps, refresh=False)
        bar.update(min(int(time.monotonic() - start), int(seconds)) - bar.n)
    bar.close()
    with torch.no_grad():
        accuracy = (net(x_test).argmax(-1) == y_test).float().mean().item()
    return {
        "model": model,
        "steps": steps,
        "loss": loss,
        "accuracy": accuracy,
        "seconds": time.monotonic() - start,
    }


def run_demo(models=("HetSynLIF", "HomNeuLIF"), seconds: float = 30.0, **kwargs) -> list[dict]:
    """Train each model for ``seconds`` and print a result table."""
    task = kwargs.pop("task", None) or DelayedCueTask()
    print(
        f"Delayed-cue task: {task.in_features} inputs, cue {task.cue_steps} steps, "
        f"delay {task.delay_steps} steps, decision over the last {task.decision_steps}."
    )
    results = [train(m, seconds=seconds, task=task, **kwargs) for m in models]
    print(f"\n{'model':<12}{'steps':>8}{'loss':>10}{'test accuracy':>16}")
    for r in results:
        print(f"{r['model']:<12}{r['steps']:>8}{r['loss']:>10.3f}{r['accuracy']:>16.1%}")
    return results
