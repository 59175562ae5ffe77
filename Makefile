# One command each: `make demo` runs the demo bank, `make test` runs the tests,
# `make check` runs lint, types and tests. Each sets up what is missing first.
.PHONY: setup demo test check lint types docs

setup:
	@./scripts/setup.sh

demo: setup
	.venv/bin/kequn demo

test: setup
	.venv/bin/python -m pytest -n 2 --dist loadgroup -q

lint: setup
	.venv/bin/ruff check src tests benchmarks

types: setup
	.venv/bin/mypy

check: lint types test

docs: setup
	.venv/bin/python -m kequn.contract.docs > docs/contract.md
	.venv/bin/python -m kequn.cli.docs > docs/cli.md
