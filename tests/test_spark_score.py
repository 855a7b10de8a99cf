"""Scoring DataFrames on Spark's executors (ONNX Runtime Java) against bridge.OnnxModel (Python ONNX Runtime) on the
same rows: real Spark local[2], real ONNX Runtime on both sides; the SQL UDF; hostile inputs, refused by name."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from dl4j_builders import conv, conv_input, dense, max_pool, output, sequential

import bridge
from bridge import spark
from bridge.errors import DataError, ModelFileError, ProviderError
from bridge.jvm import jclass
from bridge.spark.arrays import sql_session

pytestmark = pytest.mark.slow  # a Spark session and Spark jobs

MLP = "models/vectors/mlp/model.onnx"  # exported by bridge, carries labels "0".."9"
TOLERANCE = 1e-5  # the contract: Java and Python ONNX Runtime within 1e-5 of each other (and of DL4J)
ROWS = 600


@pytest.fixture(scope="module")
def session():
    with spark.session("local[2]") as running:
        yield running


@pytest.fixture(scope="module")
def digits(mnist):
    x, y = mnist[2][:ROWS], mnist[3][:ROWS]
    return x, y


@pytest.fixture(scope="module")
def cnn():
    """A LeNet-style CNN declaring an image input [N, 1, 28, 28] (InputType.convolutional), untrained: parity does
    not need trained weights."""
    layers = [conv(6, 5), max_pool(), conv(16, 5), max_pool(), dense(32), output(10)]
    return sequential(layers, conv_input(28, 28, 1), seed=5)


def _jobs(session) -> int:
    return len(session.context.statusTracker().getJobIdsForGroup(None))


def _assert_scores(scored, reference: np.ndarray, labels, what: str) -> None:
    probabilities = spark.to_numpy(scored, "probabilities")
    assert probabilities.shape == reference.shape, f"{what}: shape {probabilities.shape} vs {reference.shape}"
    assert probabilities.dtype == np.float32, what
    diff = float(np.abs(probabilities - reference).max())
    assert diff <= TOLERANCE, f"{what}: max abs diff {diff:.3g} > {TOLERANCE} (onnxruntime {_versions()})"
    classes = reference.argmax(axis=1)
    expected = np.array([labels[c] for c in classes]) if labels else classes
    assert (spark.to_numpy(scored, "prediction") == expected).all(), f"{what}: predictions differ"


def _versions() -> str:
    import onnxruntime

    return f"Python {onnxruntime.__version__}, Java {jclass('ai.onnxruntime.OrtEnvironment').getEnvironment().getVersion()}"


@pytest.mark.parametrize("batch_size", [256, 7])  # 7: batches that do not divide the partitions
def test_mlp_file_scores_as_onnx_model(session, digits, batch_size):
    x, y = digits
    df = spark.dataframe(session, x, y, partitions=3)
    model = bridge.OnnxModel(MLP)
    scored = spark.score(MLP, df, spark=session, batch_size=batch_size)
    assert [str(n) for n in scored.schema().fieldNames()] == ["features", "label", "probabilities", "prediction"]
    _assert_scores(scored, model.predict(x), model.labels, f"mlp, batch {batch_size}")
    assert (spark.to_numpy(scored, "label") == y).all()  # the input's columns pass through, rows in order
    assert np.array_equal(spark.to_numpy(scored, "features"), x)


@pytest.mark.parametrize("layout", ["images", "flat"])
def test_cnn_network_scores_as_onnx_model(session, digits, cnn, tmp_path, layout):
    """A network is exported (with its parity check) and scored; rows as [C][H][W] arrays or flat C-order rows."""
    x = digits[0][:200]
    exported = tmp_path / "cnn.onnx"
    bridge.export_onnx(cnn, exported, input_shape=(1, 28, 28))
    model = bridge.OnnxModel(exported)
    assert model.input_shape == (1, 28, 28)
    rows = x.reshape(-1, 1, 28, 28) if layout == "images" else x
    scored = spark.score(cnn, spark.dataframe(session, rows), batch_size=64, input_shape=(1, 28, 28))
    _assert_scores(scored, model.predict(x.reshape(-1, 1, 28, 28)), None, f"cnn, {layout}")
    assert np.array_equal(spark.to_numpy(scored, "features"), x)  # [C][H][W] arrays come back flat, in C order


def test_labels_given_to_an_exported_network_become_the_prediction(session, digits, cnn):
    names = [f"class-{i}" for i in range(10)]
    scored = spark.score(cnn, spark.dataframe(session, digits[0][:50]), labels=names, input_shape=(1, 28, 28))
    assert str(scored.schema().apply("prediction").dataType().typeName()) == "string"
    assert set(spark.to_numpy(scored, "prediction")) <= set(names)


def test_ml_vector_features(session, digits):
    x = digits[0][:100]
    functions = jclass("org.apache.spark.ml.functions")
    column = jclass("org.apache.spark.sql.functions").col("features")
    vectors = spark.dataframe(session, x).select(functions.array_to_vector(column).alias("features"))
    model = bridge.OnnxModel(MLP)
    _assert_scores(spark.score(MLP, vectors), model.predict(x), model.labels, "ML Vector")


def test_sql_udf(session, digits):
    x = digits[0][:100]
    name = spark.register_udf(MLP, session)
    assert name == "dl4j_bridge_predict"
    spark.dataframe(session, x).createOrReplaceTempView("digits")
    scored = sql_session(session).sql(
        "SELECT dl4j_bridge_predict(features) AS probabilities, dl4j_bridge_predict_class(features) AS prediction "
        "FROM digits"
    )
    model = bridge.OnnxModel(MLP)
    _assert_scores(scored, model.predict(x), model.labels, "SQL UDF")


def test_pyspark_dataframe_scores_as_onnx_model(session, digits):
    """A PySpark DataFrame of the bridge's PySpark session (rows created in Python, filtered in PySpark) is scored by
    its Java Dataset on the executors: the same answers as OnnxModel on the same rows, in the same order."""
    pytest.importorskip("pyspark")
    x, y = digits[0][:300], digits[1][:300]
    ps = session.pyspark
    rows = [(row.tolist(), int(label)) for row, label in zip(x, y)]
    df = ps.createDataFrame(rows, "features array<float>, label int").filter("label % 2 = 1")
    model = bridge.OnnxModel(MLP)
    scored = spark.score(MLP, df, spark=session)
    odd = y % 2 == 1
    _assert_scores(scored, model.predict(x[odd]), model.labels, "PySpark DataFrame")
    assert (spark.to_numpy(scored, "label") == y[odd]).all()


def test_score_is_lazy_and_runs_on_the_executors(session, digits):
    """No job at score() even after a shuffle (adaptive execution would run it to make the input's RDD)."""
    df = spark.dataframe(session, digits[0][:100], digits[1][:100]).repartition(3)
    before = _jobs(session)
    scored = spark.score(MLP, df)
    assert _jobs(session) == before
    assert len(spark.to_numpy(scored, "probabilities")) == 100
    assert _jobs(session) > before


# ---- hostile input: refused by name, before any job where the schema tells ---------------------------------------


def test_schema_problems_are_data_errors_before_any_job(session, digits):
    x, y = digits[0][:20], digits[1][:20]
    df = spark.dataframe(session, x, y)
    before = _jobs(session)
    with pytest.raises(DataError, match="no column 'pixels'.*features"):
        spark.score(MLP, df, features="pixels")
    with pytest.raises(DataError, match="column 'label' is int; expected array<float>"):
        spark.score(MLP, df, features="label")
    with pytest.raises(DataError, match=r"shape \[783\].*784"):
        spark.score(MLP, spark.dataframe(session, x[:, :783]))
    with pytest.raises(DataError, match="already has a column 'label'"):
        spark.score(MLP, df, prediction="label")
    with pytest.raises(DataError, match="provider"):
        spark.score(MLP, df, provider="tpu")
    assert _jobs(session) == before


def test_row_problems_fail_the_job_naming_the_row(session, digits):
    """Widths the schema does not state, NaN, nulls: found as the rows are scored, DataError naming them."""
    x = digits[0][:20].copy()
    functions = jclass("org.apache.spark.sql.functions")
    short = spark.dataframe(session, x).select(functions.slice(functions.col("features"), 1, 783).alias("features"))
    with pytest.raises(DataError, match=r"column 'features' of row \d+ of partition \d+ has shape \[783\]"):
        spark.to_numpy(spark.score(MLP, short), "probabilities")
    x[13, 5] = np.nan
    with pytest.raises(DataError, match="holds NaN at value 5"):
        spark.to_numpy(spark.score(MLP, spark.dataframe(session, x, partitions=1)), "prediction")
    nulls = spark.dataframe(session, x[:3]).select(functions.lit(None).cast("array<float>").alias("features"))
    with pytest.raises(DataError, match="is null"):
        spark.to_numpy(spark.score(MLP, nulls), "prediction")


def test_images_in_the_other_channel_order_are_refused_with_the_fix(session, digits, cnn):
    rows = digits[0][:4].reshape(-1, 28, 28, 1)  # [H][W][C]
    with pytest.raises(DataError, match=r"\[28, 28, 1\].*np.transpose\(x, \(0, 3, 1, 2\)\)"):
        spark.score(cnn, spark.dataframe(session, rows), input_shape=(1, 28, 28))


def test_model_problems(session, digits, tmp_path):
    df = spark.dataframe(session, digits[0][:10])
    with pytest.raises(ModelFileError, match="No model file at .*missing.onnx"):
        spark.score(tmp_path / "missing.onnx", df)
    with pytest.raises(DataError, match="Expected `model`"):
        spark.score(42, df)
    (tmp_path / "garbage.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="garbage.onnx"):
        spark.score(tmp_path / "garbage.onnx", df)
    with pytest.raises(ProviderError, match="CUDA"):  # executors without it fail the job, never run on the CPU
        spark.to_numpy(spark.score(MLP, df, provider="cuda"), "prediction")


def _with_external_data(folder, location: str | None):
    """The MLP with its weights in weights.bin beside it; `location` rewrites where the file says they are."""
    folder.mkdir()
    onnx.save_model(
        onnx.load(MLP),
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    if location is not None:
        model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
        for tensor in model.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        onnx.save(model, str(folder / "model.onnx"))
    return folder / "model.onnx"


def test_external_data_is_refused_and_never_read_outside_the_folder(session, digits, tmp_path):
    df = spark.dataframe(session, digits[0][:10])
    (tmp_path / "outside.bin").write_bytes(b"\0" * 1024)
    for location in ("../outside.bin", str(tmp_path / "outside.bin"), "../../etc/passwd"):
        evil = _with_external_data(tmp_path / f"evil{len(location)}", location)
        with pytest.raises(ModelFileError, match="outside its own folder"):
            spark.score(evil, df)
    with pytest.raises(ModelFileError, match="external data files.*self-contained"):
        spark.score(_with_external_data(tmp_path / "inside", None), df)


def test_other_dataframes_are_refused(session, digits):
    with pytest.raises(DataError, match="Spark DataFrame"):
        spark.score(MLP, digits[0])


def test_udf_refuses_a_bad_name(session):
    with pytest.raises(DataError, match="not a SQL identifier"):
        spark.register_udf(MLP, session, name="drop table;")


def test_a_dl4j_model_zip_is_exported_then_scored(session, digits):
    x = digits[0][:100]
    scored = spark.score("models/vectors/mlp/model.zip", spark.dataframe(session, x))
    _assert_scores(scored, bridge.OnnxModel(MLP).predict(x), None, "DL4J zip")  # no labels given: class indices
