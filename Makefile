# Bunker: `make demo` runs a full backup cycle on a local AWS emulator,
# `make test` runs every test. Both install what they need first.
SHELL := /bin/bash
# The SDK warns that releases after January 2027 need Node 22; Bunker supports Node 20 until then.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED := true
.DEFAULT_GOAL := help

NODE_STAMP := node_modules/.bunker-installed
VENV := .venv
VENV_STAMP := $(VENV)/.bunker-installed
CONFIG ?= bunker.config.json
TSX := node_modules/.bin/tsx

.PHONY: help deps demo test typecheck lint format synth deploy bench schema clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(VENV_STAMP): tools/moto/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/moto/requirements.txt
	@touch $@

# The HTML report's browser test drives Debian's chromium; installed when missing (as root, or with sudo).
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@echo "Installing Debian's chromium for the HTML report's browser test"
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; \
	else echo "Install chromium (Debian: apt-get install chromium), or name one with CHROMIUM=/path/to/chromium"; exit 1; fi

deps: $(NODE_STAMP) $(VENV_STAMP) ## Install Node packages and the local AWS emulator

demo: deps ## Run a full backup cycle on the local AWS emulator and print the inventory
	$(TSX) bin/bunker.ts demo

test: deps $(CHROMIUM) ## Type-check, lint and run every test
	node_modules/.bin/tsc --noEmit
	node_modules/.bin/eslint .
	node_modules/.bin/prettier --check --log-level warn .
	BUNKER_CHROMIUM=$(CHROMIUM) node_modules/.bin/vitest run

typecheck: $(NODE_STAMP) ## Type-check only
	node_modules/.bin/tsc --noEmit

lint: $(NODE_STAMP) ## Lint (ESLint) and check formatting (Prettier)
	node_modules/.bin/eslint .
	node_modules/.bin/prettier --check .

format: $(NODE_STAMP) ## Format every file with Prettier
	node_modules/.bin/prettier --write .

synth: $(NODE_STAMP) ## Synthesize the vault and source templates into cdk.out (offline)
	@rm -f cdk.out/*.template.json # templates of stacks an earlier configuration had
	node_modules/.bin/cdk synth --quiet -c config=$(CONFIG)
	@ls cdk.out/*.template.json

deploy: $(NODE_STAMP) ## Deploy with cdk deploy: STACKS="name ..." CDK_ARGS="--profile P" (see README)
	node_modules/.bin/cdk deploy -c config=$(CONFIG) $(if $(STACKS),$(STACKS),--all) $(CDK_ARGS)

bench: deps ## Simulate the fleet and fault bursts, cost, bundles; writes bench/results.json and a chart
	$(TSX) bench/run.ts

schema: $(NODE_STAMP) ## Regenerate bunker.config.schema.json from the zod schema
	$(TSX) bin/bunker.ts config schema > bunker.config.schema.json

clean: ## Remove installed packages and build output
	rm -rf node_modules $(VENV) cdk.out
