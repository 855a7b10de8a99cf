"""The `dl4j-bridge` command (also `python -m bridge`)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .errors import BridgeError

MODELS = ("mlp", "lenet", "resnet_small")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except BridgeError as exc:
        print(f"dl4j-bridge {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dl4j-bridge", description=__doc__)
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("train", help="train a reference model and write model.zip, metrics.json, training.png")
    p.add_argument("--model", choices=MODELS, required=True)
    p.add_argument("--data", required=True, help="mnist, fashion-mnist, or a folder of IDX files")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--spark", default=None, help="train on Spark: local[N] or spark://HOST:PORT")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("export", help="export a DL4J model zip to ONNX, checking parity against DL4J")
    p.add_argument("model", type=Path, help="DL4J model zip (model.zip from `train`)")
    p.add_argument("out", type=Path, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--tolerance", type=float, default=1e-5)
    p.add_argument("--no-verify", action="store_true", help="skip the DL4J vs ONNX Runtime parity check")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("predict", help="run an ONNX model on a dataset: accuracy, provider, latency, throughput")
    p.add_argument("model", type=Path)
    p.add_argument("--data", required=True, help="mnist, fashion-mnist, or a folder of IDX files (test split)")
    p.add_argument("--provider", default="auto", help="auto, cpu, cuda, tensorrt")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_predict)

    p = sub.add_parser("doctor", help="print Java, DL4J/ND4J, Spark and ONNX Runtime versions and the machine")
    p.set_defaults(handler=cmd_doctor)

    p = sub.add_parser("setup", help="build the JVM side with Maven (needed once after pip install)")
    p.set_defaults(handler=cmd_setup)

    p = sub.add_parser("serve", help="serve an ONNX model over HTTP with the Java reference service (docs/java.md)")
    p.add_argument("model", type=Path, help="model.onnx")
    p.add_argument("--port", type=int, default=8080, help="TCP port (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--threads", type=int, default=None, help="request worker threads (default: cores)")
    p.set_defaults(handler=cmd_serve)
    return parser


def cmd_train(args) -> int:
    from . import data, nets, training

    x_train, y_train, x_test, y_test = data.load(args.data)
    labels = data.labels_for(args.data)
    net = getattr(nets, args.model)(seed=args.seed, learning_rate=args.learning_rate, labels=labels)
    print(f"{args.model} on {args.data}: {len(x_train)} train / {len(x_test)} test, "
          f"{args.epochs} epoch(s), batch {args.batch_size}, seed {args.seed}", flush=True)
    start = time.perf_counter()
    history = training.fit(net, x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                           validation=(x_test, y_test), progress=not args.no_progress, spark=args.spark)
    wall = time.perf_counter() - start
    evaluation = training.evaluate(net, x_test, y_test)
    args.out.mkdir(parents=True, exist_ok=True)
    training.save(net, args.out / "model.zip")
    train_seconds = sum(e.seconds for e in history)
    metrics = {
        "model": args.model, "data": str(args.data), "epochs": args.epochs, "batch_size": args.batch_size,
        "seed": args.seed, "spark": args.spark, "n_train": len(x_train), "n_test": len(x_test),
        "test_accuracy": evaluation.accuracy, "wall_seconds": wall,
        "samples_per_sec": len(x_train) * args.epochs / train_seconds,
        "history": [e.__dict__ for e in history], "evaluation": evaluation.as_dict(), "labels": list(labels),
    }
    _write_atomic(args.out / "metrics.json", json.dumps(metrics, indent=2).encode())
    _plot(history, args.out / "training.png", f"{args.model} on {args.data}")
    print(f"test accuracy {evaluation.accuracy:.4f}  time {wall:.1f} s  "
          f"{metrics['samples_per_sec']:.0f} samples/s  -> {args.out}")
    return 0


def _write_atomic(path: Path, payload: bytes) -> None:
    from .files import write_atomic

    write_atomic(path, payload)


def _plot(history, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [e.epoch for e in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, [e.loss for e in history], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax_acc.plot(epochs, [e.val_accuracy for e in history], marker="o", color="tab:green")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.set_xticks(epochs)
    fig.suptitle(title)
    fig.tight_layout()
    from .files import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def cmd_export(args) -> int:
    from .onnx import export_onnx

    report = export_onnx(args.model, args.out, opset=args.opset, verify=not args.no_verify, tolerance=args.tolerance)
    parity = "not checked" if report.max_abs_diff is None else f"max abs diff vs DL4J {report.max_abs_diff:.2e}"
    print(f"wrote {report.path} (opset {report.opset}, {parity}, {report.seconds:.2f} s)")
    return 0


def cmd_predict(args) -> int:
    import numpy as np

    from . import data
    from .runtime import OnnxModel

    _, _, x_test, y_test = data.load(args.data)
    model = OnnxModel(args.model, providers=args.provider.split(",") if "," in args.provider else args.provider)
    accuracy = float((model.predict_classes(x_test) == y_test).mean())
    latencies = _latencies(lambda: model.predict(x_test[:1]), repeats=500)
    batch = x_test[:256]
    rate = 256 * 20 / _total_seconds(lambda: model.predict(batch), repeats=20)
    result = {"model": str(args.model), "data": str(args.data), "n": len(x_test), "accuracy": accuracy,
              "providers": model.providers, "latency_ms_p50": float(np.percentile(latencies, 50) * 1e3),
              "latency_ms_p99": float(np.percentile(latencies, 99) * 1e3), "throughput_batch256_per_s": rate}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"accuracy {accuracy:.4f} on {len(x_test)}  provider {model.providers[0]}  "
              f"batch-1 latency p50 {result['latency_ms_p50']:.3f} ms p99 {result['latency_ms_p99']:.3f} ms  "
              f"batch-256 {rate:.0f} samples/s")
    return 0


def _latencies(call, repeats: int) -> list[float]:
    for _ in range(20):
        call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def _total_seconds(call, repeats: int) -> float:
    call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return time.perf_counter() - start


def cmd_doctor(args) -> int:
    for key, value in doctor_report().items():
        print(f"{key:>22}: {value}")
    return 0


def doctor_report() -> dict:
    import onnxruntime

    from .jvm import jclass, java_home

    report = {"python": sys.version.split()[0], "java_home": str(java_home())}
    System = jclass("java.lang.System")
    report["java"] = f"{System.getProperty('java.version')} ({System.getProperty('java.vendor')})"
    Nd4j = jclass("org.nd4j.linalg.factory.Nd4j")
    env = Nd4j.getExecutioner().getEnvironmentInformation()
    report["dl4j / nd4j"] = f"{_jar_version('deeplearning4j-nn')} / {_jar_version('nd4j-native')}"
    report["nd4j backend"] = f"{Nd4j.getBackend().getClass().getSimpleName()} ({env.get('blas.vendor')}, {env.get('omp.threads')} OMP threads)"
    extension = System.getProperty("org.bytedeco.javacpp.platform.extension")
    helpers = jclass("org.deeplearning4j.nn.layers.mkldnn.BaseMKLDNNHelper").mklDnnEnabled()
    report["nd4j build"] = f"linux-x86_64{extension or ''} (DL4J oneDNN layer helpers {'on' if helpers else 'off'})"
    report["spark"] = str(getattr(jclass("org.apache.spark.package$"), "MODULE$").SPARK_VERSION())
    report["onnxruntime"] = onnxruntime.__version__
    report["execution providers"] = ", ".join(onnxruntime.get_available_providers())
    report["cpus"] = os.cpu_count()
    report["memory"] = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB"
    return report


def _jar_version(artifact: str) -> str:
    """The version of a Maven artifact on the running JVM's classpath, read from its jar name."""
    from .jvm import jvm_options

    for entry in jvm_options().classpath:
        name = Path(entry).name
        if name.startswith(artifact + "-") and name[len(artifact) + 1:][:1].isdigit():
            return name[len(artifact) + 1:].split(".jar")[0].split("-linux")[0]
    return "unknown"


def cmd_serve(args) -> int:
    """Run the Java service in the foreground; Ctrl-C or SIGTERM stops it gracefully."""
    import signal
    import subprocess

    from .service import service_command

    process = subprocess.Popen(service_command(args.model, args.port, args.host, args.threads))
    forward = lambda signum, frame: process.send_signal(signal.SIGTERM)  # noqa: E731
    previous = signal.signal(signal.SIGTERM, forward)
    try:
        code = process.wait()
    except KeyboardInterrupt:  # the JVM got the SIGINT too and is draining
        code = process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    # The JVM exits 128 + signal after its shutdown hook ran: a requested stop, not a failure.
    return 0 if code in (0, 130, 143) else code


def cmd_setup(args) -> int:
    from .build import setup

    print(f"classpath ready in {setup()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
