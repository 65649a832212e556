# Every target builds .venv from the pinned set when it is missing or stale (stamp file).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp-core
BENCH_STAMP := $(VENV)/.stamp-bench
REF_STAMP := $(VENV)/.stamp-reference
TVENV := .venv-targets
TARGETS_STAMP := $(TVENV)/.stamp-targets
PIP := $(VENV)/bin/pip install -q --disable-pip-version-check -c requirements.lock
TPIP := $(TVENV)/bin/pip install -q --disable-pip-version-check -c requirements.lock

.PHONY: demo demo-results shell test test-ci test-long test-slow bench lint clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[dev,cluster]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(PIP) 'torch==2.14.1'
	touch $(BENCH_STAMP)

# torch + torchvision as matching PyPI wheels (a CUDA build that runs on the CPU; ~1.7 min, ~5 GB from local disk):
# PyPI's torchvision links libtorch_cuda, so beside the +cpu torch its ops fail to load
# jax2onnx 0.17.1 without its declared dependencies: it asks for orbax-checkpoint<0.11.37 (the kit pins 0.12.8) and
# for equinox, dm-pix, netron and orbax-export, which only its plugins for those libraries import
$(REF_STAMP): $(STAMP)
	$(PIP) -e '.[reference]'
	$(PIP) --no-deps 'jax2onnx==0.17.1'
	touch $(REF_STAMP)

# compilers for targets this machine does not have (train/target.py, `plan --compile`), in a venv of their own: the
# CUDA plugin's libraries write to stderr whenever JAX starts on a machine without a GPU, which in .venv would break
# every command's one-line errors. libtpu as jax[tpu] pins it (0.0.42.*), the CUDA 12 plugin at jax's version, and
# cuDNN for the fused attention in GPU programs (>= 9.8, as jax-cuda12-plugin[with-cuda] asks; no cuBLAS needed;
# not in requirements.lock: torch pins its own in .venv); nothing here runs on a GPU
$(TARGETS_STAMP): pyproject.toml requirements.lock
	test -x $(TVENV)/bin/python || $(PYTHON) -m venv $(TVENV)
	$(TPIP) -e '.[dev]'
	$(TPIP) 'libtpu==0.0.42.1' 'jax-cuda12-plugin==0.10.2' 'jax-cuda12-pjrt==0.10.2'
	$(TPIP) --no-deps 'nvidia-cudnn-cu12==9.28.0.42'
	touch $(TARGETS_STAMP)

demo: $(STAMP)  # into runs/demo (git-ignored): the tree stays clean
	$(VENV)/bin/scalezoo demo --fresh --out runs/demo  # trains every run again: results/demo's numbers, bit for bit

demo-results: $(STAMP)  # regenerates the committed results/demo on purpose (then name the commit in its README)
	$(VENV)/bin/scalezoo demo --fresh --out results/demo

shell: $(STAMP)  # a shell with .venv active (`scalezoo` on PATH); exit to leave
	@echo "scalezoo's .venv is active; exit to leave"; . $(VENV)/bin/activate && exec $${SHELL:-/bin/bash} -i

test: $(STAMP)  # one pytest worker per core; a test file's tests share a worker (module fixtures)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 2 --dist loadfile --durations=10

test-ci: $(REF_STAMP) $(TARGETS_STAMP)  # .ci/run runs it after make test: -m ci (processes, clusters, heavy deps), -m long; -m targets in their venv
	$(PY) -m pytest -n 2 --dist loadfile -m "(ci or long) and not slow and not targets" --durations=10
	$(TVENV)/bin/python -m pytest -n 2 --dist loadfile -m "targets and not slow" --durations=10

test-long: $(STAMP)  # -m long alone: tests that need only time, on the core install
	$(PY) -m pytest -n 2 --dist loadfile -m "long and not slow" --durations=10

test-slow: $(REF_STAMP)  # what `make test` leaves out (-m slow): longer kill trials, notebooks, the bench's workers
	$(PY) -m pytest -n 2 --dist loadfile -m slow --durations=10

bench: $(BENCH_STAMP)
	$(VENV)/bin/scalezoo bench --json results/bench/bench.json

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) $(TVENV)
