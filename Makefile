# Everything installs into .venv; torch comes first so that sentence-transformers does not
# pull a CUDA build. Elsewhere, point TORCH_PIP_ARGS at a CPU wheel index if you like.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PIP_ARGS ?=
SHARED ?= ../shared

.PHONY: install dev run serve ingest-sample test lint format eval clean

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

test: dev ## the whole suite, against a real Redis (started privately if none answers)
	PY=$(PY) scripts/test.sh $(PYTEST_ARGS)

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

eval: install ## retrieval quality on the shared seed set (or the sample corpus without it)
	@if [ -d $(SHARED)/seeds ]; then \
	  $(VENV)/bin/factcheck eval --corpus $(SHARED)/seeds --claims $(SHARED)/eval/seed-dev-claims.jsonl; \
	else \
	  $(VENV)/bin/factcheck eval --corpus examples/sample-corpus.jsonl --claims examples/sample-claims.jsonl; \
	fi

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
