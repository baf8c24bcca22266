"""The README's benchmark tables are the committed results (``benchmarks/results/*.json``),
written by ``python -m benchmarks.tables``, not typed by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks import tables

ROOT = Path(__file__).parent.parent


def test_readme_tables_equal_the_committed_results(tmp_path):
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    written = tables.rewrite_readme(readme, ROOT / "benchmarks" / "results")
    assert {"b1", "b3"} <= set(written)
    assert readme.read_text() == (ROOT / "README.md").read_text(), (
        "README tables differ from benchmarks/results: run python -m benchmarks.tables"
    )


def test_a_table_is_rewritten_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- table:b3 -->\nstale\n<!-- /table:b3 -->\nafter\n")
    assert tables.rewrite_readme(readme, ROOT / "benchmarks" / "results") == ["b3"]
    text = readme.read_text()
    assert "stale" not in text and "| preset | network |" in text
    assert text.startswith("before\n") and text.endswith("<!-- /table:b3 -->\nafter\n")
