"""Registration of HetSynNode with SpikingJelly: register() directly, and the import hook."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("spikingjelly.activation_based.neuron")

from spikingjelly.activation_based import neuron

from hetsyn_plugins.adapters import spikingjelly as adapter

ROOT = Path(__file__).resolve().parents[2]


def test_register_attaches_the_node_and_is_idempotent(monkeypatch):
    monkeypatch.delattr(neuron, "HetSynNode", raising=False)
    assert not hasattr(neuron, "HetSynNode")
    assert adapter.register() is None
    assert neuron.HetSynNode is adapter.HetSynNode
    adapter.register()
    assert neuron.HetSynNode is adapter.HetSynNode
    node = neuron.HetSynNode(3, 2)
    assert isinstance(node, neuron.BaseNode)


def test_register_never_raises_into_the_host(monkeypatch):
    """A broken host module (here: one that refuses new attributes) gives a warning."""

    class Frozen:
        def __setattr__(self, name, value):
            raise RuntimeError("read-only module")

    import spikingjelly.activation_based as ab

    monkeypatch.setattr(ab, "neuron", Frozen())
    monkeypatch.setitem(sys.modules, "spikingjelly.activation_based.neuron", ab.neuron)
    with pytest.warns(RuntimeWarning, match="could not register neuron.HetSynNode"):
        adapter.register()


def _python(code: str, **env) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "HETSYN_PLUGINS_NO_AUTOLOAD"}
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), environ.get("PYTHONPATH", "")])
    environ.update(env)
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_import_hetsyn_plugins_registers_the_node():
    pytest.importorskip("hetsyn_plugins._import_hook")
    code = (
        "import hetsyn_plugins; from spikingjelly.activation_based import neuron; "
        "print(hasattr(neuron, 'HetSynNode'))"
    )
    assert _python(code) == "True"


def test_pth_autoload_registers_without_importing_hetsyn_plugins():
    pytest.importorskip("hetsyn_plugins._import_hook")
    pth = ROOT / "hetsyn_plugins_autoload.pth"
    if not pth.exists():
        pytest.skip("no hetsyn_plugins_autoload.pth at the repository root")
    # Run site-packages' processing of the .pth by adding ROOT as a site directory.
    code = (
        f"import site; site.addsitedir({str(ROOT)!r}); "
        "from spikingjelly.activation_based import neuron; print(hasattr(neuron, 'HetSynNode'))"
    )
    assert _python(code) == "True"
    assert _python(code, HETSYN_PLUGINS_NO_AUTOLOAD="1") == "False"
