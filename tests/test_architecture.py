"""House rules that can be checked: the core imports no host library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hetsyn_plugins

CORE = Path(hetsyn_plugins.__file__).parent / "core"
HOSTS = ("snntorch", "spikingjelly")


def test_core_sources_import_no_host():
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in HOSTS]
    assert not offenders, offenders
    assert len(list(CORE.rglob("*.py"))) >= 6  # the walk really saw the core


def test_importing_the_core_loads_no_host():
    code = (
        "import sys, hetsyn_plugins.core, hetsyn_plugins.core.kernels; "
        f"print([m for m in sys.modules if m.split('.')[0] in {HOSTS!r}])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
