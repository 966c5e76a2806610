# The README's two commands are `make run` and `make test`; both set everything up first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
# Debian packages certsvc needs: pdfsig/pdftoppm/pdffonts (poppler), CJK TrueType fonts for
# licences and seals, certutil for pdfsig's NSS trust store, and the openssl CLI for interop.
APT_PACKAGES := poppler-utils fonts-arphic-uming fonts-arphic-ukai fonts-wqy-zenhei libnss3-tools openssl chromium
# BabelStone Han draws rare Han characters in names (𠮷, CJK Ext. B) that AR PL lacks;
# icc-profiles-free's sRGB.icc is the PDF/A output intent of every licence PDF.
APT_PACKAGES += fonts-babelstone-han icc-profiles-free
# Noto Sans Mongolian (fonts-noto-core): the OpenType font HarfBuzz shapes traditional Mongolian
# with, for the bilingual seals and licences of 内蒙古 departments.
APT_PACKAGES += fonts-noto-core
# The cluster deployment: the test suite runs a second time on a PostgreSQL server it starts
# itself, and the Celery engine's tests start their own redis-server.
APT_PACKAGES += postgresql redis-server
# SoftHSM2: the PKCS#11 token the tests keep seal keys in (a token made per run in a temp dir).
APT_PACKAGES += softhsm2

.PHONY: install system-deps run test lint fuzz bench cluster clean

install: system-deps $(VENV)/.installed

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# pip's own chatter (build back-end notices, index warnings) goes to a log; on failure the log
# is shown, on success one line says where everything went.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing certsvc and its Python packages into $(VENV) (log: $(VENV)/install.log)"
	@{ $(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -e '.[dev,postgresql,celery]'; } \
		>$(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@touch $@

run: install
	$(VENV)/bin/certsvc init
	$(VENV)/bin/certsvc serve --host 127.0.0.1 --port 8000

# Layer contracts, lint and types first (seconds), then the suite (slow tests included) twice:
# on SQLite (the embedded default) and on a PostgreSQL server the tests start and stop themselves.
# The second pass leaves out the tests marked db_independent (rendering, crypto, ...: they touch
# no database, so a second run would check nothing new); docs/testing.md. The two passes run side
# by side (each test is one process at a time, so two passes keep two cores busy); the PostgreSQL
# pass writes to test-output/pytest-postgresql.log, printed when both have ended.
test: install
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check certsvc cli tests bench tools
	$(VENV)/bin/mypy certsvc cli
	@mkdir -p test-output
	@$(PY) -m pytest --db=postgresql -p no:cacheprovider >test-output/pytest-postgresql.log 2>&1 & postgresql=$$!; \
	$(PY) -m pytest; sqlite=$$?; \
	wait $$postgresql; postgresql=$$?; \
	echo; echo "==================== the PostgreSQL pass ===================="; \
	cat test-output/pytest-postgresql.log; \
	echo "SQLite pass: exit $$sqlite; PostgreSQL pass: exit $$postgresql"; \
	test $$sqlite -eq 0 && test $$postgresql -eq 0

lint: install
	$(VENV)/bin/ruff check certsvc cli tests bench tools
	$(VENV)/bin/mypy certsvc cli

# PostgreSQL, Redis, two API processes and two batch workers on this machine (docs/deployment.md);
# prints the URLs, Ctrl-C stops everything.
cluster: install
	$(PY) tools/local_cluster.py

# The OpenAPI contract run with fresh random cases and many of them: finds what `make test`'s
# fixed cases do not (e.g. FUZZ_EXAMPLES=200 make fuzz).
FUZZ_EXAMPLES ?= 50
fuzz: install
	CERTSVC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/api/test_openapi_contract.py

bench: install
	$(PY) bench/issue.py
	$(PY) bench/sm2.py
	$(PY) bench/render.py
	$(PY) bench/bilingual.py
	$(PY) bench/qr.py
	$(PY) bench/ofd.py

clean:
	rm -rf $(VENV) var .pytest_cache
