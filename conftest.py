"""Root pytest options: ``pytest benchmarks/ --benchmark`` runs the benchmarks; otherwise they are skipped."""

import pytest


def pytest_addoption(parser):
    parser.addoption("--benchmark", action="store_true", default=False,
                     help="run the benchmarks in benchmarks/ (slow; writes benchmarks/results.json)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--benchmark"):
        return
    skip = pytest.mark.skip(reason="benchmarks run only with --benchmark")
    for item in items:
        if "benchmarks" in item.path.parts:
            item.add_marker(skip)
