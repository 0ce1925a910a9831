"""Benchmarks pin torch's intra-op thread count per module (``THREADS = n``; modules without it are left alone),
so ratios from one run are comparable and the setting is restored afterwards."""
import pytest
import torch


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
