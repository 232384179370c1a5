# Set-up and the two everyday jobs. On a machine without the local CPU wheel of torch, set
# TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu" to avoid the multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
BIN = $(VENV)/bin

.PHONY: setup demo test bench clean

# PYTHONWARNINGS: setuptools' note on editable installs (folders named like the package) does not apply here
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_INDEX) $(TORCH)
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/.installed

demo: setup  ## the main job: distil, export, verify, benchmark the bundled MNIST example for a Raspberry Pi 4
	$(BIN)/edgedistill build --target rpi4

test: setup  ## lint, type-check the contracts, then every test, one worker per core; as root, also sets up the test devices (sshd, adb, qemu-user arm64 rootfs)
	tests/devices/testbed/setup_host.sh
	$(BIN)/ruff check --quiet . && $(BIN)/ruff format --check --quiet .
	$(BIN)/mypy --strict edgedistill/contracts.py edgedistill/json_schemas.py  # the typed contracts between modules
	$(BIN)/python -m pytest -q -n auto --dist loadfile

bench: setup  ## time per stage, cold and cached
	$(BIN)/python -m edgedistill.benchmarks.suites.build_time

clean:
	rm -rf build .edgedistill-cache
