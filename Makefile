# Tandem: everything a fresh machine needs, driven from the README.
#   make demo    install, then run all of Tandem on 127.0.0.1 (no AWS account, no Docker, no network) until Ctrl-C;
#                PORT=8001 listens elsewhere, MODEL=bedrock answers with Amazon Bedrock and your AWS credentials,
#                ACCEPT_WAIT=30 makes the workflow give up on an accept after 30 s (to see the busy notice)
#   make synth   install, then synthesize every stack (no AWS account, no Docker)
#   make test    install (and Chromium for the browser tests), then lint (ruff), type-check (mypy) and run the
#                whole test suite
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

PORT ?= 8000
MODEL ?= offline
ACCEPT_WAIT ?=
# The browser tests' Chromium: the distribution's package (Playwright's own download is unreachable here).
CHROMIUM ?= /usr/bin/chromium

.PHONY: install browser demo synth test bench smoke clean _synth _test _bench

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt lambdas/chatbot/requirements.txt training/requirements.txt package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	@# Older pips check a --no-deps install against the build machine's Python instead of the Lambda's.
	$(BIN)/pip install --quiet pip==26.3
	$(BIN)/pip install --quiet -r requirements-dev.txt
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Chromium from the distribution's packages (needs root, as CI runs); anywhere else, say what to install.
browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Chromium (apt-get install chromium) for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else \
		echo "The browser tests need Chromium at $(CHROMIUM): install the 'chromium' package (or set CHROMIUM=/path)"; exit 1; \
	fi

# Each target re-runs make after the install so that PATH picks up a Node installed by this very run.
demo: install
	@$(MAKE) --no-print-directory _demo
synth: install
	@$(MAKE) --no-print-directory _synth
test: install browser
	@$(MAKE) --no-print-directory _test
bench: install
	@$(MAKE) --no-print-directory _bench
smoke: install
	$(BIN)/python -m tools.smoke $(SMOKE_ARGS)

_demo:
	$(BIN)/python -m local --port $(PORT) --model $(MODEL) $(if $(ACCEPT_WAIT),--accept-wait $(ACCEPT_WAIT))
_synth:
	cdk synth --quiet --no-notices --no-version-reporting
	@echo "Synthesized: $$(ls cdk.out/*.template.json | xargs -n1 basename | tr '\n' ' ')"
_test:
	$(BIN)/ruff check .
	$(BIN)/mypy
	TANDEM_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest
_bench:
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .cache test-artifacts
