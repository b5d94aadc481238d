# The two commands of the README: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8001
DB := archive.db
INSTALLED := $(VENV)/.installed

.PHONY: serve test build bench clean

# serve.py holds Datasette's options (read-only, time limits) and starts one process per core;
# the tests and benchmarks serve through it too.
serve: $(DB)
	$(BIN)/python serve.py $(DB) --inspect-file $(DB:.db=.inspect.json) --host 127.0.0.1 --port $(PORT)

test: $(INSTALLED)
	$(BIN)/pytest

build: $(DB)

# The archive is rebuilt whenever an article, the ingest code or its rules change.
$(DB): $(INSTALLED) $(wildcard seeds/*) $(wildcard ingest/*.py ingest/*.yml)
	$(BIN)/python -m ingest seeds --db $(DB)
	$(BIN)/datasette inspect $(DB) --inspect-file $(DB:.db=.inspect.json)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

# Benchmarks (bench/README.md): corpus, ingest against the floor, search against ripgrep, load.
BENCH ?= 100k
BENCH_PARAGRAPHS ?= 100000
bench: $(INSTALLED)
	@command -v rg >/dev/null || echo "ripgrep is not installed (apt-get install -y ripgrep): no grep comparison"
	$(BIN)/python bench/corpus.py --paragraphs $(BENCH_PARAGRAPHS) --out bench/corpus/$(BENCH) --check 200
	$(BIN)/python bench/ingest_bench.py bench/corpus/$(BENCH) --runs 3
	$(BIN)/python bench/search_bench.py bench/out/$(BENCH)/archive.db --corpus bench/corpus/$(BENCH)
	$(BIN)/python bench/load.py --db bench/out/$(BENCH)/archive.db

clean:
	rm -rf $(VENV) $(DB) $(DB:.db=.inspect.json) .pytest_cache
