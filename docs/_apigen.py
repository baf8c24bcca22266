"""Write the API reference: one page per public module of a package, at build time.

Every module whose dotted name has no part starting with ``_`` gets a page under
``docs/api/`` (listed by the toctrees of ``api.md`` and ``api_internals.md``). A module's
public names are its ``__all__`` or, without one, the names it defines at top level (by its
source) that do not start with ``_``. Each name is documented once, in the module that
defines it (autodoc); a module that re-exports names from elsewhere (``hetsyn_plugins``,
``hetsyn_plugins.core`` ...) lists them in a summary table linking to that definition.
References written against the re-exported paths (``hetsyn_plugins.HetSynLIF``) are
redirected there by :func:`resolve_alias`, a ``missing-reference`` handler.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import types
from pathlib import Path

from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.inspect import object_description

logger = logging.getLogger(__name__)

# id(object) -> the dotted name under which it is documented.
CANONICAL: dict[int, str] = {}

# Modules that are not part of the public API: their pages are built (cross-references to
# them resolve) but are left out of the reference's table of contents (``:orphan:``).
INTERNAL = {
    "hetsyn_plugins.cli",
    "hetsyn_plugins.core.validation",
    "hetsyn_plugins.convert.graph",
    "hetsyn_plugins.convert.hosts",
    "hetsyn_plugins.adapters.pairing",
    "hetsyn_plugins.convert.decays",
}


HOSTS = ("snntorch", "spikingjelly.activation_based.neuron")


def _import_hosts() -> None:
    """Import the host libraries before any adapter module: an adapter imported first makes
    the host's import hook try to register the half-imported adapter (and fail)."""
    for host in HOSTS:
        try:
            importlib.import_module(host)
        except ImportError:
            pass


_import_hosts()


def _modules(package: str) -> list[types.ModuleType]:
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=package + "."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    mods = []
    for name in sorted(names):
        try:
            mods.append(importlib.import_module(name))
        except Exception as err:  # noqa: BLE001 - reported as a build warning (-W: an error)
            logger.warning(f"API reference: cannot import {name}: {err!r}")
    return mods


def _defined_names(module: types.ModuleType) -> list[str]:
    """Names bound at the top level of the module's source (not by imports), in order."""
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return []
    names: list[str] = []

    def visit(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.append(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        names.append(target.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.append(node.target.id)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(source).body)
    return list(dict.fromkeys(names))


def public_names(module: types.ModuleType) -> list[str]:
    """The public names of a module: ``__all__``, else its own top-level non-underscore names."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [n for n in _defined_names(module) if not n.startswith("_") and hasattr(module, n)]


def _registrable(obj) -> bool:
    """Objects whose identity names them (not small shared values such as ints or strings)."""
    return not isinstance(obj, (str, bytes, int, float, complex, bool, type(None)))


def _kind(obj) -> str:
    if inspect.isclass(obj):
        return "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.ismethod(obj):
        return "function"
    return "data"


def _attr_docs(modname: str) -> dict[str, list[str]]:
    """The ``#:`` doc comments and string literals after module-level assignments."""
    try:
        docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
    except Exception:  # noqa: BLE001 - no source: no comments
        return {}
    return {name: lines for (scope, name), lines in docs.items() if scope == ""}


def _directive(modname: str, name: str, obj, attr_docs: dict[str, list[str]]) -> str:
    fullname = f"{modname}.{name}"
    kind = _kind(obj)
    if kind == "class":
        return f".. autoclass:: {fullname}\n   :members:\n"
    if kind == "function":
        return f".. autofunction:: {fullname}\n"
    # Data: autodata would show the docstring of the value's type (dict, tuple ...).
    text = f".. py:data:: {name}\n   :module: {modname}\n"
    value = object_description(obj)
    if len(value) <= 100 and "\n" not in value:
        text += f"   :value: {value}\n"
    body = [line for line in attr_docs.get(name, []) if line.strip()]
    if body:
        text += "\n" + "\n".join(f"   {line}" for line in attr_docs[name]) + "\n"
    return text


def _summary(obj) -> str:
    """The first paragraph of an object's docstring, on one line."""
    doc = inspect.getdoc(obj) if _kind(obj) != "data" else None
    if not doc:
        return ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _title(text: str) -> str:
    text = f"``{text}``"
    return f"{text}\n{'=' * len(text)}\n"


def write_pages(out: Path, package: str) -> None:
    """Write one ``.rst`` per public module of ``package`` into ``out`` (stale pages removed)."""
    mods = _modules(package)
    defined = {m.__name__: set(_defined_names(m)) for m in mods}
    # First pass: where each public object is defined (documented).
    for mod in mods:
        for name in public_names(mod):
            obj = getattr(mod, name, None)
            if name in defined[mod.__name__] and _registrable(obj):
                CANONICAL.setdefault(id(obj), f"{mod.__name__}.{name}")
    # Names re-exported from a module that is not itself listed (no __all__ there).
    for mod in mods:
        for name in public_names(mod):
            obj = getattr(mod, name, None)
            if _registrable(obj) and id(obj) not in CANONICAL:
                home = getattr(obj, "__module__", None)
                if home in defined and name in defined[home]:
                    CANONICAL[id(obj)] = f"{home}.{name}"

    out.mkdir(parents=True, exist_ok=True)
    pages = {}
    for mod in mods:
        modname = mod.__name__
        parts = [_title(modname), f".. automodule:: {modname}\n   :no-members:\n"]
        subs = [m.__name__ for m in mods if m.__name__.rpartition(".")[0] == modname]
        if subs:
            parts.append(".. rubric:: Submodules\n")
            parts.append("\n".join(f"- :mod:`{s}`" for s in subs) + "\n")
        here, elsewhere = [], []
        for name in public_names(mod):
            if not hasattr(mod, name):
                logger.warning(f"API reference: {modname}.__all__ names {name!r}, which is missing")
                continue
            obj = getattr(mod, name)
            home = CANONICAL.get(id(obj)) if _registrable(obj) else None
            if name in defined[modname] and (home is None or home == f"{modname}.{name}"):
                here.append((name, obj))
            elif home is not None:
                elsewhere.append((name, home))
            else:  # a plain value re-exported (e.g. a version string): document it here
                here.append((name, obj))
        if elsewhere:
            parts.append(".. rubric:: Re-exported names\n")
            parts.append(
                f"Importable as ``{modname}.<name>``; each is documented where it is defined.\n"
            )
            rows = [".. list-table::", "   :widths: 30 70", ""]
            for name, home in elsewhere:
                rows.append(f"   * - :py:obj:`{name} <{home}>`")
                rows.append(f"     - {_summary(_lookup(home))}")
            parts.append("\n".join(rows) + "\n")
        attr_docs = _attr_docs(modname)
        for kind, heading in (("class", "Classes"), ("function", "Functions"), ("data", "Data")):
            items = [(n, o) for n, o in here if _kind(o) == kind]
            if items:
                parts.append(f".. rubric:: {heading}\n")
                parts.extend(_directive(modname, n, o, attr_docs) for n, o in items)
        if modname in INTERNAL:
            parts.insert(0, ":orphan:\n")
        pages[f"{modname}.rst"] = "\n".join(parts)

    for old in out.glob("*.rst"):
        if old.name not in pages:
            old.unlink()
    for name, text in pages.items():
        path = out / name
        if not path.exists() or path.read_text() != text:  # unchanged pages stay unchanged
            path.write_text(text)


def _lookup(path: str):
    """The object at a dotted path, importing the longest module prefix; or None."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def canonical_name(path: str) -> str | None:
    """The documented name of the object at ``path`` (or of its longest documented prefix
    followed by the rest: ``hetsyn_plugins.HetSynLIF.run`` -> ``...layers.HetSynLIF.run``)."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        obj = _lookup(".".join(parts[:i]))
        if obj is not None and _registrable(obj) and id(obj) in CANONICAL:
            return ".".join([CANONICAL[id(obj)], *parts[i:]])
    return None


def resolve_alias(app, env, node, contnode):
    """``missing-reference`` handler: resolve a Python reference written against a re-export."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith("hetsyn_plugins"):
        modname = node.get("py:module")
        candidates = [f"{modname}.{target}"] if modname else []
    else:
        candidates = [target]
    domain = env.get_domain("py")
    for candidate in candidates:
        name = canonical_name(candidate)
        if name and name != target:
            ref = domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], name, node, contnode
            )
            if ref is None and node["reftype"] != "obj":
                ref = domain.resolve_xref(
                    env, node["refdoc"], app.builder, "obj", name, node, contnode
                )
            if ref is not None:
                return ref
    return None


def join_wrapped_arg_names(app, what, name, obj, options, lines):
    """Join a Google-style argument group whose list of names wraps onto the next line.

    ``a, b, c,`` followed by ``d, e: text`` (same or deeper indentation) is one entry for
    several arguments; napoleon reads only single-line names, so the two lines are joined in place.
    """
    i = 0
    while i < len(lines) - 1:
        line, nxt = lines[i], lines[i + 1]
        indent = len(line) - len(line.lstrip())
        if (
            line.rstrip().endswith(",")
            and _names(line.strip().rstrip(","))
            and len(nxt) - len(nxt.lstrip()) >= indent
            and ":" in nxt
            and _names(nxt.strip().partition(":")[0])
        ):
            lines[i : i + 2] = [line.rstrip() + " " + nxt.strip()]
            continue
        i += 1


def _names(text: str) -> bool:
    """True for ``a, b, c``: identifiers separated by commas."""
    return all(part.strip().isidentifier() for part in text.split(","))


_SECTION_WITH_NOTE = re.compile(
    r"^(\s*)(Args|Arguments|Parameters|Attributes|Returns|Raises)\s*\((.+)\):\s*$"
)


def split_section_notes(app, what, name, obj, options, lines):
    """``Args (durations in ms):`` -> the note as a sentence, then a bare ``Args:`` header.

    napoleon recognises a section only by its bare name; with a note in parentheses the
    indented entries below would be read as a stray block quote.
    """
    for i, line in enumerate(list(lines)):
        match = _SECTION_WITH_NOTE.match(line)
        if match:
            indent, section, note = match.groups()
            note = note[0].upper() + note[1:]
            lines[i : i + 1] = [f"{indent}{note}.", "", f"{indent}{section}:"]
            break


def drop_private_bases(app, name, obj, options, bases) -> None:
    """An ``autodoc-process-bases`` handler: the "Bases:" line of a class lists public
    classes only (a private mixin such as the snnTorch faces' state handling is an
    implementation detail)."""
    bases[:] = [b for b in bases if not getattr(b, "__name__", "").startswith("_")]
