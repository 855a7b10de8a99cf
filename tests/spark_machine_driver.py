"""The driver of tests/test_spark_machines.py and benchmarks/bench_spark_rounds.py: run by `ip netns exec` in the
driver's own network namespace, it trains on the namespaced standalone cluster with bridge, exactly as a user would
(bridge.spark.session on SPARK_LOCAL_IP, the driver's ports fixed), and writes what happened as JSON.

    python tests/spark_machine_driver.py MASTER_URL OUT.json --epochs 3 --checkpoints DIR --progress FILE
    python tests/spark_machine_driver.py MASTER_URL OUT.json --dataframe   # from a Spark DataFrame built here
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import bridge
from bridge import callbacks, data, nets, spark
from bridge.errors import SparkError
from bridge.spark.namespaces import spark_ports


class Progress(callbacks.Callback):
    """One line per finished epoch, for the test to time its fault into the next one: the epoch, the time, and the
    block managers (host:port) of the driver and the executors registered then."""

    def __init__(self, path: Path, context):
        super().__init__()
        self.path, self.context = path, context

    def on_epoch_end(self, epoch, logs=None):
        with self.path.open("a") as out:
            out.write(f"{epoch + 1} {time.time():.3f} {_block_managers(self.context)}\n")


def _block_managers(context) -> str:
    return ",".join(sorted(str(context.getExecutorMemoryStatus().keys().mkString(",")).split(",")))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("master")
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", default="mlp", choices=["mlp", "lenet", "resnet_small"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--examples", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--averaging-frequency", type=int, default=5)
    parser.add_argument("--checkpoints", type=Path)
    parser.add_argument("--progress", type=Path)
    parser.add_argument("--network-timeout", default="20s")
    # Train (and evaluate) from Spark DataFrames built in this driver (bridge.spark.dataframe: the rows travel in
    # the tasks, as no file system is shared with the workers) instead of from the numpy arrays.
    parser.add_argument("--dataframe", action="store_true")
    args = parser.parse_args()

    x, y, xt, yt = data.load("mnist")
    x, y = x[: args.examples], y[: args.examples]
    if args.model != "mlp":
        x, xt = x.reshape(-1, 1, 28, 28), xt.reshape(-1, 1, 28, 28)
    net = getattr(nets, args.model)(seed=5) if args.model != "mlp" else nets.mlp(seed=5)
    steps = []
    if args.checkpoints:
        steps.append(callbacks.ModelCheckpoint(args.checkpoints / "ckpt-{epoch}.zip"))
    conf = {
        **spark_ports(),
        # How long an executor that stopped answering (a cut cable) keeps its tasks before Spark gives up on it.
        "spark.network.timeout": args.network_timeout,
        "spark.network.timeoutInterval": args.network_timeout,  # how often the driver looks for such executors
        "spark.executor.heartbeatInterval": "2s",
    }
    result: dict = {"model": args.model}
    start = time.monotonic()
    try:
        with spark.session(args.master, conf=conf, executor_memory="1g", executor_off_heap="1g") as s:
            context = s.context.sc()
            if args.progress:
                steps.append(Progress(args.progress, context))
            result["parallelism"] = s.parallelism
            result["params"] = int(nets.as_java(net).numParams())
            data_args = (spark.dataframe(s, x, y),) if args.dataframe else (x, y)
            history = bridge.fit(
                net,
                *data_args,
                epochs=args.epochs,
                batch_size=args.batch_size,
                seed=5,
                spark=s,
                averaging_frequency=args.averaging_frequency,
                callbacks=steps,
                progress=False,
            )
            result["timings"] = s.last_timings
            if args.dataframe:  # DL4J's distributed evaluation, on the executors
                evaluation = bridge.evaluate(net, spark.dataframe(s, xt, yt))
                result["executor_accuracy"] = evaluation.accuracy
                result["executor_confusion"] = evaluation.confusion.tolist()
            # Block managers (host:port) of the driver and the executors still registered at the end
            result["block_managers"] = _block_managers(context).split(",")
        result["epochs"] = [{"epoch": h.epoch, "seconds": h.seconds, "loss": h.loss} for h in history]
        evaluation = bridge.evaluate(net, xt, yt)
        result["accuracy"], result["confusion"] = evaluation.accuracy, evaluation.confusion.tolist()
    except SparkError as error:
        result["error"] = f"{type(error).__name__}: {str(error)[:2000]}"
    result["seconds"] = time.monotonic() - start
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
