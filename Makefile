# Clinical Evaluation Reports from public safety data. `make help` lists the targets.
#
# Every target installs what it needs on first use: .venv is built from requirements.lock and
# rebuilt only when the lock (or pyproject.toml) changes (stamp on their hash).

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help

PROJECT  := cer-notebooks
PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
LOCK     := requirements.lock
LOCK_ID  := $(shell cat $(LOCK) pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
STAMP    := $(VENV)/.installed-$(LOCK_ID)
CER      := $(BIN)/cer
# pip repeats a warning per package when a configured local index folder is absent: drop only those lines
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }

# Command-line variables are data. Make exports every command-line variable to the recipes and, when
# it does, expands its value as make text: CODE='$(shell …)' would run. So no command-line variable is
# exported as given; the ones the recipes use are re-exported holding their text exactly as typed
# ($(value …) into a simple variable, which make never expands again). Recipes quote them ("$$CODE")
# and put them after `--`, so a value is one argument and never an option or shell code.
DATA_VARIABLES := CODE CODES KIND FROM MIRROR
unexport $(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(v)))
$(foreach v,$(DATA_VARIABLES),$(eval override $(v) := $$(value $(v))))
export $(DATA_VARIABLES)

# make test: two pytest-xdist workers; tests that share a build or a folder run in one (tests/conftest.py)
override TEST_WORKERS := --numprocesses=2 --dist=loadgroup --no-loadscope-reorder

REPORT_OPTS = $${KIND:+--kind "$$KIND"} $${FROM:+--from "$$FROM"} $${MIRROR:+--mirror "$$MIRROR"}

.PHONY: help demo report batch refresh lab book serve bench validate test lint-deploy doctor lock clean venv

help: ## list the targets
	@echo "Usage: make <target> [VAR=value]"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: CODE=LZG  CODES=\"LZG DQY\"  KIND=product_code|udi_di|drug|brand"
	@echo "           FROM=api|mirror  MIRROR=dir (default: the demo mirror in .cache/mirror/demo)"

$(STAMP): $(LOCK) pyproject.toml
	@echo "==> building $(VENV) from $(LOCK) (first use or lock changed; about a minute)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | $(QUIET_PIP)
	@$(BIN)/python -m pip install --quiet -r $(LOCK) 2>&1 | $(QUIET_PIP)
	@PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . 2>&1 | $(QUIET_PIP)
	@$(BIN)/python -m ipykernel install --sys-prefix --name $(PROJECT) --display-name "Python ($(PROJECT))" >/dev/null
	@rm -f $(VENV)/.installed-*
	@touch $@
	@echo "==> $(VENV) ready ($$(du -sh $(VENV) | cut -f1)), kernel '$(PROJECT)' registered"

venv: $(STAMP) ## build or refresh .venv from the lock (a no-op when current)

demo: $(STAMP) ## offline demo: a device CER for HWC from the bundled demo mirror
	@$(CER) report HWC --from mirror

report: $(STAMP) ## one report: make report CODE=LZG [KIND=..] [FROM=api|mirror] [MIRROR=dir]
	@test -n "$$CODE" || { echo "CODE is required, e.g. make report CODE=LZG" >&2; exit 2; }
	@$(CER) report $(REPORT_OPTS) -- "$$CODE"

batch: $(STAMP) ## several reports: make batch CODES="LZG DQY" [same options]
	@test -n "$$CODES" || { echo "CODES is required, e.g. make batch CODES=\"LZG DQY\"" >&2; exit 2; }
	@set -f; $(CER) batch $(REPORT_OPTS) -- $$CODES

refresh: $(STAMP) ## rebuild reports whose data changed: make refresh [CODES="HWC LXH"] [FROM=..] [MIRROR=dir] [FORCE=1]
	@set -f; $(CER) refresh $${FROM:+--from "$$FROM"} $${MIRROR:+--mirror "$$MIRROR"} $${FORCE:+--force} -- $$CODES

lab: $(STAMP) ## JupyterLab on notebooks/ with the project kernel
	@$(BIN)/jupyter lab --notebook-dir=notebooks $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

book: $(STAMP) ## Jupyter Book site of every run under outputs/ (book/_build/html)
	@$(CER) book

serve: $(STAMP) ## the report service: Redis, a worker, Beat, the API on 127.0.0.1:8000 (CER_API_PORT); Ctrl-C stops all
	@command -v redis-server >/dev/null || { echo "==> installing redis-server (Debian package; needs root)"; \
	  export DEBIAN_FRONTEND=noninteractive; { apt-get install -y -qq redis-server >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }; } || \
	  { echo "could not install redis-server: run as root, or install it (apt-get install redis-server)" >&2; exit 1; }; }
	@exec $(CER) serve --all

bench: $(STAMP) ## benchmarks: requests per report, analysis time, assembly, the service (reports/hour, API latency)
	@$(BIN)/python tests/benchmarks.py

validate: $(STAMP) ## simulation table of the time-series methods (200+ series per scenario, ~15 min)
	@cd tests && ../$(BIN)/python validate.py

test: $(STAMP) lint-deploy ## the deployment files' linters, then the test suite (pytest + nbval on the stage notebooks)
	@$(BIN)/python -m pytest $(TEST_WORKERS)

lint-deploy: $(STAMP) ## Dockerfile, compose.yaml, workflows, Kubernetes manifests, alert rules (needs promtool)
	@command -v promtool >/dev/null || { echo "==> installing promtool (Debian package prometheus; needs root)"; \
	  export DEBIAN_FRONTEND=noninteractive; { apt-get install -y -qq prometheus >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq prometheus >/dev/null; }; } || \
	  { echo "could not install promtool: run as root, or install it (apt-get install prometheus)" >&2; exit 1; }; }
	@echo "==> lint-deploy"
	@$(BIN)/python deploy/lint.py

doctor: $(STAMP) ## health check: versions, kernel, folders, services, mirror
	@$(CER) doctor $${FROM:+--from "$$FROM"} $${MIRROR:+--mirror "$$MIRROR"}

lock: ## re-pin requirements.lock from pyproject.toml and regenerate environment.yml
	@$(PYTHON) -m venv .cache/lock-tools
	@.cache/lock-tools/bin/pip install --quiet pip-tools 2>&1 | $(QUIET_PIP)
	@.cache/lock-tools/bin/pip-compile --quiet --extra test --strip-extras --no-emit-index-url \
	    --no-emit-find-links --no-emit-trusted-host -o $(LOCK) pyproject.toml 2>&1 | $(QUIET_PIP)
	@$(PYTHON) cer_lib/_devtools.py  # a script: importing the package would need its dependencies

clean: ## remove .venv, caches and the built book (never outputs/)
	rm -rf $(VENV) .cache book/_build .pytest_cache
	find . -name __pycache__ -type d -prune -not -path './outputs/*' -exec rm -rf {} +
