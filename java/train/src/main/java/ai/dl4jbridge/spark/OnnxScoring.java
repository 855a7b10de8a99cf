package ai.dl4jbridge.spark;

import ai.dl4jbridge.runtime.ExecutionProvider;
import ai.dl4jbridge.runtime.InputChecks;
import ai.dl4jbridge.runtime.ModelFiles;
import ai.dl4jbridge.runtime.ModelInfo;
import ai.dl4jbridge.runtime.ModelLoadException;
import ai.dl4jbridge.runtime.ModelSource;
import ai.dl4jbridge.runtime.NanPolicy;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.regex.Pattern;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.CollectionAccumulator;

/**
 * Scores a DataFrame with an ONNX model on the executors (ONNX Runtime Java): the rows come back with a
 * {@code probabilities} column (array&lt;float&gt;, the model's output row) and a {@code prediction} column (the
 * class's label when the model carries labels, else its index). The model's bytes reach executors by broadcast;
 * each executor JVM builds one predictor per model and keeps it; each partition runs in mini-batches.
 *
 * <pre>{@code
 * try (OnnxScoring lenet = OnnxScoring.builder().setModel(Path.of("lenet.onnx")).build()) {
 *     Dataset<Row> scored = lenet.transform(images);          // images: a "features" column, array<float> of 784
 *     lenet.registerUdf(spark, "dl4j_bridge_predict");        // SQL: SELECT dl4j_bridge_predict(features) ...
 * }
 * }</pre>
 *
 * <p>Features: array&lt;float&gt; or array&lt;double&gt; of the model's per-row size (flat, in C order), arrays
 * nested as the model's declared input ([C][H][W] for [N, C, H, W]), or an ML Vector. The schema is checked when
 * {@link #transform} is called (missing column, wrong type, a width known from the column's metadata); each row is
 * checked as it is scored (width, nulls, NaN and infinite values under {@link NanPolicy#REFUSE}), failing the job
 * with an {@link ai.dl4jbridge.runtime.InvalidInputException} naming the column, row and partition.
 */
public final class OnnxScoring implements AutoCloseable {
    /** Where executors run the model. */
    public enum Provider {
        /** CUDA where the executor's ONNX Runtime has its CUDA provider and the machine an NVIDIA driver; else CPU. */
        AUTO,
        CPU,
        /** CUDA, or the task fails naming why (never a silent CPU run). */
        CUDA
    }

    /** Column metadata key (a long array) that states a features column's per-row shape before any job runs. */
    public static final String SHAPE_METADATA = "dl4j_bridge_shape";

    public static final String DEFAULT_UDF = "dl4j_bridge_predict";
    private static final Pattern SQL_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    private final byte[] model;
    private final String digest;
    private final ModelInfo info;
    private final String featuresCol;
    private final String probabilitiesCol;
    private final String predictionCol;
    private final int batchSize;
    private final Provider provider;
    private final int deviceId;
    private final int intraOpThreads;
    private final NanPolicy nanPolicy;

    private SparkContext sharedWith;
    private Broadcast<byte[]> broadcast;
    private CollectionAccumulator<String> providersUsed;

    private OnnxScoring(Builder b, byte[] model, ModelInfo info) {
        this.model = model;
        this.digest = sha256(model);
        this.info = info;
        this.featuresCol = b.featuresCol;
        this.probabilitiesCol = b.probabilitiesCol;
        this.predictionCol = b.predictionCol;
        this.batchSize = b.batchSize;
        this.provider = b.provider;
        this.deviceId = b.deviceId;
        this.intraOpThreads = b.intraOpThreads;
        this.nanPolicy = b.nanPolicy;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The model as the driver read it (inputs, outputs, labels); the provider here is the driver's CPU check. */
    public ModelInfo info() {
        return info;
    }

    /** The scored DataFrame's schema: the input's columns, then probabilities and prediction. */
    public StructType outputSchema(StructType input) {
        FeatureColumns.check(input, featuresCol, info);
        for (String added : new String[] {probabilitiesCol, predictionCol}) {
            if (added != null && Arrays.asList(input.fieldNames()).contains(added)) {
                throw new IllegalArgumentException("the DataFrame already has a column '" + added + "'; name the"
                        + " scores' columns otherwise (probabilities=..., prediction=...) or drop it first");
            }
        }
        StructType out = input.add(
                probabilitiesCol, DataTypes.createArrayType(DataTypes.FloatType, false), false, Metadata.empty());
        return predictionCol == null ? out : out.add(predictionCol, predictionType(), false, Metadata.empty());
    }

    /**
     * The DataFrame with the scores' columns added, computed on the executors when an action runs. The schema is
     * checked now (IllegalArgumentException naming the column); rows are checked as they are scored.
     */
    public Dataset<Row> transform(Dataset<Row> df) {
        StructType schema = outputSchema(df.schema());
        if (df.isStreaming()) {
            throw new IllegalArgumentException("transform scores batch DataFrames; for a streaming one, register the"
                    + " SQL function (registerUdf) and select " + DEFAULT_UDF + "(" + featuresCol + ")");
        }
        int index = Arrays.asList(df.schema().fieldNames()).indexOf(featuresCol);
        ScoringSpec spec = spec(df.sparkSession(), "column '" + featuresCol + "'");
        ScoredRdd scored = new ScoredRdd(df, spec, index, predictionCol != null);
        // Spark's internal rows in and out (Scala-private, public to Java): rows deserialised into Java objects and
        // back cost three times ONNX Runtime's own time on an MLP (784 boxed floats each way per row).
        return df.sparkSession().internalCreateDataFrame(scored, schema, false);
    }

    /**
     * Registers two SQL functions on {@code spark}: {@code name(features)} returns the probabilities
     * (array&lt;float&gt;), {@code name_class(features)} the prediction (the label, or the class index). One row per
     * call, on the executor's cached predictor. Returns {@code name}.
     */
    public String registerUdf(SparkSession spark, String name) {
        if (name == null || !SQL_NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("UDF name '" + name
                    + "' is not a SQL identifier; expected letters, digits and _ (e.g. " + DEFAULT_UDF + ")");
        }
        ScoringSpec spec = spec(spark, "the argument of " + name + "()");
        spark.udf().register(name, new PredictUdf(spec, false), DataTypes.createArrayType(DataTypes.FloatType, false));
        spark.udf().register(name + "_class", new PredictUdf(spec, true), predictionType());
        return name;
    }

    /** {@link #registerUdf(SparkSession, String)} under the name {@value #DEFAULT_UDF}. */
    public String registerUdf(SparkSession spark) {
        return registerUdf(spark, DEFAULT_UDF);
    }

    /** Which provider ran where so far, one "executor ID: provider (why)" per executor, from finished tasks. */
    public synchronized Set<String> providersUsed() {
        return providersUsed == null ? Set.of() : new LinkedHashSet<>(providersUsed.value());
    }

    /**
     * Destroys the broadcast model and closes this JVM's cached predictors of it. Executors of a cluster keep theirs
     * until they exit. DataFrames and UDFs made by this object cannot run afterwards.
     */
    @Override
    public synchronized void close() {
        if (broadcast != null) {
            broadcast.destroy();
            broadcast = null;
        }
        ScoringCache.release(digest);
    }

    private DataType predictionType() {
        return info.labels().isEmpty() ? DataTypes.IntegerType : DataTypes.StringType;
    }

    /** features: how errors name the features (a column, or a UDF's argument). */
    private synchronized ScoringSpec spec(SparkSession spark, String features) {
        SparkContext context = spark.sparkContext();
        if (broadcast == null || sharedWith != context) {
            broadcast = JavaSparkContext.fromSparkContext(context).broadcast(model);
            providersUsed = context.collectionAccumulator("dl4j-bridge scoring providers (" + info.name() + ")");
            sharedWith = context;
        }
        int threads = intraOpThreads > 0 ? intraOpThreads : context.getConf().getInt("spark.task.cpus", 1);
        return new ScoringSpec(
                broadcast,
                digest,
                provider,
                deviceId,
                threads,
                new FeatureValues(features, rowShape(info), nanPolicy == NanPolicy.REFUSE),
                batchSize,
                providersUsed);
    }

    static long[] rowShape(ModelInfo info) {
        long[] shape = info.inputShape();
        return Arrays.copyOfRange(shape, 1, shape.length);
    }

    private static String sha256(byte[] bytes) {
        try {
            byte[] hash = MessageDigest.getInstance("SHA-256").digest(bytes);
            StringBuilder hex = new StringBuilder();
            for (byte b : hash) {
                hex.append(String.format("%02x", b));
            }
            return hex.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    @Override
    public String toString() {
        return "OnnxScoring[" + info.name() + ", features=" + featuresCol + ", provider=" + provider + "]";
    }

    /** Builds an {@link OnnxScoring}: one {@code setModel} is required; {@code opt*} are optional. */
    public static final class Builder {
        private Path path;
        private byte[] bytes;
        private String featuresCol = "features";
        private String probabilitiesCol = "probabilities";
        private String predictionCol = "prediction";
        private int batchSize = 256;
        private Provider provider = Provider.AUTO;
        private int deviceId;
        private int intraOpThreads;
        private NanPolicy nanPolicy = NanPolicy.REFUSE;

        private Builder() {}

        /** The ONNX file (read once, on the driver; its bytes are broadcast). */
        public Builder setModel(Path path) {
            this.path = path;
            this.bytes = null;
            return this;
        }

        /** The ONNX model's content. */
        public Builder setModel(byte[] bytes) {
            this.bytes = bytes.clone();
            this.path = null;
            return this;
        }

        /** The features column (default "features"). */
        public Builder optFeaturesCol(String name) {
            this.featuresCol = required(name, "featuresCol");
            return this;
        }

        /** The probabilities column to add (default "probabilities"). */
        public Builder optProbabilitiesCol(String name) {
            this.probabilitiesCol = required(name, "probabilitiesCol");
            return this;
        }

        /** The prediction column to add (default "prediction"); null adds none (models without a class axis). */
        public Builder optPredictionCol(String name) {
            if (name != null) {
                required(name, "predictionCol");
            }
            this.predictionCol = name;
            return this;
        }

        /** Rows per ONNX Runtime run on an executor (default 256). */
        public Builder optBatchSize(int rows) {
            if (rows < 1 || rows > InputChecks.MAX_ROWS) {
                throw new IllegalArgumentException(
                        "batchSize=" + rows + ", expected 1 to " + InputChecks.MAX_ROWS + " rows per run");
            }
            this.batchSize = rows;
            return this;
        }

        /** Where executors run the model (default {@link Provider#AUTO}). */
        public Builder optExecutionProvider(Provider provider) {
            if (provider == null) {
                throw new IllegalArgumentException("provider is null, expected AUTO, CPU or CUDA");
            }
            this.provider = provider;
            return this;
        }

        /** The CUDA device ordinal on each executor (default 0). */
        public Builder optDeviceId(int deviceId) {
            if (deviceId < 0) {
                throw new IllegalArgumentException("deviceId=" + deviceId + ", expected >= 0");
            }
            this.deviceId = deviceId;
            return this;
        }

        /** ONNX Runtime's threads per run (default 0: spark.task.cpus, so that each task uses its own cores). */
        public Builder optIntraOpThreads(int threads) {
            if (threads < 0) {
                throw new IllegalArgumentException("intraOpThreads=" + threads + ", expected >= 0");
            }
            this.intraOpThreads = threads;
            return this;
        }

        /** NaN and infinite inputs: refused (default, as bridge.OnnxModel) or passed to the model. */
        public Builder optNanPolicy(NanPolicy policy) {
            if (policy == null) {
                throw new IllegalArgumentException("nanPolicy is null, expected REFUSE or ALLOW");
            }
            this.nanPolicy = policy;
            return this;
        }

        /**
         * Reads and checks the model on the driver (ONNX Runtime, CPU): one float input with a batch axis, one
         * output, a class axis when a prediction column is asked for. A model with external data is refused: its
         * bytes are what executors get (and a location outside the model's folder is named as such).
         */
        public OnnxScoring build() {
            if (path == null && bytes == null) {
                throw new IllegalStateException("no model: call setModel(Path) or setModel(byte[])");
            }
            byte[] content = ModelSource.read(path, bytes, null, null);
            String source = ModelSource.describe(path, bytes, null);
            Set<String> external = ModelFiles.externalData(content);
            if (!external.isEmpty()) {
                if (path != null) {
                    ModelFiles.checkExternalData(path, external);
                }
                throw new ModelLoadException("model " + source + " keeps weights in external data files " + external
                        + "; Spark scoring sends the model's bytes to the executors, and those files would not go"
                        + " with them. Save it self-contained first (Python: onnx.save(onnx.load(path), new_path,"
                        + " save_as_external_data=False)).");
            }
            ModelInfo info;
            try {
                info = ScoringCache.get(
                                sha256(content),
                                () -> content,
                                ExecutionProvider.CPU,
                                "",
                                0,
                                intraOpThreads > 0 ? intraOpThreads : 1)
                        .predictor
                        .info();
            } catch (ModelLoadException e) {
                throw new ModelLoadException(source + ": " + e.getMessage(), e);
            }
            if (predictionCol != null && (!info.isClassifier() || info.numClasses() < 2)) {
                throw new IllegalArgumentException("model " + source + " has output '" + info.outputName() + "' of"
                        + " shape " + Arrays.toString(info.outputShape()) + ", which has no class axis to predict"
                        + " from; ask for its values alone (optPredictionCol(null); Python: prediction=None)");
            }
            if (predictionCol != null && predictionCol.equals(probabilitiesCol)) {
                throw new IllegalArgumentException(
                        "predictionCol and probabilitiesCol are both '" + predictionCol + "'; name them differently");
            }
            return new OnnxScoring(this, content, info);
        }

        private static String required(String name, String what) {
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException(what + " is empty, expected a column name");
            }
            return name;
        }
    }
}
