# kefu — the two commands a newcomer needs are `make demo` and `make test`.
# Both create or update .venv from uv.lock and build the browser assets first.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/uv/bin/uv
PYTEST_WORKERS ?= 2
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: demo test venv assets chromium lint typecheck messages benchmarks clean

demo: venv assets
	.venv/bin/kefu demo

test: venv assets chromium
	.venv/bin/pytest -n $(PYTEST_WORKERS) --dist load

venv: .venv/.synced

$(UV):
	$(PYTHON) -m venv .tools/uv
	.tools/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --python $(PYTHON)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

assets: src/kefu/web/static/build/.built

src/kefu/web/static/build/.built: node_modules/.installed $(wildcard frontend/*)
	npm run build
	touch $@

chromium:
	@scripts/ensure-chromium

lint: venv
	.venv/bin/ruff check src tests benchmarks

typecheck: venv
	.venv/bin/mypy

# Extract translatable strings and refresh the zh_CN catalogue (see scripts/translations_zh.py).
messages: venv
	.venv/bin/pybabel extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 -k N_ --no-location \
		--project kefu -o src/kefu/locale/messages.pot .
	.venv/bin/python scripts/translations_zh.py

clean:
	rm -rf .venv .tools node_modules src/kefu/web/static/build .pytest_cache
