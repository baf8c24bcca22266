"""Post-import hook: attach the adapters to their host libraries when those finish importing.

``HOST_ADAPTERS`` maps a host module to the adapter module that registers HetSyn in it. When a
host module finishes importing (or at once, if it is already imported), the hook imports the
adapter and calls its ``register()`` (idempotent). Nothing here imports a host or torch:

- ``import hetsyn_plugins`` calls :func:`install`;
- the ``hetsyn_plugins_autoload.pth`` file calls :func:`autoload` at interpreter start (through
  the stdlib-only ``_hetsyn_plugins_autoload`` module), unless the environment variable
  ``HETSYN_PLUGINS_NO_AUTOLOAD`` is set to a value other than ``""`` or ``"0"``.

A failure inside a registration never fails the host's import: it becomes a warning. An adapter
module that does not exist (yet) is skipped silently.

This module imports only the standard library at top level (it runs at interpreter start).
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Callable  # not typing: this runs at every interpreter start

HOST_ADAPTERS = {
    "snntorch": "hetsyn_plugins.adapters.snntorch",
    "spikingjelly.activation_based.neuron": "hetsyn_plugins.adapters.spikingjelly",
}
NO_AUTOLOAD_ENV = "HETSYN_PLUGINS_NO_AUTOLOAD"

_pending: dict[str, list[Callable[[object], None]]] = {}
_installed = False


def when_imported(module_name: str, callback: Callable[[object], None]) -> None:
    """Call ``callback(module)`` once ``module_name`` has finished importing.

    At once if it is already imported; otherwise from the hook, right after the module's code
    has run. An exception raised by ``callback`` becomes a warning.
    """
    module = sys.modules.get(module_name)
    if module is not None:
        _call(module_name, callback, module)
        return
    _pending.setdefault(module_name, []).append(callback)
    if not any(isinstance(f, _PostImportFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PostImportFinder())


def install() -> None:
    """Register the adapters of the hosts already imported; hook the others (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    for host, adapter in HOST_ADAPTERS.items():
        when_imported(host, lambda _module, adapter=adapter: _register(adapter))


def autoload() -> None:
    """:func:`install`, unless ``HETSYN_PLUGINS_NO_AUTOLOAD`` turns it off (the .pth entry)."""
    if os.environ.get(NO_AUTOLOAD_ENV, "") in ("", "0"):
        install()


def _register(adapter: str) -> None:
    partial = sys.modules.get(adapter)
    if partial is not None and getattr(getattr(partial, "__spec__", None), "_initializing", False):
        # The adapter is importing its host right now (it was imported first): it registers
        # itself when its own import finishes.
        return
    try:
        module = importlib.import_module(adapter)
    except ModuleNotFoundError as err:
        if err.name == adapter:  # this adapter is not part of the installed version
            return
        raise
    module.register()


def _call(module_name: str, callback: Callable[[object], None], module: object) -> None:
    try:
        callback(module)
    except Exception as err:  # a plugin must never break its host's import
        warnings.warn(
            f"hetsyn_plugins: registration into {module_name!r} failed "
            f"({type(err).__name__}: {err}); the host works without HetSyn",
            RuntimeWarning,
            stacklevel=2,
        )


def _run_pending(module_name: str) -> None:
    for callback in _pending.pop(module_name, []):
        _call(module_name, callback, sys.modules.get(module_name))


class _PostImportFinder:
    """Meta-path finder that wraps the loader of a watched module to run its callbacks."""

    def find_spec(self, name, path=None, target=None):
        if name not in _pending:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PostImportLoader(spec.loader, name)
                return spec
        return None


class _PostImportLoader:
    """Runs the real loader, puts it back on the module, then runs the callbacks."""

    def __init__(self, loader, name: str):
        self._loader = loader
        self._name = name

    def __getattr__(self, attr):
        return getattr(self._loader, attr)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _run_pending(self._name)
