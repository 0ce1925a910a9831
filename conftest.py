"""Root conftest: only the ``--benchmark`` switch (pytest-benchmark has no such flag of its own).

Plain ``pytest`` skips every benchmark; ``pytest --benchmark`` runs only the benchmarks. It lives at the
root so that ``pytest benchmarks/ --benchmark`` sees it too.
"""
import pytest


def pytest_addoption(parser):
    parser.addoption("--benchmark", action="store_true", default=False, help="run only the benchmarks")


def pytest_configure(config):
    if config.getoption("--benchmark") and not config.pluginmanager.hasplugin("benchmark"):
        raise pytest.UsageError("--benchmark needs pytest-benchmark (pip install pytest-benchmark)")


def pytest_collection_modifyitems(config, items):
    run_benchmarks = config.getoption("--benchmark")
    skip = pytest.mark.skip(reason="benchmarks run only with --benchmark")
    selected, deselected = [], []
    for item in items:
        is_benchmark = "benchmark" in getattr(item, "fixturenames", ())
        if run_benchmarks:
            (selected if is_benchmark else deselected).append(item)
        else:
            if is_benchmark:
                item.add_marker(skip)
            selected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
