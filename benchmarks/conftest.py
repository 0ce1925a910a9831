"""Benchmarks pin torch's intra-op thread count per module (``THREADS = n``; modules without it are left alone),
so ratios from one run are comparable and the setting is restored afterwards.

Benchmarks marked ``process_wide`` change something for the rest of the process that cannot be undone (the
allocator setting of the ``realiisr`` command, :mod:`realiisr.inference.memory`); they run after all others."""
import pytest
import torch


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.get_closest_marker("process_wide") is not None)  # stable: order kept otherwise


@pytest.fixture(autouse=True)
def _pinned_threads(request):
    threads = getattr(request.module, "THREADS", None)
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    yield
    torch.set_num_threads(previous)


def pytest_benchmark_update_machine_info(config, machine_info):
    """What the docs' tables name a device by (``benchmarks/summarize.py --markdown``)."""
    machine_info["torch"] = torch.__version__
    machine_info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    if torch.cuda.is_available():
        machine_info["cuda_device"] = torch.cuda.get_device_name(0)
