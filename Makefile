# Two commands for a newcomer:  `make demo`  and  `make test`.  Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test gui-deps train train-quick eval bench digits clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)  ## read the sample images in digits/ with the shipped model
	$(PY) live_digits.py --still digits/

test: $(STAMP) gui-deps  ## run the test suite
	$(PY) -m pytest -q

# The live-window tests drive a real OpenCV window on a virtual display.
gui-deps:
	@command -v Xvfb >/dev/null && command -v xdotool >/dev/null || \
		{ echo "installing xvfb and xdotool (needs root)"; apt-get update -qq && apt-get install -y -qq xvfb xdotool; }

train: $(STAMP)  ## reproduce the shipped model (models/mlp.pt)
	$(PY) train.py

train-quick: $(STAMP)  ## 3-epoch recipe into runs/quick.pt
	$(PY) train.py --quick

eval: $(STAMP)  ## real-paper evaluation table
	$(PY) -m recognizer.evaluate

bench: $(STAMP)  ## per-frame speed against the OpenCV floor and the naive loop (runs/bench/)
	$(PY) -m recognizer.bench

digits: $(STAMP)  ## regenerate the sample images in digits/
	$(PY) scripts/make_digits.py

clean:
	rm -rf $(VENV) .pytest_cache out runs
