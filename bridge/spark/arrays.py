"""numpy in and out of Spark DataFrames (Java `Dataset<Row>` proxies), in bulk through the JVM.

    df = bridge.spark.dataframe(spark, x, y)          # features: array<float> (or nested [C][H][W]), label: int
    probabilities = bridge.spark.to_numpy(scored, "probabilities")   # (n, classes) float32

For data the driver already holds (tests, examples, benchmarks); a Spark user's tables come from Spark's readers.
PySpark DataFrames come with the PySpark session on the bridge's JVM; this module takes Java Datasets.
"""

from __future__ import annotations

import jpype
import numpy as np

from ..errors import DataError, java_boundary
from ..jvm import jclass
from ..jvm.arrays import require_float_array
from ..validate import positive_int
from .frames import is_dataframe, java_dataframe
from .session import SparkSession, _spark_errors

__all__ = ["dataframe", "to_numpy", "java_dataset", "sql_session"]

SQL_SESSION = "org.apache.spark.sql.SparkSession"


def java_dataset(df, name: str = "df"):
    """The Java Dataset<Row> of a Spark DataFrame of this JVM or of a PySpark DataFrame on the bridge's session (its
    own Java object, no copy); DataError for anything else."""
    if not is_dataframe(df):
        raise DataError(
            f"Expected `{name}` as a Spark DataFrame (a Java org.apache.spark.sql.Dataset, or a PySpark DataFrame of "
            f"bridge.spark.session(...).pyspark), received {type(df).__name__}."
        )
    return java_dataframe(df)


def sql_session(spark):
    """The Java SQL SparkSession (org.apache.spark.sql.SparkSession) of a bridge SparkSession, or `spark` itself."""
    if isinstance(spark, SparkSession):
        with _spark_errors("opening Spark SQL"):
            return jclass("ai.dl4jbridge.spark.Frames").sql(spark.context)
    if isinstance(spark, jclass(SQL_SESSION)):
        return spark
    raise DataError(
        "Expected `spark` as a bridge.spark.session(...) or a Java org.apache.spark.sql.SparkSession, "
        f"received {type(spark).__name__}."
    )


@java_boundary("bridge.spark.dataframe")
def dataframe(spark, x, y=None, *, features: str = "features", label: str = "label", partitions: int | None = None):
    """A Spark DataFrame of x's rows (and y's labels), built in the JVM from one buffer over x's memory.

    x: float32 (float64 is cast) (n, F) -> `features` array<float> of F; (n, C, H, W) or any (n, *shape) ->
    arrays nested as shape (array<array<array<float>>> for images), the shape also kept in the column's metadata
    so that scoring checks it before any job runs. y: None or (n,) class indices -> `label` int.
    partitions: the DataFrame's partitions (default: the session's parallelism). NaN values are kept.
    """
    session = sql_session(spark)
    x = require_float_array(x)
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"Expected x of shape (n, features) or (n, *shape) with n >= 1, received {x.shape}.")
    x = np.ascontiguousarray(x, dtype=np.float32)
    labels = None
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(
                f"Expected y as {len(x)} class indices (an integer array of shape ({len(x)},)), received "
                f"{y.dtype} {y.shape}."
            )
        labels = jpype.JArray(jpype.JInt)(y.astype(np.int32))
    slices = positive_int(partitions, "partitions") if partitions is not None else None
    with _spark_errors("bridge.spark.dataframe"):
        slices = slices or int(session.sparkContext().defaultParallelism())
        buffer = jpype.nio.convertToDirectBuffer(x).order(jclass("java.nio.ByteOrder").nativeOrder()).asFloatBuffer()
        shape = jpype.JArray(jpype.JLong)([int(d) for d in x.shape[1:]])
        return jclass("ai.dl4jbridge.spark.Frames").fromFloats(
            session, buffer, len(x), shape, labels, slices, features, label
        )


@java_boundary("bridge.spark.to_numpy")
def to_numpy(df, column: str) -> np.ndarray:
    """One column collected to the driver: array<float|double> -> float32 (n, width) (nested arrays, e.g. images,
    flattened in C order: reshape to (n, C, H, W)); int/long -> int64 (n,);
    float/double -> float64 (n,); string -> str (n,). Runs a Spark job (the scores are computed now)."""
    df = java_dataset(df)
    names = [str(n) for n in df.schema().fieldNames()]
    if column not in names:
        raise DataError(f"The DataFrame has no column {column!r}; its columns are {names}.")
    kind = str(df.schema().apply(column).dataType().typeName())
    frames = jclass("ai.dl4jbridge.spark.Frames")
    with _spark_errors(f"collecting column {column!r}"):
        if kind == "array":
            shape = jpype.JArray(jpype.JInt)(2)
            flat = np.array(frames.floats(df, column, shape), dtype=np.float32)
            return flat.reshape(int(shape[0]), int(shape[1]))
        values = list(frames.values(df, column))
    if kind in ("integer", "long", "short", "byte"):
        return np.array([int(v) for v in values], dtype=np.int64)
    if kind in ("float", "double"):
        return np.array([float(v) for v in values], dtype=np.float64)
    if kind == "string":
        return np.array([str(v) for v in values])
    raise DataError(f"to_numpy reads array, integer, floating and string columns; {column!r} is {kind}.")
