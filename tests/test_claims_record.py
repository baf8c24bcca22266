"""The record of the paper's other claims: the pattern-generation runs resume and split
between workers, the verdicts count per seed as declared, and the docs' generator
(``docs/_claims.py``) reads what the records hold."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

import experiments.record as record

ROOT = Path(__file__).resolve().parent.parent


def _claims_page():
    if str(ROOT / "docs") not in sys.path:  # the page helpers import each other, as in conf.py
        sys.path.insert(0, str(ROOT / "docs"))
    spec = importlib.util.spec_from_file_location("_claims", ROOT / "docs" / "_claims.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("wins", "verdict"),
    [
        ({"A": 6, "B": 10}, "held"),
        ({"A": 6, "B": 5}, "held only against A"),  # 5 of 10 is not more than half
        ({"A": 0, "B": 5}, "not held"),
    ],
)
def test_pattern_verdict_counts_seeds_against_each_baseline(wins, verdict):
    assert record._verdict(wins, 10) == verdict


def test_pattern_runs_resume_split_between_workers_and_summarize(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STEPS", 1)
    monkeypatch.setattr(record, "SEEDS", (0, 1))
    monkeypatch.setattr(record, "MODELS", ("HetSynLIF", "HomNeuLIF"))
    for worker in (0, 1):
        record.run_training(worker, 2, out=tmp_path, print_fn=lambda *_: None)
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert sorted((r["model"], r["seed"]) for r in runs) == [
        ("HetSynLIF", 0), ("HetSynLIF", 1), ("HomNeuLIF", 0), ("HomNeuLIF", 1)
    ]  # fmt: skip
    record.run_training(0, 1, out=tmp_path, print_fn=lambda *_: None)  # nothing left to run
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 4

    summary = record.summarize(tmp_path)
    mse = {(r["model"], r["seed"]): r["test_mse"] for r in runs}
    lower = sum(mse["HetSynLIF", s] < mse["HomNeuLIF", s] for s in (0, 1))
    assert summary["hetsyn_lower_seeds"] == {"HomNeuLIF": lower}
    assert summary["models"]["HetSynLIF"]["r2"] == [
        1 - mse["HetSynLIF", s] / summary["constant_mse"] for s in (0, 1)
    ]
    assert len(summary["best_output"]["HomNeuLIF"]["output"]) == record.task().steps
    assert (tmp_path / "pattern_fit.png").stat().st_size > 0


def test_learned_time_constants_verdict_reads_the_distributions():
    page = _claims_page()
    initial = [50.0 + 1950.0 * k / 999 for k in range(1000)]
    same = {"initial": initial, "learned": initial}
    assert page._taus_verdict(
        {"hidden0.feedforward": same, "hidden0.recurrent": same}, 2000.0
    ).startswith("not held")
    spread = {"initial": initial, "learned": initial[:800] + [4000.0] * 200}
    assert page._taus_verdict(
        {"hidden0.feedforward": spread, "hidden0.recurrent": spread}, 2000.0
    ).startswith("held (")
    assert page._taus_verdict(
        {"hidden0.feedforward": spread, "hidden0.recurrent": same}, 2000.0
    ).startswith("held in part")


def test_perturbation_table_adds_the_clean_row_and_the_solved_seeds():
    page = _claims_page()
    clean = {"HetSynLIF": [1.0, 0.5], "HetNeuLIF": [0.5, 0.5], "HomNeuLIF": [0.5, 0.5],
             "HomNeuALIF": [0.5, 0.5]}  # fmt: skip
    perturbed = {m: {"0.1": [0.8, 0.5]} for m in clean}
    comparison = {"levels": {"0.1": {
        "mean": {m: 0.65 for m in clean}, "sd": {m: 0.2 for m in clean},
        "solved": {m: 0 for m in clean}, "held": False,
    }}}  # fmt: skip
    table = page.perturbation_table(comparison, perturbed, clean, 0.9, str).splitlines()
    assert table[2].startswith("| none | 75.0\u00a0% ± 35.4 (1) |")
    # only seed 0 of HetSynLIF solves the clean task: its 0.8 is the last column's first value
    assert table[3].startswith("| 0.1 |") and table[3].endswith("| no | 80.0\u00a0%, - |")


def test_the_page_generator_reads_the_committed_records(tmp_path):
    subs = _claims_page().write_tables(ROOT / "experiments" / "results", tmp_path)
    page = (ROOT / "docs" / "reproduction.md").read_text()
    used = {name for name in subs if "{{ " + name + " }}" in page}
    assert {"claims_few_neurons", "claims_taus", "pattern_verdict", "claims_cpu_total"} <= used
    for name in ("claims_sizes.md", "claims_noise.md", "claims_timescales.md",
                 "claims_taus.md", "pattern_table.md"):  # fmt: skip
        assert f"_generated/{name}" in page and (tmp_path / name).read_text().count("\n") > 3
