# Every target uses the project environment in .venv/, created on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STORE ?= artifacts
SAMPLE := data/sample.csv
DATA ?= $(SAMPLE)
FULL_DATA ?= ../shared/data/tweet_sentiment_extraction/train.csv
ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 3000

.PHONY: run run-full lab strip-notebooks test test-durations test-fast lint bench bench-serving bench-images bench-reproduce bench-sweep bench-model images serve venv system-deps clean

venv: $(BIN)/.installed

# Pinned by constraints.txt (pip freeze of a known-good environment) so every machine gets the same stack.
$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --quiet --upgrade pip
	$(BIN)/pip install --quiet --quiet -c constraints.txt -e '.[serve,airflow,dev,teacher]'
	@# jsonschema's optional IRI format checker (jupyter-events asks for it) builds an Earley parser when it is
	@# imported: 0.9 s of CPU in every process importing jsonschema (the runner, each Airflow process and task).
	@# Nothing here checks an IRI; without it jsonschema skips that format (pip check stays clean).
	$(BIN)/pip uninstall --quiet --quiet --yes rfc3987-syntax
	touch $@

$(SAMPLE): | venv
	$(BIN)/sentiment-pipeline sample --out $@

## The main job: the full pipeline on the bundled sample into ./artifacts (no cloud account needed).
run: venv $(if $(filter $(SAMPLE),$(DATA)),$(SAMPLE))
	$(BIN)/sentiment-pipeline run --data $(DATA) --store $(STORE) $(ARGS)

## The same on the 27,480-tweet file (a few minutes on two cores).
run-full: venv
	$(BIN)/sentiment-pipeline run --data $(FULL_DATA) --store $(STORE) $(ARGS)

## JupyterLab on notebooks/ with this project's environment as the kernel (the sample data is written first, so Run All
## works on the notebooks' defaults). LAB_ARGS adds options, e.g. LAB_ARGS=--no-browser.
LAB_ARGS ?=
lab: venv $(SAMPLE)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

## Remove outputs and execution counts from the committed notebooks (nbstripout; `make test` fails on any left).
strip-notebooks: venv
	$(BIN)/nbstripout --keep-id notebooks/*.ipynb

## Serve the promoted run (deployed.json), else the newest succeeded one, on http://localhost:3000: registers it in the
## BentoML model store first (`register --run-id served` chooses), and the first line says which run and why.
serve: venv
	@notes=$$(mktemp) && \
	{ registered=$$($(BIN)/sentiment-pipeline register --store $(STORE) --run-id served 2>"$$notes") \
	  || { cat "$$notes" >&2; rm -f "$$notes"; exit 1; }; } && \
	read -r tag run why < <($(BIN)/python -c \
	  'import json, sys; r = json.loads(sys.argv[1]); print(r["tag"], r["run_id"], r["chosen"])' "$$registered") && \
	echo "serving $$tag (run $$run, $$why) on http://$(HOST):$(PORT)" && cat "$$notes" >&2 && rm -f "$$notes" && \
	SENTIMENT_MODEL_TAG=$$tag $(BIN)/bentoml serve service:TweetSentiment --host $(HOST) --port $(PORT)

system-deps:
	bash scripts/install-system-deps.sh

## Build sentiment-training, sentiment-airflow and tweet-sentiment (the bento of the newest run of $(STORE)) with
## podman (docker where its daemon runs; CONTAINER_ENGINE overrides), then print their sizes.
images: venv system-deps
	$(BIN)/python scripts/images.py build --store $(STORE)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check sentiment_pipeline notebooks tests dags benchmarks scripts service.py

## Everything: lint, units, real notebook runs, servers, images, Terraform on moto (slowest tests listed at the end),
## on TEST_WORKERS pytest-xdist workers, longest tests first (tests/support/schedule.py; TEST_WORKERS=0: one process).
TEST_WORKERS ?= 4
test: venv system-deps infra-tools lint
	$(BIN)/pytest -q --durations=15 $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadgroup)

## Measure every test on one process and keep the seconds in tests/durations.json, the order `make test` hands tests
## to its workers in (after a change of the slow tests).
test-durations: venv system-deps infra-tools
	out=$$(mktemp) && SENTIMENT_TESTS_DURATIONS=$$out $(BIN)/pytest -q -p no:xdist && mv "$$out" tests/durations.json

## Units and in-process checks only (no pipeline run, server, image or Terraform): under a minute, for between edits.
test-fast: venv infra-tools
	$(BIN)/pytest -q -m "not slow"

bench: venv bench-serving bench-reproduce
	$(BIN)/python benchmarks/pipeline_bench.py --data $(FULL_DATA) --out benchmarks/pipeline-results.md

## The served model of the full-data run (trained first if $(STORE) has none): seed-style, TensorFlow and ONNX services,
## the model alone, then the bento image (podman) beside `bentoml serve` on the host.
bench-serving: venv system-deps
	$(BIN)/python benchmarks/serving_bench.py --store $(STORE) --data $(FULL_DATA) --out benchmarks/serving-results.md

## Reproduce the full-data run (identical?) and compare two seeds (the noise floor the gate's margin faces).
## Each model candidate against the pre-distillation default on FULL_DATA, two seeds, judged by `compare`
## (benchmarks/model-results.md; about an hour on two cores; runs are kept in MODEL_BENCH_STORE and reused).
MODEL_BENCH_STORE ?= /tmp/sentiment-model-bench
bench-model: venv
	$(BIN)/python benchmarks/model_bench.py --data $(FULL_DATA) --store $(MODEL_BENCH_STORE) --out benchmarks/model-results.md

## The same 4-point sweep on FULL_DATA one point at a time and two at once (benchmarks/sweep-results.md).
bench-sweep: venv
	$(BIN)/python benchmarks/sweep_bench.py --data $(FULL_DATA) --out benchmarks/sweep-results.md

bench-reproduce: venv
	$(BIN)/python benchmarks/reproduce_bench.py --data $(FULL_DATA) --out benchmarks/reproduce-results.md

## Image sizes and biggest packages, cold and cached builds, bento start to /readyz, training in vs out of a container.
bench-images: venv system-deps
	$(BIN)/python benchmarks/images_bench.py --store $(STORE) --out benchmarks/images-results.md

clean:
	rm -rf $(STORE) data .pytest_cache

-include mk/*.mk
