# Sets up the machine and delegates: invoke is the task surface, pytest the test runner.
SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
APT_PACKAGES := slurm-wlm munge openmpi-bin libopenmpi-dev gcc openssh-server openssh-client \
	iproute2 util-linux mount e2fsprogs xfsprogs procps openjdk-17-jre-headless \
	g++ gfortran make cmake python3-mpi4py systemd openssl libfabric-bin nftables strace

.PHONY: setup packages venv azurite demo test bench
setup: requirements.txt packages venv azurite

# Pulumi's pip toolchain installs requirements.txt into the .venv it creates on a fresh clone (Pulumi.yaml);
# pyproject.toml stays the one list of dependencies, and this file is written from it.
requirements.txt: pyproject.toml tools/requirements_txt.py
	$(PYTHON) tools/requirements_txt.py

# Debian packages for the local target; only missing ones are installed (idempotent).
packages:
	@if [ "$$(uname -s)" != Linux ] || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "local target needs Linux (Debian/Ubuntu) and root: skipping cluster packages; cloud targets still work"; \
	else \
		missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
		if [ -n "$$missing" ]; then \
			echo "installing: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		fi; \
	fi

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,local]'
	@# invoke reads a project's invoke.yaml only after it has found the collection, so it cannot name
	@# invoke_tasks.py there: the venv's `invoke` becomes a wrapper that runs cli/program.py, invoke's
	@# program over invoke_tasks.py (whose parse errors exit 2, as every bad flag does).
	@printf '#!/bin/sh\nexec "%s/bin/python" "%s/cli/program.py" "$$@"\n' \
		"$(CURDIR)/$(VENV)" "$(CURDIR)" > $(VENV)/bin/invoke
	@chmod +x $(VENV)/bin/invoke
	@touch $@

# Azurite (Azure Storage emulator) for the Azure Spark tests, project-local; installed only when missing.
AZURITE := .tools/azurite/node_modules/.bin/azurite-blob
azurite: $(AZURITE)
$(AZURITE):
	@# node and npm come from Debian when absent (an image may ship NodeSource's node with its own npm instead)
	@if ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
		else echo "npm is missing: install node and npm (the Azure Spark upload tests run Azurite)"; exit 1; fi; \
	fi
	npm install --prefix .tools/azurite --no-audit --no-fund --silent azurite@3.37.0

demo: setup
	$(VENV)/bin/invoke demo

test: setup
	$(VENV)/bin/ruff check .
	@# from ansible/, where its .ansible-lint is found; the venv first on PATH, as ansible-lint runs ansible's tools
	cd ansible && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CURDIR)/$(VENV)/bin/ansible-lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

bench: setup
	$(VENV)/bin/python benchmarks/local_cluster.py

# Mutation testing of remote/mounts.py, remote/ssh.py, components/security.py and targets/plan/cost.py ([tool.mutmut]
# in pyproject.toml); mutants/ keeps each mutant's result, so a second run tests only what changed since.
MUTATE_CHILDREN ?= 2
.PHONY: mutate
mutate: setup
	$(VENV)/bin/mutmut run --max-children $(MUTATE_CHILDREN)
	@echo "mutants not killed (\`$(VENV)/bin/mutmut show NAME\` shows one):"
	@$(VENV)/bin/mutmut results
