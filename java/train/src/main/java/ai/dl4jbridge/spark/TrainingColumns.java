package ai.dl4jbridge.spark;

import ai.dl4jbridge.train.ImageDecoder;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.IOUtils;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.types.UserDefinedType;
import org.datavec.spark.util.SerializableHadoopConfig;

/**
 * How the rows of a DataFrame (its feature columns, then its label column, in that order) become one network input
 * row and one target row, on the executors. Checked against the schema on the driver ({@link #of}); every value
 * that the schema cannot vouch for (a width, a null, a NaN, a label out of range, an unreadable image) is checked
 * row by row and refused with a {@link BadRowException} naming the column and the row.
 *
 * <p>Feature columns: numbers, arrays of numbers, ML Vectors (dense or sparse), concatenated in the order given, with
 * as many values as the network's input takes (its per-example shape, flattened in the network's own layout); or one
 * image column: binary (an encoded image) or a string (its path or URI, read through Hadoop's FileSystem), decoded
 * by {@link ImageDecoder} to the input's channels and size. Label: a class index (an integer, or a floating-point
 * number with an integral value, as Spark ML writes labels), or an array / ML Vector of the output's width (one-hot,
 * multi-label, regression targets).
 */
public final class TrainingColumns implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final String VECTOR_UDT = "VectorUDT";

    enum Kind {
        NUMBER,
        ARRAY,
        VECTOR,
        IMAGE_BYTES,
        IMAGE_PATH
    }

    static final class Column implements Serializable {
        private static final long serialVersionUID = 1L;
        final String name;
        final Kind kind;
        final DataType element; // NUMBER: the column's type; ARRAY: the element type
        final boolean nullableElements;

        Column(String name, Kind kind, DataType element, boolean nullableElements) {
            this.name = name;
            this.kind = kind;
            this.element = element;
            this.nullableElements = nullableElements;
        }
    }

    private final Column[] features;
    private final Column label;
    private final long[] inputShape;
    private final int inputSize;
    private final int outputWidth;
    private final long[] imageShape; // [C, H, W] of an image column, else null
    private final boolean channelsLast;
    private final SerializableHadoopConfig hadoop;

    private TrainingColumns(
            Column[] features,
            Column label,
            long[] inputShape,
            int outputWidth,
            long[] imageShape,
            boolean channelsLast,
            SerializableHadoopConfig hadoop) {
        this.features = features;
        this.label = label;
        this.inputShape = inputShape;
        this.inputSize = (int) Arrays.stream(inputShape).reduce(1, (a, b) -> a * b);
        this.outputWidth = outputWidth;
        this.imageShape = imageShape;
        this.channelsLast = channelsLast;
        this.hadoop = hadoop;
    }

    /**
     * The columns of a DataFrame selected as (features..., label), checked against what the network takes.
     * inputShape: the network input's per-example shape in its own layout ([F], [C, H, W] or [H, W, C]);
     * imageShape: the image that input holds, [C, H, W] (null if unknown: image columns are then refused);
     * channelsLast: whether the input is [H, W, C] (decoded images are laid out as the input takes them).
     */
    public static TrainingColumns of(
            StructType schema,
            String[] featureNames,
            String labelName,
            long[] inputShape,
            long[] imageShape,
            boolean channelsLast,
            int outputWidth,
            org.apache.hadoop.conf.Configuration hadoop) {
        List<Column> features = new ArrayList<>();
        for (String name : featureNames) {
            features.add(featureColumn(schema, name));
        }
        boolean images = features.stream().anyMatch(c -> c.kind == Kind.IMAGE_BYTES || c.kind == Kind.IMAGE_PATH);
        if (images) {
            if (features.size() != 1) {
                throw new IllegalArgumentException("an image column is the network input's only feature column; "
                        + "received features=" + Arrays.toString(featureNames));
            }
            if (imageShape == null || imageShape.length != 3 || imageShape[1] <= 0 || imageShape[2] <= 0) {
                throw new IllegalArgumentException("column '" + featureNames[0]
                        + "' holds images, but the network's input has no image shape (channels, height, width) to "
                        + "decode them to: build the Network with input_shapes, or give image features as arrays");
            }
            if (imageShape[0] != 1 && imageShape[0] != 3) {
                throw new IllegalArgumentException("column '" + featureNames[0] + "' holds images, which decode to 1 "
                        + "(grey) or 3 (RGB) channels; the network's input takes " + imageShape[0]);
            }
            if (imageShape[0] * imageShape[1] * imageShape[2]
                    != Arrays.stream(inputShape).reduce(1, (a, b) -> a * b)) {
                throw new IllegalArgumentException("the network's input " + Arrays.toString(inputShape)
                        + " does not hold a " + Arrays.toString(imageShape) + " image");
            }
        }
        Column label = labelColumn(schema, labelName, outputWidth);
        return new TrainingColumns(
                features.toArray(new Column[0]),
                label,
                inputShape,
                outputWidth,
                images ? imageShape.clone() : null,
                channelsLast,
                images ? new SerializableHadoopConfig(hadoop) : null);
    }

    private static StructField field(StructType schema, String name, String role) {
        for (StructField f : schema.fields()) {
            if (f.name().equals(name)) {
                return f;
            }
        }
        throw new IllegalArgumentException("the DataFrame has no column '" + name + "' (" + role + "); its columns are "
                + Arrays.toString(schema.fieldNames()));
    }

    private static Column featureColumn(StructType schema, String name) {
        StructField field = field(schema, name, "features");
        DataType type = field.dataType();
        if (type instanceof NumericType && isReadable(type)) {
            return new Column(name, Kind.NUMBER, type, false);
        }
        if (type instanceof ArrayType && isReadable(((ArrayType) type).elementType())) {
            return new Column(name, Kind.ARRAY, ((ArrayType) type).elementType(), ((ArrayType) type).containsNull());
        }
        if (isVector(type)) {
            return new Column(name, Kind.VECTOR, type, false);
        }
        if (type.equals(DataTypes.BinaryType)) {
            return new Column(name, Kind.IMAGE_BYTES, type, false);
        }
        if (type.equals(DataTypes.StringType)) {
            return new Column(name, Kind.IMAGE_PATH, type, false);
        }
        throw new IllegalArgumentException("column '" + name + "' is " + type.simpleString() + "; feature columns are "
                + "numbers, arrays of numbers (array<float>, array<double>, ...), ML Vectors, or images (binary: the "
                + "encoded file; string: its path or URI)");
    }

    private static Column labelColumn(StructType schema, String name, int outputWidth) {
        StructField field = field(schema, name, "label");
        DataType type = field.dataType();
        if (type instanceof NumericType && isReadable(type)) {
            return new Column(name, Kind.NUMBER, type, false);
        }
        if (type instanceof ArrayType && isReadable(((ArrayType) type).elementType())) {
            return new Column(name, Kind.ARRAY, ((ArrayType) type).elementType(), ((ArrayType) type).containsNull());
        }
        if (isVector(type)) {
            return new Column(name, Kind.VECTOR, type, false);
        }
        throw new IllegalArgumentException(
                "label column '" + name + "' is " + type.simpleString() + "; expected a class "
                        + "index (an integer, or a double holding one) in [0, " + outputWidth
                        + "), or an array or ML Vector of "
                        + outputWidth + " targets (the network output's width)");
    }

    private static boolean isReadable(DataType type) {
        return type.equals(DataTypes.FloatType)
                || type.equals(DataTypes.DoubleType)
                || type.equals(DataTypes.IntegerType)
                || type.equals(DataTypes.LongType)
                || type.equals(DataTypes.ShortType)
                || type.equals(DataTypes.ByteType);
    }

    private static boolean isVector(DataType type) {
        return type instanceof UserDefinedType
                && type.getClass().getSimpleName().equals(VECTOR_UDT);
    }

    /** Per-example shape of the network input, in the network's layout. */
    public long[] inputShape() {
        return inputShape.clone();
    }

    public int inputSize() {
        return inputSize;
    }

    public int outputWidth() {
        return outputWidth;
    }

    /** Whether labels are class indices (Evaluation and accuracy apply) rather than target rows. */
    public boolean classIndices() {
        return label.kind == Kind.NUMBER;
    }

    /** Column names in selection order: the features, then the label. */
    public String[] columnNames() {
        String[] names = new String[features.length + 1];
        for (int i = 0; i < features.length; i++) {
            names[i] = features[i].name;
        }
        names[features.length] = label.name;
        return names;
    }

    /** Writes row `row` (features at ordinals 0..k-1, label at k) into features[at * inputSize ...] and
     * targets[at * outputWidth ...]; messages name it as row `index` (or, if negative, just a row) of `partition`. */
    void read(InternalRow row, float[] featureRows, float[] targetRows, int at, long index, int partition) {
        read(row, featureRows, targetRows, at, new Where(index, partition));
    }

    /** Names a row in messages, built only when one is needed. */
    private static final class Where {
        final long index;
        final int partition;

        Where(long index, int partition) {
            this.index = index;
            this.partition = partition;
        }

        @Override
        public String toString() { // index < 0: rows shuffled for training, where source positions are gone
            return index < 0
                    ? "a row (of training partition " + partition + ")"
                    : "row " + index + " of partition " + partition;
        }
    }

    private void read(InternalRow row, float[] featureRows, float[] targetRows, int at, Object where) {
        int offset = at * inputSize;
        int filled = 0;
        for (int c = 0; c < features.length; c++) {
            filled += readFeature(row, c, featureRows, offset + filled, inputSize - filled, where);
        }
        if (filled != inputSize) {
            throw new BadRowException(where + " has " + filled + " feature values in " + names()
                    + "; the network's input takes " + inputSize + " per example (shape "
                    + Arrays.toString(inputShape) + ")");
        }
        readLabel(row, features.length, targetRows, at * outputWidth, where);
    }

    private String names() {
        return features.length == 1
                ? "column '" + features[0].name + "'"
                : "columns " + Arrays.toString(Arrays.copyOf(columnNames(), features.length));
    }

    private int readFeature(InternalRow row, int ordinal, float[] into, int at, int room, Object where) {
        Column column = features[ordinal];
        if (row.isNullAt(ordinal)) {
            throw new BadRowException(where + " has a null in column '" + column.name + "'");
        }
        switch (column.kind) {
            case NUMBER:
                return put(into, at, room, where, column, number(row, ordinal, column.element));
            case ARRAY:
                return putArray(row.getArray(ordinal), column, into, at, room, where);
            case VECTOR:
                return putVector(row.getStruct(ordinal, 4), column, into, at, room, where);
            case IMAGE_BYTES:
                return putImage(row.getBinary(ordinal), column, into, at, where);
            default:
                String path = row.getUTF8String(ordinal).toString();
                return putImage(readFile(path, column, where), column, into, at, where + " (" + path + ")");
        }
    }

    private static double number(InternalRow row, int ordinal, DataType type) {
        if (type.equals(DataTypes.FloatType)) {
            return row.getFloat(ordinal);
        }
        if (type.equals(DataTypes.DoubleType)) {
            return row.getDouble(ordinal);
        }
        if (type.equals(DataTypes.IntegerType)) {
            return row.getInt(ordinal);
        }
        if (type.equals(DataTypes.LongType)) {
            return row.getLong(ordinal);
        }
        if (type.equals(DataTypes.ShortType)) {
            return row.getShort(ordinal);
        }
        return row.getByte(ordinal);
    }

    private int put(float[] into, int at, int room, Object where, Column column, double value) {
        if (room < 1) {
            throw tooMany(where, column, 1, room);
        }
        float v = (float) value;
        if (!Float.isFinite(v)) {
            throw new BadRowException(
                    where + " has " + value + " in column '" + column.name + "': features must be finite (as float32)");
        }
        into[at] = v;
        return 1;
    }

    private BadRowException tooMany(Object where, Column column, int values, int room) {
        String fit = room == inputSize ? "" : " (only " + room + " more fit after the columns before it)";
        return new BadRowException(where + " has " + values + " values in column '" + column.name + "'" + fit
                + "; the network's input takes " + inputSize + " per example (shape " + Arrays.toString(inputShape)
                + ")");
    }

    private int putArray(ArrayData array, Column column, float[] into, int at, int room, Object where) {
        int n = array.numElements();
        if (n > room) {
            throw tooMany(where, column, n, room);
        }
        if (column.nullableElements) {
            for (int i = 0; i < n; i++) {
                if (array.isNullAt(i)) {
                    throw new BadRowException(where + " has a null at index " + i + " of column '" + column.name + "'");
                }
            }
        }
        if (column.element.equals(DataTypes.FloatType)) {
            System.arraycopy(array.toFloatArray(), 0, into, at, n);
        } else if (column.element.equals(DataTypes.DoubleType)) {
            double[] values = array.toDoubleArray();
            for (int i = 0; i < n; i++) {
                into[at + i] = (float) values[i];
            }
        } else {
            for (int i = 0; i < n; i++) {
                into[at + i] = (float) arrayNumber(array, i, column.element);
            }
        }
        checkFinite(into, at, n, where, column);
        return n;
    }

    private static double arrayNumber(ArrayData array, int i, DataType type) {
        if (type.equals(DataTypes.IntegerType)) {
            return array.getInt(i);
        }
        if (type.equals(DataTypes.LongType)) {
            return array.getLong(i);
        }
        if (type.equals(DataTypes.ShortType)) {
            return array.getShort(i);
        }
        return array.getByte(i);
    }

    private static void checkFinite(float[] values, int at, int n, Object where, Column column) {
        for (int i = 0; i < n; i++) {
            if (!Float.isFinite(values[at + i])) {
                throw new BadRowException(where + " has " + values[at + i] + " at index " + i + " of column '"
                        + column.name + "': features must be finite (as float32)");
            }
        }
    }

    /** An ML Vector as stored: struct(type: 0 sparse | 1 dense, size, indices, values). */
    private int putVector(InternalRow vector, Column column, float[] into, int at, int room, Object where) {
        boolean dense = vector.getByte(0) == 1;
        double[] values = vector.getArray(3).toDoubleArray();
        int n = dense ? values.length : vector.getInt(1);
        if (n > room) {
            throw tooMany(where, column, n, room);
        }
        if (dense) {
            for (int i = 0; i < n; i++) {
                into[at + i] = (float) values[i];
            }
        } else {
            Arrays.fill(into, at, at + n, 0f);
            int[] indices = vector.getArray(2).toIntArray();
            for (int i = 0; i < indices.length; i++) {
                into[at + indices[i]] = (float) values[i];
            }
        }
        checkFinite(into, at, n, where, column);
        return n;
    }

    private int putImage(byte[] encoded, Column column, float[] into, int at, Object where) {
        int channels = (int) imageShape[0];
        int height = (int) imageShape[1];
        int width = (int) imageShape[2];
        float[] hwc = ImageDecoder.decode(encoded, channels, height, width, where + ", column '" + column.name + "'");
        if (channelsLast || channels == 1) {
            System.arraycopy(hwc, 0, into, at, hwc.length);
        } else { // (H, W, C) -> (C, H, W), as load_image_folder lays images out
            int plane = height * width;
            for (int p = 0; p < plane; p++) {
                for (int c = 0; c < channels; c++) {
                    into[at + c * plane + p] = hwc[p * channels + c];
                }
            }
        }
        return hwc.length;
    }

    private byte[] readFile(String path, Column column, Object where) {
        try {
            Path file = new Path(path);
            FileSystem fs = file.getFileSystem(hadoop.getConfiguration());
            long length = fs.getFileStatus(file).getLen();
            if (length > Integer.MAX_VALUE - 16) {
                throw new BadRowException(where + ": image file " + path + " is too large (" + length + " bytes)");
            }
            byte[] bytes = new byte[(int) length];
            try (InputStream in = fs.open(file)) {
                IOUtils.readFully(in, bytes, 0, bytes.length);
            }
            return bytes;
        } catch (IOException | IllegalArgumentException e) {
            throw new BadRowException(where + ": cannot read image file '" + path + "' of column '" + column.name
                    + "' (" + e + "); image paths must be absolute paths or URIs that every executor can read");
        }
    }

    private void readLabel(InternalRow row, int ordinal, float[] into, int at, Object where) {
        if (row.isNullAt(ordinal)) {
            throw new BadRowException(where + " has a null label (column '" + label.name + "')");
        }
        if (label.kind == Kind.NUMBER) {
            double value = number(row, ordinal, label.element);
            if (value != Math.rint(value) || value < 0 || value >= outputWidth) {
                throw new BadRowException(where + " has label " + value + " (column '" + label.name
                        + "'): class labels are indices in [0, " + outputWidth + ") for this network's "
                        + outputWidth + " outputs");
            }
            Arrays.fill(into, at, at + outputWidth, 0f);
            into[at + (int) value] = 1f;
            return;
        }
        ArrayData array = label.kind == Kind.ARRAY ? row.getArray(ordinal) : null;
        InternalRow vector = array == null ? row.getStruct(ordinal, 4) : null;
        int n = array != null
                ? array.numElements()
                : vector.getByte(0) == 1 ? vector.getArray(3).numElements() : vector.getInt(1);
        if (n != outputWidth) {
            throw new BadRowException(where + " has " + n + " target values in column '" + label.name
                    + "'; the network's output has " + outputWidth + " units");
        }
        if (array != null) {
            putArray(array, label, into, at, outputWidth, where);
        } else {
            putVector(vector, label, into, at, outputWidth, where);
        }
    }

    /** A row the network cannot take: thrown on an executor, it reaches Python as a DataError with this message. */
    public static final class BadRowException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        BadRowException(String message) {
            super(message);
        }
    }
}
