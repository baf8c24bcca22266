"""Links from the API reference into the PyTorch and snnTorch documentation, without the
network: a small Sphinx inventory (``objects.inv``) per project, written at build time.

Each inventory lists the classes these docs refer to, under their public name
(``torch.nn.Linear``) and under the name their type hints print (the defining module's:
``torch.nn.modules.linear.Linear``), both pointing at the class's page in that project's
documentation. :func:`mapping` gives ``intersphinx_mapping`` these files; with
``HETSYN_DOCS_INTERSPHINX=1`` the build fetches the projects' own inventories instead.
"""

from __future__ import annotations

import importlib
import zlib
from pathlib import Path

PROJECTS = {
    "torch": (
        "https://docs.pytorch.org/docs/stable",
        {
            "torch.Tensor": "tensors.html#torch.Tensor",
            "torch.nn.Module": "generated/torch.nn.Module.html#torch.nn.Module",
            "torch.nn.Linear": "generated/torch.nn.Linear.html#torch.nn.Linear",
            "torch.nn.Identity": "generated/torch.nn.Identity.html#torch.nn.Identity",
            "torch.nn.Sequential": "generated/torch.nn.Sequential.html#torch.nn.Sequential",
            "torch.nn.ModuleDict": "generated/torch.nn.ModuleDict.html#torch.nn.ModuleDict",
            "torch.nn.Parameter": "generated/torch.nn.parameter.Parameter.html"
            "#torch.nn.parameter.Parameter",
            "torch.Generator": "generated/torch.Generator.html#torch.Generator",
            "torch.dtype": "tensor_attributes.html#torch.dtype",
            "torch.device": "tensor_attributes.html#torch.device",
            "torch.optim.Optimizer": "optim.html#torch.optim.Optimizer",
            "torch.autograd.Function": "autograd.html#torch.autograd.Function",
        },
    ),
    "snntorch": (
        "https://snntorch.readthedocs.io/en/latest",
        {
            "snntorch.Leaky": "snn.neurons_leaky.html#snntorch._neurons.leaky.Leaky",
            "snntorch.RLeaky": "snn.neurons_rleaky.html#snntorch._neurons.rleaky.RLeaky",
            "snntorch.Synaptic": "snn.neurons_synaptic.html"
            "#snntorch._neurons.synaptic.Synaptic",
        },
    ),
}


def _lookup(dotted: str):
    module, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def entries(classes: dict[str, str]) -> dict[str, str]:
    """``classes`` (public name -> page) and, for each, the name its type hints print."""
    out = dict(classes)
    for public, uri in classes.items():
        obj = _lookup(public)
        defined = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
        if obj is not None and defined not in out:
            out[defined] = uri
    return out


def write_inventory(path: Path, project: str, classes: dict[str, str]) -> Path:
    """An ``objects.inv`` (version 2) listing ``classes`` as ``py:class`` objects."""
    lines = "".join(f"{name} py:class 1 {uri} -\n" for name, uri in entries(classes).items())
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        "# Version: \n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.encode() + zlib.compress(lines.encode()))
    return path


def mapping(folder: Path, online: bool) -> dict[str, tuple[str, str | None]]:
    """``intersphinx_mapping``: the local inventories written into ``folder``, or (``online``)
    the projects' own, fetched by Sphinx."""
    if online:
        out = {name: (url, None) for name, (url, _) in PROJECTS.items()}
        out["python"] = ("https://docs.python.org/3", None)
        return out
    return {
        name: (url, str(write_inventory(folder / f"{name}.inv", name, classes)))
        for name, (url, classes) in PROJECTS.items()
    }
