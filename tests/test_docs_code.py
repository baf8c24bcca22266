"""The docs' code, checked without building them.

- The quickstart (``docs/quickstart.md``) works as it stands: its Python blocks run in order
  in one namespace, the training reaches the accuracy the page promises, and nothing it
  imports comes from a checkout (``benchmarks``, ``experiments``, ``docs``).
- Code lines on the pages and in the tutorials fit the page (at most 88 characters: longer
  ones scroll past their comments in the rendered site).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
WIDTH = 88


def _blocks(page: Path, language: str = "python") -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", page.read_text(), re.S)


def test_the_quickstart_runs_as_written(capsys):
    pytest.importorskip("snntorch")
    pytest.importorskip("spikingjelly.activation_based.neuron")
    blocks = _blocks(DOCS / "quickstart.md")
    assert len(blocks) >= 3
    code = "\n".join(blocks)
    assert not re.search(r"^\s*(from|import) (benchmarks|experiments|docs)\b", code, re.M)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small network: one thread is fastest on a shared machine
    try:
        namespace: dict = {"__name__": "quickstart"}
        for block in blocks:
            exec(compile(block, "quickstart.md", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    assert namespace["accuracy"] >= 0.9, namespace["accuracy"]
    assert namespace["tau"].std() > 0  # the per-synapse time constants differ
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "HetSynLeaky" in printed


def _code_lines() -> list[tuple[str, str]]:
    lines = []
    for page in sorted(DOCS.glob("*.md")):
        for block in _blocks(page, r"(?:python|bash)"):
            lines += [(page.name, line) for line in block.splitlines()]
    for nb in sorted((ROOT / "tutorials").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                lines += [(nb.name, line) for line in source.splitlines()]
    return lines


def test_code_lines_fit_the_page():
    long = [f"{where}: {line}" for where, line in _code_lines() if len(line) > WIDTH]
    assert long == [], "\n".join(long)
