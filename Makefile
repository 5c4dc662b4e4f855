# The two commands a newcomer runs on a fresh Docker host:
#   make demo   - set up, build the sandbox image, grade the bundled example submission
#   make test   - set up, build the sandbox image, run the test suite (real Docker)
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
GRADE  := $(VENV)/bin/grade

# Raw datasets are never committed: use ../shared/data when it is there (CI, developers),
# otherwise the harness looks in its cache dir or downloads from the declared URL.
ifneq ($(wildcard ../shared/data),)
export GRADE_DATA_DIR ?= $(abspath ../shared/data)
endif
export RAGAS_DO_NOT_TRACK := true

.PHONY: demo test lint image deps doctor clean broker broker-stop

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,rag,distributed,server]'
	touch $@

deps:
	@command -v debootstrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing debootstrap (builds the sandbox base image from Debian packages)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; \
	  else echo "debootstrap is missing: install it (apt-get install debootstrap) or use 'grade sandbox build --base-image IMAGE'"; fi; }
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (the HTML report test renders report.html headless)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: install it (apt-get install chromium) for tests/test_report_html_browser.py"; fi; }

# A throwaway RabbitMQ on 127.0.0.1:5672 for `grade worker` / `grade batch --engine celery`,
# its data in a temp dir (installs Debian's rabbitmq-server when root and missing).
broker: $(VENV)/.installed
	@test -x /usr/lib/rabbitmq/bin/rabbitmq-server || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing rabbitmq-server"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null; \
	  else echo "rabbitmq-server is missing: install it (apt-get install rabbitmq-server)"; exit 1; fi; }
	$(PY) -m harness.workers.localbroker start --port 5672

broker-stop:
	$(PY) -m harness.workers.localbroker stop --port 5672

image: $(VENV)/.installed deps
	$(GRADE) sandbox build

doctor: image
	$(GRADE) doctor

demo: image
	$(GRADE) doctor
	$(GRADE) assignments/applied_ml/canaries/reference --out grade-report --force

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: image
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) grade-report .pytest_cache
