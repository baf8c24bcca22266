"""What the front page says about the package itself, from the files that define it:

- the version the docs describe: the release, marked as a development version when the
  changelog lists changes under ``[Unreleased]`` (the pages then document those changes,
  which no release carries yet);
- the project's links (``[project.urls]`` of ``pyproject.toml``): a repository and an issue
  tracker appear on the pages as soon as they are listed there.
"""

from __future__ import annotations

import re
from pathlib import Path


def unreleased_entries(changelog: Path) -> int:
    """How many entries (``- `` lines) the changelog's ``## [Unreleased]`` section lists."""
    text = changelog.read_text()
    match = re.search(r"^## \[Unreleased\]\s*$(.*?)(?=^## \[)", text, re.M | re.S)
    if match is None:
        return 0
    return len(re.findall(r"^- ", match.group(1), re.M))


def docs_version(release: str, changelog: Path) -> str:
    """``release`` itself, or ``release + unreleased changes`` when there are some."""
    return f"{release} + unreleased changes" if unreleased_entries(changelog) else release


def version_note(release: str, changelog: Path) -> str:
    """One sentence for the front page: which version these pages describe."""
    if unreleased_entries(changelog):
        return (
            f"These pages describe the development version: release {release} and the changes "
            "listed under *Unreleased* in the {doc}`changelog` (a `pip install` of the "
            f"release gets {release} without them; install from a checkout for them)."
        )
    return f"These pages describe release {release}."


def project_urls(pyproject: Path) -> dict[str, str]:
    """``[project.urls]`` of ``pyproject.toml``: name -> address (its ``Name = "url"`` lines;
    read without ``tomllib``, which Python 3.10 lacks)."""
    table = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", pyproject.read_text(), re.M | re.S)
    if table is None:
        return {}
    return dict(re.findall(r'^\s*"?([\w .-]+?)"?\s*=\s*"([^"]+)"', table.group(1), re.M))


def links_note(pyproject: Path) -> str:
    """The project's links as a sentence, saying which of repository and issue tracker
    there is not yet."""
    urls = project_urls(pyproject)
    parts = [f"[{name}]({url})" for name, url in urls.items()]
    missing = [
        what for what, keys in (("repository", ("Repository", "Source", "Homepage")),
                                ("issue tracker", ("Issues", "Bug Tracker", "Tracker")))
        if not any(k in urls for k in keys)
    ]  # fmt: skip
    text = "Links: " + ", ".join(parts) + "." if parts else ""
    if missing:
        text += f" A public {' and '.join(missing)} {'do' if len(missing) > 1 else 'does'} not "
        text += "exist yet; they will be linked here once listed in `pyproject.toml`."
    return text.strip()
