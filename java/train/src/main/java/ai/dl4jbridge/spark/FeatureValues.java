package ai.dl4jbridge.spark;

import ai.dl4jbridge.runtime.InvalidInputException;
import java.io.Serializable;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.UserDefinedType;
import scala.collection.JavaConverters;
import scala.collection.Seq;
import scala.collection.mutable.WrappedArray;

/**
 * One feature value of a DataFrame row (an array of floats or doubles, nested arrays shaped as the model's input,
 * or an ML Vector) checked against the model's per-example shape and written as float32 into a batch buffer.
 *
 * <p>Accepted, for a model whose input is [N, *rowShape]: a flat array of prod(rowShape) values in C order (an
 * image flattened channel by channel), or arrays nested as rowShape says ([C][H][W] for [N, C, H, W]); a flat model
 * [N, F] takes any nesting with F values. An ML Vector of prod(rowShape) values. Anything else, a null, a ragged
 * array or (under {@code refuseNonFinite}) a NaN or infinite value throws {@link InvalidInputException} naming the
 * column, the row and what was expected.
 */
final class FeatureValues implements Serializable {
    private static final long serialVersionUID = 1L;

    private final String column; // how messages name the value: "column 'features'", "the argument of f()"
    private final long[] rowShape;
    private final int size;
    private final boolean refuseNonFinite;

    FeatureValues(String column, long[] rowShape, boolean refuseNonFinite) {
        this.column = column;
        this.rowShape = rowShape.clone();
        long n = 1;
        for (long d : rowShape) {
            n *= d;
        }
        this.size = (int) n;
        this.refuseNonFinite = refuseNonFinite;
    }

    int size() {
        return size;
    }

    /** The model's per-example shape, e.g. [784] or [1, 28, 28]. */
    long[] rowShape() {
        return rowShape.clone();
    }

    /** Writes {@code value}'s {@link #size()} floats at the buffer's position; {@code row} names it in errors. */
    void write(Object value, FloatBuffer out, long row) {
        if (value == null) {
            throw invalid(row, "is null; every row needs " + expected());
        }
        if (value instanceof Vector) {
            Vector vector = (Vector) value;
            if (vector.size() != size) {
                throw invalid(row, "is an ML Vector of " + vector.size() + " values; expected " + expected());
            }
            double[] values = vector.toArray();
            int start = out.position();
            for (double v : values) {
                out.put((float) v);
            }
            checkFinite(out, start, row);
            return;
        }
        Object items = elements(value);
        if (items == null) {
            throw invalid(row, "is a " + value.getClass().getName() + "; expected " + expected());
        }
        long[] found = shapeOf(items);
        if (!fits(found)) {
            throw invalid(row, "has shape " + Arrays.toString(found) + "; expected " + expected() + hint(found));
        }
        int start = out.position();
        int written = fill(items, 0, out, row);
        if (written != size) {
            throw invalid(
                    row,
                    "is ragged: " + written + " values where its first elements make " + Arrays.toString(found)
                            + "; expected " + expected());
        }
        checkFinite(out, start, row);
    }

    /**
     * Writes the features of Spark's internal {@code row} (column {@code ordinal}, of SQL type {@code type}): arrays
     * are copied whole ({@code toFloatArray}), never element by element as boxed values.
     */
    void write(InternalRow row, int ordinal, DataType type, FloatBuffer out, long rowNumber) {
        if (row.isNullAt(ordinal)) {
            throw invalid(rowNumber, "is null; every row needs " + expected());
        }
        if (type instanceof UserDefinedType) { // an ML Vector
            UserDefinedType<?> udt = (UserDefinedType<?>) type;
            write(udt.deserialize(row.get(ordinal, udt.sqlType())), out, rowNumber);
            return;
        }
        ArrayData items = row.getArray(ordinal);
        ArrayType arrayType = (ArrayType) type;
        long[] found = shapeOf(items, arrayType);
        if (!fits(found)) {
            throw invalid(rowNumber, "has shape " + Arrays.toString(found) + "; expected " + expected() + hint(found));
        }
        fill(items, arrayType, 0, found, out, out.position(), rowNumber);
    }

    private static long[] shapeOf(ArrayData items, ArrayType type) {
        List<Long> dims = new java.util.ArrayList<>();
        ArrayData level = items;
        DataType element = type;
        while (element instanceof ArrayType) {
            dims.add((long) level.numElements());
            DataType inner = ((ArrayType) element).elementType();
            if (!(inner instanceof ArrayType) || level.numElements() == 0 || level.isNullAt(0)) {
                break;
            }
            level = level.getArray(0);
            element = inner;
        }
        return dims.stream().mapToLong(Long::longValue).toArray();
    }

    /** Leaves in C order, each leaf array checked (NaN, infinite) as a plain array: start is the row's position. */
    private void fill(
            ArrayData items, ArrayType type, int level, long[] found, FloatBuffer out, int start, long rowNumber) {
        int n = items.numElements();
        if (level >= found.length || n != found[level]) {
            throw invalid(
                    rowNumber,
                    "is ragged: an array of " + n + " where its first elements make " + Arrays.toString(found)
                            + "; expected " + expected());
        }
        if (type.containsNull()) {
            for (int i = 0; i < n; i++) {
                if (items.isNullAt(i)) {
                    throw invalid(
                            rowNumber,
                            "holds a null (element " + i + " of a " + n + "-element array); expected " + expected());
                }
            }
        }
        DataType element = type.elementType();
        if (element instanceof ArrayType) {
            for (int i = 0; i < n; i++) {
                fill(items.getArray(i), (ArrayType) element, level + 1, found, out, start, rowNumber);
            }
            return;
        }
        float[] values;
        if (element.equals(DataTypes.FloatType)) {
            values = items.toFloatArray();
        } else {
            double[] doubles = items.toDoubleArray();
            values = new float[doubles.length];
            for (int i = 0; i < doubles.length; i++) {
                values[i] = (float) doubles[i];
            }
        }
        checkFinite(values, out.position() - start, rowNumber);
        out.put(values);
    }

    private boolean fits(long[] found) {
        if (found.length == 1) {
            return found[0] == size;
        }
        if (rowShape.length == 1) {
            long n = 1;
            for (long d : found) {
                n *= d;
            }
            return n == size;
        }
        return Arrays.equals(found, rowShape);
    }

    private String expected() {
        String nested = rowShape.length > 1 ? " or arrays nested as " + Arrays.toString(rowShape) : "";
        return size + " floats per row (a flat array in C order" + nested + ", or an ML Vector)";
    }

    private String hint(long[] found) {
        return hint(rowShape, found);
    }

    /** The transpose that fixes a channels-first/last mix-up, when that is what {@code found} looks like. */
    static String hint(long[] rowShape, long[] found) {
        if (rowShape.length != 3 || found.length != 3) {
            return "";
        }
        if (found[0] == rowShape[1] && found[1] == rowShape[2] && found[2] == rowShape[0]) {
            return "; these look like channels-last [H][W][C] images: the model takes [C][H][W]"
                    + " (numpy: np.transpose(x, (0, 3, 1, 2))); read as they are, their values would be misread";
        }
        if (found[0] == rowShape[2] && found[1] == rowShape[0] && found[2] == rowShape[1]) {
            return "; these look like channels-first [C][H][W] images: the model takes [H][W][C]"
                    + " (numpy: np.transpose(x, (0, 2, 3, 1))); read as they are, their values would be misread";
        }
        return "";
    }

    /** Lengths along the first element of each level: the shape the value claims. */
    private long[] shapeOf(Object items) {
        long[] shape = new long[0];
        Object level = items;
        while (level != null && shape.length < 8) {
            int n = length(level);
            shape = Arrays.copyOf(shape, shape.length + 1);
            shape[shape.length - 1] = n;
            if (n == 0 || level instanceof float[] || level instanceof double[]) {
                break;
            }
            Object first = get(level, 0);
            level = first == null || first instanceof Number ? null : elements(first);
        }
        return shape;
    }

    /** Writes the leaves in C order; returns how many (stops counting past {@link #size}). */
    private int fill(Object items, int written, FloatBuffer out, long row) {
        if (items instanceof float[]) {
            float[] values = (float[]) items;
            if (written + values.length > size) {
                return written + values.length;
            }
            out.put(values);
            return written + values.length;
        }
        if (items instanceof double[]) {
            double[] values = (double[]) items;
            if (written + values.length > size) {
                return written + values.length;
            }
            for (double v : values) {
                out.put((float) v);
            }
            return written + values.length;
        }
        int n = length(items);
        for (int i = 0; i < n && written <= size; i++) {
            Object item = get(items, i);
            if (item instanceof Number) {
                if (written == size) {
                    return written + 1;
                }
                out.put(((Number) item).floatValue());
                written++;
            } else if (item == null) {
                throw invalid(
                        row,
                        "holds a null value (element " + i + " of a " + n + "-element array); expected " + expected());
            } else {
                Object nested = elements(item);
                if (nested == null) {
                    throw invalid(row, "holds a " + item.getClass().getName() + "; expected " + expected());
                }
                written = fill(nested, written, out, row);
            }
        }
        return written;
    }

    private void checkFinite(FloatBuffer out, int start, long row) {
        if (!refuseNonFinite) {
            return;
        }
        float[] values = new float[size];
        out.duplicate().position(start).get(values);
        checkFinite(values, 0, row);
    }

    /** values[i] is value {@code offset + i} of the row. */
    private void checkFinite(float[] values, int offset, long row) {
        if (!refuseNonFinite) {
            return;
        }
        for (int i = 0; i < values.length; i++) {
            float v = values[i];
            if (v - v != 0) { // NaN or infinite: both make v - v NaN
                throw invalid(
                        row,
                        "holds " + v + " at value " + (offset + i) + " (in C order); NaN and infinite inputs are"
                                + " refused, as bridge.OnnxModel refuses them (float64 values beyond float32's range"
                                + " become infinite)");
            }
        }
    }

    /** row: the row's number within its partition (named with the partition), or -1 where it is unknown (a UDF). */
    private InvalidInputException invalid(long row, String what) {
        TaskContext task = TaskContext.get();
        String where = row < 0 ? "" : " of row " + row + (task == null ? "" : " of partition " + task.partitionId());
        return new InvalidInputException(column + where + " " + what);
    }

    /** A container's elements as something {@link #length}/{@link #get} read, or null if it is no array. */
    static Object elements(Object value) {
        if (value instanceof WrappedArray) {
            Object array = ((WrappedArray<?>) value).array();
            return array instanceof float[] || array instanceof double[] || array instanceof Object[] ? array : null;
        }
        if (value instanceof Seq) {
            return JavaConverters.seqAsJavaListConverter((Seq<?>) value).asJava();
        }
        if (value instanceof float[]
                || value instanceof double[]
                || value instanceof Object[]
                || value instanceof List) {
            return value;
        }
        return null;
    }

    private static int length(Object items) {
        if (items instanceof float[]) {
            return ((float[]) items).length;
        }
        if (items instanceof double[]) {
            return ((double[]) items).length;
        }
        if (items instanceof Object[]) {
            return ((Object[]) items).length;
        }
        return ((List<?>) items).size();
    }

    private static Object get(Object items, int i) {
        if (items instanceof float[]) {
            return ((float[]) items)[i];
        }
        if (items instanceof double[]) {
            return ((double[]) items)[i];
        }
        if (items instanceof Object[]) {
            return ((Object[]) items)[i];
        }
        return ((List<?>) items).get(i);
    }
}
