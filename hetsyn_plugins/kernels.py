"""The kernels behind the layers' ``kernel=`` option (:data:`KERNELS`) and :func:`explain`,
which says which path a call takes and why.

The kernels themselves live in :mod:`hetsyn_plugins.core.kernels`.
"""

from .core.kernels import KERNELS, choose_kernel
from .core.kernels.explain import Explanation, explain

__all__ = ["KERNELS", "Explanation", "choose_kernel", "explain"]
