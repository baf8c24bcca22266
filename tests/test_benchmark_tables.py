"""The README's benchmark tables are the committed results (``benchmarks/results/*.json``),
written by ``python -m benchmarks.tables``, not typed by hand."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from benchmarks import tables

ROOT = Path(__file__).parent.parent


def test_readme_tables_equal_the_committed_results(tmp_path):
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    written = tables.rewrite_readme(readme, ROOT / "benchmarks" / "results")
    assert {"b1", "b3", "text:b1", "text:b2", "text:bench"} <= set(written)
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


# A measured number typed into prose: a ratio (0.59x), seconds or memory (0.26 s, 8.47 GiB), a
# count of medians, runs or rows. Task and network settings (800 ms, batch 32) and targets
# ("at most 2.5x") are not.
TYPED = re.compile(
    r"(?<!at most )\b\d+(?:\.\d+)?\s?(?:x\b|s\b|GiB\b|MiB\b)"
    r"|[Mm]edians? of \d|\b\d+ runs\b|\bof \d+ rows\b"
)


def _prose(text: str) -> str:
    """``text`` without its generated blocks, code, math and MyST substitutions."""
    text = re.sub(r"<!-- (table|text):(\w+) -->.*?<!-- /\1:\2 -->", "", text, flags=re.S)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]+\$|`[^`\n]+`|\{\{[^}]+\}\}", "", text, flags=re.S)
    return text


def test_the_readme_performance_prose_types_no_measured_number():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Performance") :]
    section = section[: section.index("\n## ", 1)]
    assert {"text:b1", "text:b2", "text:bench"} <= set(
        tables.rewrite_readme(*_copy_readme(section))
    )
    assert TYPED.findall(_prose(section)) == []


def _copy_readme(section: str):
    import tempfile

    folder = Path(tempfile.mkdtemp())
    (folder / "README.md").write_text(section)
    return folder / "README.md", ROOT / "benchmarks" / "results"


@pytest.mark.parametrize(
    "page", sorted(p.name for p in (ROOT / "docs").glob("*.md")), ids=lambda name: name
)
def test_docs_pages_type_no_measured_number(page):
    """Benchmark and experiment numbers reach the pages as substitutions or generated
    includes (``docs/_benchplot.py``, ``docs/_results.py``), never typed."""
    assert TYPED.findall(_prose((ROOT / "docs" / page).read_text())) == []


def test_the_prose_values_come_from_the_results():
    values = tables.values(ROOT / "benchmarks" / "results")
    b1 = tables.load("b1")
    row = next(r for r in b1["rows"] if r["T"] == 250 and r["sizes"] == b1["sizes"])
    ratios = row["fast_over_yardstick_time_runs"]
    assert values["b1_T250"] == f"{sorted(ratios)[len(ratios) // 2]:.2f}"
    assert values["b1_repeat"] == str(b1["repeat"])
    b2 = tables.load("b2")
    auto_ok = sum(r["auto_within_10_percent"] for r in b2["rows"])
    assert values["b2_auto_fastest"] == f"{auto_ok} of {len(b2['rows'])}"
    assert values["bench_list"].startswith("B1-B")


def test_a_notes_command_line_options_become_code():
    """In prose, Sphinx turns ``--repeat`` into a dash; as code it stays as typed."""
    b2 = {"rows": [], "note": "one run per path (--repeat 1) while `--runs 3` ran, x--y"}
    text = tables.b2_table(b2)
    assert "(`--repeat 1`)" in text and "`--runs 3`" in text and "x--y" in text
    assert "``" not in text
