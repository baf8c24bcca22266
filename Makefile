# make test / make demo set up everything they need in a local venv (.venv):
# pinned CPU torch, the two host libraries, and this package in editable mode.
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
# Extra pip arguments for torch (e.g. an index serving CPU-only builds on other machines).
TORCH_PIP_ARGS ?=
SNNTORCH_VERSION ?= 1.0.0
SPIKINGJELLY_VERSION ?= 2.0.0

BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed-torch-$(TORCH_VERSION)

DOCS_STAMP := $(VENV)/.installed-docs

# SpikingJelly's declared requirements pull torchvision/torchaudio (a CUDA torch of several GB,
# or a downgrade of torch); its activation_based core needs only loguru, numpy, tqdm and
# packaging. It is installed without them, last: a later pip call would report the missing
# ones (an ERROR block of pip's resolver), so a later install takes it out and puts it back.
SPIKINGJELLY := $(PIP) install --quiet --no-deps "spikingjelly==$(SPIKINGJELLY_VERSION)"

.PHONY: install test demo bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "torch==$(TORCH_VERSION)" $(TORCH_PIP_ARGS)
	$(PIP) install --quiet "snntorch==$(SNNTORCH_VERSION)" pandas matplotlib
	$(PIP) install --quiet loguru numpy tqdm packaging
	$(PIP) install --quiet -e ".[test,gpu,tasks]"
	$(SPIKINGJELLY)
	$(BIN)/python -c "import torch, snntorch, spikingjelly.activation_based, hetsyn_plugins; print('torch', torch.__version__)"
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/hetsyn demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

$(DOCS_STAMP): $(STAMP)
	$(PIP) uninstall --quiet --yes spikingjelly
	$(PIP) install --quiet -e ".[docs]"
	$(SPIKINGJELLY)
	touch $@

# Executes every notebook of tutorials/ (cached in docs/_build/.jupyter_cache), fails on any
# warning, then checks the HTML: tutorial outputs and figures, every public name documented.
docs: $(DOCS_STAMP)
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html
	$(BIN)/python docs/check_html.py docs/_build/html

clean:
	rm -rf $(VENV) build *.egg-info docs/_build docs/api docs/tutorials docs/_generated
