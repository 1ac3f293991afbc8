# The README's two commands. Each creates .venv on a fresh machine and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is installed first and pinned so that no CUDA build is pulled in on a CPU machine.
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv quickstart test clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: pyproject.toml $(BIN)/activate
	$(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -e ".[dev]" "$(TORCH_SPEC)"
	touch $@

venv: $(VENV)/.installed

# The quickstart study on an embedded local Ray; each run gets its own study directory under runs/.
QUICKSTART_DIR ?= runs/quickstart-$(shell date +%Y%m%d-%H%M%S)
quickstart: venv
	$(BIN)/vlpet run search_spaces/quickstart.yaml --storage $(QUICKSTART_DIR)

test: venv
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info platform/*.egg-info
