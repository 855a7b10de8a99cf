"""Where DL4J training time goes: Java Flight Recorder samples of LeNet training through dl4j-bridge,
attributed to the DL4J layer method on each sample's stack.

Run: .venv/bin/python -m benchmarks.profile_training [--quick]
"""
from __future__ import annotations

import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import write_section

WORKER = """
import sys, bridge
from bridge import data, nets
from bridge.jvm import jclass
bridge.start_jvm(extra_flags=["-XX:StartFlightRecording=settings=profile"])
x, y, _, _ = data.load("fashion-mnist")
bridge.fit(nets.lenet(), x[:{n}], y[:{n}], progress=False)
recording = jclass("jdk.jfr.FlightRecorder").getFlightRecorder().getRecordings()[0]
recording.dump(jclass("java.nio.file.Path").of(sys.argv[1], []))
"""
EVENTS = ("jdk.ExecutionSample", "jdk.NativeMethodSample")


def _attribute(frames: list[str]) -> str:
    layer = next((f for f in frames if ".nn.layers." in f and re.search(r"activate|backprop|preOutput", f)), None)
    if layer:
        return ".".join(layer.rsplit(".", 2)[-2:])
    if any("updater" in f.lower() for f in frames):
        return "updater"
    return "dl4j-bridge loop and data (Trainer, pullRows)" if any("Trainer" in f for f in frames) else "other"


def profile(n: int) -> tuple[collections.Counter, collections.Counter, int]:
    from bridge.jvm import java_home

    with tempfile.TemporaryDirectory() as tmp:
        recording = Path(tmp) / "train.jfr"
        subprocess.run([sys.executable, "-c", WORKER.format(n=n), str(recording)], check=True, capture_output=True)
        by_layer, by_kind, total = collections.Counter(), collections.Counter(), 0
        for event in EVENTS:
            text = subprocess.run([str(java_home() / "bin" / "jfr"), "print", "--stack-depth", "64", "--events", event,
                                   str(recording)], check=True, capture_output=True, text=True).stdout
            for sample in text.split(event + " {")[1:]:
                frames = re.findall(r"^\s+([\w.$<>]+)\(", sample, re.M)
                if not any("deeplearning4j" in f or "nd4j" in f for f in frames):
                    continue
                total += 1
                by_layer[_attribute(frames)] += 1
                by_kind["native ND4J op (libnd4j)" if event == "jdk.NativeMethodSample" else "Java code"] += 1
    return by_layer, by_kind, total


def run(quick: bool) -> str:
    n = 2000 if quick else 6000
    by_layer, by_kind, total = profile(n)
    layers = "\n".join(f"| {name} | {count / total:.1%} |" for name, count in by_layer.most_common(10))
    kinds = ", ".join(f"{name} {count / total:.0%}" for name, count in by_kind.most_common())
    return f"""## Training profile: where DL4J's time goes

Command: `.venv/bin/python -m benchmarks.profile_training{' --quick' if quick else ''}`: Java Flight Recorder
(`settings=profile`) while dl4j-bridge trains LeNet on {n} Fashion-MNIST images; {total} samples of DL4J/ND4J
threads. By kind: {kinds}.

| innermost DL4J method on the stack | share of samples |
| --- | --- |
{layers}
"""


def main(argv=None) -> None:
    section = run("--quick" in (argv if argv is not None else sys.argv[1:]))
    print(section)
    write_section("training-profile", section)


if __name__ == "__main__":
    main()
