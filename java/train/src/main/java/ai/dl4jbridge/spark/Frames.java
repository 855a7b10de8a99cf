package ai.dl4jbridge.spark;

import java.io.Serializable;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.MetadataBuilder;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Arrays in and out of DataFrames for Python (bridge.spark.dataframe, bridge.spark.to_numpy) and tests: rows of
 * floats from one buffer into a DataFrame, in slices (one per partition), and a column collected back in bulk.
 * For data the driver already holds: a Spark user's tables come from Spark's own readers.
 */
public final class Frames {
    private Frames() {}

    /**
     * The SQL session over {@code context}: the active one, or a new one on the same SparkContext. (Spark's builder
     * method that takes the context is package-private in Scala, public to Java; the public route, a builder with
     * the context's configuration, logs that the existing context ignores it.)
     */
    public static SparkSession sql(JavaSparkContext context) {
        return SparkSession.builder().sparkContext(context.sc()).getOrCreate();
    }

    /**
     * A DataFrame of {@code n} rows: {@code featuresCol} holds each row's floats, array&lt;float&gt; when
     * {@code rowShape} has one dimension, arrays nested as {@code rowShape} otherwise (e.g. [C][H][W]), with the
     * shape in the column's metadata ({@link OnnxScoring#SHAPE_METADATA}); {@code labelCol} (int) when
     * {@code labels} is not null.
     *
     * @param values n * prod(rowShape) floats from the buffer's position, row after row in C order
     */
    public static Dataset<Row> fromFloats(
            SparkSession spark,
            FloatBuffer values,
            int n,
            long[] rowShape,
            int[] labels,
            int partitions,
            String featuresCol,
            String labelCol) {
        int size = (int) Arrays.stream(rowShape).reduce(1, (a, b) -> a * b);
        if (n < 1 || values.remaining() < (long) n * size || (labels != null && labels.length != n)) {
            throw new IllegalArgumentException("expected n >= 1 rows of " + size + " floats and " + n + " labels;"
                    + " received n=" + n + ", " + values.remaining() + " floats"
                    + (labels == null ? "" : ", " + labels.length + " labels"));
        }
        int slices = Math.max(1, Math.min(partitions, n));
        List<Slice> parts = new ArrayList<>();
        FloatBuffer source = values.duplicate();
        for (int s = 0; s < slices; s++) {
            int from = (int) ((long) n * s / slices);
            int to = (int) ((long) n * (s + 1) / slices);
            float[] chunk = new float[(to - from) * size];
            source.get(chunk);
            parts.add(new Slice(chunk, labels == null ? null : Arrays.copyOfRange(labels, from, to), rowShape));
        }
        JavaRDD<Row> rows = JavaSparkContext.fromSparkContext(spark.sparkContext())
                .parallelize(parts, slices)
                .flatMap(Slice::rows);
        DataType element = DataTypes.FloatType;
        for (int i = 0; i < Math.max(1, rowShape.length); i++) {
            element = DataTypes.createArrayType(element, false);
        }
        Metadata shape = new MetadataBuilder()
                .putLongArray(OnnxScoring.SHAPE_METADATA, rowShape)
                .build();
        StructType schema = new StructType(new StructField[] {new StructField(featuresCol, element, false, shape)});
        if (labels != null) {
            schema = schema.add(labelCol, DataTypes.IntegerType, false);
        }
        return spark.createDataFrame(rows, schema);
    }

    /**
     * An array column collected as one float[] of rows * width values (array&lt;float|double&gt;; nested arrays
     * flattened in C order); every row must have the first row's width. {@code shape} receives [rows, width].
     */
    public static float[] floats(Dataset<Row> df, String column, int[] shape) {
        List<Row> rows = df.select(column).collectAsList();
        float[] out = null;
        int width = -1;
        List<Float> values = new ArrayList<>();
        for (int r = 0; r < rows.size(); r++) {
            values.clear();
            flatten(rows.get(r).get(0), values, column, r);
            if (out == null) {
                width = values.size();
                out = new float[rows.size() * width];
            } else if (values.size() != width) {
                throw new IllegalArgumentException("column '" + column + "' row " + r + " has " + values.size()
                        + " values, the first row " + width + "; expected one width");
            }
            for (int i = 0; i < width; i++) {
                out[r * width + i] = values.get(i);
            }
        }
        shape[0] = rows.size();
        shape[1] = Math.max(width, 0);
        return out == null ? new float[0] : out;
    }

    private static void flatten(Object value, List<Float> into, String column, int row) {
        Object items = value == null ? null : FeatureValues.elements(value);
        if (items == null) {
            throw new IllegalArgumentException(
                    "column '" + column + "' row " + row + " holds " + value + ", expected arrays of numbers");
        }
        for (Object item : asList(items)) {
            if (item instanceof Number) {
                into.add(((Number) item).floatValue());
            } else {
                flatten(item, into, column, row);
            }
        }
    }

    /** A scalar column collected as its Java values (Integer, String, ...), in row order. */
    public static Object[] values(Dataset<Row> df, String column) {
        List<Row> rows = df.select(column).collectAsList();
        Object[] out = new Object[rows.size()];
        for (int r = 0; r < out.length; r++) {
            out[r] = rows.get(r).get(0);
        }
        return out;
    }

    private static List<?> asList(Object items) {
        if (items instanceof float[]) {
            float[] f = (float[]) items;
            List<Float> out = new ArrayList<>(f.length);
            for (float v : f) {
                out.add(v);
            }
            return out;
        }
        if (items instanceof double[]) {
            return Arrays.asList(Arrays.stream((double[]) items).boxed().toArray());
        }
        return items instanceof Object[] ? Arrays.asList((Object[]) items) : (List<?>) items;
    }

    /** One partition's rows, shipped to the executor as one float array. */
    private static final class Slice implements Serializable {
        private static final long serialVersionUID = 1L;
        private final float[] values;
        private final int[] labels;
        private final long[] rowShape;

        Slice(float[] values, int[] labels, long[] rowShape) {
            this.values = values;
            this.labels = labels;
            this.rowShape = rowShape;
        }

        Iterator<Row> rows() {
            int size = (int) Arrays.stream(rowShape).reduce(1, (a, b) -> a * b);
            int n = values.length / size;
            List<Row> out = new ArrayList<>(n);
            for (int r = 0; r < n; r++) {
                Object features = nested(r * size, 0);
                out.add(labels == null ? RowFactory.create(features) : RowFactory.create(features, labels[r]));
            }
            return out.iterator();
        }

        /** The values from {@code offset} as arrays nested along rowShape[level:]. */
        private Object nested(int offset, int level) {
            if (level >= rowShape.length - 1) {
                return Arrays.copyOfRange(values, offset, offset + (int) rowShape[rowShape.length - 1]);
            }
            int inner = 1;
            for (int i = level + 1; i < rowShape.length; i++) {
                inner *= (int) rowShape[i];
            }
            Object[] out = new Object[(int) rowShape[level]];
            for (int i = 0; i < out.length; i++) {
                out[i] = nested(offset + i * inner, level + 1);
            }
            return out;
        }
    }
}
