"""The reproduction page's numbers, from ``experiments/results/*.json`` at build time.

:func:`write_tables` writes the page's tables into ``docs/_generated/`` and returns the MyST
substitutions its prose uses (``{{ dms_solved_HetSynLIF }}`` ...): no result is typed into
the page, so it cannot go stale. A missing file or key fails the build (the page refers to a
substitution that is not defined: a warning, an error under ``-W``).
"""

from __future__ import annotations

import json
from pathlib import Path

SOLVED = 0.9  # an accuracy that counts as solving delayed match-to-sample (chance: 0.5)


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}\u00a0%"  # a no-break space: the % stays with its number


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _accuracy_table(models: dict, seeds: list) -> str:
    lines = [
        f"| model | test accuracy, mean ± sd | per seed ({', '.join(map(str, seeds))}) |",
        "|---|---:|---|",
    ]
    for name, r in models.items():
        acc = r["accuracy"]
        per = ", ".join(_pct(a) for a in r["accuracy_per_seed"])
        lines.append(f"| {name} | {_pct(acc['mean'])} ± {_pct(acc['std'])} | {per} |")
    return "\n".join(lines) + "\n"


def _solved(models: dict) -> dict:
    out = {}
    for name, r in models.items():
        per = r["accuracy_per_seed"]
        out[name] = f"{sum(a >= SOLVED for a in per)} of {len(per)}"
    return out


def _sweep_table(table: dict) -> str:
    sizes = [row["size"] for row in next(iter(table.values()))]
    head = " | ".join(f"{s} hidden: mean (min-max)" if i == 0 else f"{s} hidden"
                      for i, s in enumerate(sizes))  # fmt: skip
    lines = [f"| model | {head} |", "|---|" + "---:|" * len(sizes)]
    for name, rows in table.items():
        cells = [f"{_pct(r['mean'])} ({100 * r['min']:.1f}-{100 * r['max']:.1f})" for r in rows]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _protocol_table(summary: dict) -> str:
    """Seeds solved and the median accuracy per setting and model (what each setting changes
    is listed apart, :func:`_protocol_settings`: the table stays narrow)."""
    results = summary["results"]
    models = list(next(iter(results.values())))
    lines = ["| setting | " + " | ".join(models) + " |", "|---|" + "---:|" * len(models)]
    for setting, per_model in results.items():
        cells = []
        for m in models:
            r = per_model.get(m)
            median = _pct(r["median"], 0) if r else ""
            cells.append("–" if r is None else f"**{r['solved']}/{r['n']}** · {median}")
        lines.append(f"| `{setting}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _protocol_settings(summary: dict) -> str:
    """What each setting of the protocol changes, one item per setting."""
    return "".join(
        f"- `{name}`: {summary['settings'][name]['changes']}\n" for name in summary["results"]
    )


def _protocol_commits(runs: Path) -> str:
    """Which commits made the protocol's runs, as far as they recorded it."""
    codes = [json.loads(line).get("code") for line in runs.read_text().splitlines() if line]
    known = sorted({c for c in codes if c})
    counted = [f"`{c}` ({codes.count(c)})" for c in known]
    missing = codes.count(None)
    parts = counted + ([f"not recorded ({missing})"] if missing else [])
    return ", ".join(parts)


def _dms_task(config: dict) -> dict:
    """The prose of the DMS task's paragraph, from the task options a record ran with."""
    from hetsyn_plugins.tasks import DelayedMatchToSample

    task = DelayedMatchToSample(**config)
    return {
        "dms_task_steps": str(task.steps),
        "dms_task_dt": f"{task.dt_ms:g}",
        "dms_task_delay": f"{task.delay_ms:g}",
        "dms_task_tau": f"{task.tau_min_ms:g}-{task.tau_max_ms:g}",
        "dms_task_train_steps": str(task.train_steps),
        "dms_task_lr": f"{task.lr:g}",
        "dms_task_batch": str(task.batch_size),
        "dms_task_test": str(task.test_samples),
        "dms_task_init": "N(0, 1/sqrt(fan_in)) without bias" if task.weight_init == "normal"
        else "nn.Linear's, with bias",
    }  # fmt: skip


def write_tables(results: Path, out: Path) -> dict:
    """Write the tables of ``results`` into ``out``; return the prose's substitutions."""
    out.mkdir(parents=True, exist_ok=True)
    subs: dict[str, str] = {}
    demo = _load(results / "dms_demo.json")
    if demo:
        (out / "dms_demo_table.md").write_text(_accuracy_table(demo["models"], demo["seeds"]))
        subs["dms_demo_minutes"] = f"{demo['total_seconds'] / 60:.0f}"
        subs["dms_demo_steps"] = str(demo["steps"])
        subs.update({f"dms_solved_{k}": v for k, v in _solved(demo["models"]).items()})
        het = demo["models"]["HetSynLIF"]
        subs["dms_deletion"] = ", ".join(_pct(a) for a in het["deletion_accuracy"])
        subs["dms_deletion_levels"] = ", ".join(
            f"{100 * x:.0f}" for x in het["deletion_levels"]
        )
        subs["dms_demo_commit"] = f"`{demo['commit']}`" if "commit" in demo else "not recorded"
        subs["dms_demo_threads"] = str(demo.get("threads", 1))
        subs.update(_dms_task(demo["task"]))
    summary = _load(results / "dms_protocol" / "summary.json")
    if summary:
        (out / "dms_protocol_table.md").write_text(_protocol_table(summary))
        (out / "dms_protocol_settings.md").write_text(_protocol_settings(summary))
        subs["protocol_commits"] = _protocol_commits(results / "dms_protocol" / "runs.jsonl")
        for setting, per_model in summary["results"].items():
            for model, r in per_model.items():
                key = f"protocol_{setting}_{model}".replace("+", "_").replace("-", "_")
                subs[key] = f"{r['solved']} of {r['n']}"
    earlier = _load(results / "pattern_rate_term.json")
    if earlier:  # the default task (feedforward, with the rate term), for comparison
        r2 = {m: sum(v) / len(v) for m, v in earlier["r2"].items()}
        subs["pattern_default_steps"] = str(earlier["settings"]["steps"])
        subs["pattern_default_r2"] = ", ".join(f"{m} {v:.2f}" for m, v in r2.items())
    return subs
