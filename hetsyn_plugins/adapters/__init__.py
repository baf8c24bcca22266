"""Host adapters: each module gives the core layers the face of one host library.

- :mod:`hetsyn_plugins.adapters.snntorch`: ``snntorch.HetSynLeaky`` and ``snntorch.HetSynLI``;
- :mod:`hetsyn_plugins.adapters.spikingjelly`: ``spikingjelly.activation_based.neuron.HetSynNode``.

Each adapter module has an idempotent ``register()`` that attaches its classes to the host;
:mod:`hetsyn_plugins._import_hook` calls it when the host is imported. Importing this package
imports no host.
"""
