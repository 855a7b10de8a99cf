"""DataFrames in, nothing through the driver (real Spark, local[2]): training and evaluation from Java Datasets, parquet
and PySpark DataFrames, every feature and label column kind, images decoded on the executors, Hadoop URIs, bad rows
as DataErrors, and a driver capped far below its parquet's size."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jpype
import numpy as np
import pytest
from PIL import Image
from test_graph_training import two_in_two_out

import bridge
from bridge import nets, spark
from bridge.data.images import decode_image
from bridge.errors import DataError, SparkError
from bridge.jvm import jclass

pytestmark = pytest.mark.slow  # Spark jobs: seconds each


@pytest.fixture(scope="module")
def session():
    with spark.session("local[2]") as running:
        yield running


def _types():
    return jclass("org.apache.spark.sql.types.DataTypes")


def frame(session, columns: dict, types: dict):
    """A small Java DataFrame built in the driver (tests only: real data reaches Spark through its own readers).
    columns: name -> per-row values (numpy rows, numbers, bytes, str, or Java objects)."""
    row_factory = jclass("org.apache.spark.sql.RowFactory")
    names = list(columns)
    n = len(columns[names[0]])
    rows = jclass("java.util.ArrayList")()
    for i in range(n):
        rows.add(row_factory.create(*[_java_value(columns[name][i], types[name]) for name in names]))
    fields = [_types().createStructField(name, types[name], True) for name in names]
    return session.sql.createDataFrame(rows, _types().createStructType(fields))


def _java_value(value, kind):
    t = _types()
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        element = kind.elementType()
        if element.equals(t.FloatType):
            return jpype.JArray(jpype.JFloat)(value.astype(np.float32))
        return jpype.JArray(jpype.JDouble)(value.astype(np.float64))
    if isinstance(value, bytes):
        return jpype.JArray(jpype.JByte)(value)
    if kind.equals(t.IntegerType):
        return jpype.JInt(int(value))
    if kind.equals(t.LongType):
        return jpype.JLong(int(value))
    if kind.equals(t.DoubleType):
        return jpype.JDouble(float(value))
    if kind.equals(t.FloatType):
        return jpype.JFloat(float(value))
    return value


def array_of(element):
    return _types().createArrayType(element, False)


def mnist_frame(session, x, y):
    t = _types()
    return frame(
        session, {"features": list(x), "label": list(y)}, {"features": array_of(t.FloatType), "label": t.IntegerType}
    )


def test_dataframe_training_from_parquet_lands_within_2_points_of_local_training(session, mnist, tmp_path):
    """The 5,000 real MNIST digits as parquet, read and trained on by the executors (local[2]); the same network,
    seed, epochs and batch size trained locally from the numpy arrays. Evaluation runs on the executors too, and
    counts exactly what local evaluation counts."""
    x, y, xt, yt = mnist
    mnist_frame(session, x, y).write().parquet(str(tmp_path / "train.parquet"))
    mnist_frame(session, xt, yt).write().parquet(str(tmp_path / "test.parquet"))
    train, test = (
        session.read_parquet(str(tmp_path / "train.parquet")),
        session.read_parquet(str(tmp_path / "test.parquet")),
    )
    local = nets.mlp(seed=7)
    bridge.fit(local, x, y, epochs=2, batch_size=32, seed=7, verbose=0)
    net = nets.mlp(seed=7)
    history = bridge.fit(
        net,
        train,
        epochs=2,
        batch_size=32,
        seed=7,
        verbose=0,
        spark=session,
        averaging_frequency=5,
        validation_data=test,
    )
    accuracy, local_accuracy = bridge.evaluate(net, xt, yt).accuracy, bridge.evaluate(local, xt, yt).accuracy
    print(f"DataFrame on local[2]: {accuracy:.4f}, local: {local_accuracy:.4f}")
    assert local_accuracy > 0.85 and accuracy >= local_accuracy - 0.02
    assert [h.epoch for h in history] == [1, 2] and history.params["samples"] == len(x)
    assert history[1].loss < history[0].loss and all(h.samples_per_sec > 0 for h in history)
    assert history[1].val_accuracy == pytest.approx(accuracy, abs=1e-9)  # the validation DataFrame, on executors
    on_spark = bridge.evaluate(net, test, spark=session)
    np.testing.assert_array_equal(on_spark.confusion, bridge.evaluate(net, xt, yt).confusion)
    # 4,000 rows in 26 round-sized partitions of 153-154 rows (13 rounds of 2 workers at 5 minibatches of 32): the
    # counter advances by the steps each worker takes in parallel, 5 a round, as DL4J's parameter averaging counts
    assert nets.as_java(net).getIterationCount() == 2 * 13 * 5


def _columns(kind: str, x: np.ndarray, y: np.ndarray):
    """(columns, types, feature names, label name) of one column layout, holding x and y."""
    t = _types()
    vectors = jclass("org.apache.spark.ml.linalg.Vectors")
    vector_type = jclass("org.apache.spark.ml.linalg.SQLDataTypes").VectorType()
    label = {"label": list(y)}, {"label": t.IntegerType}
    if kind == "array<float>":
        return {"f": list(x), **label[0]}, {"f": array_of(t.FloatType), **label[1]}, "f", "label"
    if kind == "array<double>":
        return {"f": list(x), **label[0]}, {"f": array_of(t.DoubleType), **label[1]}, "f", "label"
    if kind == "vector-dense":
        return (
            {"f": [vectors.dense(*map(float, r)) for r in x], **label[0]},
            {"f": vector_type, **label[1]},
            "f",
            "label",
        )
    if kind == "vector-sparse":
        rows = [
            vectors.sparse(
                x.shape[1],
                jpype.JArray(jpype.JInt)(np.flatnonzero(r).tolist()),
                jpype.JArray(jpype.JDouble)(r[r != 0].astype(float).tolist()),
            )
            for r in x
        ]
        return {"f": rows, **label[0]}, {"f": vector_type, **label[1]}, "f", "label"
    if kind == "number-columns+array":
        columns = {"a": list(x[:, 0]), "b": list(x[:, 1].astype(np.float64)), "rest": list(x[:, 2:]), **label[0]}
        types = {"a": t.FloatType, "b": t.DoubleType, "rest": array_of(t.FloatType), **label[1]}
        return columns, types, ["a", "b", "rest"], "label"
    if kind == "label-double":
        return (
            {"f": list(x), "label": list(y.astype(float))},
            {"f": array_of(t.FloatType), "label": t.DoubleType},
            "f",
            "label",
        )
    if kind == "label-long":
        return {"f": list(x), "label": list(y)}, {"f": array_of(t.FloatType), "label": t.LongType}, "f", "label"
    if kind == "label-one-hot":
        one_hot = np.eye(3, dtype=np.float32)[y]
        return {"f": list(x), "y": list(one_hot)}, {"f": array_of(t.FloatType), "y": array_of(t.FloatType)}, "f", "y"
    raise AssertionError(kind)


def _read_dataset_files(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    data_set = jclass("org.nd4j.linalg.dataset.DataSet")
    xs, ys = [], []
    for file in sorted(folder.glob("part-*.bin")):
        ds = data_set()
        ds.load(jclass("java.io.File")(str(file)))
        xs.append(bridge.to_numpy(ds.getFeatures()))
        ys.append(bridge.to_numpy(ds.getLabels()))
    return np.concatenate(xs), np.concatenate(ys)


KINDS = [
    "array<float>",
    "array<double>",
    "vector-dense",
    "vector-sparse",
    "number-columns+array",
    "label-double",
    "label-long",
    "label-one-hot",
]


@pytest.mark.parametrize("kind", KINDS)
def test_every_column_kind_becomes_the_same_minibatches(session, tmp_path, rng, kind):
    """The executors write the minibatches they would train on (export_datasets from a DataFrame): the exact rows,
    whatever the column types. Sparse vectors keep their zeros; labels become one-hot rows of the output's width."""
    x = rng.random((45, 6), dtype=np.float32)
    x[x < 0.3] = 0
    y = rng.integers(0, 3, 45)
    columns, types, features, label = _columns(kind, x, y)
    df = frame(session, columns, types)
    net = nets.mlp(n_in=6, hidden=(4,), n_classes=3)
    folder = tmp_path / "files"
    files = spark.export_datasets(df, folder.as_uri(), net=net, features=features, label=label, batch_size=10)
    got_x, got_y = _read_dataset_files(folder)
    assert files == len(list(folder.glob("part-*.bin")))
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, np.eye(3, dtype=np.float32)[y])
    meta = json.loads((folder / "datasets.json").read_text())
    assert meta == {"examples": 45, "features": [6], "classes": 3, "batch_size": 10, "files": files}


def _image_files(root: Path, rng, count: int, mode: str) -> tuple[list[Path], list[int]]:
    paths, labels = [], []
    for i in range(count):
        h, w = int(rng.integers(20, 40)), int(rng.integers(20, 40))
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        path = root / f"{i:03d}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(pixels, "RGB").convert(mode).save(path)
        paths.append(path)
        labels.append(i % 10)
    return paths, labels


@pytest.mark.parametrize(
    "column, channels, shape",
    [("path", 1, (28, 28)), ("bytes", 1, (28, 28)), ("bytes", 3, (20, 24))],
    ids=["grey-paths", "grey-binary", "rgb-binary"],
)
def test_images_in_a_dataframe_decode_on_executors_as_the_python_loader_does(
    session, tmp_path, rng, column, channels, shape
):
    """Image columns (paths read through Hadoop's FileSystem, or the encoded bytes) decode on the executors to the
    pixels bridge.data's decoder gives (load_image_folder, predict), laid out as the network takes them."""
    paths, labels = _image_files(tmp_path, rng, 24, "RGB" if channels == 3 else "L")
    t = _types()
    values = [p.as_uri() for p in paths] if column == "path" else [p.read_bytes() for p in paths]
    df = frame(
        session,
        {column: values, "label": labels},
        {column: t.StringType if column == "path" else t.BinaryType, "label": t.IntegerType},
    )
    net = nets.lenet(input_shape=(channels, *shape))
    folder = tmp_path / "files"
    spark.export_datasets(df, str(folder), net=net, features=column, batch_size=8)
    got_x, _ = _read_dataset_files(folder)
    expected = np.stack([decode_image(p, channels, shape).transpose(2, 0, 1) for p in paths])
    np.testing.assert_array_equal(got_x.reshape(expected.shape), expected)
    history = bridge.fit(net, df, features=column, epochs=1, batch_size=8, verbose=0, spark=session)
    assert history[0].loss > 0


@pytest.mark.parametrize(
    "change, message",
    [
        ("width", "row 3 of partition 0 has 783 feature values in column 'features'; the network's input takes 784"),
        ("label-range", r"has label 10.0 \(column 'label'\): class labels are indices in \[0, 10\)"),
        ("null-label", "has a null label"),
        ("nan", "features must be finite"),
        ("missing-column", "the DataFrame has no column 'nope'"),
        ("label-type", "label column 'label' is string"),
    ],
)
def test_bad_rows_and_columns_are_data_errors_naming_the_problem(session, mnist, change, message):
    x, y = mnist[0][:20].copy(), list(mnist[1][:20])
    rows = list(x)
    t = _types()
    label_type = t.IntegerType
    features = "features"
    if change == "width":
        rows[3] = rows[3][:783]
    elif change == "label-range":
        y[5] = 10
    elif change == "null-label":
        y[5] = None
    elif change == "nan":
        rows[2] = rows[2].copy()
        rows[2][7] = np.nan
    elif change == "missing-column":
        features = "nope"
    elif change == "label-type":
        label_type, y = t.StringType, [str(v) for v in y]
    df = frame(session, {"features": rows, "label": y}, {"features": array_of(t.FloatType), "label": label_type})
    df = df.coalesce(1)
    with pytest.raises(DataError, match=message):
        bridge.evaluate(nets.mlp(), df, features=features)
    if change == "width":  # the same from a training job, whose rows are shuffled first
        with pytest.raises(DataError, match="a row .* has 783 feature values in column 'features'"):
            bridge.fit(nets.mlp(), df, epochs=1, verbose=0)


def test_dataframe_arguments_are_checked_by_name(session, mnist):
    x, y = mnist[0][:8], mnist[1][:8]
    df = mnist_frame(session, x, y)
    with pytest.raises(DataError, match="takes its labels from a column"):
        bridge.fit(nets.mlp(), df, y)
    with pytest.raises(TypeError, match="`features`, `label`"):
        bridge.fit(nets.mlp(), x, y, features="features")
    with pytest.raises(DataError, match="validation_split needs in-memory data"):
        bridge.fit(nets.mlp(), df, validation_split=0.1, verbose=0)
    with pytest.raises(DataError, match="invalid value for `features`"):
        bridge.fit(nets.mlp(), df, features=3, verbose=0)
    with pytest.raises(SparkError, match="belongs to another SparkContext"):
        bridge.fit(nets.mlp(), df, spark="local[1]", verbose=0)
    with pytest.raises(DataError, match="one input and one output"):
        bridge.fit(two_in_two_out(), df, verbose=0)
    with pytest.raises(DataError, match="repartition applies to arrays only"):
        bridge.fit(nets.mlp(), df, verbose=0, repartition="Always")


def test_fit_files_and_export_datasets_on_hadoop_uris(session, mnist, tmp_path):
    """Files listed, read and written through Hadoop's FileSystem (here file: URIs; hdfs:// and s3a:// go the same
    way): arrays written by the driver, a DataFrame written by the executors."""
    x, y, xt, yt = mnist
    arrays, frames = (tmp_path / "arrays").as_uri(), (tmp_path / "frames").as_uri()
    assert spark.export_datasets(x[:600], y[:600], arrays, batch_size=50) == 12
    written = spark.export_datasets(mnist_frame(session, x[:600], y[:600]), frames, net=nets.mlp(), batch_size=50)
    assert written >= 12 and json.loads((tmp_path / "frames" / "datasets.json").read_text())["examples"] == 600
    for folder in (arrays, frames):
        net = nets.mlp(seed=5)
        history = spark.fit_files(net, folder, epochs=1, spark=session, validation=(xt, yt), verbose=0)
        assert history[0].val_accuracy > 0.5
    with pytest.raises(bridge.errors.FileAccessError, match="nothing-here"):
        spark.fit_files(nets.mlp(), (tmp_path / "nothing-here").as_uri(), spark=session, verbose=0)


def test_pyspark_session_on_the_bridges_jvm_reads_filters_and_trains(session, mnist, tmp_path):
    """session.pyspark is a real PySpark session over the bridge's SparkContext: parquet, SQL and a filter in PySpark,
    and the filtered DataFrame (the same Java object, no copy) trains and evaluates through bridge.fit/evaluate."""
    pytest.importorskip("pyspark")
    x, y, xt, yt = mnist
    mnist_frame(session, x, y).write().parquet(str(tmp_path / "digits.parquet"))
    ps = session.pyspark
    import pyspark

    assert isinstance(ps, pyspark.sql.SparkSession) and ps.sparkContext._jsc is not None
    digits = ps.read.parquet(str(tmp_path / "digits.parquet"))
    digits.createOrReplaceTempView("digits")
    low = ps.sql("SELECT features, label FROM digits").filter("label < 5")
    assert low.count() == int((y < 5).sum())
    java = bridge.spark.gateway.java_object(low._jdf)
    assert java.count() == low.count() and java.equals(bridge.spark.gateway.java_object(low._jdf))
    net = nets.mlp(n_classes=5, seed=2)
    history = bridge.fit(net, low, epochs=1, batch_size=32, verbose=0)
    assert history[0].loss < 1.0
    test_low = mnist_frame(session, xt[yt < 5], yt[yt < 5])
    assert bridge.evaluate(net, test_low).accuracy > 0.85


EXIT_SCRIPT = """
import os, sys, time
import bridge
from bridge import spark
s = spark.session("local[1]")
ps = s.pyspark
assert ps.range(10).filter("id > 4").count() == 5
print("READY", flush=True)
ending = sys.argv[1]
if ending == "stop":
    s.stop()
elif ending == "error":
    raise RuntimeError("the script fails with its PySpark session open")
elif ending == "sigterm":
    time.sleep(120)
"""


@pytest.mark.parametrize("ending", ["stop", "error", "sigterm"])
def test_processes_with_a_pyspark_session_exit_cleanly(tmp_path, ending):
    """py4j's server threads would keep the JVM (and the process) alive after Spark stops, and a SIGTERM used to crash
    the JVM: every way out ends at once, with the expected status and no JVM crash file."""
    pytest.importorskip("pyspark")
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(EXIT_SCRIPT))
    start = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(script), ending], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if ending == "sigterm":
        assert process.stdout.readline().strip() == "READY"
        process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"the process did not exit ({ending}): py4j or Spark threads kept the JVM alive")
    expected = {"stop": 0, "error": 1, "sigterm": 128 + signal.SIGTERM}[ending]
    assert process.returncode == expected, err[-3000:]
    assert not list(tmp_path.glob("hs_err*")), "the JVM crashed"
    assert "the script fails" in err if ending == "error" else True
    print(f"{ending}: exited {process.returncode} after {time.monotonic() - start:.1f} s")


HEAP_MB, OFF_HEAP_MB = 512, 128
CAPPED_SCRIPT = """
import json, resource, sys
import bridge
from bridge import nets, spark
bridge.start_jvm(heap="{heap}m", off_heap="{off_heap}m", max_physical="3g")
with spark.session("local[2]") as s:
    data = s.read_parquet(sys.argv[1])
    net = nets.mlp(n_in=392, hidden=(32,), seed=1)
    history = bridge.fit(net, data, epochs=1, batch_size=128, averaging_frequency=20, verbose=0)
    runtime = bridge.jvm.jclass("java.lang.Runtime").getRuntime()
    pools = bridge.jvm.jclass("java.lang.management.ManagementFactory").getMemoryPoolMXBeans()
    peak_heap = max(p.getPeakUsage().getUsed() for p in pools if "Old Gen" in str(p.getName()))
    bridge.jvm.jclass("java.lang.System").gc()
    live = runtime.totalMemory() - runtime.freeMemory()
    print(json.dumps({{"samples": history.params["samples"], "loss": history[0].loss, "seconds": history[0].seconds,
                      "heap_max_mb": runtime.maxMemory() / 2**20, "old_gen_peak_mb": peak_heap / 2**20, "live_after_mb": live / 2**20,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def test_driver_capped_at_512m_heap_and_128m_off_heap_trains_from_twice_that_in_parquet(session, tmp_path):
    """On local[N] the executors share the driver's JVM: a driver of 512 MB heap and 128 MB ND4J off-heap training an
    epoch from 1.3 GB of parquet shows that rows stream through the executors and never collect in the driver. The
    parquet is written by Spark itself on the executors: random rows of array<double> of width 392 (the bytes of 784
    floats in half the values, which halves parquet's per-value cost of writing and reading them), in row groups of
    32 MB (a Parquet reader holds a row group's column chunk per task: 128 MB ones, Parquet's default, would take half
    this heap for two tasks)."""
    path = tmp_path / "big.parquet"
    rows = 430_000
    generated = session.sql.range(0, rows, 1, 8).selectExpr(
        "array_repeat(rand(11), 392) AS features", "CAST(pmod(hash(id), 10) AS INT) AS label"
    )
    started = time.monotonic()
    writer = generated.write().option("compression", "none").option("parquet.enable.dictionary", "false")
    writer.option("parquet.block.size", str(32 << 20)).parquet(str(path))
    size = sum(f.stat().st_size for f in path.glob("*.parquet"))
    print(f"parquet: {size / 2**30:.2f} GiB in {time.monotonic() - started:.0f} s")
    assert size >= 2 * (HEAP_MB + OFF_HEAP_MB) * 2**20
    script, log = tmp_path / "capped.py", tmp_path / "capped.log"
    script.write_text(CAPPED_SCRIPT.format(heap=HEAP_MB, off_heap=OFF_HEAP_MB))
    with log.open("w") as stderr:
        run = subprocess.run(
            [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=900
        )
    errors = [line for line in log.read_text().splitlines() if "Error" in line or "Exception" in line]
    assert run.returncode == 0, "\n".join(errors[:20])
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print("capped driver:", result)
    assert result["samples"] == rows and result["heap_max_mb"] <= HEAP_MB and result["loss"] > 0


def test_a_raw_dl4j_graph_trained_from_a_dataframe_keeps_the_shape_it_was_given_once(session, mnist, tmp_path):
    """DL4J's GraphBuilder with InputType.convolutional keeps no height and width, and a DataFrame's rows are flat:
    fit(..., input_shape=(1, 28, 28)) gives the shape once; export, save and the Java predictor need it no more."""
    from dl4j_builders import GraphSpec, conv, conv_input, global_avg_pool, output

    x, y = mnist[0][:256], mnist[1][:256]
    graph = (
        GraphSpec(seed=3)
        .input("image", conv_input(28, 28, 1))
        .layer("conv", conv(4, 3), "image")
        .layer("pool", global_avg_pool(), "conv")
        .layer("out", output(10), "pool")
        .build("out")
    )
    df = mnist_frame(session, x, y)
    with pytest.raises(DataError, match=r"shape of input 'image' \(NCHW\) is unknown.*input_shape=\(C, H, W\)"):
        bridge.fit(graph, df, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="`input_shape` with a Spark DataFrame only"):
        bridge.fit(graph, x.reshape(-1, 1, 28, 28), y, input_shape=(1, 28, 28), verbose=0)
    bridge.fit(graph, df, epochs=1, batch_size=32, verbose=0, input_shape=(1, 28, 28))
    images = x[:16].reshape(-1, 1, 28, 28)
    report = bridge.export_onnx(graph, tmp_path / "g.onnx", sample=images)  # no input_shape: it travelled
    assert report.max_abs_diff <= 1e-5
    assert bridge.OnnxModel(tmp_path / "g.onnx", providers="cpu").input_shape == (1, 28, 28)
    saved = bridge.save(graph, tmp_path / "g.zip")
    assert bridge.load(saved).input_shapes == {"image": (1, 28, 28)}
