# Tandem: everything a fresh machine needs, driven from the README.
#   make synth   install, then synthesize every stack (no AWS account, no Docker)
#   make test    install, then lint (ruff), type-check (mypy) and run the whole test suite
#   make bench   install, then run the benchmarks and append them to bench/RESULTS.md
#   make smoke   install, then check a deployed Tandem end to end (AWS credentials and deployed stacks needed;
#                never part of make test; SMOKE_ARGS="--region eu-west-1 --keep --timeout 120" passes options)
SHELL := /bin/bash
.DEFAULT_GOAL := synth

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# jsii (aws-cdk-lib's runtime) wants Node >= 22; when the system Node is older, the Node 22 that
# package.json installs from the npm registry goes first on PATH.
NODE_BIN := $(firstword $(wildcard $(CURDIR)/node_modules/node-linux-*/bin))
export PATH := $(if $(NODE_BIN),$(NODE_BIN):,)$(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export AWS_EC2_METADATA_DISABLED := true
export CDK_DISABLE_CLI_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install synth test bench smoke clean _synth _test _bench

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt lambdas/chatbot/requirements.txt training/requirements.txt package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	@# Older pips check a --no-deps install against the build machine's Python instead of the Lambda's.
	$(BIN)/pip install --quiet pip==26.3
	$(BIN)/pip install --quiet -r requirements-dev.txt
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Each target re-runs make after the install so that PATH picks up a Node installed by this very run.
synth: install
	@$(MAKE) --no-print-directory _synth
test: install
	@$(MAKE) --no-print-directory _test
bench: install
	@$(MAKE) --no-print-directory _bench
smoke: install
	$(BIN)/python -m tools.smoke $(SMOKE_ARGS)

_synth:
	cdk synth --quiet --no-notices --no-version-reporting
	@echo "Synthesized: $$(ls cdk.out/*.template.json | xargs -n1 basename | tr '\n' ' ')"
_test:
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest
_bench:
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache
