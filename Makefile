# One entry point for set-up and running. `make demo` and `make test` do all set-up themselves.
PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints/cpu.txt
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/*/pyproject.toml))
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(PLUGINS))
# Example third-party plugins, installed as separate packages (their tests use the conformance kit).
EXAMPLE_PLUGINS := examples/plugins/grpo-reward-length examples/plugins/grpo-reward-json-schema
STAMP := $(VENV)/.installed

.PHONY: install demo score-demo test lint format bench clean

$(STAMP): pyproject.toml $(PLUGINS) $(CONSTRAINTS) $(addsuffix /pyproject.toml,$(EXAMPLE_PLUGINS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,train,docker,serve]" \
		$(addprefix -e ,$(PLUGIN_DIRS) $(EXAMPLE_PLUGINS))
	touch $(STAMP)

install: $(STAMP)

## The main job on the embedded default: a tiny GRPO run on CPU with the math and format plugins.
demo: install
	$(BIN)/grpo train --overwrite

## Score the bundled R1-style completions with the format verifiers.
score-demo: install
	$(BIN)/grpo score examples/data/r1_format_sample.jsonl --reward format --reward tag_count=0.5 \
		-o runs/score-demo/scored.jsonl --summary-json runs/score-demo/summary.json

## The whole test suite (root tests and every plugin's tests).
test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python benchmarks/engine_overhead.py
	$(BIN)/python benchmarks/math_throughput.py
	$(BIN)/python benchmarks/sandbox_throughput.py
	$(BIN)/python benchmarks/harness_overhead.py
	$(BIN)/python benchmarks/language_accuracy.py
	$(BIN)/python benchmarks/language_throughput.py

clean:
	rm -rf $(VENV) runs
