# The README's commands. Each creates .venv from pyproject.toml first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# MediaPipe's metadata writers and Tasks API pin numpy < 2 and protobuf < 5, which
# TensorFlow 2.21 cannot share: they get their own environment, which the exporter
# runs in a subprocess (dlapps/export/mediapipe_metadata.py). Only what the metadata
# writers and the Tasks API import is installed: mediapipe without its declared jax,
# jaxlib, sentencepiece, sounddevice and opencv-contrib (headless OpenCV instead), 412 MB
# instead of 990 MB; pip warns that those are missing.
MEDIAPIPE := mediapipe==0.10.21
MEDIAPIPE_DEPS := "numpy<2" "protobuf>=4.25.3,<5" "flatbuffers>=2.0" absl-py "attrs>=19.1.0" \
	matplotlib "opencv-python-headless<4.12"
MP_VENV := .venv-mediapipe
MP_STAMP := $(MP_VENV)/.installed-stamp

.PHONY: install demo test lint bench bench-full clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(MP_STAMP): Makefile
	$(PYTHON) -m venv $(MP_VENV)
	$(MP_VENV)/bin/python -m pip install --quiet $(MEDIAPIPE_DEPS)
	$(MP_VENV)/bin/python -m pip install --quiet --no-deps $(MEDIAPIPE)
	touch $(MP_STAMP)

# The two environments are independent: pip downloads and unpacks them side by side.
install:
	$(MAKE) --no-print-directory -j2 $(STAMP) $(MP_STAMP)

demo: install
	$(BIN)/dlapps demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Three workers on two cores: much of a test's time is single-threaded Python
# (tracing graphs, converting TFLite files), so a third worker fills the idle
# core time (measured on 2 cores: 573 s with -n 2, 501 s with -n 3).
test: install
	$(MAKE) --no-print-directory lint
	DLAPPS_REQUIRE_MEDIAPIPE=1 $(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder --durations=10

bench: $(STAMP) $(MP_STAMP)
	$(BIN)/python benchmarks/run.py

bench-full: $(STAMP) $(MP_STAMP)
	$(BIN)/python benchmarks/run.py --full

clean:
	# runs/ holds checkpoints and resume backups: delete it by hand if you mean to.
	rm -rf $(VENV) $(MP_VENV) .pytest_cache .ruff_cache
