"""The Java side: ONNX Runtime Java vs Python ONNX Runtime (LeNet, same run), and the Java reference
service under load at concurrency 1, 8 and 32, plus a run with bad requests mixed in.

Run: .venv/bin/python -m benchmarks.bench_service [--quick] [--vectors DIR]
     .venv/bin/python -m benchmarks.bench_service --batching [--reference-jar OLD.jar] [--seconds S]
     (dynamic batching on vs off at concurrency 32 under wrk, in one run, with an older service jar as the
     reference when given: BENCHMARKS.md's service-batching section)

Two load generators, both on the service's machine: a bounded Python client (one keep-alive
connection per thread, a fixed number of requests) that checks every answer against DL4J's outputs,
and wrk (C, one epoll thread; `make benchmarks` installs Debian's package) for the throughput and
latency figures: the Python client's threads take most of a 2-core machine's CPU from the service.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bridge.jvm import java_home
from bridge.serve.service import JavaService, ServiceClient, service_jar

from .common import machine, percentiles, write_section

VECTORS = Path(__file__).resolve().parent.parent / "models" / "vectors"
TOLERANCE = 1e-5
BINARY = {"Content-Type": "application/octet-stream", "Accept": "application/octet-stream"}


def _inputs(vectors: Path, model: str) -> tuple[Path, np.ndarray, np.ndarray]:
    paths = [vectors / f"{model}/model.onnx", vectors / "mnist_test_1000.u8", vectors / f"{model}/outputs.f32"]
    for path in paths:
        if not path.is_file():
            raise SystemExit(f"{path} is missing: the shared vectors are committed files (models/README.md)")
    digits = np.fromfile(paths[1], np.uint8).reshape(-1, 784).astype(np.float32) / np.float32(255)
    return paths[0], digits, np.fromfile(paths[2], "<f4").reshape(-1, 10)


def java_ort(model: Path, digits_u8: Path, threads1: int, threads_n: int, calls: int, batch: int, batches: int) -> dict:
    cmd = [
        str(java_home() / "bin" / "java"),
        "-cp",
        str(service_jar()),
        "ai.dl4jbridge.runtime.service.Benchmark",
        str(model),
        str(digits_u8),
        str(threads1),
        str(threads_n),
        str(calls),
        str(batch),
        str(batches),
    ]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])


def python_ort(
    model: Path, digits: np.ndarray, threads1: int, threads_n: int, calls: int, batch: int, batches: int
) -> dict:
    def session(threads: int) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    one, many = session(threads1), session(threads_n)
    name = one.get_inputs()[0].name
    for i in range(200):
        one.run(None, {name: digits[i % len(digits)][None]})
    lat = []
    for i in range(calls):
        row = digits[i % len(digits)][None]
        t0 = time.perf_counter()
        one.run(None, {name: row})
        lat.append(time.perf_counter() - t0)
    x = np.ascontiguousarray(np.resize(digits, (batch, 784)))
    for _ in range(3):
        many.run(None, {name: x})
    per = []
    for _ in range(batches):
        t0 = time.perf_counter()
        many.run(None, {name: x})
        per.append(time.perf_counter() - t0)
    p = percentiles(lat)
    median = sorted(per)[batches // 2]
    return {
        "engine": f"onnxruntime {ort.__version__} (Python)",
        "batch1": {"p50_us": p[50] * 1e6, "p99_us": p[99] * 1e6, "mean_us": sum(lat) / len(lat) * 1e6},
        "batchN": {"median_s": median, "min_s": min(per), "max_s": max(per), "rows_per_s": batch / median},
    }


def interleaved(model: Path, vectors: Path, digits: np.ndarray, rounds: int, calls: int, batches: int) -> list[dict]:
    """Java and Python alternate `rounds` times (this machine's speed drifts); per engine, the median round."""
    threads_n = os.cpu_count() or 1
    runs: dict[str, list[dict]] = {"java": [], "python": []}
    for _ in range(rounds):
        runs["java"].append(java_ort(model, vectors / "mnist_test_1000.u8", 1, threads_n, calls, 256, batches))
        runs["python"].append(python_ort(model, digits, 1, threads_n, calls, 256, batches))
    out = []
    for lang, engine_runs in runs.items():
        p50s = sorted(r["batch1"]["p50_us"] for r in engine_runs)
        rates = sorted(r["batchN"]["rows_per_s"] for r in engine_runs)
        engine = engine_runs[0]["engine"] + (" (Java)" if lang == "java" else "")
        out.append(
            {
                "engine": engine,
                "p50": p50s[len(p50s) // 2],
                "p50_range": (p50s[0], p50s[-1]),
                "p99": sorted(r["batch1"]["p99_us"] for r in engine_runs)[len(p50s) // 2],
                "rate": rates[len(rates) // 2],
                "rate_range": (rates[0], rates[-1]),
            }
        )
    return out


def load(url: str, concurrency: int, requests: int, make_request, check) -> dict:
    """`requests` requests from `concurrency` threads; each thread its own keep-alive connection."""
    lock = threading.Lock()
    next_index = iter(range(requests))
    latencies: list[float] = []
    outcome = {"ok": 0, "4xx": 0, "5xx": 0, "wrong": 0, "failed": 0}

    def worker() -> None:
        client = ServiceClient(url)
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            method, path, body, headers, expect = make_request(i)
            t0 = time.perf_counter()
            try:
                status, _, payload = client.request(method, path, body, headers)
            except OSError:
                with lock:
                    outcome["failed"] += 1
                continue
            elapsed = time.perf_counter() - t0
            kind = "5xx" if status >= 500 else "4xx" if status >= 400 else "ok"
            right = status == expect and (status != 200 or check(i, payload))
            with lock:
                latencies.append(elapsed)
                outcome[kind] += 1
                outcome["wrong"] += 0 if right else 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    p = percentiles(latencies)
    return {
        "concurrency": concurrency,
        "requests": requests,
        "rps": requests / wall,
        "p50_ms": p[50] * 1e3,
        "p99_ms": p[99] * 1e3,
        **outcome,
    }


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Accept"] = "application/octet-stream"
local file = io.open(os.getenv("WRK_BODY"), "rb")
wrk.body = file:read("*a")
file:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max, e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def wrk_runs(url: str, row: bytes, seconds: int) -> list[dict] | str:
    """wrk at concurrency 8 and 32, one LeNet row per request; or why it was not measured."""
    if shutil.which("wrk") is None:
        return "not measured: wrk is not installed (`make benchmarks` installs Debian's wrk)"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        script, body = Path(tmp, "predict.lua"), Path(tmp, "row.bin")
        script.write_text(WRK_SCRIPT)
        body.write_bytes(row)
        for concurrency in (8, 32):
            try:
                results.append({"concurrency": concurrency, **_wrk_once(url, script, body, concurrency, seconds)})
            except WrkFailed as failure:
                return f"not measured: {failure}"
    return results


def service_runs(
    model: Path, digits: np.ndarray, expected: np.ndarray, requests: int, wrk_seconds: int
) -> tuple[list, dict, dict, list | str]:
    rows = [digits[i].astype("<f4").tobytes() for i in range(len(digits))]
    n = len(rows)

    def good(i):
        return "POST", "/v1/predict", rows[i % n], BINARY, 200

    def check(i, payload):
        return np.abs(np.frombuffer(payload, "<f4", 10) - expected[i % n]).max() <= TOLERANCE

    def json_good(i):
        body = json.dumps({"inputs": [digits[i % n].tolist()]}).encode()
        return "POST", "/v1/predict", body, {"Content-Type": "application/json"}, 200

    def json_check(i, payload):
        probs = np.asarray(json.loads(payload)["probabilities"][0], np.float32)
        return np.abs(probs - expected[i % n]).max() <= TOLERANCE

    bad = [
        ("POST", "/v1/predict", b'{"inputs": [[1, 2', {"Content-Type": "application/json"}, 400),
        ("POST", "/v1/predict", rows[0][:-4], BINARY, 400),
        (
            "POST",
            "/v1/predict",
            json.dumps({"inputs": [[float("nan")] * 784]}).encode(),
            {"Content-Type": "application/json"},
            400,
        ),
        ("POST", "/v1/predict", rows[0], {"Content-Type": "text/plain"}, 415),
        ("GET", "/v1/predict", None, {}, 405),
        ("GET", "/nope", None, {}, 404),
    ]

    def mixed(i):
        return bad[(i // 4) % len(bad)] if i % 4 == 3 else good(i)

    with JavaService(model, port=0) as service:
        for c in (1, 8, 32):  # warm-up at each concurrency level
            load(service.url, c, 200, good, check)
        results = [load(service.url, c, requests, good, check) for c in (1, 8, 32)]
        json8 = load(service.url, 8, requests, json_good, json_check)
        mix = load(service.url, 8, requests, mixed, check)
        wrk = wrk_runs(service.url, rows[0], wrk_seconds)
    return results, json8, mix, wrk


def run(quick: bool = False, vectors: Path = VECTORS) -> str:
    model, digits, expected = _inputs(vectors, "lenet")
    threads = os.cpu_count() or 1
    rounds, calls, batches, requests, wrk_seconds = (1, 500, 10, 500, 3) if quick else (3, 3000, 40, 3000, 15)
    engines = interleaved(model, vectors, digits, rounds, calls, batches)
    loads, json8, mix, wrk = service_runs(model, digits, expected, requests, wrk_seconds)
    java, python = engines
    ort_rows = "\n".join(
        f"| {e['engine']} | {e['p50']:.0f} µs ({e['p50_range'][0]:.0f}–{e['p50_range'][1]:.0f}) | {e['p99']:.0f} µs | "
        f"{e['rate']:,.0f} rows/s ({e['rate_range'][0]:,.0f}–{e['rate_range'][1]:,.0f}) |"
        for e in engines
    )
    load_rows = "\n".join(
        f"| {r['concurrency']} | {label} | {r['requests']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
        f"{r['4xx'] + r['5xx'] + r['failed'] + r['wrong']} |"
        for label, r in [("binary", loads[0]), ("binary", loads[1]), ("binary", loads[2]), ("JSON", json8)]
    )
    wrk_rows = (
        wrk
        if isinstance(wrk, str)
        else "\n".join(
            f"| {r['concurrency']} | binary | {r['requests']:,} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |"
            for r in wrk
        )
    )
    return f"""## Java: ONNX Runtime Java vs Python, and the reference service

Command: `.venv/bin/python -m benchmarks.bench_service{" --quick" if quick else ""}` — {machine()}

LeNet (models/vectors/lenet/model.onnx), CPU provider, in process. Batch 1: one ONNX Runtime thread
(as the service runs it), {calls} calls on the 1,000 shared digits after 200 warm-up calls. Batch 256:
{threads} threads, median of {batches} batches. Java and Python alternate {rounds} time(s) in the same run;
the table gives the median round (min–max over rounds). Java/Python batch-1 p50 ratio:
{java["p50"] / python["p50"]:.2f}; batch-256 throughput ratio: {java["rate"] / python["rate"]:.2f}.

| engine | batch 1 p50 | batch 1 p99 | batch 256 throughput |
| --- | --- | --- | --- |
{ort_rows}

Service (`java -jar java/runtime/target/dl4j-bridge-runtime-0.1.0-service.jar`, defaults: {threads} workers,
1 ONNX Runtime thread per request), one LeNet row per request, {requests} requests per run after warm-up,
every answer checked against DL4J's outputs (1e-5). The Python client shares the machine's cores with the service.

| concurrency | body | requests | req/s | p50 ms | p99 ms | errors |
| --- | --- | --- | --- | --- | --- | --- |
{load_rows}

The same service under wrk (`wrk -t1 -cN -d{wrk_seconds}s`, the same binary LeNet row each request; non-2xx
answers and socket errors counted). Goal at concurrency 8: above 5,000 req/s with p99 under 5 ms.

| concurrency | body | requests | req/s | p50 ms | p99 ms | errors |
| --- | --- | --- | --- | --- | --- | --- |
{wrk_rows}

Mixed run (concurrency 8, 1 request in 4 bad: malformed JSON, short binary, NaN, wrong content type,
wrong method, unknown path): {mix["ok"]} good answered 200, {mix["4xx"]} bad answered 4xx, {mix["5xx"]} 5xx,
{mix["wrong"]} wrong answers or statuses, {mix["failed"]} connection failures; {mix["rps"]:,.0f} req/s, p99 {mix["p99_ms"]:.2f} ms.
"""


def _wrk_once(url: str, script: Path, body: Path, concurrency: int, seconds: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", str(script), f"{url}/v1/predict"],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        env={**os.environ, "WRK_BODY": str(body)},
    )
    found = re.search(r"RESULT" + r" (\d+)" * 8, out.stdout)
    if not found:
        raise WrkFailed(f"wrk failed: {(out.stderr or out.stdout)[-300:]!r}")
    requests, micros, p50, p99, p999, worst, bad_status, socket_errors = map(int, found.groups())
    return {
        "requests": requests,
        "rps": requests / (micros / 1e6),
        "p50_ms": p50 / 1e3,
        "p99_ms": p99 / 1e3,
        "p999_ms": p999 / 1e3,
        "max_ms": worst / 1e3,
        "errors": bad_status + socket_errors,
    }


class WrkFailed(RuntimeError):
    """wrk ran but printed no result line."""


def _served(jar: Path, model: Path, extra: list[str], jvm_options: list[str]):
    """A JavaService running `jar` (this build's, or an older reference jar)."""
    service = JavaService(model, port=0, extra=extra, jvm_options=jvm_options)
    if jar != service_jar():
        service.command[service.command.index(str(service_jar()))] = str(jar)
    return service


G1 = "-XX:+UseG1GC"  # how the previous service ran: the JDK's default, before the launcher chose the parallel one


def batching_runs(
    model: Path, digits: np.ndarray, expected: np.ndarray, reference_jar: Path | None, seconds: int, rounds: int
) -> list[dict]:
    """wrk -c32, one LeNet row per request: this build with batching off and on (and the reference jar),
    alternating `rounds` times; per configuration the medians over the rounds. Each service is checked for correct
    answers (the Python client, 1e-5 against DL4J) before it is measured."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (`make benchmarks` installs Debian's wrk)")
    batching = ["--batch-max-size", "64"]
    configs = [  # label, jar, service options, JVM options ([]: the launcher's defaults, the parallel collector)
        ("batching off", service_jar(), [], []),
        ("batching on (--batch-max-size 64; defaults: no wait, one runner)", service_jar(), batching, []),
        ("batching on, with the JDK's default collector (G1)", service_jar(), batching, [G1]),
    ]
    if reference_jar is not None:
        configs.insert(0, ("reference: " + reference_jar.name + " (previous service, G1)", reference_jar, [], [G1]))
    rows = [digits[i].astype("<f4").tobytes() for i in range(len(digits))]

    def good(i):
        return "POST", "/v1/predict", rows[i % len(rows)], BINARY, 200

    def check(i, payload):
        return np.abs(np.frombuffer(payload, "<f4", 10) - expected[i % len(rows)]).max() <= TOLERANCE

    results: dict[str, list[dict]] = {label: [] for label, *_ in configs}
    with tempfile.TemporaryDirectory() as tmp:
        script, body = Path(tmp, "predict.lua"), Path(tmp, "row.bin")
        script.write_text(WRK_SCRIPT)
        body.write_bytes(rows[0])
        for _ in range(rounds):
            for label, jar, extra, jvm in configs:
                with _served(jar, model, extra, jvm) as service:
                    checked = load(service.url, 32, 500, good, check)
                    if checked["wrong"] or checked["5xx"] or checked["failed"]:
                        raise SystemExit(f"{label}: wrong answers before measuring: {checked}")
                    _wrk_once(service.url, script, body, 32, 2)  # warm-up
                    results[label].append(_wrk_once(service.url, script, body, 32, seconds))
    out = []
    for label, runs in results.items():
        rps, p50, p99, p999 = (sorted(r[key] for r in runs) for key in ("rps", "p50_ms", "p99_ms", "p999_ms"))
        out.append(
            {
                "label": label,
                "rps": statistics.median(rps),
                "rps_range": (rps[0], rps[-1]),
                "p50_ms": statistics.median(p50),
                "p99_ms": statistics.median(p99),
                "p99_range": (p99[0], p99[-1]),
                "p999_ms": statistics.median(p999),
                "max_ms": max(r["max_ms"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
            }
        )
    return out


def run_batching(reference_jar: Path | None, seconds: int, rounds: int, vectors: Path = VECTORS) -> str:
    model, digits, expected = _inputs(vectors, "lenet")
    results = batching_runs(model, digits, expected, reference_jar, seconds, rounds)
    base = results[0]["rps"]
    rows = "\n".join(
        f"| {r['label']} | {r['rps']:,.0f} ({r['rps_range'][0]:,.0f}–{r['rps_range'][1]:,.0f}) | "
        f"{r['rps'] / base:.2f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} ({r['p99_range'][0]:.2f}–{r['p99_range'][1]:.2f}) | "
        f"{r['p999_ms']:.2f} | {r['max_ms']:.1f} | {r['errors']} |"
        for r in results
    )
    load_avg = os.getloadavg()
    return f"""## Java service: dynamic batching on vs off (wrk, concurrency 32)

Command: `.venv/bin/python -m benchmarks.bench_service --batching{" --reference-jar " + str(reference_jar) if reference_jar else ""} --seconds {seconds} --rounds {rounds}`
— {machine()}; load average at the end {load_avg[0]:.1f} / {load_avg[1]:.1f} / {load_avg[2]:.1f} (the machine is shared:
with a load above its 2 cores every figure here is depressed and noisy; compare the ratios, measured in the same run).

`wrk -t1 -c32 -d{seconds}s`, the same binary LeNet row per request, against the service jar with default options
(2 workers, 1 ONNX Runtime thread per run; with batching one runner thread) on 127.0.0.1, started as
`dl4j-bridge serve` starts it (the parallel garbage collector) unless the row names G1, the JDK's default and how the
previous service ran; wrk shares the 2 cores; configurations alternate {rounds} time(s), the table gives
per configuration the median of the rounds' figures (min–max); errors summed over the rounds. Every service answered 500 checked requests correctly (1e-5 against DL4J) first.
Ratio: req/s over the first row's.

| service | req/s | ratio | p50 ms | p99 ms | p99.9 ms | max ms (all rounds) | errors |
| --- | --- | --- | --- | --- | --- | --- | --- |
{rows}

{_batching_verdict(results)}
"""


def _batching_verdict(results: list[dict]) -> str:
    """Issue 12's goal, judged on this run: batching on >= 1.5x the reference's req/s, with p99 <= 5 ms."""
    on = next(r for r in results if r["label"].startswith("batching on"))
    if not results[0]["label"].startswith("reference"):
        return "Goal (>= 1.5x the previous service, p99 <= 5 ms): not judged, no reference jar in this run."
    ratio = on["rps"] / results[0]["rps"]
    parts = [
        f"throughput {ratio:.2f}x the previous service ({'met' if ratio >= 1.5 else 'not met'})",
        f"p99 {on['p99_ms']:.2f} ms ({'met' if on['p99_ms'] <= 5 else 'not met'})",
    ]
    return "Goal (batching on >= 1.5x the previous service at concurrency 32, p99 <= 5 ms): " + "; ".join(parts) + "."


def main(argv=None) -> None:
    argv = list(argv if argv is not None else sys.argv[1:])
    vectors = Path(argv[argv.index("--vectors") + 1]) if "--vectors" in argv else VECTORS
    if "--batching" in argv:
        reference = Path(argv[argv.index("--reference-jar") + 1]) if "--reference-jar" in argv else None
        seconds = int(argv[argv.index("--seconds") + 1]) if "--seconds" in argv else 10
        rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 2
        section = run_batching(reference, seconds, rounds, vectors)
        print(section)
        if vectors == VECTORS:
            write_section("service-batching", section)
        return
    section = run("--quick" in argv, vectors)
    print(section)
    if vectors == VECTORS:
        write_section("service", section)


if __name__ == "__main__":
    main()
