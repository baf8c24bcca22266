"""The docs' build helpers that decide what the pages say about the package itself: the
version label (``docs/_version.py``), the project links, and the offline inventories of the
intersphinx links (``docs/_intersphinx.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

import _intersphinx  # noqa: E402
import _version  # noqa: E402

CHANGELOG = """# Changelog

## [Unreleased]
{unreleased}
## [0.1.0] - 2026-12-01

### Added
- the first release
"""


@pytest.mark.parametrize(
    "unreleased, label",
    [("", "0.1.0"), ("\n### Fixed\n- a fix\n- another\n", "0.1.0 + unreleased changes")],
)
def test_the_label_marks_unreleased_changes(tmp_path, unreleased, label):
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(CHANGELOG.format(unreleased=unreleased))
    assert _version.unreleased_entries(changelog) == unreleased.count("\n- ")
    assert _version.docs_version("0.1.0", changelog) == label
    note = _version.version_note("0.1.0", changelog)
    assert ("development version" in note) == bool(unreleased)


def test_the_repositorys_changelog_is_read():
    assert _version.unreleased_entries(ROOT / "CHANGELOG.md") >= 0


def test_links_say_what_is_missing(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n\n[project.urls]\nPaper = "https://p.org"\n')
    note = _version.links_note(pyproject)
    assert "[Paper](https://p.org)" in note and "repository and issue tracker" in note
    pyproject.write_text(
        '[project.urls]\nRepository = "https://r.org"\nIssues = "https://r.org/issues"\n'
        "\n[tool.x]\ny = 1\n"
    )
    assert _version.project_urls(pyproject) == {
        "Repository": "https://r.org", "Issues": "https://r.org/issues"
    }  # fmt: skip
    assert "not exist" not in _version.links_note(pyproject)


def test_the_offline_inventories_hold_the_names_type_hints_print(tmp_path):
    pytest.importorskip("sphinx")
    from sphinx.util.inventory import InventoryFile

    mapping = _intersphinx.mapping(tmp_path, online=False)
    url, path = mapping["torch"]
    with open(path, "rb") as f:
        inventory = InventoryFile.load(f, url, lambda base, uri: f"{base}/{uri}")
    classes = inventory["py:class"]
    for name in ("torch.Tensor", "torch.nn.Linear", "torch.nn.modules.linear.Linear"):
        assert name in classes, name
    item = classes["torch.nn.modules.linear.Linear"]
    uri = getattr(item, "uri", None) or item[2]  # an object from Sphinx 8.2 on, a tuple before
    assert uri == (
        "https://docs.pytorch.org/docs/stable/generated/torch.nn.Linear.html#torch.nn.Linear"
    )
    assert set(_intersphinx.mapping(tmp_path, online=True)) >= {"torch", "snntorch"}


def test_the_html_check_finds_a_figure_cell_without_its_image(tmp_path):
    pytest.importorskip("sphinx")
    import json

    import check_html

    cells = [{"cell_type": "code", "source": ["fig, ax = plt.subplots()\n", "ax.plot([1])"]},
             {"cell_type": "markdown", "source": ["text"]},
             {"cell_type": "code", "source": ["print(1)"]}]  # fmt: skip
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps({"cells": cells}))
    cell = check_html.CELL
    shown = f'{cell}<div class="cell_output"><img alt="" src="../_images/a.png"/></div>'
    blank = f'{cell}<div class="cell_output"><pre>&lt;Figure&gt;</pre></div>'
    printed = f"{cell}<pre>1</pre>"
    assert check_html.figure_cells_without_image(notebook, shown + printed) == []
    assert check_html.figure_cells_without_image(notebook, blank + printed) == [0]
    assert check_html.figure_cells_without_image(notebook, shown) == [-1]  # a cell missing
