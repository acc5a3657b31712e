# Everything installs into .venv; torch comes first so that sentence-transformers does not
# pull a CUDA build. Elsewhere, point TORCH_PIP_ARGS at a CPU wheel index if you like.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PIP_ARGS ?=
SHARED ?= ../shared

.PHONY: install dev run serve ingest-sample test test-fast lint format eval eval-gate eval-climate bench load fuzz clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0 $(TORCH_PIP_ARGS)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

ingest-sample: install
	$(VENV)/bin/factcheck ingest --quiet examples/sample-corpus.jsonl

run: ingest-sample ## load the sample corpus into the embedded store and serve on 127.0.0.1:8000
	exec $(VENV)/bin/factcheck serve

serve: install
	exec $(VENV)/bin/factcheck serve

test: dev ## the whole suite on parallel workers, against a real Redis (started privately if none answers)
	PY=$(PY) scripts/test.sh $(PYTEST_ARGS)

# The inner loop: everything but the tests marked slow (live gunicorn, browser, schemathesis).
test-fast: dev ## the core suite in under a minute
	PY=$(PY) TEST_MARK="not slow" scripts/test.sh $(PYTEST_ARGS)

LOAD_ARGS ?= --requests 1000 --threads 8 --ingest-ratio 0.2 --max-seconds 300
load: dev ## bounded load test on loopback: checks and ingests, 0 errors and 0 lost articles or exit 1
	$(PY) scripts/loadtest.py $(LOAD_ARGS)

fuzz: dev ## schemathesis against the served openapi.yaml on live gunicorn (also part of make test)
	PY=$(PY) scripts/test.sh -q tests/test_schemathesis.py

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

EVAL_SET = $(if $(wildcard $(SHARED)/seeds),\
  --dev-sets $(SHARED),\
  --corpus examples/sample-corpus.jsonl --claims examples/sample-claims.jsonl)
# The gate: the seed and WiCE dev sets (a few minutes), nDCG@10 not below either baseline,
# and the evidence decision keeping 96% of answerable claims and rejecting 70% of the others
# (WiCE: 102/102 and 20/28 at this commit, docs/quality.md: 19/28 or fewer fails the bar).
GATE_SET = $(if $(wildcard $(SHARED)/seeds),\
  --dev-sets $(SHARED) --only seeds --only wice --min-kept 0.96 --min-rejected 0.7,\
  --corpus examples/sample-corpus.jsonl --claims examples/sample-claims.jsonl)

eval: install ## quality beside both baselines on every dev set of ../shared (or the sample corpus)
	$(VENV)/bin/factcheck eval $(EVAL_SET)

eval-gate: install ## seeds and WiCE, failing below a baseline's nDCG@10 or the decision's bars
	$(VENV)/bin/factcheck eval --fail-below-baselines $(GATE_SET)

eval-climate: install ## Climate-FEVER alone, failing below a baseline's nDCG@10 (about 5 minutes)
	$(VENV)/bin/factcheck eval --fail-below-baselines \
	  --corpus $(SHARED)/eval/climate-fever/corpus.jsonl \
	  --claims $(SHARED)/eval/climate-fever/dev-claims.jsonl

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[bench]'
	touch $@

# Benchmark (docs/benchmarks.md): corpora are built once under bench/.cache and reused.
SIZES ?= 10k,100k
DURATION ?= 10
BENCH_ARGS ?=
bench: $(VENV)/.bench-installed ## serve corpora of SIZES statements under load for DURATION s each
	$(PY) -m bench --sizes $(SIZES) --duration $(DURATION) --plot docs/bench-latency.png $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
