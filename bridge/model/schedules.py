"""Learning-rate schedules that DL4J applies itself (ND4J's ISchedule), per epoch or per iteration.

    nets.Adam(learning_rate=schedules.Step(1e-3, decay_rate=0.5, step=2))            # halve every 2 epochs
    nets.Sgd(learning_rate=schedules.WarmUp(schedules.Cosine(0.1, total=20), iterations=200))

They are part of the network's configuration: saved in its zip, advanced by DL4J's epoch and iteration counters
(which bridge.fit keeps across calls and checkpoints), and run on Spark workers as locally. `unit` is "epoch" or
"iteration" (ND4J's ScheduleType).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from ..errors import DataError
from ..jvm import jclass
from ..validate import choice, positive_int

__all__ = ["Schedule", "Step", "Exponential", "Cosine", "WarmUp", "Piecewise", "as_java_schedule"]

_SCHEDULE = "org.nd4j.linalg.schedule."
UNITS = ("epoch", "iteration")


def _rate(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise DataError(
            f"Received an invalid value for `{name}`, expected a finite number >= 0. Received: {name}={value!r}"
        )
    return float(value)


def _unit(unit: str):
    choice(unit, "unit", UNITS)
    return jclass(_SCHEDULE + "ScheduleType").valueOf(unit.upper())


class Schedule:
    """A learning rate that changes with the epoch or iteration: to_java() gives ND4J's ISchedule."""

    def to_java(self):  # pragma: no cover - every schedule overrides it
        raise NotImplementedError

    def value_at(self, iteration: int, epoch: int) -> float:
        """What DL4J's updater uses at these counters (ISchedule.valueAt)."""
        return float(self.to_java().valueAt(int(iteration), int(epoch)))


@dataclass(frozen=True)
class Step(Schedule):
    """initial * decay_rate ** floor(t / step) (ND4J's StepSchedule)."""

    initial: float
    decay_rate: float = 0.5
    step: int = 1
    unit: str = "epoch"

    def to_java(self):
        return jclass(_SCHEDULE + "StepSchedule")(
            _unit(self.unit),
            _rate(self.initial, "initial"),
            _rate(self.decay_rate, "decay_rate"),
            float(positive_int(self.step, "step")),
        )


@dataclass(frozen=True)
class Exponential(Schedule):
    """initial * gamma ** t (ND4J's ExponentialSchedule)."""

    initial: float
    gamma: float = 0.9
    unit: str = "epoch"

    def to_java(self):
        return jclass(_SCHEDULE + "ExponentialSchedule")(
            _unit(self.unit), _rate(self.initial, "initial"), _rate(self.gamma, "gamma")
        )


@dataclass(frozen=True)
class Cosine(Schedule):
    """Cosine decay from initial to minimum over `total` epochs (or iterations), then minimum. ND4J has none:
    ai.dl4jbridge.train.CosineSchedule implements its ISchedule."""

    initial: float
    total: int = 10
    minimum: float = 0.0
    unit: str = "epoch"

    def to_java(self):
        return jclass("ai.dl4jbridge.train.CosineSchedule")(
            _unit(self.unit),
            _rate(self.initial, "initial"),
            _rate(self.minimum, "minimum"),
            positive_int(self.total, "total"),
        )


@dataclass(frozen=True)
class WarmUp(Schedule):
    """A linear ramp over the first `iterations` iterations up to what `schedule` gives, then `schedule`
    (ai.dl4jbridge.train.WarmUpSchedule: ND4J's RampSchedule computes the same but cannot be loaded back from a
    saved model in 1.0.0-M2.1)."""

    schedule: Schedule | float
    iterations: int = 100

    def to_java(self):
        return jclass("ai.dl4jbridge.train.WarmUpSchedule")(
            as_java_schedule(self.schedule, "schedule"), positive_int(self.iterations, "iterations")
        )


@dataclass(frozen=True)
class Piecewise(Schedule):
    """Fixed values from given epochs (or iterations) on: {0: 1e-3, 10: 1e-4} (ND4J's MapSchedule; needs key 0)."""

    values: dict
    unit: str = "epoch"

    def to_java(self):
        if 0 not in self.values:
            raise DataError(f"Piecewise needs a value for step 0, received keys {sorted(self.values)}.")
        builder = jclass(_SCHEDULE + "MapSchedule$Builder")(_unit(self.unit))
        for step, value in sorted(self.values.items()):
            builder = builder.add(int(step), _rate(value, f"values[{step}]"))
        return builder.build()


def as_java_schedule(value, name: str = "learning_rate"):
    """ND4J's ISchedule for a Schedule, an ISchedule itself, or a constant (FixedSchedule)."""
    if isinstance(value, Schedule):
        return value.to_java()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return jclass(_SCHEDULE + "FixedSchedule")(_rate(value, name))
    if isinstance(value, jclass(_SCHEDULE + "ISchedule")):
        return value
    raise DataError(
        f"Received an invalid value for `{name}`, expected a number or a bridge.schedules schedule "
        f"(Step, Exponential, Cosine, WarmUp, Piecewise). Received: {name}={value!r}"
    )


def learning_rate(value, updater: str):
    """For an updater factory: a float, or ND4J's ISchedule for a schedule (checked here, named in errors)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return _rate(value, "learning_rate")
    if isinstance(value, Schedule) or isinstance(value, jclass(_SCHEDULE + "ISchedule")):
        return as_java_schedule(value)
    raise DataError(
        f"Received an invalid value for `learning_rate` of {updater}, expected a number or a "
        f"bridge.schedules schedule. Received: learning_rate={value!r}"
    )
