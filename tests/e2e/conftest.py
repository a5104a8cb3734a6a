"""End-to-end tests: the whole production shape (see tests/support/topology.py)."""

from __future__ import annotations

import pytest

from tests.support.topology import Topology, topology

__all__ = ["topology"]  # the fixture, imported to be found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # A failure through five processes: put their side of the story in the report.
    outcome = yield
    report = outcome.get_result()
    stack = item.funcargs.get("topology") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(stack, Topology):
        report.sections.append(("topology logs (tails)", stack.logs()))
