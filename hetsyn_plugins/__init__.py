"""hetsyn-plugins: HetSynLIF (leaky integrate-and-fire with a time constant on every synapse,
Deng et al., NeurIPS 2025) as a native neuron of snnTorch and SpikingJelly.

The model lives in :mod:`hetsyn_plugins.core` (torch only); this module re-exports its
public API.
"""

from .core import *  # noqa: F401,F403
from .core import __all__ as _core_all

__version__ = "0.1.0"

from .convert import convert  # noqa: E402  (the function; the subpackage stays importable)
from . import kernels  # noqa: E402

__all__ = [*_core_all, "__version__", "convert"]

# Register the adapters of the hosts already imported and hook the others (imports no host).
from . import _import_hook  # noqa: E402

_import_hook.install()
