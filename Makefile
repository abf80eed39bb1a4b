# distill-cookbook: two commands do all the set-up on a fresh machine.
#   make demo   the tiny profile end to end (installs, builds the tiny world, runs the notebooks)
#   make gallery  docs/executed/ from the last demo run (RUN_DIR=runs/<name> for another run)
#   make test   the same set-up, then the unit tests and every notebook in the tiny profile

PYTHON     ?= $(shell command -v python3.11 || command -v python3)
VENV       ?= .venv
PY         := $(VENV)/bin/python
# A CPU build of torch. On a machine whose pip would pick a CUDA build, add
# TORCH_INDEX=<the PyTorch CPU wheel index> (see the README).
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
RECIPE     ?= recipes/tiny.yaml
RUN_DIR    ?= runs/demo

.PHONY: install world demo gallery test test-fast lint bench clean download rehearse check-gpu-env gpu-check-wheels

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints/cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -c constraints/cpu.txt -e ".[dev]"
	touch $@

world: install  ## rebuild the tiny world: its committed weights (data/tiny-world/) loaded, or trained if none match
	$(PY) -m cookbook.toy.world --rebuild

demo: install
	$(PY) -m cookbook.toy.world
	$(PY) -m cookbook.notebooks --recipe $(RECIPE) --run-dir $(RUN_DIR)

gallery: install  ## docs/executed/: the last demo's executed notebooks (+ HTML up to 2 MB), cleaned, to commit
	$(PY) -m cookbook.gallery --run-dir $(RUN_DIR)

# Two pytest-xdist workers, one per core (tests/conftest.py: the demo run and each rehearsal on one
# worker, started first; one torch thread per process).
XDIST      ?= -n 2 --dist loadgroup

test: install
	$(PY) -m cookbook.toy.world
	$(PY) -m pytest $(XDIST)

test-fast: install  ## unit tests only: no notebook runs, no tiny world, no browser (builds nothing on a fresh clone)
	$(PY) -m pytest $(XDIST) -m "not slow and not world and not network and not browser"

check-gpu-env: install  ## constraints/gpu.txt resolves (pip --dry-run against the index; about a minute, downloads GBs)
	$(PY) -m pytest -m network

# ms-swift and the pure-Python packages a bare GPU machine (torch, transformers, peft,
# accelerate and nothing else) lacks, as wheels for bench/gpu_check.py's offline install.
GPU_CHECK_WHEELS ?= bench/wheels
gpu-check-wheels: install  ## wheels for bench/gpu_check.py (176 MiB today: over a 64 MiB carry), carried to the GPU
	rm -rf $(GPU_CHECK_WHEELS) && mkdir -p $(GPU_CHECK_WHEELS)
	$(PY) bench/gpu_check.py --download-wheels $(GPU_CHECK_WHEELS)

rehearse: install  ## a GPU recipe's notebooks on this CPU under its overlay: make rehearse RECIPE=recipes/workshop.yaml
	$(PY) -m cookbook.toy.world
	$(PY) -m cookbook.rehearsal --recipe $(RECIPE)

lint: install  ## ruff, configured in pyproject.toml
	$(PY) -m ruff check cookbook tests bench

download: install  ## fetch models, benchmarks and IFEval's data ahead: make download RECIPE=recipes/workshop.yaml
	$(PY) -m cookbook.eval.download --recipe $(RECIPE)

bench: install
	@for b in bench/*.py; do [ -e "$$b" ] || continue; [ "$$b" = bench/gpu_check.py ] && continue; \
	  echo "==> $$b"; $(PY) $$b || exit 1; done  # gpu_check.py needs a GPU: run it there

clean:
	rm -rf runs .pytest_cache
