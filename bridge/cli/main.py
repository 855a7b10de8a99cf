"""The `dl4j-bridge` command (also `python -m bridge`).

examples:
  dl4j-bridge train --model lenet --data mnist --epochs 5 --out runs/lenet
  dl4j-bridge train --model mlp --data mnist --epochs 3 --out runs/mlp --ui        # watch it in DL4J's UI
  dl4j-bridge export runs/lenet/model.zip lenet.onnx
  dl4j-bridge predict lenet.onnx digits/ --output predictions.csv                # a folder of images
  dl4j-bridge predict lenet.onnx --data mnist --benchmark                        # accuracy and latency
  dl4j-bridge doctor
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .. import data
from ..errors import BridgeError, DataError
from ..files import write_atomic
from ..jvm.build import setup
from ..model import nets
from ..onnx import export_onnx
from ..onnx.triton import export_triton
from ..serve.runtime import OnnxModel
from ..serve.service import service_command
from ..serve.userinputs import read_inputs
from ..train import api as training
from ..train import callbacks, plots
from ..train.ui import replay, training_ui
from .doctor import _version, doctor_report

MODELS = ("mlp", "lenet", "resnet_small")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown after each option's help (unless it states its own), examples kept as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or action.required:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


# After Ctrl-C the command stops at the next safe point and exits 130; past this many seconds it exits anyway.
INTERRUPT_GRACE_SECONDS = 30.0


def _on_ctrl_c(command: str):
    """A SIGINT handler that raises KeyboardInterrupt, as Python's own does, and arms a watchdog: if the process
    is still alive INTERRUPT_GRACE_SECONDS later (a Java loop that never reached its stop check, a JVM shutdown
    waiting on a thread), every thread's stack goes to stderr and the process exits 130. Checkpoints are written
    atomically, so exiting then loses nothing already saved. A second Ctrl-C exits at once."""
    import faulthandler
    import os
    import threading

    armed = threading.Event()

    def give_up(reason: str) -> None:
        print(f"dl4j-bridge {command}: {reason}; exiting. Thread stacks:", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(130)

    def handler(signum, frame):
        if armed.is_set():
            give_up("interrupted twice")
        armed.set()
        # The backstop needs no GIL (faulthandler's C thread): should a thread hold the GIL through the JVM's
        # shutdown, the timer below cannot run, and this still dumps the stacks and exits (code 1).
        faulthandler.dump_traceback_later(INTERRUPT_GRACE_SECONDS + 5, exit=True)
        timer = threading.Timer(
            INTERRUPT_GRACE_SECONDS, give_up, [f"still running {INTERRUPT_GRACE_SECONDS:.0f} s after Ctrl-C"]
        )
        timer.daemon = True
        timer.start()
        raise KeyboardInterrupt

    return handler


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    if args.command == "train" and argv is None and _is_main_thread():  # the console command, not a call from code
        import signal

        signal.signal(signal.SIGINT, _on_ctrl_c(args.command))
    try:
        return args.handler(args) or 0
    except BridgeError as exc:
        print(f"dl4j-bridge {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dl4j-bridge {args.command}: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports a process ended by Ctrl-C


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def version_text() -> str:
    return f"dl4j-bridge {_version()} (DL4J 1.0.0-M2.1)"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dl4j-bridge", description=__doc__)
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    _train_parser(sub)
    _export_parser(sub)
    _predict_parser(sub)

    p = sub.add_parser(
        "doctor",
        help="what can run here: Java, DL4J/ND4J, Spark, ONNX Runtime providers (each tried), datasets, jars",
        description="Checks, not assumptions: each execution provider "
        "runs a tiny session, and is listed as usable only if the session ran on it.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    p.set_defaults(handler=cmd_doctor)

    p = sub.add_parser(
        "setup",
        help="build the JVM side with Maven (needed once after pip install)",
        description="Builds the jars into ~/.cache/dl4j-bridge (or $DL4J_BRIDGE_CACHE) with the "
        "Maven wrapper; one progress line, Maven's log in maven.log there (shown on failure).",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(handler=cmd_setup)

    p = sub.add_parser(
        "ui",
        help="replay a training's stats file in DL4J's training UI",
        description="Serves DL4J's training UI over a stats file written by `train --ui` "
        "(FileStatsStorage), until Ctrl-C.\n\nexample:\n  dl4j-bridge ui runs/mlp/ui-stats.bin",
    )
    p.add_argument("stats", type=Path, help="stats file (ui-stats.bin from `train --ui`)")
    p.add_argument("--port", type=int, default=9000, help="TCP port of the UI")
    p.set_defaults(handler=cmd_ui)

    p = sub.add_parser("serve", help="serve an ONNX model over HTTP with the Java reference service (docs/java.md)")
    p.add_argument("model", type=Path, help="model.onnx")
    p.add_argument("--port", type=int, default=8080, help="TCP port (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--threads", type=int, default=None, help="request worker threads (default: cores)")
    p.add_argument(
        "--service-option",
        action="append",
        default=[],
        metavar="OPT",
        dest="service_options",
        help="an option for the Java service as it is, repeatable: --service-option=--grpc-port=8081 "
        "--service-option=--batch-max-size=32 (all of them: java -jar java/runtime/target/dl4j-bridge-runtime-0.1.0-service.jar --help)",
    )
    p.set_defaults(handler=cmd_serve)
    return parser


def _train_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a reference model and write model.zip, metrics.json, training.png",
        description="Trains one of the reference networks and writes OUT/model.zip, "
        "OUT/metrics.json and OUT/training.png (per-iteration loss, per-epoch accuracy).\n\n"
        "examples:\n  dl4j-bridge train --model lenet --data mnist --epochs 5 --out runs/lenet\n"
        "  dl4j-bridge train --model mlp --data fashion-mnist --spark local[2] --out runs/spark\n"
        "  dl4j-bridge train --model lenet --data photos/ --image-size 32 --color rgb --out runs/photos\n"
        "  dl4j-bridge train --model mlp --data mnist --out runs/mlp --ui --ui-port 9001",
    )
    p.add_argument("--model", choices=MODELS, required=True, help="reference network")
    p.add_argument(
        "--data",
        required=True,
        help="mnist, fashion-mnist, a folder of IDX files, or an image folder: one sub-folder of PNG/JPEG "
        "images per class, named after it (DIR/cat/1.png, DIR/dog/2.jpg, ...)",
    )
    p.add_argument(
        "--image-size",
        default=None,
        metavar="H[xW]",
        help="with an image folder: every image resized to H x W pixels, e.g. 28 or 64x48 (default: 28, "
        "the reference networks' MNIST size)",
    )
    p.add_argument(
        "--color",
        choices=("grayscale", "rgb"),
        default=None,
        help="with an image folder: grayscale (1 channel) or rgb (3) (default: grayscale)",
    )
    p.add_argument(
        "--validation-split",
        type=float,
        default=None,
        help="with an image folder: the fraction of each class held out to test on (default: 0.2)",
    )
    p.add_argument("--epochs", type=int, default=1, help="passes over the training data")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size")
    p.add_argument("--seed", type=int, default=42, help="seed of the weights and the shuffling")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--spark", default=None, help="train on Spark: local[N] or spark://HOST:PORT (default: locally)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--ui",
        action="store_true",
        help="serve DL4J's training UI while training; stats saved to OUT/ui-stats.bin for `dl4j-bridge ui`",
    )
    p.add_argument("--ui-port", type=int, default=9000, help="TCP port of the training UI (with --ui)")
    p.set_defaults(handler=cmd_train)


def _export_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a DL4J model zip to ONNX, checking parity against DL4J",
        description="Converts a DL4J model zip to ONNX and checks, on seeded random inputs, that "
        "ONNX Runtime computes what DL4J computes.\n\nexample:\n"
        "  dl4j-bridge export runs/lenet/model.zip lenet.onnx --opset 17\n"
        "  dl4j-bridge export runs/lenet/model.zip --triton-repository models   # models/lenet/config.pbtxt, 1/model.onnx",
    )
    p.add_argument("model", type=Path, help="DL4J model zip (model.zip from `train`)")
    p.add_argument("out", type=Path, nargs="?", help="the .onnx file to write (or --triton-repository)")
    p.add_argument(
        "--triton-repository",
        type=Path,
        default=None,
        metavar="DIR",
        help="write a Triton model repository instead: DIR/NAME/config.pbtxt, DIR/NAME/VERSION/model.onnx and "
        "DIR/NAME/labels.txt (when the model has labels); dl4j-bridge serve --model-repository DIR serves it too",
    )
    p.add_argument("--name", default=None, help="with --triton-repository: the model's name (default: the model's own)")
    p.add_argument("--model-version", type=int, default=1, help="with --triton-repository: the version folder")
    p.add_argument(
        "--max-batch-size", type=int, default=64, help="with --triton-repository: Triton's max_batch_size (0: none)"
    )
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, 13..21 (default 17: ONNX Runtime 1.13 or newer)")
    p.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="optional absolute ceiling on |ONNX Runtime - DL4J float64|; it only tightens the check "
        "(ONNX Runtime must be within max(1e-5, 2x DL4J float32's own error) of DL4J float64)",
    )
    p.add_argument("--no-verify", action="store_true", help="skip the DL4J vs ONNX Runtime parity check")
    p.set_defaults(handler=cmd_export)


def _predict_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="run an ONNX model on your inputs: per-row classes and probabilities",
        description="Runs an ONNX model with ONNX Runtime on INPUTS and writes one row per "
        "example: the class, its label and every probability. Images are converted to the "
        "model's channels, resized to its height x width, scaled to [0, 1].\n\nexamples:\n"
        "  dl4j-bridge predict lenet.onnx digit.png\n"
        "  dl4j-bridge predict lenet.onnx digits/ --output predictions.csv\n"
        "  dl4j-bridge predict lenet.onnx x.npz --key x_test --output out.json\n"
        "  dl4j-bridge predict lenet.onnx --data mnist --benchmark --json",
    )
    p.add_argument("model", type=Path, help="the .onnx model")
    p.add_argument(
        "inputs",
        type=Path,
        nargs="?",
        help="a .npy/.npz array (n, ...), an image file, or a folder of images (default: the test split of --data)",
    )
    p.add_argument(
        "--data",
        default=None,
        help="mnist, fashion-mnist, or a folder of IDX files: predict on its "
        "test split and report accuracy (default: none)",
    )
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write the predictions there, .json or .csv (default: standard output)",
    )
    p.add_argument(
        "--format",
        choices=("json", "csv"),
        default=None,
        help="output format (default: from --output's suffix, else json)",
    )
    p.add_argument(
        "--key", default=None, help="the array to use in a .npz holding several (default: its only array, or 'x')"
    )
    p.add_argument(
        "--invert",
        action="store_true",
        help="invert image pixels (dark digits on white paper, for models trained on MNIST's white on black)",
    )
    p.add_argument("--provider", default="auto", help="auto, cpu, cuda, tensorrt, or a comma-separated list")
    p.add_argument("--batch-size", type=int, default=1024, help="rows per ONNX Runtime call")
    p.add_argument(
        "--benchmark",
        action="store_true",
        help="instead of predictions: accuracy (with --data), batch-1 latency p50/p99 and batch-256 throughput",
    )
    p.add_argument("--json", action="store_true", help="with --benchmark: print one JSON object")
    p.set_defaults(handler=cmd_predict)


def cmd_train(args) -> int:
    import contextlib

    _check_port(args.ui_port, "--ui-port")
    x_train, y_train, x_test, y_test, labels, image = _training_data(args)
    net = _reference_network(args, labels, image)
    if args.model == "mlp" and image is not None:  # the MLP takes flat rows of C*H*W values
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    shown = f" ({len(labels)} classes, {image[1]}x{image[2]}x{image[0]})" if image is not None else ""
    print(
        f"{args.model} on {args.data}{shown}: {len(x_train)} train / {len(x_test)} test, "
        f"{args.epochs} epoch(s), batch {args.batch_size}, seed {args.seed}",
        flush=True,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = callbacks.ModelCheckpoint(args.out / "checkpoint.zip")  # the last completed epoch, written atomically
    with contextlib.ExitStack() as stack:
        spark_ui = (
            {"port": args.ui_port, "stats_file": str(args.out / "ui-stats.bin")} if args.ui and args.spark else False
        )
        if args.ui and not args.spark:  # on Spark, fit(ui=...) routes the workers' stats to the UI instead
            ui = stack.enter_context(training_ui(net, port=args.ui_port, stats_file=args.out / "ui-stats.bin"))
            print(
                f"training UI: {ui.address}  (stats: {ui.stats_file}; replay: dl4j-bridge ui {ui.stats_file})",
                flush=True,
            )
        losses = stack.enter_context(plots.iteration_losses(net)) if args.spark is None else []
        start = time.perf_counter()
        try:
            history = training.fit(
                net,
                x_train,
                y_train,
                epochs=args.epochs,
                batch_size=args.batch_size,
                seed=args.seed,
                validation=(x_test, y_test),
                progress=not args.no_progress,
                spark=args.spark,
                callbacks=[checkpoint],
                ui=spark_ui,
            )
        except KeyboardInterrupt:
            kept = f"; the last completed epoch is in {args.out / 'checkpoint.zip'}" if checkpoint.saved else ""
            print(f"dl4j-bridge train: interrupted{kept}", file=sys.stderr)
            return 130
        wall = time.perf_counter() - start
    evaluation = training.evaluate(net, x_test, y_test)
    training.save(net, args.out / "model.zip")
    train_seconds = sum(e.seconds for e in history)
    metrics = {
        "model": args.model,
        "data": str(args.data),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "spark": args.spark,
        "n_train": len(x_train),
        "n_test": len(x_test),
        "test_accuracy": evaluation.accuracy,
        "wall_seconds": wall,
        "samples_per_sec": len(x_train) * args.epochs / train_seconds,
        "history": [e.__dict__ for e in history],
        "evaluation": evaluation.as_dict(),
        "labels": list(labels),
    }
    _write_atomic(args.out / "metrics.json", json.dumps(metrics, indent=2).encode())
    plots.plot_history(history, args.out / "training.png", iterations=losses, title=f"{args.model} on {args.data}")
    print(
        f"test accuracy {evaluation.accuracy:.4f}  time {wall:.1f} s  "
        f"{metrics['samples_per_sec']:.0f} samples/s  -> {args.out}"
    )
    return 0


# What `train --data FOLDER` does with an image folder unless told otherwise: the reference networks' MNIST
# size and channels, and a fifth of each class held out to test on.
IMAGE_DEFAULTS = {"image_size": "28", "color": "grayscale", "validation_split": 0.2}


def _training_data(args):
    """(x_train, y_train, x_test, y_test, labels, image) for `train --data`; image is (C, H, W) for an image
    folder (x as (n, C, H, W)), None for MNIST-like data (x as flat rows of 784)."""
    given = [f"--{name.replace('_', '-')}" for name in IMAGE_DEFAULTS if getattr(args, name) is not None]
    if not data.is_image_folder(args.data):
        if given:
            raise DataError(
                f"{' and '.join(given)}: for an image folder only (one sub-folder of images per class); "
                f"--data {args.data} is not one."
            )
        return (*data.load(args.data), data.labels_for(args.data), None)
    options = {
        name: default if getattr(args, name) is None else getattr(args, name)
        for name, default in IMAGE_DEFAULTS.items()
    }
    x_train, y_train, x_test, y_test, classes = data.load_image_folder(
        args.data,
        size=_image_size(options["image_size"]),
        color=options["color"],
        validation_split=options["validation_split"],
        seed=args.seed,
    )
    if len(x_test) == 0 or len(x_train) == 0:
        raise DataError(
            f"{args.data}: {len(x_train) + len(x_test)} images leave {len(x_train)} to train on and {len(x_test)} to "
            f"test on with --validation-split {options['validation_split']}: each class needs images on both sides "
            "(add images, or change --validation-split)."
        )
    return x_train, y_train, x_test, y_test, classes, x_train.shape[1:]


def _image_size(text: str) -> tuple[int, int]:
    """--image-size: "H" (square) or "HxW", positive pixel counts."""
    parts = text.lower().split("x")
    if len(parts) in (1, 2) and all(p.strip().isdigit() and int(p) > 0 for p in parts):
        height, width = int(parts[0]), int(parts[-1])
        return height, width
    raise DataError(
        f"Received an invalid value for `--image-size`, expected H or HxW (e.g. 28, 64x48). Received: {text!r}"
    )


def _reference_network(args, labels, image):
    """The --model network, sized for the data: MNIST's 784 pixels and 10 classes unless `image` says otherwise."""
    options = {"seed": args.seed, "learning_rate": args.learning_rate, "labels": labels}
    if image is None:
        return getattr(nets, args.model)(**options)
    options["n_classes"] = len(labels)
    if args.model == "mlp":
        return nets.mlp(n_in=int(image[0] * image[1] * image[2]), **options)
    return getattr(nets, args.model)(input_shape=tuple(int(v) for v in image), **options)


def _check_port(port: int, name: str) -> None:
    if not 0 <= port <= 65535:
        raise DataError(f"Received an invalid value for `{name}`, expected a TCP port 0..65535. Received: {port}")


def _write_atomic(path: Path, payload: bytes) -> None:
    write_atomic(path, payload)


def cmd_export(args) -> int:
    if (args.out is None) == (args.triton_repository is None):
        raise DataError("Pass OUT (the .onnx file to write) or --triton-repository DIR, one of the two.")
    if args.triton_repository is not None:
        return _export_triton(args)
    triton_only = [flag for flag, given in _triton_flags(args).items() if given]
    if triton_only:
        raise DataError(f"{', '.join(triton_only)} go with --triton-repository.")
    report = export_onnx(args.model, args.out, opset=args.opset, verify=not args.no_verify, tolerance=args.tolerance)
    parity = (
        "not checked"
        if report.max_abs_diff is None
        else f"max abs diff vs DL4J {report.max_abs_diff:.2e}, vs DL4J float64 {report.onnx_error:.2e} "
        f"(DL4J float32's own {report.dl4j_error:.2e})"
    )
    print(f"wrote {report.path} (opset {report.opset}, {parity}, {report.seconds:.2f} s)")
    return 0


def _triton_flags(args) -> dict[str, bool]:
    return {
        "--name": args.name is not None,
        "--model-version": args.model_version != 1,
        "--max-batch-size": args.max_batch_size != 64,
    }


def _export_triton(args) -> int:
    report = export_triton(
        args.model,
        args.triton_repository,
        name=args.name,
        version=args.model_version,
        max_batch_size=args.max_batch_size,
        opset=args.opset,
        verify=not args.no_verify,
        tolerance=args.tolerance,
    )
    parity = "not checked" if report.max_abs_diff is None else f"max abs diff vs DL4J {report.max_abs_diff:.2e}"
    print(f"wrote {report.config} and {report.model} (opset {report.opset}, {parity}, {report.seconds:.2f} s)")
    return 0


def cmd_predict(args) -> int:
    if args.inputs is None and args.data is None:
        raise DataError(
            "Nothing to predict on: pass INPUTS (a .npy/.npz file, an image or a folder of images) "
            "or --data mnist|fashion-mnist|FOLDER."
        )
    if args.inputs is not None and args.data is not None:
        raise DataError("Pass INPUTS or --data, not both.")
    if args.json and not args.benchmark:
        raise DataError(
            "--json goes with --benchmark (the latency report); predictions are JSON already, or CSV "
            "with --format csv / --output FILE.csv."
        )
    providers = args.provider.split(",") if "," in args.provider else args.provider
    model = OnnxModel(args.model, providers=providers, batch_size=_positive(args.batch_size, "--batch-size"))
    if args.data is not None:
        _, _, x, y = data.load(args.data)
        sources = [f"{args.data}[{i}]" for i in range(len(x))]
    else:
        (x, sources), y = read_inputs(args.inputs, model, key=args.key, invert=args.invert), None
    if args.benchmark:
        return _benchmark(model, x, y, args)
    probabilities = model.predict(x)
    if probabilities.ndim != 2:
        raise DataError(
            f"This model's output is (n, {', '.join(map(str, probabilities.shape[1:]))}), not class "
            "probabilities (n, classes): use bridge.OnnxModel(...).predict in Python."
        )
    fmt = args.format or ("csv" if args.output is not None and args.output.suffix.lower() == ".csv" else "json")
    labels = list(model.labels) if model.labels else [str(i) for i in range(probabilities.shape[1])]
    payload = (
        _predictions_csv(sources, probabilities, labels)
        if fmt == "csv"
        else _predictions_json(args.model, model.providers, sources, probabilities, labels)
    )
    if y is not None:
        accuracy = float((probabilities.argmax(1) == y).mean())
        print(f"accuracy {accuracy:.4f} on {len(y)} ({args.data})", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(payload)
    else:
        _write_atomic(args.output, payload.encode())
        print(f"wrote {len(sources)} prediction(s) to {args.output}", file=sys.stderr)
    return 0


def _positive(value: int, name: str) -> int:
    if value <= 0:
        raise DataError(f"Received an invalid value for `{name}`, expected a positive integer. Received: {value}")
    return value


def _predictions_json(path, providers, sources, probabilities, labels) -> str:
    classes = probabilities.argmax(1)
    rows = [
        {
            "source": s,
            "class": int(c),
            "label": labels[c] if c < len(labels) else str(c),
            "probabilities": [round(float(p), 7) for p in row],
        }
        for s, c, row in zip(sources, classes, probabilities)
    ]
    return (
        json.dumps({"model": str(path), "providers": providers, "labels": labels, "predictions": rows}, indent=1) + "\n"
    )


def _predictions_csv(sources, probabilities, labels) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["source", "class", "label", *(f"p_{label}" for label in labels)])
    for source, row in zip(sources, probabilities):
        c = int(row.argmax())
        writer.writerow([source, c, labels[c] if c < len(labels) else c, *(f"{float(p):.7g}" for p in row)])
    return out.getvalue()


def _benchmark(model, x, y, args) -> int:
    import numpy as np

    accuracy = float((model.predict_classes(x) == y).mean()) if y is not None else None
    latencies = _latencies(lambda: model.predict(x[:1]), repeats=500)
    batch = x[:256]
    rate = len(batch) * 20 / _total_seconds(lambda: model.predict(batch), repeats=20)
    result = {
        "model": str(args.model),
        "data": str(args.data or args.inputs),
        "n": len(x),
        "accuracy": accuracy,
        "providers": model.providers,
        "latency_ms_p50": float(np.percentile(latencies, 50) * 1e3),
        "latency_ms_p99": float(np.percentile(latencies, 99) * 1e3),
        f"throughput_batch{len(batch)}_per_s": rate,
    }
    if args.json:
        print(json.dumps(result))
    else:
        shown = f"accuracy {accuracy:.4f} on {len(x)}  " if accuracy is not None else f"{len(x)} rows  "
        print(
            f"{shown}provider {model.providers[0]}  batch-1 latency p50 {result['latency_ms_p50']:.3f} ms "
            f"p99 {result['latency_ms_p99']:.3f} ms  batch-{len(batch)} {rate:.0f} samples/s"
        )
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
    report = doctor_report()
    if args.json:
        print(json.dumps(report))
        return 0
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:>{width}}: {value}")
    return 0


def cmd_serve(args) -> int:
    """Run the Java service in the foreground; Ctrl-C or SIGTERM stops it gracefully."""
    import signal
    import subprocess

    process = subprocess.Popen(service_command(args.model, args.port, args.host, args.threads, args.service_options))
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
    location = setup(quiet=args.quiet)
    if not args.quiet:
        print(f"classpath ready in {location}")
    return 0


def cmd_ui(args) -> int:
    _check_port(args.port, "--port")
    replay(args.stats, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
