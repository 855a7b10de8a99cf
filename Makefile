# Two commands for a newcomer:  make train  (set up + train LeNet on MNIST)   make test  (set up + every test)
# Both are idempotent: the venv, the Maven build and the apt packages are redone only when their inputs change.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP   := $(VENV)/.installed
JAVA_STAMP := java/train/target/classpath.txt
JAVA_INPUTS := $(shell find java -path '*/target' -prune -o -type f \( -name '*.java' -o -name '*.proto' -o -name 'pom.xml' -o -name '*.properties' \) -print)

.PHONY: setup train test test-fast test-java test-python lint format-java-check system benchmarks constraints wheel

setup: system $(PY_STAMP) $(JAVA_STAMP)

# Debian packages: a JDK if none is there, Fashion-MNIST (IDX files under /usr/share/datasets), and Chromium
# (headless: the training-UI test takes a screenshot of DL4J's UI with it).
system:
	@command -v javac >/dev/null 2>&1 && dpkg -s dataset-fashion-mnist >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian packages (JDK 17, dataset-fashion-mnist, chromium)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    openjdk-17-jdk-headless dataset-fashion-mnist chromium >/dev/null; }

# Exact versions from constraints.txt; pyproject.toml only states ranges.
$(PY_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# PYTHONWARNINGS: an editable install of the java/ -> bridge._java mapping makes setuptools print a notice
	# (the wheel itself builds without warnings: tests/test_install.py checks it).
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -c constraints.txt -e '.[test,spark]'
	touch $@

# Re-pin after changing a range in pyproject.toml: a fresh resolve, frozen.
constraints:
	rm -rf .venv-pin && $(PYTHON) -m venv .venv-pin && .venv-pin/bin/pip install -q '.[test,spark]'
	{ sed -n '/^#/p' constraints.txt; .venv-pin/bin/pip freeze --exclude-editable | grep -v '^dl4j-bridge'; \
	  grep -E '^(onnxruntime|torch)==' constraints.txt; } | awk '!seen[$$0]++' > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .venv-pin

$(JAVA_STAMP): $(JAVA_INPUTS)
	cd java && ./mvnw -B -q package -DskipTests
	touch $@

# The wheel the README's install line names: $(DIST)/dl4j_bridge-VERSION-py3-none-any.whl (VERSION: java/pom.xml's
# revision). It carries the Java sources; `dl4j-bridge setup` builds the jars after pip install. Needs no `make setup`:
# the venv's Python if there is one, else $(PYTHON) (with pip). WHEEL_OPTS=-v shows the build backend's output.
DIST ?= dist
WHEEL_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
wheel:
	$(WHEEL_PYTHON) -m pip wheel --no-deps $(WHEEL_OPTS) -w $(DIST) .
	@wheel=$(DIST)/dl4j_bridge-$$(sed -n 's:.*<revision>\(.*\)</revision>.*:\1:p' java/pom.xml)-py3-none-any.whl; \
	  test -f $$wheel && echo "built $$wheel"

train: setup
	$(BIN)/dl4j-bridge train --model lenet --data mnist --epochs 5 --out runs/lenet-mnist

test: setup lint format-java-check test-java test-python

# pytest on PYTEST_WORKERS processes (pytest-xdist), each with its own JVM and one OpenMP thread (tests/conftest.py):
# a test file goes whole to one worker; the tests marked `serial` (Spark clusters, service load, timing) run one
# after another on one worker while the other takes the remaining files. PYTEST_WORKERS=0 runs everything in turn.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder

# Every Python test but those marked slow (training for more than a few seconds): under 3 minutes.
test-fast: setup
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not slow"

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Java formatting (palantir-java-format through Spotless), behind a profile: `make format-java-check`;
# `cd java && ./mvnw -B -q -Pformat spotless:apply` rewrites the sources.
format-java-check:
	cd java && ./mvnw -B -q -Pformat spotless:check

test-java: setup
	cd java && ./mvnw -B test

test-python: setup
	$(BIN)/pytest $(PYTEST_PARALLEL)

BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(PY_STAMP)
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -c constraints.txt -e '.[test,spark,bench]'
	# The onednn-avx512 build of nd4j-native, which benchmarks/bench_settings.py measures against the default.
	cd java && ./mvnw -B -q dependency:get -Dartifact=org.nd4j:nd4j-native:1.0.0-M2.1:jar:linux-x86_64-onednn-avx512 -Dtransitive=false
	# wrk (C, epoll): the service's load generator, light enough to leave the cores to the service.
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	touch $@

benchmarks: setup $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)
