"""Check the built HTML (run by ``make docs`` after Sphinx): tutorials and API coverage.

- every notebook of ``tutorials/`` has a page with executed outputs, an image in the output
  of every cell whose code draws a figure (matplotlib or ``Image(...)``: a figure that does
  not show is a broken tutorial), a link to download the notebook, and no error or stderr
  block (a warning printed by a cell);
- every public name of every public module of ``hetsyn_plugins`` (``__all__``, else the
  top-level names its source defines; see ``_apigen.public_names``) is documented on an API
  page, under its own dotted name or where the object is defined;
- math renders offline: every page loads MathJax from the site itself (``_static``), which
  holds it, not from a CDN;
- the API reference links torch and snnTorch types to their documentation (intersphinx);
- every page's title names the version the docs describe (``docs/_version.py``), and no
  command-line option in prose was turned into a dash (``--repeat`` -> an en dash).

Usage: ``python docs/check_html.py [docs/_build/html]``; exits 1 listing what is missing.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS))

import _apigen  # noqa: E402

# A code cell that draws: pyplot, an Axes method, or IPython's Image.
DRAWS = re.compile(r"\bplt\.\w+\(|\.(?:plot|hist|scatter|imshow)\(|\bImage\(")
IMAGE = re.compile(r"<img [^>]*src=\"[^\"]*_images/")
CELL = '<div class="cell docutils container">'


def figure_cells_without_image(notebook: Path, page_text: str) -> list[int]:
    """The code cells of ``notebook`` (numbered from 0) that draw a figure while their
    output on the page holds no image (the page has one ``cell`` block per code cell)."""
    sources = [
        "".join(c["source"])
        for c in json.loads(notebook.read_text())["cells"]
        if c["cell_type"] == "code"
    ]
    blocks = page_text.split(CELL)[1:]
    if len(blocks) != len(sources):
        return [-1]  # the page and the notebook disagree: reported as a whole
    return [i for i, (src, block) in enumerate(zip(sources, blocks))
            if DRAWS.search(src) and not IMAGE.search(block)]  # fmt: skip


def check_tutorials(html: Path) -> list[str]:
    problems = []
    for nb_path in sorted((ROOT / "tutorials").glob("*.ipynb")):
        page = html / "tutorials" / f"{nb_path.stem}.html"
        if not page.exists():
            problems.append(f"{nb_path.name}: no page {page.relative_to(html)}")
            continue
        text = page.read_text()
        outputs = text.count('class="cell_output')
        images = len(IMAGE.findall(text))
        print(f"{nb_path.name}: {outputs} output cells, {images} figures")
        if outputs == 0:
            problems.append(f"{nb_path.name}: the page shows no executed output")
        missing = figure_cells_without_image(nb_path, text)
        if missing == [-1]:
            problems.append(f"{nb_path.name}: its page has another number of code cells")
        elif missing:
            problems.append(f"{nb_path.name}: code cells {missing} draw a figure the page lacks")
        if not re.search(rf'href="[^"]*_downloads/[^"]*/{re.escape(nb_path.name)}"', text):
            problems.append(f"{nb_path.name}: the page has no link to download the notebook")
        if "output error" in text or "Traceback (most recent call last)" in text:
            problems.append(f"{nb_path.name}: the page shows an error")
        for block in re.findall(r'class="output stderr.*?<pre>(.*?)</pre>', text, re.S):
            first = re.sub(r"<[^>]+>", "", block).strip().splitlines()[0][:160]
            problems.append(f"{nb_path.name}: the page shows a stderr block: {first}")
    return problems


def check_offline_math(html: Path) -> list[str]:
    problems = []
    if not (html / "_static" / "mathjax" / "tex-chtml.js").exists():
        problems.append("_static/mathjax/tex-chtml.js: MathJax is not shipped with the site")
    pages = [p for p in html.rglob("*.html") if "_static" not in p.parts]
    for page in pages:
        for src in re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', page.read_text()):
            if "://" in src or src.startswith("//"):
                problems.append(f"{page.relative_to(html)}: loads MathJax from {src}")
    print(f"math: {len(pages)} pages, MathJax local")
    return problems


def check_api(html: Path) -> list[str]:
    ids = set()
    for page in (html / "api").glob("*.html"):
        ids.update(re.findall(r'id="([^"]+)"', page.read_text()))
    documented = {}
    for ident in ids:
        if ident.startswith("hetsyn_plugins"):
            obj = _apigen._lookup(ident)
            if obj is not None and _apigen._registrable(obj):
                documented[id(obj)] = ident
    problems, count = [], 0
    for mod in _apigen._modules("hetsyn_plugins"):
        if not (html / "api" / f"{mod.__name__}.html").exists():
            problems.append(f"{mod.__name__}: no API page")
        for name in _apigen.public_names(mod):
            count += 1
            full = f"{mod.__name__}.{name}"
            obj = getattr(mod, name, None)
            if full in ids or (_apigen._registrable(obj) and id(obj) in documented):
                continue
            problems.append(f"{full}: not documented on any API page")
    print(f"API: {count} public names of {len(ids)} anchors checked")
    return problems


def check_links_and_version(html: Path) -> list[str]:
    """Intersphinx links into torch's and snnTorch's docs; the version in every title."""
    import _version

    problems = []
    api = "".join(page.read_text() for page in (html / "api").glob("*.html"))
    for project, host in (("torch", "docs.pytorch.org"), ("snnTorch", "snntorch.readthedocs.io")):
        links = len(re.findall(rf'href="https://{re.escape(host)}/', api))
        print(f"links to {project}'s docs from the API pages: {links}")
        if links == 0:
            problems.append(f"the API pages link no {project} type to its documentation")
    for page in html.rglob("*.html"):  # "--repeat" in prose, turned into a dash
        prose = re.sub(r"<(code|pre)[^>]*>.*?</\1>|<[^>]+>", " ", page.read_text(), flags=re.S)
        for hit in re.findall(r"\s\u2013[a-z][\w-]*", prose):
            problems.append(f"{page.relative_to(html)}: an option became a dash: {hit.strip()}")
    release = _apigen.importlib.import_module("hetsyn_plugins").__version__
    label = _version.docs_version(release, ROOT / "CHANGELOG.md")
    for page in (html / "index.html", html / "api.html"):
        title = re.search(r"<title>(.*?)</title>", page.read_text(), re.S)
        if title is None or label not in title.group(1):
            problems.append(f"{page.name}: the title does not name the version {label!r}")
    return problems


def main(argv: list[str]) -> int:
    html = Path(argv[1]) if len(argv) > 1 else DOCS / "_build" / "html"
    problems = (
        check_tutorials(html)
        + check_api(html)
        + check_offline_math(html)
        + check_links_and_version(html)
    )
    for p in problems:
        print("MISSING:", p)
    print("HTML check:", "failed" if problems else "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
