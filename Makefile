# The verbs people type. Everything runs inside .venv (created by `make install`).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/datasets/fer2013.tar.gz
RUN ?= release
MODEL ?= models/emotion-edge-fp32.onnx

.PHONY: install test lint format typecheck train evaluate export clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

install: $(BIN)/python
	# torch 2.13.0 is the CPU wheel this project is tested with; another request downloads CUDA builds.
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[train,dev]'
	# Type stubs only: their declared tensorrt dependency cannot install off NVIDIA's index.
	$(BIN)/pip install --no-deps tensorrt-stubs==10.13.0.35.1

test: lint typecheck
	$(BIN)/pytest -q

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck:
	$(BIN)/mypy

# The release recipe (see models/README.md). About 70-80 s per epoch on 2 CPU cores.
train:
	$(BIN)/emotion-edge train --data $(DATA) --name $(RUN)

evaluate:
	$(BIN)/emotion-edge evaluate $(MODEL) --data $(DATA) --split test

export:
	$(BIN)/emotion-edge export onnx runs/$(RUN)/best.pt --data $(DATA) --out $(MODEL)

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache
