"""Check the built HTML (run by ``make docs`` after Sphinx): tutorials and API coverage.

- every notebook of ``tutorials/`` has a page with executed outputs, and figures where its
  code plots (matplotlib), and no error or stderr block (a warning printed by a cell);
- every public name of every public module of ``hetsyn_plugins`` (``__all__``, else the
  top-level names its source defines; see ``_apigen.public_names``) is documented on an API
  page, under its own dotted name or where the object is defined;
- math renders offline: every page loads MathJax from the site itself (``_static``), which
  holds it, not from a CDN.

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


def check_tutorials(html: Path) -> list[str]:
    problems = []
    for nb_path in sorted((ROOT / "tutorials").glob("*.ipynb")):
        page = html / "tutorials" / f"{nb_path.stem}.html"
        if not page.exists():
            problems.append(f"{nb_path.name}: no page {page.relative_to(html)}")
            continue
        text = page.read_text()
        outputs = text.count('class="cell_output')
        images = len(re.findall(r"<img [^>]*src=\"[^\"]*_images/", text))
        code = "\n".join(
            "".join(c["source"])
            for c in json.loads(nb_path.read_text())["cells"]
            if c["cell_type"] == "code"
        )
        plots = "plt." in code or "matplotlib" in code
        print(f"{nb_path.name}: {outputs} output cells, {images} figures")
        if outputs == 0:
            problems.append(f"{nb_path.name}: the page shows no executed output")
        if plots and images == 0:
            problems.append(f"{nb_path.name}: it plots, but the page has no figure")
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


def main(argv: list[str]) -> int:
    html = Path(argv[1]) if len(argv) > 1 else DOCS / "_build" / "html"
    problems = check_tutorials(html) + check_api(html) + check_offline_math(html)
    for p in problems:
        print("MISSING:", p)
    print("HTML check:", "failed" if problems else "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
