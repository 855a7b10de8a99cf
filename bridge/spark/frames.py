"""DataFrames as training and evaluation data: which columns, checked against the network on the driver (the schema
only), then read on the executors (ai.dl4jbridge.spark.TrainingColumns, TrainingFrame).

A DataFrame is a Java org.apache.spark.sql.Dataset<Row> (bridge.spark.session(...).sql, JPype) or a PySpark
DataFrame of bridge.spark.session(...).pyspark (the same Java object, reached by its py4j id).
"""

from __future__ import annotations

import jpype

from ..errors import DataError, SparkError
from ..jvm import jclass
from ..model.inputs import input_specs, output_names, output_sizes
from .gateway import java_object

__all__ = ["is_dataframe", "java_dataframe", "training_frame", "frame_context", "column_names"]

_DATASET = "org.apache.spark.sql.Dataset"
DEFAULT_FEATURES, DEFAULT_LABEL = "features", "label"  # Spark ML's default column names


def is_dataframe(x) -> bool:
    """A Java Dataset (JPype) or a PySpark DataFrame."""
    if isinstance(x, jpype.JObject):
        return isinstance(x, jclass(_DATASET))
    return type(x).__module__.startswith("pyspark.sql") and hasattr(x, "_jdf")


def java_dataframe(df):
    """The Java Dataset<Row> of a DataFrame (a PySpark DataFrame's own Java object: no copy)."""
    if isinstance(df, jpype.JObject):
        return df
    return java_object(df._jdf)


def frame_context(jdf):
    """The JavaSparkContext a Java Dataset belongs to."""
    return jclass("org.apache.spark.api.java.JavaSparkContext").fromSparkContext(jdf.sparkSession().sparkContext())


def column_names(features, label, call: str) -> tuple[list[str], str]:
    """features (a column name or a list of them) and label, defaulting to Spark ML's "features" and "label"."""
    features = DEFAULT_FEATURES if features is None else features
    label = DEFAULT_LABEL if label is None else label
    names = [features] if isinstance(features, str) else list(features) if isinstance(features, (list, tuple)) else []
    if not names or not all(isinstance(n, str) and n for n in names):
        raise DataError(
            f"Received an invalid value for `features` in {call}: expected a column name or a list of column names "
            f"of the DataFrame. Received: features={features!r}"
        )
    if not isinstance(label, str) or not label:
        raise DataError(
            f"Received an invalid value for `label` in {call}: expected the name of the label column. "
            f"Received: label={label!r}"
        )
    return names, label


def training_frame(net, jdf, features: list[str], label: str):
    """The Java TrainingFrame: the DataFrame's columns checked against the network's one input and one output."""
    specs, outputs = input_specs(net), output_names(net)
    if len(specs) != 1 or len(outputs) != 1:
        raise DataError(
            "DataFrames train networks with one input and one output; this one has inputs "
            f"{[s.name for s in specs]} and outputs {outputs}: train it from arrays (bridge.fit(net, x, y, spark=...))."
        )
    spec = specs[0]
    if spec.shape is None:
        raise DataError(
            f"The shape of input {spec.name!r} ({spec.layout}) is unknown (DL4J keeps no height and width for "
            f"InputType.convolutional), and DataFrame rows become minibatches of that shape: pass input_shape="
            f"({'H, W, C' if spec.layout == 'NHWC' else 'C, H, W'}) to fit() once (it is recorded with the network), "
            f"or build the Network with input_shapes={{{spec.name!r}: ...}}."
        )
    image = spec.image if spec.layout == "flat" else spec.shape if spec.layout == "NCHW" else None
    if spec.layout == "NHWC":
        h, w, c = spec.shape
        image = (c, h, w)
    width = output_sizes(net)[0]
    if width is None:
        raise DataError("The network's output layer has no fixed width (nOut): DataFrame labels need one.")
    longs = jpype.JArray(jpype.JLong)
    columns = jclass("ai.dl4jbridge.spark.TrainingColumns").of(
        jdf.schema(),
        jpype.JArray(jpype.JString)(features),
        label,
        longs(list(spec.shape)),
        longs(list(image)) if image is not None else None,
        spec.layout == "NHWC",
        int(width),
        jdf.sparkSession().sparkContext().hadoopConfiguration(),
    )
    return jclass("ai.dl4jbridge.spark.TrainingFrame")(jdf, columns)


def same_context(jdf, session) -> None:
    """A DataFrame trains on the SparkContext it belongs to: `session`, if given, must be that one."""
    if session is None:
        return
    mine = jdf.sparkSession().sparkContext()
    if not hasattr(session, "context") or not mine.equals(session.context.sc()):
        raise SparkError(
            "This DataFrame belongs to another SparkContext than `spark`: a DataFrame trains where it lives. Pass "
            "the session it was created from (or spark=None)."
        )
