# Two set-up commands: `make run` starts the gateway, `make test` runs the whole suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run try test test-contract test-integration test-load fuzz lint fmt vet build binary test-binary bench clean venv dev

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

venv: $(VENV)/.installed
dev: $(VENV)/.dev-installed

run: $(VENV)/.installed  ## start the gateway (embedded defaults, or CONFIG=file)
	$(BIN)/aigw serve $(if $(CONFIG),--config $(CONFIG)) $(ARGS)

# Set on the command line (`make try PORT=8081`); a PORT in the environment is ignored.
PORT := 8080
MOCK_PORT := 9999
try: $(VENV)/.installed  ## a first answer without provider keys: aigw in front of `aigw mock`
	@$(BIN)/aigw mock --port $(MOCK_PORT) & mock=$$!; trap 'kill $$mock 2>/dev/null' EXIT INT TERM; \
	OPENAI_BASE_URL=http://127.0.0.1:$(MOCK_PORT)/v1 ANTHROPIC_BASE_URL=http://127.0.0.1:$(MOCK_PORT) \
	COHERE_BASE_URL=http://127.0.0.1:$(MOCK_PORT) $(BIN)/aigw serve --config config.try.yaml --port $(PORT)

test: $(VENV)/.dev-installed  ## the whole suite (needs Redis and PostgreSQL on 127.0.0.1)
	$(BIN)/pytest -q $(ARGS)

fuzz: $(VENV)/.dev-installed  ## long hypothesis fuzz of every POST endpoint (FUZZ_EXAMPLES per endpoint and kind)
	AIGW_FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),2000) $(BIN)/pytest -q -p no:cacheprovider tests/test_fuzz.py tests/test_front.py $(ARGS)

test-contract: $(VENV)/.dev-installed  ## schemathesis against a real gateway + mock upstream: no 5xx, answers match /openapi.json
	$(BIN)/pytest -q -p no:cacheprovider tests/contract_schemathesis.py $(ARGS)

test-integration: $(VENV)/.dev-installed  ## only the tests that use Redis/PostgreSQL
	$(BIN)/pytest -q -m integration $(ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check aigw tests bench scripts
	$(BIN)/ruff format --check aigw tests bench scripts

fmt: $(VENV)/.dev-installed
	$(BIN)/ruff format aigw tests bench scripts
	$(BIN)/ruff check --fix aigw tests bench scripts

vet: $(VENV)/.dev-installed
	$(BIN)/mypy aigw

build: $(VENV)/.installed
	$(BIN)/pip wheel --no-deps -w dist .

test-load: $(VENV)/.dev-installed  ## short `aigw bench --mock-upstream` runs; fail if the gateway errors
	$(BIN)/aigw bench --mock-upstream --concurrency 8 --duration 3s --fail-on-errors --quiet
	$(BIN)/aigw bench --mock-upstream --scenario mixed --rate 200 --duration 3s --fail-on-errors --quiet

$(VENV)/.build-installed: pyproject.toml | $(VENV)/.installed
	$(BIN)/pip install -q -e '.[build]'
	touch $@

binary: $(VENV)/.build-installed  ## one-file executable: dist/aigw (CLI + bundled embedding model)
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/aigw.spec
	@ls -l dist/aigw

test-binary: binary $(VENV)/.dev-installed  ## smoke-test dist/aigw: serve, proxy, cache hit, SIGTERM
	$(BIN)/pytest -q -p no:cacheprovider tests/binary_smoke.py

bench: $(VENV)/.dev-installed  ## pass-through benchmark: mock upstream vs reference proxy vs aigw
	$(BIN)/python bench/passthrough.py $(ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
