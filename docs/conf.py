"""Sphinx configuration of the hetsyn-plugins docs.

Three build steps run before Sphinx reads the sources (all outputs are git-ignored, so a
fresh clone builds the same way):

1. the notebooks of the top-level ``tutorials/`` folder are copied to ``docs/tutorials/``,
   where the glob of ``tutorials.md`` picks up every one of them and myst-nb executes it
   (each copy gets a link to download the clean notebook, copied to
   ``_generated/notebooks/``);
2. one API page per public module of ``hetsyn_plugins`` is written to ``docs/api/``
   (``_apigen.py``): a new module appears without any docs change;
3. the benchmark figure is drawn from ``benchmarks/results/*.json`` (``_benchplot.py``), and
   the reproduction page's tables and prose numbers from ``experiments/results/*.json``
   (``_results.py``; the paper's other claims and pattern generation: ``_claims.py``).

Links into the PyTorch and snnTorch docs come from small inventories written at build time
(``_intersphinx.py``: no network needed); ``HETSYN_DOCS_INTERSPHINX=1`` fetches the projects'
own instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# Document (and run the notebooks against) this checkout, whatever is installed.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
)

import _apigen  # noqa: E402
import _benchplot  # noqa: E402
import _intersphinx  # noqa: E402
import _claims  # noqa: E402
import _layouts  # noqa: E402
import _results  # noqa: E402
import _version  # noqa: E402

import hetsyn_plugins  # noqa: E402

project = "hetsyn-plugins"
author = "hetsyn-plugins developers"
copyright = "2025, hetsyn-plugins developers"
release = hetsyn_plugins.__version__
# the release and, when the changelog lists unreleased changes, a mark that these pages
# describe them too (the title of every page shows it)
version = _version.docs_version(release, ROOT / "CHANGELOG.md")

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax shipped in _static/mathjax: math renders offline
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
]

# torch and snnTorch types in signatures link to their docs (see _intersphinx.py)
intersphinx_mapping = _intersphinx.mapping(
    DOCS / "_build" / "inventories", online=os.environ.get("HETSYN_DOCS_INTERSPHINX") == "1"
)

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints",
                    "_generated/notebooks"]
templates_path = []
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# ---------------------------------------------------------------- HTML
html_theme = "furo"
html_title = f"hetsyn-plugins {version}"
html_static_path = ["_static"]
html_css_files = ["hetsyn.css"]  # wide tables and display math scroll, never cut off

# ---------------------------------------------------------------- MyST / myst-nb
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "substitution"]
myst_heading_anchors = 3
# "cache" re-executes a notebook when its code or the package's source changed (the cache
# lives in docs/_build/.jupyter_cache/<digest of hetsyn_plugins/**/*.py>);
# HETSYN_DOCS_EXECUTE=force runs every notebook, "off" none (a quick look at the text).
nb_execution_mode = os.environ.get("HETSYN_DOCS_EXECUTE", "cache")


def _package_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "hetsyn_plugins").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


_CACHES = DOCS / "_build" / ".jupyter_cache"
nb_execution_cache_path = str(_CACHES / _package_digest())
for _old in _CACHES.glob("*") if _CACHES.is_dir() else ():
    if _old.is_dir() and str(_old) != nb_execution_cache_path:
        shutil.rmtree(_old, ignore_errors=True)  # caches of earlier package sources
nb_execution_timeout = 180  # seconds per cell; a whole notebook runs in under a minute by default
nb_execution_raise_on_error = True  # a failing notebook fails the build
nb_execution_show_tb = True
nb_merge_streams = True

# ---------------------------------------------------------------- autodoc
autodoc_member_order = "bysource"
autodoc_typehints = "signature"  # the types where the arguments are
autodoc_typehints_format = "short"
autodoc_default_options = {"show-inheritance": True}
autodoc_inherit_docstrings = False  # not the hosts' docstrings of overridden methods
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# "a, b: text" stays one entry for both names (with True, the text is repeated per name)
napoleon_use_param = False
napoleon_custom_sections = [("Shapes", "notes_style")]

# References to SpikingJelly (no inventory) and to private names stay plain text.
nitpicky = False


# ---------------------------------------------------------------- build steps
def _copy_tutorials() -> None:
    """Mirror ``tutorials/*.ipynb`` into ``docs/tutorials/`` (stale copies removed), each with a
    download link under its title; the clean notebook it links to is copied to
    ``_generated/notebooks/``."""
    src, dst, clean = ROOT / "tutorials", DOCS / "tutorials", DOCS / "_generated" / "notebooks"
    dst.mkdir(exist_ok=True)
    clean.mkdir(parents=True, exist_ok=True)
    wanted = {p.name for p in src.glob("*.ipynb")}
    for folder in (dst, clean):
        for old in folder.glob("*.ipynb"):
            if old.name not in wanted:
                old.unlink()
    rows = ["| tutorial | notebook |", "|---|---|"]
    for name in sorted(wanted):
        original = (src / name).read_text()
        _write_if_changed(clean / name, original)
        _write_if_changed(dst / name, _with_download_link(original, name))
        stem = Path(name).stem
        rows.append(f"| {{doc}}`/tutorials/{stem}` "  # rooted: the table is an include
                    f"| {{download}}`{name} </_generated/notebooks/{name}>` |")
    _write_if_changed(DOCS / "_generated" / "tutorials_table.md", "\n".join(rows) + "\n")


def _with_download_link(notebook: str, name: str) -> str:
    """The notebook with a markdown cell after its title cell: a link to download it."""
    nb = json.loads(notebook)
    text = (
        f"{{download}}`Download this notebook <../_generated/notebooks/{name}>` (without "
        "outputs) to run it yourself: it needs `matplotlib` and the host library it imports, "
        "from `pip install` or a checkout."
    )
    cell = {"cell_type": "markdown", "id": "download-link", "metadata": {}, "source": [text]}
    nb["cells"].insert(1, cell)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


THREADS = os.environ.get("HETSYN_DOCS_THREADS", "1")


def _kernel_for_this_interpreter() -> None:
    """Run the notebooks with the interpreter that runs Sphinx (its venv, this checkout).

    A kernelspec named like the notebooks' (``python3``) is written under ``docs/_build`` and
    put first on ``JUPYTER_PATH``, so no user- or system-wide kernel can shadow it.
    """
    names = set()
    for nb in (ROOT / "tutorials").glob("*.ipynb"):
        spec = json.loads(nb.read_text()).get("metadata", {}).get("kernelspec", {})
        names.add(spec.get("name", "python3"))
    base = DOCS / "_build" / "jupyter"
    for name in names or {"python3"}:
        kdir = base / "kernels" / name
        kdir.mkdir(parents=True, exist_ok=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (hetsyn-plugins docs)",
            "language": "python",
            "env": {
                "PYTHONPATH": os.environ["PYTHONPATH"],
                # The tutorials' models are small: one thread is fastest, and it keeps the
                # build from stalling on a busy 2-core machine (threads spinning for cores).
                "OMP_NUM_THREADS": THREADS,
                "NUMBA_NUM_THREADS": THREADS,
            },
        }
        (kdir / "kernel.json").write_text(json.dumps(spec, indent=1))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(base), *filter(None, [os.environ.get("JUPYTER_PATH")])]
    )


_copy_tutorials()
_kernel_for_this_interpreter()
_apigen.write_pages(DOCS / "api", package="hetsyn_plugins")
# the numbers the pages' prose quotes are MyST substitutions ({{ b1_T250 }}), never typed
myst_substitutions = _benchplot.write_figures(
    ROOT / "benchmarks" / "results", DOCS / "_generated"
)
# the reproduction page's tables and the numbers of its prose
myst_substitutions |= _results.write_tables(ROOT / "experiments" / "results", DOCS / "_generated")
myst_substitutions |= _claims.write_tables(ROOT / "experiments" / "results", DOCS / "_generated")
myst_substitutions |= _layouts.write_tables(ROOT, DOCS / "_generated")
myst_substitutions["version_note"] = _version.version_note(release, ROOT / "CHANGELOG.md")
myst_substitutions["links_note"] = _version.links_note(ROOT / "pyproject.toml")


def setup(app):
    app.connect("missing-reference", _apigen.resolve_alias)
    app.connect("autodoc-process-bases", _apigen.drop_private_bases)
    # Before napoleon (priority 500): argument groups whose names wrap onto a second line.
    app.connect("autodoc-process-docstring", _apigen.join_wrapped_arg_names, priority=400)
    app.connect("autodoc-process-docstring", _apigen.split_section_notes, priority=400)
