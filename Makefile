# Every target bootstraps what it needs and is safe to re-run.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.genolake-installed
SYSTEM_TOOLS := bcftools tabix bgzip java plink2

.PHONY: quickstart test bench-ingest setup system-tools clean

setup: system-tools $(STAMP)

# bcftools/tabix/bgzip: the oracle for counts and the simulator's compressor; plink2: the oracle of polygenic scores
system-tools:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system tools:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO="sudo"; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bcftools tabix openjdk-17-jre-headless plink2 >/dev/null; \
	fi
	@java -version 2>&1 | head -1 | grep -Eq '"(1[1-9]|2[0-9])' || { echo "the spark engine needs Java 11+ (java -version)"; exit 1; }

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "genolake needs Python 3.11+"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,spark,athena,ml,automl]'
	@touch $(STAMP)

quickstart: setup
	$(PY) -m genolake.quickstart

test: setup
	$(PY) -m pytest -q -p no:cacheprovider

bench-ingest: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m genolake.benchmarks.ingest --scale chr22

clean:
	rm -rf $(VENV) genolake-data quickstart-out .pytest_cache

# Hail, the JVM peer of the layout benchmark, in its own venv (its pins would clash with .venv's);
# benchmarks/suite/peers.py finds .venv-hail/bin/python (or $GENOLAKE_HAIL_PYTHON).
HAIL_VENV ?= .venv-hail
.PHONY: hail-venv
hail-venv:
	@command -v java >/dev/null || { echo "hail needs a Java runtime (Java 11; 17 runs with a warning)"; exit 1; }
	@[ -x $(HAIL_VENV)/bin/python ] || $(PYTHON) -m venv $(HAIL_VENV)
	$(HAIL_VENV)/bin/pip install -q --upgrade pip
	$(HAIL_VENV)/bin/pip install -q hail
	$(HAIL_VENV)/bin/python -c 'import hail; print("hail", hail.version())'
