"""Host adapters: the HetSyn neuron in the conventions of snnTorch and SpikingJelly."""
