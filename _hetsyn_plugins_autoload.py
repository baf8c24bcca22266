"""Interpreter-start entry of hetsyn-plugins, run by ``hetsyn_plugins_autoload.pth``.

It loads ``hetsyn_plugins/_import_hook.py`` (standard library only) without importing the
``hetsyn_plugins`` package, whose ``__init__`` imports torch, and calls its ``autoload()``:
the adapters register themselves when snnTorch or SpikingJelly is imported, and nothing else
is imported before that. ``HETSYN_PLUGINS_NO_AUTOLOAD=1`` turns it off.
"""

import os
import sys

_HOOK = "hetsyn_plugins._import_hook"
_OFF = "HETSYN_PLUGINS_NO_AUTOLOAD"


def install() -> None:
    """Load the hook module by file and call its ``autoload()``; never fail the start-up.
    ``HETSYN_PLUGINS_NO_AUTOLOAD`` (any value but ``""`` and ``"0"``) is read first: set, it
    does nothing else."""
    if os.environ.get(_OFF, "") not in ("", "0"):
        return
    try:
        hook = sys.modules.get(_HOOK)
        if hook is None:
            import importlib.util

            package = importlib.util.find_spec("hetsyn_plugins")
            if package is None or not package.submodule_search_locations:
                return
            path = os.path.join(list(package.submodule_search_locations)[0], "_import_hook.py")
            spec = importlib.util.spec_from_file_location(_HOOK, path)
            hook = importlib.util.module_from_spec(spec)
            sys.modules[_HOOK] = hook
            try:
                spec.loader.exec_module(hook)
            except BaseException:
                del sys.modules[_HOOK]
                raise
        hook.autoload()
    except Exception as err:  # a broken install must not break the interpreter
        import warnings

        warnings.warn(f"hetsyn_plugins autoload failed: {type(err).__name__}: {err}", stacklevel=2)
