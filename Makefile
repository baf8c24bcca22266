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
# Each target installs what it needs on top of the base: the tests also triton (the Triton
# kernels run under its CPU interpreter), the docs Sphinx; the demo needs the base only.
TEST_STAMP := $(VENV)/.installed-test
DOCS_STAMP := $(VENV)/.installed-docs
comma := ,

# SpikingJelly's declared requirements pull torchvision/torchaudio (a CUDA torch of several GB,
# or a downgrade of torch); its activation_based core needs only loguru, numpy, tqdm and
# packaging, and its monitors tensorboard. It is installed without them, last: a later pip call would report the missing
# ones (an ERROR block of pip's resolver), so a later install takes it out and puts it back.
SPIKINGJELLY := $(PIP) install --quiet --no-deps "spikingjelly==$(SPIKINGJELLY_VERSION)"

# Extras of this package installed after SpikingJelly (see above): $(call EXTRAS,a$(comma)b)
define EXTRAS
	$(PIP) uninstall --quiet --yes spikingjelly
	$(PIP) install --quiet -e ".[$(1)]"
	$(SPIKINGJELLY)
endef

.PHONY: install test demo bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "torch==$(TORCH_VERSION)" $(TORCH_PIP_ARGS)
	$(PIP) install --quiet "snntorch==$(SNNTORCH_VERSION)" pandas matplotlib
	$(PIP) install --quiet loguru numpy tqdm packaging tensorboard
	$(PIP) install --quiet -e ".[tasks,cli]"
	$(SPIKINGJELLY)
	$(BIN)/python -c "import torch, snntorch, spikingjelly.activation_based, hetsyn_plugins; print('torch', torch.__version__)"
	touch $@

$(TEST_STAMP): $(STAMP)
	$(call EXTRAS,tasks$(comma)cli$(comma)test$(comma)gpu)
	touch $@

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/hetsyn demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

# the docs document every module, the Triton kernels too: they install the gpu extra as well
$(DOCS_STAMP): $(STAMP)
	$(call EXTRAS,tasks$(comma)cli$(comma)docs$(comma)gpu)
	touch $@

# Executes every notebook of tutorials/ (cached in docs/_build/.jupyter_cache), fails on any
# warning, then checks the HTML: tutorial outputs and figures, every public name documented.
docs: $(DOCS_STAMP)
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html
	$(BIN)/python docs/check_html.py docs/_build/html

clean:
	rm -rf $(VENV) build *.egg-info docs/_build docs/api docs/tutorials docs/_generated
