"""Scoring Spark DataFrames on the executors with ONNX Runtime Java (ai.dl4jbridge.spark.OnnxScoring).

    scored = bridge.spark.score("lenet.onnx", df, features="features")    # or a trained network
    scored.select("prediction").show()                                     # computed on the executors
    bridge.spark.register_udf("lenet.onnx", spark)                         # SQL: dl4j_bridge_predict(features)

The model's bytes are broadcast; each executor JVM builds one ONNX Runtime session per model and keeps it; each
partition is scored in mini-batches. A network is exported to ONNX first (bridge.export_onnx, with its parity
check against DL4J). The answers equal bridge.OnnxModel's (Python ONNX Runtime) on the same rows within 1e-5.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import jpype

from ..errors import DataError, ModelFileError, java_boundary, translate
from ..jvm import jclass
from ..model.kinds import is_network
from ..onnx import export_onnx
from ..serve.runtime import OnnxModel
from ..validate import choice, integer_at_least, positive_int
from .arrays import java_dataset, sql_session
from .session import SparkSession, _spark_errors

__all__ = ["score", "register_udf", "PROVIDERS"]

#: provider= values: where the executors run the model (OnnxScoring.Provider).
PROVIDERS = ("auto", "cpu", "cuda")
MAX_BATCH_ROWS = 1 << 20  # the Java runtime's InputChecks.MAX_ROWS


@java_boundary("bridge.spark.score", io_error=ModelFileError)
def score(
    model,
    df,
    features: str = "features",
    spark=None,
    *,
    probabilities: str = "probabilities",
    prediction: str | None = "prediction",
    batch_size: int = 256,
    provider: str = "auto",
    threads: int | None = None,
    labels=None,
    input_shape=None,
):
    """`df` with two columns added, computed on the executors when an action runs: `probabilities`
    (array<float>, the model's output row) and `prediction` (the class's label when the model carries labels,
    else its index; prediction=None for a model without a class axis).

    model: an exported .onnx file (path or bridge.OnnxModel), a DL4J model zip, or a network (bridge Network,
    MultiLayerNetwork, ComputationGraph), which is exported to ONNX first with the parity check (labels: its class
    names; input_shape: its per-example image shape where DL4J does not record it, as in bridge.export_onnx). df: a Spark DataFrame (Java Dataset) whose `features` column is array<float>/array<double> with the
    model's values per row (flat rows in C order, or arrays nested as the model's declared input, e.g. [C][H][W]),
    or an ML Vector. spark: a bridge SparkSession; if given, df must belong to it.
    batch_size: rows per ONNX Runtime run on an executor. provider: "auto" (CUDA where the executor's ONNX Runtime
    has the CUDA provider and the machine an NVIDIA driver, else CPU), "cpu", or "cuda" (CUDA or the job fails,
    naming why). threads: ONNX Runtime threads per run (default spark.task.cpus: each task uses its cores).

    Checked now, before any job (DataError): the column's presence and type, a width the schema states (from
    bridge.spark.dataframe, or a Vector's ML metadata), output columns that exist already. Checked per row as the
    rows are scored (failing that job, DataError under bridge's calls): widths, nulls, NaN and infinite values,
    refused as OnnxModel refuses them.
    """
    frame = java_dataset(df)
    if spark is not None:
        _same_context(frame, spark)
    with _spark_errors("bridge.spark.score"):
        export = {"labels": labels, "input_shape": input_shape}
        scorer = _scorer(model, features, probabilities, prediction, batch_size, provider, threads, export)
        return scorer.transform(frame)


@java_boundary("bridge.spark.register_udf", io_error=ModelFileError)
def register_udf(
    model,
    spark,
    name: str = "dl4j_bridge_predict",
    *,
    provider: str = "auto",
    threads: int | None = None,
    labels=None,
    input_shape=None,
) -> str:
    """Register Spark SQL functions that score with `model` on the executors: `name(features)` returns the
    probabilities (array<float>), `name_class(features)` the prediction (label, or class index). One row per call
    (score() batches; prefer it for whole tables). spark: a bridge SparkSession or a Java SQL SparkSession.
    model, provider, threads, labels, input_shape as in score(). Returns `name`."""
    session = sql_session(spark)
    with _spark_errors("bridge.spark.register_udf"):
        export = {"labels": labels, "input_shape": input_shape}
        scorer = _scorer(model, "features", "probabilities", "prediction", 1, provider, threads, export)
        return str(scorer.registerUdf(session, name))


def _scorer(model, features, probabilities, prediction, batch_size, provider, threads, export: dict):
    """The Java OnnxScoring for `model`, its bytes read (a network's export removed once they are)."""
    choice(provider, "provider", PROVIDERS)
    batch_size = integer_at_least(batch_size, "batch_size", 1, MAX_BATCH_ROWS)
    threads = positive_int(threads, "threads") if threads is not None else 0
    for name, value in (("features", features), ("probabilities", probabilities), ("prediction", prediction)):
        if not (isinstance(value, str) and value) and not (name == "prediction" and value is None):
            raise DataError(f"Received an invalid value for `{name}`, expected a column name. Received: {value!r}")
    with contextlib.ExitStack() as stack:
        path = _onnx_file(model, export, stack)
        builder = (
            jclass("ai.dl4jbridge.spark.OnnxScoring")
            .builder()
            .setModel(jclass("java.nio.file.Paths").get(str(path)))
            .optFeaturesCol(features)
            .optProbabilitiesCol(probabilities)
            .optPredictionCol(prediction)
            .optBatchSize(batch_size)
            .optExecutionProvider(jclass("ai.dl4jbridge.spark.OnnxScoring$Provider").valueOf(provider.upper()))
            .optIntraOpThreads(threads)
        )
        try:
            return builder.build()
        except jpype.JException as exc:  # translated by the root cause alone, which may not say which model it was
            raise translate(exc, f"bridge.spark.score: model {path}", io_error=ModelFileError) from exc


def _onnx_file(model, export: dict, stack: contextlib.ExitStack) -> Path:
    """The .onnx file to score with: the given one, or a network (or DL4J zip) exported into a temporary folder."""
    if isinstance(model, OnnxModel):
        model = model.path
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise ModelFileError(f"No model file at {path}: expected an exported .onnx file (or a DL4J model zip).")
        if path.suffix.lower() != ".zip":
            given = [name for name, value in export.items() if value is not None]
            if given:
                raise DataError(
                    f"{', '.join(given)}: options of a network's export; this .onnx file is exported already."
                )
            return path
    elif not (is_network(model) or is_network(getattr(model, "java", None))):
        raise DataError(
            "Expected `model` as an exported .onnx file, a bridge.OnnxModel, a DL4J model zip or a network (bridge "
            f"Network, MultiLayerNetwork, ComputationGraph), received {type(model).__name__}."
        )
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dl4j-bridge-score-")))
    target = folder / "model.onnx"
    export_onnx(model, target, **export)
    return target


def _same_context(frame, spark) -> None:
    if not isinstance(spark, SparkSession):
        raise DataError(f"Expected `spark` as a bridge.spark.session(...), received {type(spark).__name__}.")
    if not frame.sparkSession().sparkContext().equals(spark.context.sc()):
        raise DataError("`df` belongs to another SparkContext than `spark`: score it on the session that made it.")
