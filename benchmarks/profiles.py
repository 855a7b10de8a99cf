"""Where the time goes behind the slowest ratios: Java Flight Recorder samples of a workload driven
through dl4j-bridge, attributed to the innermost DL4J/ND4J method on each sample's stack.

Workloads: LeNet training (slowest training ratio: DL4J vs PyTorch), LeNet batch-1 `output()` (slowest
inference ratio: DL4J vs ONNX Runtime), and `to_indarray` of 60000x784 float32 (slowest transfer ratio).
Run: .venv/bin/python -m benchmarks.profiles [--quick]
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import write_section

PRELUDE = """
import sys, numpy as np, bridge
from bridge import data, nets
from bridge.jvm import jclass
bridge.start_jvm(extra_flags=["-XX:StartFlightRecording=settings=profile"])
x, y, _, _ = data.load("fashion-mnist")
"""
DUMP = """
recording = jclass("jdk.jfr.FlightRecorder").getFlightRecorder().getRecordings()[0]
recording.dump(jclass("java.nio.file.Path").of(sys.argv[1], []))
"""
WORKLOADS = {
    "LeNet training (fit)": "bridge.fit(nets.lenet(), x[:{n}], y[:{n}], progress=False)",
    "LeNet batch-1 output()": "net = nets.lenet()\nfor i in range({n}):\n    bridge.predict(net, x[i:i + 1])",
    "to_indarray, 60000x784 float32": "for _ in range(max(1, {n} // 400)):\n    bridge.to_indarray(x)",
}
EVENTS = ("jdk.ExecutionSample", "jdk.NativeMethodSample")
LAYER_METHOD = re.compile(r"\.nn\.layers\..*\.(activate|backpropGradient|preOutput\w*)$")


def _attribute(frames: list[str]) -> str:
    layer = next((f for f in frames if LAYER_METHOD.search(f)), None)
    if layer:
        return ".".join(layer.rsplit(".", 2)[-2:])
    if any("updater" in f.lower() for f in frames):
        return "updater"
    first_nd4j = next((f for f in frames if "nd4j" in f or "bytedeco" in f or "dl4jbridge" in f), "other")
    return ".".join(first_nd4j.rsplit(".", 2)[-2:])


def profile(code: str) -> tuple[collections.Counter, collections.Counter, int]:
    from bridge.jvm import java_home

    with tempfile.TemporaryDirectory() as tmp:
        recording = Path(tmp) / "run.jfr"
        subprocess.run([sys.executable, "-c", PRELUDE + code + DUMP, str(recording)], check=True, capture_output=True)
        by_method, by_kind, total = collections.Counter(), collections.Counter(), 0
        for event in EVENTS:
            text = subprocess.run(
                [str(java_home() / "bin" / "jfr"), "print", "--stack-depth", "64", "--events", event, str(recording)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for sample in text.split(event + " {")[1:]:
                frames = re.findall(r"^\s+([\w.$<>]+)\(", sample, re.M)
                if not any("deeplearning4j" in f or "nd4j" in f or "dl4jbridge" in f for f in frames):
                    continue
                total += 1
                by_method[_attribute(frames)] += 1
                by_kind["native code" if event == "jdk.NativeMethodSample" else "Java code"] += 1
    return by_method, by_kind, total


def run(quick: bool) -> str:
    sizes = {
        "LeNet training (fit)": 2000 if quick else 6000,
        "LeNet batch-1 output()": 1000 if quick else 4000,
        "to_indarray, 60000x784 float32": 4000 if quick else 12000,
    }
    parts = []
    for name, code in WORKLOADS.items():
        by_method, by_kind, total = profile(code.format(n=sizes[name]))
        rows = "\n".join(f"| {method} | {count / max(total, 1):.1%} |" for method, count in by_method.most_common(8))
        kinds = ", ".join(f"{kind} {count / max(total, 1):.0%}" for kind, count in by_kind.most_common())
        parts.append(
            f"### {name}\n\n{total} samples of DL4J/ND4J threads; {kinds}.\n\n"
            f"| innermost DL4J method (or first ND4J / dl4j-bridge frame) | share |\n| --- | --- |\n{rows}\n"
        )
    return (
        f"## Profiles: where the time goes\n\nCommand: `.venv/bin/python -m benchmarks.profiles{' --quick' if quick else ''}`: "
        "Java Flight Recorder (`settings=profile`), Java and native-method samples.\n\n" + "\n".join(parts)
    )


def main(argv=None) -> None:
    section = run("--quick" in (argv if argv is not None else sys.argv[1:]))
    print(section)
    write_section("profiles", section)


if __name__ == "__main__":
    main()
