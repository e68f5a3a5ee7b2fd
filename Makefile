# Two commands for a newcomer: `make demo` and `make test`. Both bootstrap .venv on first use.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: venv test demo bench lint

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

lint: venv
	$(VENV)/bin/ruff check .

test: venv lint
	$(VENV)/bin/python -m pytest

demo: venv
	$(VENV)/bin/python main.py demo

bench: venv
	for b in bench/*_bench.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done
