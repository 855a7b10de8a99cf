"""Checks of scalar arguments, shared by training, spark, runtime and nets: one wording, one rule.

Array inputs (shapes, dtypes, layouts) are checked in bridge.inputs and bridge.arrays.
"""
from __future__ import annotations

import numbers

from .errors import DataError


def integer_at_least(value, name: str, lowest: int) -> int:
    """`value` as an int >= lowest; DataError naming the argument otherwise (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lowest:
        expected = "a positive integer" if lowest == 1 else f"an integer >= {lowest}"
        raise DataError(f"Received an invalid value for `{name}`, expected {expected}. Received: {name}={value!r}")
    return int(value)


def positive_int(value, name: str) -> int:
    return integer_at_least(value, name, 1)


def fraction(value, name: str, low_open: bool = True, high_open: bool = True) -> float:
    """A real number strictly between 0 and 1 (or including an end when that end is not open)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        ok = (0 < value if low_open else 0 <= value) and (value < 1 if high_open else value <= 1)
    if not ok:
        lo, hi = ("0 <" if low_open else "0 <="), ("< 1" if high_open else "<= 1")
        raise DataError(f"Received an invalid value for `{name}`, expected {lo} {name} {hi}. Received: {name}={value!r}")
    return float(value)


def boolean(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise DataError(f"Received an invalid value for `{name}`, expected True or False. Received: {name}={value!r}")
    return value


def choice(value, name: str, choices) -> object:
    if value not in choices:
        raise DataError(f"Received an invalid value for `{name}`, expected one of {', '.join(map(str, choices))}. "
                        f"Received: {name}={value!r}")
    return value
