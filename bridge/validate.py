"""Checks of scalar arguments, shared by training, spark, runtime and nets: one wording, one rule.

Array inputs (shapes, dtypes, layouts) are checked in bridge.inputs and bridge.arrays.
"""

from __future__ import annotations

import numbers

from .errors import DataError

JAVA_INT_MAX = 2**31 - 1  # epochs, batch sizes, counts: Java ints in TrainingRun and DL4J
JAVA_LONG_MAX = 2**63 - 1  # seeds: Java longs


def integer_at_least(value, name: str, lowest: int, highest: int = JAVA_INT_MAX) -> int:
    """`value` as an int in [lowest, highest] (a Java int by default: 2**31 would overflow in Java); DataError
    naming the argument otherwise (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lowest <= value <= highest:
        expected = "a positive integer" if lowest == 1 else f"an integer >= {lowest}"
        raise DataError(
            f"Received an invalid value for `{name}`, expected {expected} up to {highest}. Received: {name}={value!r}"
        )
    return int(value)


def seed(value, name: str = "seed") -> int:
    """value as an int that fits DL4J's seed (a Java long, 0 <= seed <= 2**63 - 1); DataError otherwise."""
    return integer_at_least(value, name, 0, JAVA_LONG_MAX)


def positive_int(value, name: str) -> int:
    return integer_at_least(value, name, 1)


def fraction(value, name: str, low_open: bool = True, high_open: bool = True) -> float:
    """A real number strictly between 0 and 1 (or including an end when that end is not open)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        ok = (0 < value if low_open else 0 <= value) and (value < 1 if high_open else value <= 1)
    if not ok:
        lo, hi = ("0 <" if low_open else "0 <="), ("< 1" if high_open else "<= 1")
        raise DataError(
            f"Received an invalid value for `{name}`, expected {lo} {name} {hi}. Received: {name}={value!r}"
        )
    return float(value)


def boolean(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise DataError(f"Received an invalid value for `{name}`, expected True or False. Received: {name}={value!r}")
    return value


def choice(value, name: str, choices) -> object:
    if value not in choices:
        raise DataError(
            f"Received an invalid value for `{name}`, expected one of {', '.join(map(str, choices))}. "
            f"Received: {name}={value!r}"
        )
    return value
