"""Registration of the adapters: the post-import hook, `import hetsyn_plugins`, the .pth file.

The import-order and .pth cases need fresh interpreters: they run in subprocesses with this
checkout first on the path (each starts torch, about a second).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from hetsyn_plugins import _import_hook

ROOT = Path(__file__).resolve().parents[1]
PTH = ROOT / "hetsyn_plugins_autoload.pth"


def _python(code: str, *, env_extra=None) -> str:
    env = {k: v for k, v in os.environ.items() if k != _import_hook.NO_AUTOLOAD_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(env_extra or {})
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


# --------------------------------------------------------------------------- in process


def test_snntorch_has_the_classes_after_import_hetsyn_plugins():
    snn = pytest.importorskip("snntorch")
    from snntorch import HetSynLeaky, HetSynLI

    from hetsyn_plugins.adapters import snntorch as adapter

    assert HetSynLeaky is adapter.HetSynLeaky and snn.HetSynLI is HetSynLI is adapter.HetSynLI


def test_register_is_idempotent():
    pytest.importorskip("snntorch")
    import snntorch.utils as utils

    from hetsyn_plugins.adapters import snntorch as adapter

    adapter.register()
    reset = utils.reset
    adapter.register()
    assert utils.reset is reset
    assert not getattr(reset.__wrapped__, "__hetsyn_plugins__", False), "wrapped twice"


@pytest.fixture
def fake_host(tmp_path, monkeypatch):
    """A module ``fake_host_<n>`` on sys.path, not imported yet."""
    name = f"fake_host_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)
    _import_hook._pending.pop(name, None)


def test_when_imported_runs_after_the_module_code(fake_host):
    seen = []
    _import_hook.when_imported(fake_host, lambda m: seen.append(m.VALUE))
    assert seen == []
    module = __import__(fake_host)
    assert seen == [42] and module.__spec__.loader.__class__.__name__ != "_PostImportLoader"
    _import_hook.when_imported(fake_host, lambda m: seen.append(-m.VALUE))  # already imported
    assert seen == [42, -42]


def test_failing_registration_warns_and_never_fails_the_host_import(fake_host):
    def broken(_module):
        raise RuntimeError("boom")

    _import_hook.when_imported(fake_host, broken)
    with pytest.warns(RuntimeWarning, match=f"registration into '{fake_host}' failed.*boom"):
        module = __import__(fake_host)
    assert module.VALUE == 42


def test_missing_adapter_module_is_skipped_silently(tmp_path, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _import_hook._register("hetsyn_plugins.adapters.not_written_yet")
    # a missing dependency *inside* an adapter is not hidden
    (tmp_path / "broken_adapter_mod.py").write_text("import not_installed_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="not_installed_dependency_xyz"):
        _import_hook._register("broken_adapter_mod")


def test_hook_module_imports_only_the_standard_library():
    source = Path(_import_hook.__file__).read_text()
    top_level = [
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    ]
    assert set(top_level) <= {"__future__", "collections", "importlib", "os", "sys", "warnings"}


# --------------------------------------------------------------------------- fresh interpreters


CHECK = "import snntorch; print(hasattr(snntorch, 'HetSynLeaky'), hasattr(snntorch, 'HetSynLI'))"


@pytest.mark.parametrize(
    "code",
    [
        f"import hetsyn_plugins; {CHECK}",  # hook first, host later
        f"import snntorch, hetsyn_plugins; {CHECK}",  # host first
    ],
)
def test_registration_through_import_hetsyn_plugins(code):
    pytest.importorskip("snntorch")
    assert _python(code) == "True True"


@pytest.mark.parametrize("autoload_off", ["0", "1"])
@pytest.mark.parametrize("adapter", ["snntorch", "spikingjelly"])
def test_importing_an_adapter_before_its_host_registers_it(adapter, autoload_off):
    """The adapter imports its host, which fires the hook while the adapter is half imported:
    no warning, and the classes are there afterwards (also with the autoload off)."""
    pytest.importorskip("snntorch")
    pytest.importorskip("spikingjelly")
    code = f"""
        import warnings
        warnings.simplefilter("error", RuntimeWarning)
        import hetsyn_plugins.adapters.{adapter}
        import snntorch
        from spikingjelly.activation_based import neuron
        print(hasattr(snntorch, "HetSynLeaky"), hasattr(neuron, "HetSynNode"))
    """
    out = _python(code, env_extra={_import_hook.NO_AUTOLOAD_ENV: autoload_off})
    assert out == "True True"


def test_pth_file_is_one_import_line_calling_the_stdlib_only_entry():
    lines = PTH.read_text().splitlines()
    assert lines == ["import _hetsyn_plugins_autoload; _hetsyn_plugins_autoload.install()"]


def _pth_dir(tmp_path: Path) -> Path:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    shutil.copy(PTH, site_dir)
    return site_dir


def test_pth_registers_without_import_and_without_torch_at_start(tmp_path):
    pytest.importorskip("snntorch")
    code = f"""
        import site, sys
        site.addsitedir({str(_pth_dir(tmp_path))!r})
        print(sorted(m for m in ("torch", "hetsyn_plugins", "snntorch") if m in sys.modules))
        print("hetsyn_plugins._import_hook" in sys.modules)
        import snntorch
        from snntorch import HetSynLeaky
        print(hasattr(snntorch, "HetSynLeaky"), HetSynLeaky.__module__)
    """
    assert _python(code).splitlines() == [
        "[]",
        "True",
        "True hetsyn_plugins.adapters.snntorch",
    ]


@pytest.mark.parametrize("value,installed", [("1", False), ("0", True)])
def test_pth_is_turned_off_by_the_environment_variable(tmp_path, value, installed):
    code = f"""
        import site, sys
        site.addsitedir({str(_pth_dir(tmp_path))!r})
        print(any(type(f).__name__ == "_PostImportFinder" for f in sys.meta_path))
    """
    assert _python(code, env_extra={"HETSYN_PLUGINS_NO_AUTOLOAD": value}) == str(installed)


def test_pth_turned_off_does_nothing_else(tmp_path):
    """The variable is read before any other work: the hook module is not even loaded."""
    code = f"""
        import site, sys
        site.addsitedir({str(_pth_dir(tmp_path))!r})
        print("hetsyn_plugins._import_hook" in sys.modules)
    """
    assert _python(code, env_extra={"HETSYN_PLUGINS_NO_AUTOLOAD": "1"}) == "False"


def test_interpreter_start_imports_nothing_heavy():
    """The installed .pth adds to a start only its own two modules (not typing, which costs
    milliseconds), against a start with the variable set."""
    code = "import sys; print(sorted(sys.modules))"
    on = set(ast.literal_eval(_python(code)))
    if "_hetsyn_plugins_autoload" not in on:
        pytest.skip("hetsyn_plugins_autoload.pth is not installed in this environment")
    off = set(ast.literal_eval(_python(code, env_extra={"HETSYN_PLUGINS_NO_AUTOLOAD": "1"})))
    assert on - off <= {"_hetsyn_plugins_autoload", "hetsyn_plugins._import_hook", "collections.abc"}


def test_importing_the_package_and_adapters_stays_light():
    """Neither torch._dynamo (torch.compiler.disable at import) nor numba (the fused loops
    are imported on first use) is imported by the package or its adapters."""
    pytest.importorskip("snntorch")
    pytest.importorskip("spikingjelly")
    code = """
        import sys
        import snntorch, spikingjelly.activation_based.neuron
        import hetsyn_plugins, hetsyn_plugins.adapters.snntorch, hetsyn_plugins.adapters.spikingjelly
        print([m for m in ("torch._dynamo", "numba") if m in sys.modules])
        from hetsyn_plugins.core import HetSynLIF
        import torch
        HetSynLIF(3, 2)(torch.ones(2, 1, 3)).sum().backward()
        print([m for m in ("torch._dynamo", "numba") if m in sys.modules])
    """
    assert _python(code, env_extra={"HETSYN_PLUGINS_NO_AUTOLOAD": "1"}).splitlines() == [
        "[]",
        "['numba']",
    ]
